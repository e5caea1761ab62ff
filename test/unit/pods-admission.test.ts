// Pod admission (agent/pods/admission.ts): kubelet's reasons and messages, the
// scheduler's request arithmetic, and which pods count.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { admitPod, podRequests, rejectedStatus, type AdmissionNode, type AdmittedPod, type AdmitResult } from '../../agent/pods/admission.js';
import type { Pod } from '../../agent/pods/api-types.js';
import { CONFIG_SOURCE_ANNOTATION } from '../../agent/pods/manifest/schema.js';
import { c, makePod, NODE, T0 } from './pods-fixtures.js';

const node: AdmissionNode = {
  name: NODE,
  labels: { 'kubernetes.io/hostname': NODE, 'kubernetes.io/os': 'linux', zone: 'a', gen: '5' },
  taints: [],
  allocatable: { cpu: '4', memory: '8Gi', 'ephemeral-storage': '100Gi', pods: '110' },
};

const withRequests = (requests: Record<string, string>, extra: Record<string, unknown> = {}) => c('app', { resources: { requests }, ...extra });
const pod = (spec: Record<string, unknown>, name = 'web') => makePod({ containers: [c('app')], ...spec }, { name, uid: `uid-${name}` });
const apiPod = (p: Pod): Pod => ({ ...p, metadata: { ...p.metadata, annotations: { ...p.metadata.annotations, [CONFIG_SOURCE_ANNOTATION]: 'api' } } });
const admitted = (...pods: Pod[]): AdmittedPod[] => pods.map((p) => ({ spec: p.spec }));
const rejected = (r: AdmitResult) => (r.admit ? 'admitted' : `${r.reason}: ${r.message}`);

test('resources: the first that does not fit, with kubelet\'s reason and message; allocatable less the admitted pods\' requests', () => {
  const others = admitted(pod({ containers: [withRequests({ cpu: '3800m', memory: '1Gi' })] }, 'a'));
  assert.equal(rejected(admitPod(pod({ containers: [withRequests({ cpu: '500m' })] }), others, node)),
    "OutOfcpu: Node didn't have enough resource: cpu, requested: 500, used: 3800, capacity: 4000");
  assert.deepEqual(admitPod(pod({ containers: [withRequests({ cpu: '200m' })] }), others, node), { admit: true }, 'exactly what is left fits');
  assert.equal(rejected(admitPod(pod({ containers: [withRequests({ memory: '7500Mi' })] }), others, node)),
    `OutOfmemory: Node didn't have enough resource: memory, requested: ${7500 * 2 ** 20}, used: ${2 ** 30}, capacity: ${8 * 2 ** 30}`);
  assert.equal(rejected(admitPod(pod({ containers: [withRequests({ 'ephemeral-storage': '101Gi' })] }), [], node)),
    `OutOfephemeral-storage: Node didn't have enough resource: ephemeral-storage, requested: ${101 * 2 ** 30}, used: 0, capacity: ${100 * 2 ** 30}`);
  // A limit without a request is the request (the API server's defaulting).
  assert.match(rejected(admitPod(pod({ containers: [c('app', { resources: { limits: { cpu: '1' } } })] }), others, node)), /^OutOfcpu: .*requested: 1000, used: 3800/);
  // Pods asking for nothing always fit the resources (only the pod count limits them).
  assert.deepEqual(admitPod(pod({}), admitted(pod({ containers: [withRequests({ cpu: '4' })] }, 'full')), node), { admit: true });
});

test('hugepages and extended resources: checked against allocatable; an extended resource the node does not offer is left out, as kubelet does', () => {
  const gpuNode = { ...node, allocatable: { ...node.allocatable, 'hugepages-2Mi': '0', 'example.com/gpu': '2' } };
  const gpus = (n: string, name = 'web') => pod({ containers: [c('app', { resources: { limits: { 'example.com/gpu': n } } })] }, name);
  assert.deepEqual(podRequests(gpus('1').spec), { cpu: 0, memory: 0, 'ephemeral-storage': 0, 'example.com/gpu': 1 });
  assert.deepEqual(admitPod(gpus('2'), [], gpuNode), { admit: true });
  assert.equal(rejected(admitPod(gpus('1'), admitted(gpus('2', 'a')), gpuNode)),
    "OutOfexample.com/gpu: Node didn't have enough resource: example.com/gpu, requested: 1, used: 2, capacity: 2");
  // kubelet's removeMissingExtendedResources: maybe a cluster-level resource, not this node's to refuse.
  assert.deepEqual(admitPod(gpus('1'), [], node), { admit: true });
  assert.equal(rejected(admitPod(pod({ containers: [c('app', { resources: { limits: { 'hugepages-2Mi': '4Mi', memory: '10Mi' } } })] }), [], gpuNode)),
    `OutOfhugepages-2Mi: Node didn't have enough resource: hugepages-2Mi, requested: ${4 * 2 ** 20}, used: 0, capacity: 0`);
  // Names outside the scalar kinds (a typo without a domain is refused by validation) are not counted.
  assert.deepEqual(Object.keys(podRequests(pod({ containers: [withRequests({ 'kubernetes.io/foo': '1' })] }).spec)), ['cpu', 'memory', 'ephemeral-storage']);
});

