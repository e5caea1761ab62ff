// ApiPods with a fake pod manager and API: the desired set waits for both sources
// before orphans may go, a deleted pod is terminated with its grace period and
// then deleted with grace 0 under a uid precondition, a bad pod is skipped, and a
// status patch that conflicts is recomputed from a fresh read.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import type { ApiClient, KubeObject } from '../../agent/apiserver/client.js';
import { ApiError } from '../../agent/apiserver/errors.js';
import { ApiPods, type PodApi, type PodObject } from '../../agent/apiserver/pods.js';
import type { InformerEvent } from '../../agent/apiserver/watch.js';
import type { Pod } from '../../agent/pods/api-types.js';

const log = pino({ level: 'silent' });

function apiPod(name: string, uid: string, over: Record<string, unknown> = {}): PodObject {
  return {
    metadata: { name, namespace: 'default', uid, resourceVersion: '1', ...over },
    spec: { nodeName: 'n1', terminationGracePeriodSeconds: 30, containers: [{ name: 'c', image: 'localhost/kna/busybox:latest' }] },
    status: { phase: 'Pending' },
  };
}

function fixture(client: Partial<Record<'delete' | 'patch' | 'get', (...a: unknown[]) => Promise<unknown>>> = {}) {
  let handler!: (ev: InformerEvent<PodObject>) => void | Promise<void>;
  let markSynced!: () => void;
  const synced = new Promise<void>((r) => (markSynced = r));
  const calls: string[] = [];
  const desired: { uids: string[]; complete: boolean | undefined }[] = [];
  const statuses = new Map<string, Pod>();
  const api: PodApi = {
    client: client as unknown as ApiClient,
    watchList: <T extends KubeObject>(_path: string, onEvent: (ev: InformerEvent<T>) => void | Promise<void>) => {
      handler = onEvent as unknown as typeof handler;
      return { synced: () => synced, stop: async () => undefined } as never;
    },
  };
  const source = new ApiPods(api, {
    nodeName: 'n1',
    log,
    manager: {
      setDesired: (pods: Pod[], o: { complete?: boolean } = {}) => { desired.push({ uids: pods.map((p) => p.metadata.uid), complete: o.complete }); },
      terminatePod: async (pod: Pod) => { calls.push(`terminate ${pod.metadata.name} grace=${pod.spec.terminationGracePeriodSeconds}`); },
      listPods: () => [...statuses.values()],
    },
  });
  source.start();
  return { source, desired, calls, statuses, emit: (ev: InformerEvent<PodObject>) => handler(ev), sync: async () => { markSynced(); await synced; await Promise.resolve(); } };
}

const staticPod = { metadata: { uid: 'static-1', name: 's', namespace: 'default' } } as Pod;

test('the desired set is static + API pods; complete only once both sources spoke; bad pods are skipped', async (t) => {
  const f = fixture();
  t.after(() => f.source.stop());
  f.source.setStaticPods([staticPod]);
  assert.deepEqual(f.desired.at(-1), { uids: ['static-1'], complete: false });
  await f.emit({ type: 'ADDED', object: apiPod('a', 'uid-a') });
  await f.emit({ type: 'ADDED', object: apiPod('bad', 'uid-bad', { labels: { x: 1 } }) });
  await f.sync();
  assert.deepEqual(f.desired.at(-1), { uids: ['static-1', 'uid-a'], complete: true });
  await f.emit({ type: 'DELETED', object: apiPod('a', 'uid-a') });
  assert.deepEqual(f.desired.at(-1), { uids: ['static-1'], complete: true });
});

test('a deleted pod is terminated with the deletion grace, then deleted with grace 0 and its uid', async (t) => {
  const deletes: unknown[] = [];
  let done!: () => void;
  const deleted = new Promise<void>((r) => (done = r));
  const f = fixture({ delete: async (...a: unknown[]) => { deletes.push(a); done(); return {}; } });
  t.after(() => f.source.stop());
  f.source.setStaticPods([]);
  await f.sync();
  await f.emit({ type: 'ADDED', object: apiPod('a', 'uid-a') });
  await f.emit({ type: 'MODIFIED', object: apiPod('a', 'uid-a', { resourceVersion: '2', deletionTimestamp: '2026-11-25T10:00:00Z', deletionGracePeriodSeconds: 3 }) });
  await deleted;
  assert.deepEqual(f.calls, ['terminate a grace=3']);
  assert.deepEqual(f.desired.at(-1)?.uids, [], 'no longer desired');
  assert.deepEqual(deletes, [['/api/v1/namespaces/default/pods/a', { gracePeriodSeconds: 0, preconditions: { uid: 'uid-a' } }]]);
});

test('status: only API pods are patched, with the uid; a conflict is retried from a fresh read', async (t) => {
  const patches: unknown[] = [];
  let fail = true;
  let gotAll!: () => void;
  const allDone = new Promise<void>((r) => (gotAll = r));
  const f = fixture({
    patch: async (path: unknown, body: unknown) => {
      patches.push([path, body]);
      if (fail) {
        fail = false;
        throw new ApiError('PATCH', String(path), 409, 'Conflict', 'the object has been modified');
      }
      gotAll();
      return { ...apiPod('a', 'uid-a', { resourceVersion: '5' }), status: { phase: 'Running' } };
    },
    get: async () => ({ ...apiPod('a', 'uid-a', { resourceVersion: '4' }), status: { phase: 'Pending', message: 'from someone else' } }),
  });
  t.after(() => f.source.stop());
  f.source.setStaticPods([staticPod]);
  await f.emit({ type: 'ADDED', object: apiPod('a', 'uid-a') });
  await f.sync();
  const running = { phase: 'Running', conditions: [], containerStatuses: [], qosClass: 'BestEffort' };
  f.statuses.set('a', { metadata: { name: 'a', namespace: 'default', uid: 'uid-a', annotations: { 'kubernetes.io/config.source': 'api' } }, status: running } as unknown as Pod);
  f.statuses.set('s', { ...staticPod, status: running } as unknown as Pod);
  f.source.podsChanged();
  await allDone;
  assert.equal(patches.length, 2, 'one conflict, one retry; the static pod is not patched');
  const [path, first] = patches[0] as [string, { metadata: unknown; status: Record<string, unknown> }];
  assert.equal(path, '/api/v1/namespaces/default/pods/a/status');
  assert.deepEqual(first.metadata, { uid: 'uid-a' });
  assert.equal(first.status.phase, 'Running');
  const second = (patches[1] as [string, { status: Record<string, unknown> }])[1];
  assert.equal(second.status.message, null, 'recomputed against the fresh read: its message is ours to clear');
});
