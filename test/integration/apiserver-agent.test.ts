// The real agent as a node of the test control plane: `kna join` bootstraps and
// goes on running; the Node turns Ready and its Lease exists; a pod created in the
// API runs on containerd and its status comes back to the API; deleting it stops it
// and the agent's final delete removes it; a pod the node cannot run is skipped
// with a clear log line while the others run; static pods keep running alongside.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { test } from 'node:test';
import { resourcePath, type KubeObject } from '../../agent/apiserver/client.js';
import { ApiError } from '../../agent/apiserver/errors.js';
import { joinedNodePerFile } from '../harness/agent.js';
import { eventually } from '../harness/apiserver.js';

const NODE = 'kna-t-node'; // the harness's --node-name
const BUSYBOX = 'localhost/kna/busybox:latest';

interface PodObj extends KubeObject {
  status?: {
    phase?: string;
    podIP?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { name: string; ready: boolean; restartCount: number; containerID?: string; state: { running?: { startedAt: string } } }[];
  };
}
interface NodeObj extends KubeObject {
  status?: { conditions?: { type: string; status: string; message?: string }[] };
}


const joined = joinedNodePerFile('apiag', { manifests: { 'static.yaml': `
apiVersion: v1
kind: Pod
metadata: { name: kna-t-static }
spec:
  terminationGracePeriodSeconds: 1
  containers: [{ name: c, image: ${BUSYBOX}, imagePullPolicy: IfNotPresent, command: [sleep, '3600'] }]
` } });

const podPath = (name: string) => resourcePath({ resource: 'pods', namespace: 'default', name });

function podBody(name: string, extra: { volumes?: unknown[]; mounts?: unknown[] } = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: name } },
    spec: {
      nodeName: NODE,
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: 2,
      containers: [{ name: 'c', image: BUSYBOX, imagePullPolicy: 'IfNotPresent', command: ['sleep', '3600'], ...(extra.mounts ? { volumeMounts: extra.mounts } : {}) }],
      ...(extra.volumes ? { volumes: extra.volumes } : {}),
    },
  };
}

async function waitNotFound(path: string, what: string): Promise<void> {
  await eventually(what, async () => {
    try {
      await joined.admin.get(path);
      return undefined;
    } catch (err) {
      if (err instanceof ApiError && err.isNotFound) return true;
      throw err;
    }
  }, 45_000);
}

test('kna join bootstraps, registers a Ready Node with its Lease, and keeps running static pods', async () => {
  const node = await eventually('the Node Ready', async () => {
    const n = await joined.admin.get<NodeObj>(resourcePath({ resource: 'nodes', name: NODE }));
    return n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? n : undefined;
  }, 45_000).catch((err: unknown) => { throw new Error(`${(err as Error).message}\nagent log:\n${joined.agent.log().slice(-3000)}`); });
  assert.equal(node.metadata.labels?.['kubernetes.io/hostname'], NODE);
  const lease = await eventually('the Lease', () => joined.admin.get<KubeObject & { spec: { holderIdentity: string } }>(resourcePath({ group: 'coordination.k8s.io', resource: 'leases', namespace: 'kube-node-lease', name: NODE })));
  assert.equal(lease.spec.holderIdentity, NODE);
  assert.equal(statSync(`${joined.agent.rootDir}/kubeconfig`).mode & 0o777, 0o600);
  assert.equal(statSync(`${joined.agent.rootDir}/pki/kubelet-client.key`).mode & 0o777, 0o600);
  assert.match(joined.agent.log(), /cluster-info verified by token signature and CA pin/);
  await joined.agent.waitPod('kna-t-static', (p) => p.status.phase === 'Running', 'static pod Running');
});