test('the pod count: admitted pods count, terminated ones do not', () => {
  const small = { ...node, allocatable: { ...node.allocatable, pods: '2' } };
  const two = admitted(pod({}, 'a'), pod({}, 'b'));
  assert.equal(rejected(admitPod(pod({}), two, small)), "OutOfpods: Node didn't have enough resource: pods, requested: 1, used: 2, capacity: 2");
  const oneDone: AdmittedPod[] = [{ spec: pod({}, 'a').spec, status: { phase: 'Running' } }, { spec: pod({}, 'b').spec, status: { phase: 'Succeeded' } }];
  assert.deepEqual(admitPod(pod({}), oneDone, small), { admit: true });
  // A finished pod's requests are free again too.
  const failedBig: AdmittedPod[] = [{ spec: pod({ containers: [withRequests({ cpu: '4' })] }, 'big').spec, status: { phase: 'Failed' } }];
  assert.deepEqual(admitPod(pod({ containers: [withRequests({ cpu: '4' })] }), failedBig, node), { admit: true });
});

test('init containers: the larger of the largest init container and the app containers; sidecars add up', () => {
  const p = pod({
    initContainers: [c('i1', { resources: { requests: { cpu: '2', memory: '100Mi' } } }), c('i2', { resources: { requests: { cpu: '500m', memory: '3Gi' } } })],
    containers: [withRequests({ cpu: '1', memory: '1Gi' }), c('b', { resources: { requests: { cpu: '500m' } } })],
  });
  assert.deepEqual(podRequests(p.spec), { cpu: 2000, memory: 3 * 2 ** 30, 'ephemeral-storage': 0 });
  // A sidecar runs next to the later init containers and next to the app containers.
  const s = pod({
    initContainers: [c('side', { restartPolicy: 'Always', resources: { requests: { cpu: '300m' } } }), c('i1', { resources: { requests: { cpu: '2' } } })],
    containers: [withRequests({ cpu: '1' })],
  });
  assert.deepEqual(podRequests(s.spec), { cpu: 2300, memory: 0, 'ephemeral-storage': 0 });
  assert.deepEqual(podRequests({ ...pod({ containers: [withRequests({ cpu: '100m' })] }).spec, overhead: { cpu: '250m', memory: '120Mi' } }), { cpu: 350, memory: 120 * 2 ** 20, 'ephemeral-storage': 0 });
  // And that is what admission compares: 2 cpus of init containers do not fit next to 3 used.
  assert.match(rejected(admitPod(p, admitted(pod({ containers: [withRequests({ cpu: '3' })] }, 'a')), node)), /^OutOfcpu: .*requested: 2000, used: 3000, capacity: 4000$/);
});

test('host ports: the same protocol and port on the same address, or on any address, conflict', () => {
  const port = (hostPort: number, extra: Record<string, unknown> = {}) => ({ containers: [c('app', { ports: [{ containerPort: 80, hostPort, ...extra }] })] });
  const others = admitted(pod(port(8080), 'a'), pod(port(9090, { hostIP: '127.0.0.1' }), 'b'));
  const conflict = "NodePorts: Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports";
  assert.equal(rejected(admitPod(pod(port(8080)), others, node)), conflict);
  assert.equal(rejected(admitPod(pod(port(8080, { hostIP: '10.0.0.1' })), others, node)), conflict, '0.0.0.0 takes every address');
  assert.equal(rejected(admitPod(pod(port(9090)), others, node)), conflict, 'any address collides with a specific one');
  assert.deepEqual(admitPod(pod(port(9090, { hostIP: '127.0.0.2' })), others, node), { admit: true });
  assert.deepEqual(admitPod(pod(port(8080, { protocol: 'UDP' })), others, node), { admit: true });
  assert.deepEqual(admitPod(pod(port(8081)), others, node), { admit: true });
  assert.deepEqual(admitPod(pod(port(8080)), [{ spec: pod(port(8080), 'done').spec, status: { phase: 'Succeeded' } }], node), { admit: true });
});

