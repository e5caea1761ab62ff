// Mirror pods with the real agent joined to the test control plane: a static pod
// shows in the API as <name>-<node> with kubelet's annotations and its Node as
// owner, Running with the pod's IP; a `kubectl delete` of the mirror gives a new
// mirror while the container runs on untouched; a restarted agent keeps a correct
// mirror and deletes one whose static pod is gone; an edited manifest gives a new
// mirror (new hash), a removed one none. The double's NodeRestriction refuses the
// node's pods that are not proper mirrors.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiClient, resourcePath, type KubeObject } from '../../agent/apiserver/client.js';
import { ApiError } from '../../agent/apiserver/errors.js';
import { loadKubeconfig } from '../../agent/apiserver/kubeconfig.js';
import { joinedNodePerFile, withAgentLog } from '../harness/agent.js';
import { eventually } from '../harness/apiserver.js';

const NODE = 'kna-t-node'; // the harness's --node-name
const BUSYBOX = 'localhost/kna/busybox:latest';
const MIRROR = `kna-t-mirror-${NODE}`;

interface PodObj extends KubeObject {
  spec: { nodeName?: string; containers: { name: string; command?: string[] }[] };
  status?: {
    phase?: string;
    podIP?: string;
    containerStatuses?: { name: string; ready: boolean; restartCount: number; containerID?: string; state: { running?: { startedAt: string } } }[];
  };
}


const manifest = (label: string) => `
apiVersion: v1
kind: Pod
metadata: { name: kna-t-mirror, labels: { app: kna-t-mirror, version: ${label} } }
spec:
  terminationGracePeriodSeconds: 1
  containers: [{ name: c, image: ${BUSYBOX}, imagePullPolicy: IfNotPresent, command: [sleep, '3600'] }]
`;

const joined = joinedNodePerFile('mirror', { manifests: { 'static.yaml': manifest('one') } });

const podPath = (name: string) => resourcePath({ resource: 'pods', namespace: 'default', name });
const withLog = withAgentLog(() => joined.agent, 60);

async function getPod(name: string): Promise<PodObj | undefined> {
  try {
    return await joined.admin.get<PodObj>(podPath(name));
  } catch (err) {
    if (err instanceof ApiError && err.isNotFound) return undefined;
    throw err;
  }
}

/** The mirror, once Running with a podIP and a ready container (optionally a new one, other than `notUid`). */
function runningMirror(notUid?: string): Promise<PodObj> {
  return eventually('the mirror pod Running with podIP', async () => {
    const p = await getPod(MIRROR);
    const cs = p?.status?.containerStatuses?.[0];
    return p && p.metadata.uid !== notUid && !p.metadata.deletionTimestamp && p.status?.phase === 'Running' && p.status.podIP && cs?.state.running && cs.ready ? p : undefined;
  }, 60_000).catch(withLog);
}

test('a static pod gets a mirror pod: kubelet name and annotations, the Node as owner, Running with its IP', async () => {
  const mirror = await runningMirror();
  const local = await joined.agent.waitPod('kna-t-mirror', (p) => p.status.phase === 'Running', 'static pod Running');
  const node = await joined.admin.get(resourcePath({ resource: 'nodes', name: NODE }));
  const a = mirror.metadata.annotations ?? {};
  assert.equal(a['kubernetes.io/config.mirror'], local.metadata.uid, 'config.mirror = the static pod config hash');
  assert.equal(a['kubernetes.io/config.hash'], local.metadata.uid);
  assert.equal(a['kubernetes.io/config.source'], 'file');
  assert.match(a['kubernetes.io/config.seen'] ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
  assert.deepEqual(mirror.metadata.ownerReferences, [{ apiVersion: 'v1', kind: 'Node', name: NODE, uid: node.metadata.uid, controller: true }]);
  assert.deepEqual(mirror.metadata.labels, { app: 'kna-t-mirror', version: 'one' });
  assert.equal(mirror.spec.nodeName, NODE);
  assert.notEqual(mirror.metadata.uid, local.metadata.uid, 'the mirror has its own uid');
  assert.equal(mirror.status!.podIP, local.status.podIP);
  assert.equal(mirror.status!.containerStatuses![0]!.containerID, local.status.containerStatuses![0]!.containerID);
  assert.ok(!joined.agent.log().includes('skipping API pod'), 'the mirror is not taken for an API pod to run');
  assert.doesNotMatch(joined.agent.log(), /mirror pod (create|delete) failed|mirror pod sync failed/);
});

test("the node's credentials create only proper mirror pods (NodeRestriction) and cannot update pods", async () => {
  const node = new ApiClient(await loadKubeconfig(`${joined.agent.rootDir}/kubeconfig`), { timeoutMs: 10_000 });
  try {
    const self = await joined.admin.get(resourcePath({ resource: 'nodes', name: NODE }));
    const body = (over: { annotations?: Record<string, string>; owners?: unknown[]; spec?: Record<string, unknown> }) => ({
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: 'kna-t-forged', annotations: over.annotations ?? { 'kubernetes.io/config.mirror': 'x' }, ownerReferences: over.owners ?? [{ apiVersion: 'v1', kind: 'Node', name: NODE, uid: self.metadata.uid, controller: true }] },
      spec: { nodeName: NODE, containers: [{ name: 'c', image: BUSYBOX }], ...over.spec },
    });
    const refused = async (b: unknown, why: RegExp) => {
      const err = await node.create(resourcePath({ resource: 'pods', namespace: 'default' }), b).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof ApiError && err.code === 403, `refused: ${String(err)}`);
      assert.match(err.message, why);
    };
    await refused(body({ annotations: {} }), /can only create mirror pods/);
    await refused(body({ owners: [] }), /owner reference set to itself/);
    await refused(body({ owners: [{ apiVersion: 'v1', kind: 'Node', name: NODE, uid: self.metadata.uid, controller: false }] }), /controller owner reference/);
    await refused(body({ owners: [{ apiVersion: 'v1', kind: 'Node', name: NODE, uid: 'not-the-uid', controller: true }] }), /UID mismatch/);
    await refused(body({ spec: { volumes: [{ name: 'v', configMap: { name: 'x' } }] } }), /reference configmaps/);
    await refused(body({ spec: { serviceAccountName: 'default' } }), /reference a service account/);
    const err = await node.patch(podPath(MIRROR), { metadata: { labels: { x: 'y' } } }).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof ApiError && err.code === 403, `a node cannot update a pod: ${String(err)}`);
  } finally {
    node.close();
  }
});

