// Node flags and pod admission with a real agent joined to the test control plane:
// --kube-reserved/--system-reserved, --max-pods, --node-labels and
// --register-with-taints shape the Node; pods that do not fit (cpu, a host port in
// use, a node selector, a NoExecute taint) are rejected as kubelet does (phase
// Failed, its reason and message in the API) while a fitting pod runs; after a
// kill -9 and a restart under stricter flags the running pod is adopted, not judged
// again, and new pods are judged next to it.
import assert from 'node:assert/strict';
import { cpus } from 'node:os';
import { test } from 'node:test';
import { resourcePath, type KubeObject } from '../../agent/apiserver/client.js';
import { joinedNodePerFile, TestAgent } from '../harness/agent.js';
import { eventually } from '../harness/apiserver.js';

const NODE = 'kna-t-node'; // the harness's --node-name
const BUSYBOX = 'localhost/kna/busybox:latest';
const HOST_PORT = 31871;
const nodePath = resourcePath({ resource: 'nodes', name: NODE });
const podPath = (name: string) => resourcePath({ resource: 'pods', namespace: 'default', name });

interface PodObj extends KubeObject {
  status?: { phase?: string; reason?: string; message?: string; containerStatuses?: { containerID?: string; restartCount: number }[] };
}
interface NodeObj extends KubeObject {
  spec: { taints?: { key: string; value?: string; effect: string }[] };
  status: { capacity: Record<string, string>; allocatable: Record<string, string> };
}


// Allocatable cpu 500m whatever the host's core count: 4/5 of it kube-reserved, the rest system-reserved.
const hostMilli = cpus().length * 1000;
const joinArgs = () => ['--server', joined.server.url, '--token', joined.server.createBootstrapToken(), '--discovery-token-ca-cert-hash', joined.server.caHash];
const nodeArgs = [
  '--kube-reserved', `cpu=${hostMilli - 700}m,memory=256Mi`, '--system-reserved', 'cpu=200m',
  '--max-pods', '8', '--node-labels', 'kna-t/zone=a,node.kubernetes.io/pool=kna-t',
  '--register-with-taints', 'kna-t/role=infra:NoSchedule,kna-t/evict=yes:NoExecute',
];

// A static pod is admitted too: it asks for more cpu than the node has.
const joined = joinedNodePerFile('apiadm', { args: () => nodeArgs, manifests: { 'static.yaml': `
apiVersion: v1
kind: Pod
metadata: { name: kna-t-static-big }
spec:
  containers: [{ name: c, image: ${BUSYBOX}, imagePullPolicy: IfNotPresent, command: [sleep, '3600'], resources: { requests: { cpu: '2' } } }]
` } });

const EVICT_TOLERATION = { key: 'kna-t/evict', operator: 'Exists', effect: 'NoExecute' };

function podBody(name: string, o: { cpu?: string; hostPort?: boolean; nodeSelector?: Record<string, string>; tolerations?: unknown[] } = {}) {
  return {
    metadata: { name },
    spec: {
      nodeName: NODE,
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: 1,
      tolerations: o.tolerations ?? [EVICT_TOLERATION],
      ...(o.nodeSelector ? { nodeSelector: o.nodeSelector } : {}),
      containers: [{
        name: 'c', image: BUSYBOX, imagePullPolicy: 'IfNotPresent', command: ['sleep', '3600'],
        resources: { requests: { cpu: o.cpu ?? '100m' } },
        ...(o.hostPort ? { ports: [{ containerPort: 8080, hostPort: HOST_PORT, hostIP: '127.0.0.1' }] } : {}),
      }],
    },
  };
}

const create = (body: unknown) => joined.admin.create(resourcePath({ resource: 'pods', namespace: 'default' }), body);

async function failed(name: string): Promise<PodObj> {
  return eventually(`${name} Failed in the API`, async () => {
    const p = await joined.admin.get<PodObj>(podPath(name));
    return p.status?.phase === 'Failed' ? p : undefined;
  }, 45_000).catch((err: unknown) => { throw new Error(`${(err as Error).message}\nagent log:\n${joined.agent.log().slice(-3000)}`); });
}

async function running(name: string): Promise<PodObj> {
  return eventually(`${name} Running in the API`, async () => {
    const p = await joined.admin.get<PodObj>(podPath(name));
    return p.status?.phase === 'Running' ? p : undefined;
  }, 60_000).catch((err: unknown) => { throw new Error(`${(err as Error).message}\nagent log:\n${joined.agent.log().slice(-3000)}`); });
}

const sandboxOf = async (uid: string) => (await joined.containerd.cri.listPodSandbox()).some((s) => s.metadata?.uid === uid);

test('the Node carries the flags: allocatable less what is reserved, max pods, labels, taints', async () => {
  const n = await eventually('the Node', () => joined.admin.get<NodeObj>(nodePath), 45_000);
  assert.equal(n.status.capacity.cpu, String(cpus().length));
  assert.equal(n.status.allocatable.cpu, '500m');
  const ki = (q: string) => Number(/^(\d+)Ki$/.exec(q)?.[1]);
  assert.equal(ki(n.status.allocatable.memory!), ki(n.status.capacity.memory!) - 256 * 1024 - 100 * 1024, 'memory: kube-reserved and the 100Mi eviction threshold');
  assert.equal(n.status.capacity.pods, '8');
  assert.equal(n.status.allocatable.pods, '8');
  assert.equal(n.metadata.labels?.['kna-t/zone'], 'a');
  assert.equal(n.metadata.labels?.['node.kubernetes.io/pool'], 'kna-t');
  assert.equal(n.metadata.labels?.['kubernetes.io/hostname'], NODE);
  assert.deepEqual(n.spec.taints, [{ key: 'kna-t/role', value: 'infra', effect: 'NoSchedule' }, { key: 'kna-t/evict', value: 'yes', effect: 'NoExecute' }]);
});

