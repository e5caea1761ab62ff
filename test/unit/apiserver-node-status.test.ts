import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HostFacts } from '../../agent/apiserver/host.js';
import { parseMeminfo, parseOsRelease } from '../../agent/apiserver/host.js';
import { parseKubeconfig } from '../../agent/apiserver/kubeconfig.js';
import { KubeconfigError } from '../../agent/apiserver/errors.js';
import {
  capacityOf, conditionsOf, kubeletVersionString, nodeObject, parseResourceList, parseTaints, ResourceListError, statusDiffers, type NodeConfig,
} from '../../agent/apiserver/node-status.js';
import { rotationDeadline } from '../../agent/apiserver/rotation.js';

const GiB = 1024 ** 3;
const facts: HostFacts = {
  hostname: 'host1', cpus: 4, memoryTotal: 8 * GiB, memoryAvailable: 4 * GiB,
  fsCapacity: 100 * GiB, fsAvailable: 50 * GiB, fsInodes: 1_000_000, fsInodesFree: 900_000,
  pidMax: 32768, pidsInUse: 200, kernelVersion: '6.18.0', osImage: 'Debian GNU/Linux 12 (bookworm)',
  machineID: 'm', systemUUID: 'u', bootID: 'b', architecture: 'amd64', addresses: ['10.0.0.5', 'fd00::5'],
};
const cfg: NodeConfig = { nodeName: 'node-a', kubeletVersion: 'v1.31.0-kna.0.1.0', containerRuntimeVersion: 'containerd://1.6.20' };
const healthy = { runtimeReady: true, networkReady: true };

test('capacity from the host; allocatable minus reserved and the hard eviction threshold', () => {
  const { capacity, allocatable } = capacityOf(facts, { ...cfg, kubeReserved: { cpu: '100m', memory: '256Mi' }, systemReserved: { cpu: '0.4', memory: '256Mi', 'ephemeral-storage': '10Gi' } });
  assert.deepEqual(capacity, { cpu: '4', 'ephemeral-storage': `${100 * 1024 * 1024}Ki`, 'hugepages-1Gi': '0', 'hugepages-2Mi': '0', memory: `${8 * 1024 * 1024}Ki`, pods: '110' });
  assert.equal(allocatable.cpu, '3500m');
  assert.equal(allocatable.memory, `${(8 * 1024 - 512 - 100) * 1024}Ki`);
  assert.equal(allocatable['ephemeral-storage'], String(90 * GiB - 10 * GiB));
  assert.equal(allocatable.pods, '110');
});

test('conditions follow the host and the health callback, with kubelet reasons', () => {
  const t0 = '2024-01-01T00:00:00Z';
  const ok = conditionsOf(facts, cfg, healthy, undefined, t0);
  assert.deepEqual(ok.map((c) => [c.type, c.status, c.reason]), [
    ['MemoryPressure', 'False', 'KubeletHasSufficientMemory'],
    ['DiskPressure', 'False', 'KubeletHasNoDiskPressure'],
    ['PIDPressure', 'False', 'KubeletHasSufficientPID'],
    ['Ready', 'True', 'KubeletReady'],
    ['NetworkUnavailable', 'False', 'KnaNetworkReady'],
  ]);
  const t1 = '2024-01-01T00:00:10Z';
  const bad = conditionsOf({ ...facts, memoryAvailable: 50 * 1024 * 1024, fsAvailable: 5 * GiB, pidsInUse: 32000 }, cfg, { runtimeReady: false, networkReady: false, problems: ['PLEG is not healthy'] }, ok, t1);
  const by = Object.fromEntries(bad.map((c) => [c.type, c]));
  assert.equal(by.MemoryPressure!.status, 'True');
  assert.equal(by.DiskPressure!.status, 'True');
  assert.equal(by.PIDPressure!.status, 'True');
  assert.equal(by.Ready!.status, 'False');
  assert.match(by.Ready!.message, /container runtime is down.*PLEG is not healthy/);
  assert.equal(by.NetworkUnavailable!.status, 'True');
  assert.equal(by.Ready!.lastTransitionTime, t1);
  // No change: transition times stay, heartbeat moves, and that is not a difference.
  const again = conditionsOf(facts, cfg, healthy, ok, t1);
  assert.equal(again[3]!.lastTransitionTime, t0);
  assert.equal(again[3]!.lastHeartbeatTime, t1);
  assert.equal(statusDiffers({ conditions: ok }, { conditions: again }), false);
  assert.equal(statusDiffers({ conditions: ok }, { conditions: bad }), true);
});