test('a deleted mirror comes back; the static pod runs on untouched', async () => {
  const before = await runningMirror();
  const cs = before.status!.containerStatuses![0]!;
  await joined.admin.delete(podPath(MIRROR));
  const again = await runningMirror(before.metadata.uid);
  assert.equal(again.metadata.annotations?.['kubernetes.io/config.mirror'], before.metadata.annotations?.['kubernetes.io/config.mirror']);
  const cs2 = again.status!.containerStatuses![0]!;
  assert.equal(cs2.containerID, cs.containerID, 'the same container');
  assert.equal(cs2.restartCount, cs.restartCount);
  assert.match(joined.agent.log(), /"reason":"deleted".*mirror pod deleted/);
});

test('a restarted agent keeps a correct mirror and deletes one whose static pod is gone', async () => {
  const kept = await runningMirror();
  await joined.agent.stopProcess();
  // Left from a static pod removed while the agent was down.
  await joined.admin.create(resourcePath({ resource: 'pods', namespace: 'default' }), {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: `kna-t-gone-${NODE}`, annotations: { 'kubernetes.io/config.mirror': 'gone', 'kubernetes.io/config.source': 'file' } },
    spec: { nodeName: NODE, containers: [{ name: 'c', image: BUSYBOX }] },
  });
  const mark = joined.agent.log().length;
  joined.agent.start();
  await eventually('the orphaned mirror deleted', async () => (await getPod(`kna-t-gone-${NODE}`)) === undefined || undefined, 45_000).catch(withLog);
  const now = await runningMirror();
  assert.equal(now.metadata.uid, kept.metadata.uid, 'the same mirror: no delete and create');
  const tail = joined.agent.log().slice(mark);
  assert.ok(!/mirror pod created/.test(tail), 'nothing created after the restart');
  assert.equal(await joined.agent.pod(`kna-t-gone-${NODE}`), undefined, 'the orphan never ran');
});

test('an edited static pod gets a new mirror with the new hash; a removed one loses its mirror', async () => {
  const old = await runningMirror();
  joined.agent.writeManifest('static.yaml', manifest('two'));
  const next = await eventually('a mirror of the new version', async () => {
    const p = await getPod(MIRROR);
    return p?.metadata.labels?.version === 'two' && p.status?.phase === 'Running' && p.status.podIP ? p : undefined;
  }, 60_000).catch(withLog);
  assert.notEqual(next.metadata.uid, old.metadata.uid);
  const local = await joined.agent.waitPod('kna-t-mirror', (p) => p.metadata.uid === next.metadata.annotations?.['kubernetes.io/config.hash'] && p.status.phase === 'Running', 'the new version Running');
  assert.equal(next.metadata.annotations?.['kubernetes.io/config.mirror'], local.metadata.uid);
  assert.notEqual(next.metadata.annotations?.['kubernetes.io/config.mirror'], old.metadata.annotations?.['kubernetes.io/config.mirror']);

  joined.agent.removeManifest('static.yaml');
  await eventually('the mirror gone', async () => (await getPod(MIRROR)) === undefined || undefined, 45_000).catch(withLog);
  await joined.agent.waitFor('the static pod gone', async () => (await joined.agent.pod('kna-t-mirror')) === undefined, 30_000);
});
