// Mirror pods: the pure plan (desired mirrors vs the API's pods → deletes and
// creates), the body kubelet sends, the MirrorPods loop against a fake client
// (waits for both sources, retries with back-off, takes its own earlier create for
// done), and ApiPods never running a mirror while writing the static pod's status
// to it under the mirror's uid.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import type { ApiClient, KubeObject } from '../../agent/apiserver/client.js';
import { ApiError } from '../../agent/apiserver/errors.js';
import { desiredMirror, isMirrorPod, MirrorPods, mirrorPodBody, planMirrors, type ExistingPod } from '../../agent/apiserver/mirror-pods.js';
import { ApiPods, type PodApi, type PodObject } from '../../agent/apiserver/pods.js';
import type { InformerEvent } from '../../agent/apiserver/watch.js';
import type { Pod } from '../../agent/pods/api-types.js';
import { parseManifestDocument } from '../../agent/pods/manifest/schema.js';

const log = pino({ level: 'silent' });

function staticPod(name: string, image = 'localhost/kna/busybox:latest'): Pod {
  const r = parseManifestDocument({ apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { app: name } }, spec: { containers: [{ name: 'c', image }] } }, { file: 'x.yaml', nodeName: 'n1' });
  assert.equal(r.errors.length, 0);
  const o = r.objects[0]!;
  assert.equal(o.kind, 'Pod');
  return (o as { pod: Pod }).pod;
}

const mirror = (name: string, hash: string | undefined, over: Partial<ExistingPod> = {}): ExistingPod => ({ namespace: 'default', name, uid: `uid-${name}-${hash ?? 'plain'}`, hash, deleting: false, ...over });

test('plan: missing mirrors are created, correct ones kept, stale/deleted ones replaced, orphans deleted once their pod stopped', () => {
  const d = [{ namespace: 'default', name: 'a-n1', hash: 'h1' }, { namespace: 'default', name: 'b-n1', hash: 'h2' }, { namespace: 'default', name: 'c-n1', hash: 'h3' }, { namespace: 'default', name: 'd-n1', hash: 'h4' }];
  const existing = [
    mirror('a-n1', 'h1'), // correct: kept (no churn on restart)
    mirror('b-n1', 'old'), // the static pod changed
    mirror('c-n1', 'h3', { deleting: true }), // deleted by a user
    mirror('x-n1', 'hx'), // its static pod is gone
    mirror('y-n1', 'hy'), // gone from the folder but still terminating
    mirror('z-n1', undefined), // an ordinary pod: never ours to delete
  ];
  const plan = planMirrors(d, existing, new Set(['default/y-n1']));
  assert.deepEqual(plan.delete, [
    { namespace: 'default', name: 'b-n1', uid: 'uid-b-n1-old', reason: 'changed' },
    { namespace: 'default', name: 'c-n1', uid: 'uid-c-n1-h3', reason: 'deleted' },
    { namespace: 'default', name: 'x-n1', uid: 'uid-x-n1-hx', reason: 'orphaned' },
  ]);
  assert.deepEqual(plan.create.map((c) => c.name), ['b-n1', 'c-n1', 'd-n1']);
  assert.deepEqual(plan.blocked, []);
  assert.deepEqual(planMirrors(d.slice(0, 1), [mirror('a-n1', 'h1')]), { delete: [], create: [], blocked: [] }, 'all in place: nothing to do');
  assert.deepEqual(planMirrors(d.slice(0, 1), [mirror('a-n1', undefined)]).blocked.map((b) => b.name), ['a-n1'], 'a non-mirror pod holds the name');
  assert.deepEqual(planMirrors([], [mirror('y-n1', 'hy')]).delete.map((x) => x.name), ['y-n1'], 'the orphan goes once its pod stopped');
});