test('a pod created in the API runs; its status reaches the API; deleting it stops it and it disappears', async () => {
  await joined.admin.create(resourcePath({ resource: 'pods', namespace: 'default' }), podBody('kna-t-api'));
  const pod = await eventually('API status Running with podIP and a running container', async () => {
    const p = await joined.admin.get<PodObj>(podPath('kna-t-api'));
    const cs = p.status?.containerStatuses?.[0];
    return p.status?.phase === 'Running' && p.status.podIP && cs?.state.running && cs.ready ? p : undefined;
  }, 60_000).catch((err: unknown) => { throw new Error(`${(err as Error).message}\nagent log:\n${joined.agent.log().slice(-3000)}`); });
  assert.match(pod.status!.podIP!, /^10\./);
  assert.equal(pod.status!.containerStatuses![0]!.restartCount, 0);
  assert.match(pod.status!.containerStatuses![0]!.containerID ?? '', /^containerd:\/\//);
  assert.equal(pod.status!.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
  const local = await joined.agent.pod('kna-t-api');
  assert.equal(local?.metadata.uid, pod.metadata.uid, 'the agent runs the API pod under its API UID');

  await joined.admin.delete(podPath('kna-t-api'));
  assert.ok((await joined.admin.get<PodObj>(podPath('kna-t-api'))).metadata.deletionTimestamp, 'graceful: the pod waits for its node');
  await waitNotFound(podPath('kna-t-api'), 'the pod gone from the API');
  assert.equal(await joined.agent.pod('kna-t-api'), undefined, 'no longer on the node');
  const sandboxes = await joined.containerd.cri.listPodSandbox();
  assert.ok(!sandboxes.some((s) => s.metadata?.uid === pod.metadata.uid), 'its sandbox is removed');
  assert.match(joined.agent.log(), /pod terminated; deleted from the API server/);
});

test('an API pod the node cannot run is skipped with a clear log line; the others run', async () => {
  // NFS is valid for the API server but not something this node mounts.
  await joined.admin.create(resourcePath({ resource: 'pods', namespace: 'default' }), podBody('kna-t-nfs', {
    volumes: [{ name: 'data', nfs: { server: '127.0.0.1', path: '/export' } }],
    mounts: [{ name: 'data', mountPath: '/data' }],
  }));
  await joined.admin.create(resourcePath({ resource: 'pods', namespace: 'default' }), podBody('kna-t-ok'));
  await eventually('kna-t-ok Running in the API', async () => (await joined.admin.get<PodObj>(podPath('kna-t-ok'))).status?.phase === 'Running' || undefined, 60_000);
  const line = joined.agent.log().split('\n').find((l) => l.includes('skipping API pod') && l.includes('default/kna-t-nfs'));
  assert.ok(line, 'a log line names the skipped pod');
  assert.match(line, /unknown field \\"spec\.volumes\[0\]\.nfs\\"/);
  assert.equal(await joined.agent.pod('kna-t-nfs'), undefined);
  assert.equal((await joined.admin.get<PodObj>(podPath('kna-t-nfs'))).status?.phase, 'Pending');
  assert.ok(joined.agent.pid && joined.agent.log().includes('kna is running'), 'the agent lives on');
});

test('SIGTERM stops the agent cleanly; the API keeps its pods', async () => {
  const pid = joined.agent.pid!;
  await joined.agent.stopProcess();
  assert.throws(() => process.kill(pid, 0), 'the agent exited');
  const log = joined.agent.log();
  const tail = log.slice(log.indexOf('stopping (pods keep running)'));
  assert.ok(tail.length < log.length, 'it logged its stop');
  assert.ok(!tail.split('\n').some((l) => /"level":(50|60)/.test(l)), `no errors while stopping:\n${tail}`);
  assert.ok(await joined.admin.get(podPath('kna-t-ok')));
});

test('restarted with its credentials, the agent skips the bootstrap and adopts the running API pod without restarting it', async () => {
  const before = (await joined.admin.get<PodObj>(podPath('kna-t-ok'))).status!.containerStatuses![0]!.containerID;
  joined.agent.start();
  await eventually('the skip logged', () => /credentials already present; skipping TLS bootstrap/.test(joined.agent.log()) || undefined, 30_000);
  const p = await joined.agent.waitPod('kna-t-ok', (x) => x.status.phase === 'Running' && (x.status.containerStatuses?.[0]?.ready ?? false), 'Running again');
  assert.equal(p.status.containerStatuses![0]!.containerID, before, 'the same container');
  assert.equal(p.status.containerStatuses![0]!.restartCount, 0);
  await joined.agent.waitPod('kna-t-static', (x) => x.status.phase === 'Running', 'static pod Running');
});