test('node selector and required node affinity against the node\'s labels', () => {
  const affinity = "NodeAffinity: Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector";
  assert.deepEqual(admitPod(pod({ nodeSelector: { zone: 'a' } }), [], node), { admit: true });
  assert.equal(rejected(admitPod(pod({ nodeSelector: { zone: 'b' } }), [], node)), affinity);
  assert.equal(rejected(admitPod(pod({ nodeSelector: { disk: 'ssd' } }), [], node)), affinity);
  const required = (...nodeSelectorTerms: unknown[]) => pod({ affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms } } } });
  const expr = (key: string, operator: string, values?: string[]) => ({ key, operator, ...(values ? { values } : {}) });
  const admits = (p: Pod) => admitPod(p, [], node).admit;
  assert.equal(admits(required({ matchExpressions: [expr('zone', 'In', ['a', 'b'])] })), true);
  assert.equal(admits(required({ matchExpressions: [expr('zone', 'NotIn', ['a'])] })), false);
  assert.equal(admits(required({ matchExpressions: [expr('disk', 'NotIn', ['ssd'])] })), true, 'NotIn matches a missing label');
  assert.equal(admits(required({ matchExpressions: [expr('zone', 'Exists'), expr('disk', 'DoesNotExist')] })), true);
  assert.equal(admits(required({ matchExpressions: [expr('gen', 'Gt', ['4']), expr('gen', 'Lt', ['6'])] })), true);
  assert.equal(admits(required({ matchExpressions: [expr('gen', 'Gt', ['5'])] })), false);
  assert.equal(admits(required({ matchExpressions: [expr('zone', 'Gt', ['1'])] })), false, 'Gt on a label that is not a number');
  assert.equal(admits(required({ matchExpressions: [expr('zone', 'In', [])] })), false, 'an invalid requirement matches nothing');
  assert.equal(admits(required({ matchFields: [expr('metadata.name', 'In', [NODE])] })), true);
  assert.equal(admits(required({ matchFields: [expr('metadata.name', 'In', ['other'])] })), false);
  // Terms are ORed; an empty term matches nothing.
  assert.equal(admits(required({ matchExpressions: [expr('zone', 'In', ['b'])] }, { matchExpressions: [expr('zone', 'In', ['a'])] })), true);
  assert.equal(admits(required({})), false);
  // nodeSelector and affinity must both match.
  assert.equal(admitPod(makePod({ containers: [c('app')], nodeSelector: { zone: 'b' }, affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [expr('zone', 'Exists')] }] } } } }), [], node).admit, false);
  // Preferred affinity never rejects.
  assert.equal(admits(pod({ affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 1, preference: { matchExpressions: [expr('zone', 'In', ['z'])] } }] } } })), true);
});

test('NoExecute taints reject API pods that do not tolerate them; static pods and other effects are not checked', () => {
  const tainted: AdmissionNode = { ...node, taints: [{ key: 'dedicated', value: 'infra', effect: 'NoExecute' }, { key: 'gpu', effect: 'NoSchedule' }] };
  const reason = "TaintToleration: Predicate TaintToleration failed: node(s) had taints that the pod didn't tolerate";
  assert.equal(rejected(admitPod(apiPod(pod({})), [], tainted)), reason);
  assert.deepEqual(admitPod(pod({}), [], tainted), { admit: true }, 'a static pod');
  const tol = (t: Record<string, unknown>) => apiPod(pod({ tolerations: [t] }));
  assert.equal(admitPod(tol({ key: 'dedicated', operator: 'Equal', value: 'infra', effect: 'NoExecute' }), [], tainted).admit, true);
  assert.equal(admitPod(tol({ key: 'dedicated', value: 'infra' }), [], tainted).admit, true, 'no effect: any effect; no operator: Equal');
  assert.equal(admitPod(tol({ key: 'dedicated', operator: 'Exists' }), [], tainted).admit, true);
  assert.equal(admitPod(tol({ operator: 'Exists' }), [], tainted).admit, true, 'an empty key with Exists tolerates everything');
  assert.equal(admitPod(tol({ key: 'dedicated', value: 'other' }), [], tainted).admit, false);
  assert.equal(admitPod(tol({ key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' }), [], tainted).admit, false);
});

test('node name, OS, and the order of checks (the first failure is the reason)', () => {
  const elsewhere = pod({});
  assert.equal(rejected(admitPod({ ...elsewhere, spec: { ...elsewhere.spec, nodeName: 'other' } }, [], node)), "NodeName: Predicate NodeName failed: node(s) didn't match the requested node name");
  assert.equal(admitPod(makePod({ containers: [c('app')] }, { labels: { 'kubernetes.io/os': 'windows' } }), [], node).admit, false);
  const both = pod({ nodeSelector: { zone: 'b' }, containers: [withRequests({ cpu: '5' })] });
  assert.match(rejected(admitPod(both, [], node)), /^OutOfcpu: /, 'resources before affinity');
});

test('a rejected pod\'s status is kubelet\'s rejectPod: Failed, reason, "Pod was rejected: " and the message', () => {
  const p = pod({ containers: [withRequests({ cpu: '5' })] });
  const r = admitPod(p, [], node);
  assert.ok(!r.admit);
  assert.deepEqual(rejectedStatus(p, r.reason, r.message, T0), {
    phase: 'Failed', reason: 'OutOfcpu', message: "Pod was rejected: Node didn't have enough resource: cpu, requested: 5000, used: 0, capacity: 4000",
    qosClass: 'Burstable', startTime: '2026-11-25T15:04:05Z', conditions: [], containerStatuses: [],
  });
});