test('the mirror pod body: kubelet name, static spec bound to the node, annotations and the Node as controller owner', () => {
  const pod = staticPod('web');
  const hash = pod.metadata.annotations!['kubernetes.io/config.hash']!;
  const body = mirrorPodBody(pod, { nodeName: 'n1', nodeUid: 'node-uid', seen: '2026-12-02T10:00:00.000000000Z' });
  assert.equal(body.metadata.name, 'web-n1');
  assert.equal(body.metadata.namespace, 'default');
  assert.equal(body.metadata.uid, undefined, 'the API server gives the mirror its own uid');
  assert.deepEqual(body.metadata.labels, { app: 'web' });
  assert.deepEqual(body.metadata.annotations, {
    'kubernetes.io/config.hash': hash, 'kubernetes.io/config.source': 'file', 'kubernetes.io/config.seen': '2026-12-02T10:00:00.000000000Z', 'kubernetes.io/config.mirror': hash,
  });
  assert.deepEqual(body.metadata.ownerReferences, [{ apiVersion: 'v1', kind: 'Node', name: 'n1', uid: 'node-uid', controller: true }]);
  assert.equal((body.spec as { nodeName: string }).nodeName, 'n1');
  assert.deepEqual((body.spec as Pod['spec']).containers.map((c) => c.image), ['localhost/kna/busybox:latest']);
  assert.ok(isMirrorPod(body));
  assert.deepEqual(desiredMirror(pod, 'n1'), { namespace: 'default', name: 'web-n1', hash });
});

function fakeClient() {
  const pods = new Map<string, KubeObject>();
  const calls: string[] = [];
  let fail: ApiError | Error | undefined;
  let uid = 0;
  const client = {
    create: async (path: string, body: KubeObject) => {
      calls.push(`create ${body.metadata.name}`);
      if (fail) throw fail;
      if (pods.has(body.metadata.name)) throw new ApiError('POST', path, 409, 'AlreadyExists', 'exists');
      const made = { ...body, metadata: { ...body.metadata, uid: `m${++uid}` } };
      pods.set(body.metadata.name, made);
      return made;
    },
    delete: async (path: string, o: { preconditions: { uid: string } }) => {
      const name = path.split('/').at(-1)!;
      calls.push(`delete ${name} ${o.preconditions.uid}`);
      if (fail) throw fail;
      if (!pods.has(name)) throw new ApiError('DELETE', path, 404, 'NotFound', 'gone');
      pods.delete(name);
      return {};
    },
    get: async (path: string) => {
      const p = pods.get(path.split('/').at(-1)!);
      if (!p) throw new ApiError('GET', path, 404, 'NotFound', 'gone');
      return p;
    },
  };
  return { client: client as unknown as Pick<ApiClient, 'create' | 'delete' | 'get'>, pods, calls, setFail: (e: ApiError | Error | undefined) => (fail = e) };
}

const settle = () => new Promise((r) => setTimeout(r, 20));

test('MirrorPods: waits for both sources and the Node uid, creates, retries failures with back-off, keeps what it made', async (t) => {
  const f = fakeClient();
  let listed: KubeObject[] | undefined;
  let nodeUid: string | undefined;
  const m = new MirrorPods({ nodeName: 'n1', client: f.client, apiPods: () => listed, nodeUid: () => nodeUid, running: () => [], minBackoffMs: 10, maxBackoffMs: 20, log });
  t.after(() => m.stop());
  const web = staticPod('web');
  m.setStaticPods([web]);
  await settle();
  assert.deepEqual(f.calls, [], 'the API pods are not listed yet');
  listed = [{ metadata: { name: 'old-n1', namespace: 'default', uid: 'o1', annotations: { 'kubernetes.io/config.mirror': 'x' } } }];
  m.changed();
  await settle();
  // (Passes retried before the watch shows the delete find it gone: 404, fine.)
  assert.ok(f.calls.length > 0 && f.calls.every((c) => c === 'delete old-n1 o1'), `the orphan goes; the create waits for the Node uid: ${f.calls.join(', ')}`);
  f.pods.clear();
  f.calls.length = 0;
  listed = [];
  nodeUid = 'node-uid';
  f.setFail(new ApiError('POST', '/x', 503, 'ServiceUnavailable', 'away'));
  m.changed();
  await settle();
  f.setFail(undefined);
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(f.calls.filter((c) => c === 'create web-n1').length >= 2, `retried: ${f.calls.join(', ')}`);
  assert.ok(f.pods.has('web-n1'));
  // The watch has not shown the new mirror yet: a pass that creates again takes AlreadyExists with the same hash for done.
  f.calls.length = 0;
  m.changed();
  await settle();
  assert.deepEqual(f.calls, ['create web-n1']);
  // Once the watch has it, nothing to do.
  listed = [...f.pods.values()];
  f.calls.length = 0;
  m.changed();
  await settle();
  assert.deepEqual(f.calls, []);
});