test('the Node object: labels, addresses, taints, nodeInfo', () => {
  const n = nodeObject(facts, { ...cfg, taints: parseTaints('dedicated=infra:NoSchedule,gpu:NoExecute'), labels: { zone: 'a' } }, healthy, '2024-01-01T00:00:00Z') as {
    metadata: { labels: Record<string, string> }; spec: { taints: unknown[] }; status: { addresses: unknown[]; nodeInfo: Record<string, string> };
  };
  assert.equal(n.metadata.labels['kubernetes.io/hostname'], 'node-a');
  assert.equal(n.metadata.labels['kubernetes.io/os'], 'linux');
  assert.equal(n.metadata.labels['kubernetes.io/arch'], 'amd64');
  assert.equal(n.metadata.labels.zone, 'a');
  assert.deepEqual(n.spec.taints, [{ key: 'dedicated', value: 'infra', effect: 'NoSchedule' }, { key: 'gpu', effect: 'NoExecute' }]);
  assert.deepEqual(n.status.addresses, [{ type: 'InternalIP', address: '10.0.0.5' }, { type: 'Hostname', address: 'host1' }]);
  assert.equal(n.status.nodeInfo.containerRuntimeVersion, 'containerd://1.6.20');
  assert.equal(n.status.nodeInfo.kubeletVersion, 'v1.31.0-kna.0.1.0');
  assert.equal(kubeletVersionString('0.1.0'), 'v1.31.0-kna.0.1.0');
});

test('flag parsers reject what kubelet rejects', () => {
  assert.deepEqual(parseResourceList('cpu=100m,memory=1Gi'), { cpu: '100m', memory: '1Gi' });
  assert.throws(() => parseResourceList('gpu=1'), ResourceListError);
  assert.throws(() => parseResourceList('cpu=lots'), ResourceListError);
  assert.throws(() => parseTaints('a=b:Sometimes'), ResourceListError);
});

test('host file parsers', () => {
  assert.deepEqual(parseMeminfo('MemTotal:       16384 kB\nMemAvailable:    8192 kB\nHugePages_Total:       0\n'), { MemTotal: 16384 * 1024, MemAvailable: 8192 * 1024, HugePages_Total: 0 });
  assert.equal(parseOsRelease('NAME="Debian GNU/Linux"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'), 'Debian GNU/Linux 12 (bookworm)');
});

test('kubeconfig: current context, inline data, relative files, errors that name the field', () => {
  const text = `
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://10.0.0.1:6443", certificate-authority-data: ${Buffer.from('CA').toString('base64')}}
users:
- name: u
  user: {client-certificate: pki/c.crt, client-key: /abs/c.key}
contexts:
- name: x
  context: {cluster: c, user: u}
current-context: x
`;
  const r = parseKubeconfig(text, 'kc', '/root/dir');
  assert.equal(r.server, 'https://10.0.0.1:6443');
  assert.deepEqual(r.ca, { data: 'CA' });
  assert.deepEqual(r.cert, { file: '/root/dir/pki/c.crt' });
  assert.deepEqual(r.key, { file: '/abs/c.key' });
  assert.throws(() => parseKubeconfig(text.replace('current-context: x', 'current-context: y'), 'kc', '/'), KubeconfigError);
  assert.throws(() => parseKubeconfig('clusters: 5', 'kc', '/'), /kc: clusters/);
});

test('rotation deadline lies at the given fraction of the lifetime', () => {
  const v = { notBefore: new Date(0), notAfter: new Date(1000_000) };
  assert.equal(rotationDeadline(v, 0.7).getTime(), 700_000);
});