test('a fitting pod runs; pods that do not fit are Failed with kubelet\'s reason and message and never run', async () => {
  await create(podBody('kna-t-fit', { hostPort: true, nodeSelector: { 'kna-t/zone': 'a' } }));
  await running('kna-t-fit');
  await create(podBody('kna-t-big', { cpu: '1' }));
  await create(podBody('kna-t-port', { hostPort: true }));
  await create(podBody('kna-t-zone', { nodeSelector: { 'kna-t/zone': 'b' } }));
  await create(podBody('kna-t-untolerated', { tolerations: [] }));

  const big = await failed('kna-t-big');
  assert.equal(big.status!.reason, 'OutOfcpu');
  assert.equal(big.status!.message, "Pod was rejected: Node didn't have enough resource: cpu, requested: 1000, used: 100, capacity: 500");
  // kubelet's rejectPod also records a Warning Event with the reason.
  const ev = await eventually('the rejection Event', async () => (await joined.admin.list<KubeObject & { type: string; reason: string; message: string }>(
    resourcePath({ resource: 'events', namespace: 'default' }), { fieldSelector: 'involvedObject.name=kna-t-big' })).items.find((e) => e.reason === 'OutOfcpu'));
  assert.equal(ev.type, 'Warning');
  assert.equal(ev.message, "Node didn't have enough resource: cpu, requested: 1000, used: 100, capacity: 500");
  const port = await failed('kna-t-port');
  assert.equal(port.status!.reason, 'NodePorts');
  assert.equal(port.status!.message, "Pod was rejected: Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports");
  const zone = await failed('kna-t-zone');
  assert.equal(zone.status!.reason, 'NodeAffinity');
  assert.equal(zone.status!.message, "Pod was rejected: Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector");
  const taint = await failed('kna-t-untolerated');
  assert.equal(taint.status!.reason, 'TaintToleration');
  for (const p of [big, port, zone, taint]) {
    assert.equal(await sandboxOf(p.metadata.uid!), false, `${p.metadata.name} never got a sandbox`);
    assert.equal(p.status!.containerStatuses, undefined);
  }
  // The static pod: rejected the same way, shown by the local API.
  const local = await joined.agent.waitPod('kna-t-static-big', (p) => p.status.phase === 'Failed', 'static pod rejected');
  assert.equal((local.status as { reason?: string }).reason, 'OutOfcpu');
  assert.equal((await joined.admin.get<PodObj>(podPath('kna-t-fit'))).status!.phase, 'Running', 'the fitting pod still runs');
});

test('after kill -9 and a restart under stricter flags, the running pod is adopted, not judged again; new pods are judged next to it', async () => {
  const before = (await joined.admin.get<PodObj>(podPath('kna-t-fit'))).status!.containerStatuses![0]!.containerID;
  await joined.agent.kill9();
  // Stricter now, both in the API Node and in the flags: a NoExecute taint kna-t-fit does not tolerate.
  const n = await joined.admin.get<NodeObj>(nodePath);
  await joined.admin.patch(nodePath, { spec: { taints: [...(n.spec.taints ?? []), { key: 'kna-t/late', effect: 'NoExecute' }] } }, 'merge');
  const base = joined.agent.base;
  joined.agent = new TestAgent(joined.containerd, [...joinArgs(), ...nodeArgs.slice(0, -1), 'kna-t/role=infra:NoSchedule,kna-t/evict=yes:NoExecute,kna-t/late:NoExecute'], { command: 'join', base });
  const logBefore = joined.agent.log().length;
  joined.agent.start();
  await eventually('the restarted agent running', () => joined.agent.log().slice(logBefore).includes('kna is running') || undefined, 30_000);

  const p = await joined.agent.waitPod('kna-t-fit', (x) => x.status.phase === 'Running' && (x.status.containerStatuses?.[0]?.ready ?? false), 'adopted and Running');
  assert.equal(p.status.containerStatuses![0]!.containerID, before, 'the same container');
  assert.equal(p.status.containerStatuses![0]!.restartCount, 0);
  // A new pod that tolerates the late taint still meets the adopted pod's host port; one that does not, the taint.
  await create(podBody('kna-t-port-2', { hostPort: true, tolerations: [EVICT_TOLERATION, { key: 'kna-t/late', operator: 'Exists' }] }));
  await create(podBody('kna-t-late'));
  assert.equal((await failed('kna-t-port-2')).status!.reason, 'NodePorts');
  assert.equal((await failed('kna-t-late')).status!.reason, 'TaintToleration');
  const fit = await joined.admin.get<PodObj>(podPath('kna-t-fit'));
  assert.equal(fit.status!.phase, 'Running');
  assert.equal(fit.status!.containerStatuses![0]!.containerID, before);
  // Pods rejected before the restart stay Failed and are not started now.
  const big = await joined.admin.get<PodObj>(podPath('kna-t-big'));
  assert.equal(big.status!.reason, 'OutOfcpu');
  assert.equal(await sandboxOf(big.metadata.uid!), false);
  assert.ok(!joined.agent.log().slice(logBefore).split('\n').some((l) => l.includes('pod rejected') && l.includes('default/kna-t-fit')), 'kna-t-fit was not judged again');
  // Taints are the Node's from its registration on: the restart did not rewrite them.
  assert.deepEqual((await joined.admin.get<NodeObj>(nodePath)).spec.taints?.map((t) => t.key), ['kna-t/role', 'kna-t/evict', 'kna-t/late']);
});