test('ApiPods: a mirror pod is never run nor finished; the static pod status is patched onto its mirror under the mirror uid', async (t) => {
  let handler!: (ev: InformerEvent<PodObject>) => void | Promise<void>;
  let markSynced!: () => void;
  const synced = new Promise<void>((r) => (markSynced = r));
  const patches: { path: string; patch: Record<string, unknown> }[] = [];
  const desired: string[][] = [];
  const terminated: string[] = [];
  const web = { ...staticPod('web'), status: { phase: 'Running', podIP: '10.1.0.5' } } as unknown as Pod;
  let events = 0;
  const api: PodApi = {
    client: { patch: async (path: string, patch: Record<string, unknown>) => { patches.push({ path, patch }); return { metadata: { name: 'web-n1', resourceVersion: '1' } }; } } as unknown as ApiClient,
    watchList: <T extends KubeObject>(_p: string, onEvent: (ev: InformerEvent<T>) => void | Promise<void>) => {
      handler = onEvent as unknown as typeof handler;
      return { synced: () => synced, stop: async () => undefined } as never;
    },
  };
  const source = new ApiPods(api, {
    nodeName: 'n1', log, onPodsEvent: () => events++,
    manager: { setDesired: (pods: Pod[]) => { desired.push(pods.map((p) => p.metadata.name)); }, terminatePod: async (p: Pod) => { terminated.push(p.metadata.name); }, listPods: () => [web] },
  });
  source.start();
  t.after(() => source.stop());
  source.setStaticPods([web]);
  assert.equal(source.apiPods(), undefined, 'not listed yet');
  markSynced();
  await synced;
  await Promise.resolve();
  const hash = web.metadata.annotations!['kubernetes.io/config.hash']!;
  const body = mirrorPodBody(web, { nodeName: 'n1', nodeUid: 'nu', seen: 's' });
  const obj = { ...body, metadata: { ...body.metadata, uid: 'mirror-uid', resourceVersion: '1' }, status: { phase: 'Pending' } } as PodObject;
  await handler({ type: 'ADDED', object: obj });
  await handler({ type: 'MODIFIED', object: { ...obj, metadata: { ...obj.metadata, resourceVersion: '2', deletionTimestamp: '2026-12-02T10:00:00Z', deletionGracePeriodSeconds: 30 } } });
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(desired.at(-1), ['web'], 'only the static pod runs');
  assert.deepEqual(terminated, [], 'a deleted mirror does not stop the static pod');
  assert.ok(events >= 2, 'mirror pods are told of the changes');
  assert.equal(source.apiPods()?.length, 1);
  assert.ok(patches.length >= 1, 'status written to the mirror');
  assert.equal(patches[0]!.path, '/api/v1/namespaces/default/pods/web-n1/status');
  assert.deepEqual((patches[0]!.patch.metadata as { uid: string }).uid, 'mirror-uid');
  assert.equal((patches[0]!.patch.status as { podIP: string }).podIP, '10.1.0.5');
  assert.ok(hash);
});
