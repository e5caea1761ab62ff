// The agent as a node of the test control plane: Node registration with status,
// the Lease heartbeat, status changes with health, surviving an API server
// restart (watches relist after 410), and client certificate rotation.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import { pino } from 'pino';
import { resourcePath, type KubeObject } from '../../agent/apiserver/client.js';
import { ControlPlane } from '../../agent/apiserver/control-plane.js';
import { credentialPaths, joinCluster } from '../../agent/apiserver/join.js';
import type { Lease } from '../../agent/apiserver/lease.js';
import type { NodeHealth } from '../../agent/apiserver/node-status.js';
import { TestApiServer } from '../apiserver/server.js';
import { adminClient, defer, eventually, startTestApiServer, tempDir } from '../harness/apiserver.js';

const nodeName = `kna-t-node-${process.pid}`;
const log = pino({ level: 'silent' });
const nodePath = resourcePath({ resource: 'nodes', name: nodeName });
const leasePath = resourcePath({ group: 'coordination.k8s.io', resource: 'leases', namespace: 'kube-node-lease', name: nodeName });

interface NodeObj extends KubeObject {
  spec: { taints?: unknown[] };
  status: {
    capacity: Record<string, string>;
    allocatable: Record<string, string>;
    conditions: { type: string; status: string; reason: string }[];
    addresses: { type: string; address: string }[];
    nodeInfo: Record<string, string>;
    daemonEndpoints: { kubeletEndpoint: { Port: number } };
  };
}

async function joinedControlPlane(t: TestContext, server: TestApiServer, health: () => NodeHealth, extra: Partial<Parameters<typeof ControlPlane.connect>[0]> = {}): Promise<ControlPlane> {
  const rootDir = tempDir(t, 'node');
  await joinCluster({ server: server.url, token: server.createBootstrapToken(), caCertHashes: [server.caHash], nodeName, rootDir });
  const cp = await ControlPlane.connect({
    kubeconfig: credentialPaths(rootDir).kubeconfig,
    node: {
      nodeName, rootDir, health, containerRuntimeVersion: 'containerd://1.6.20',
      taints: [{ key: 'kna-t/test', value: 'yes', effect: 'NoSchedule' }],
      kubeReserved: { cpu: '100m', memory: '128Mi' },
      updateIntervalMs: 100,
    },
    leaseRenewIntervalMs: 100,
    log,
    ...extra,
  });
  defer(t, () => cp.stop());
  cp.start();
  await cp.nodeStatus.registered;
  return cp;
}

test('the Node appears with labels, addresses, capacity, conditions and nodeInfo; the Lease renews', async (t) => {
  const { server, admin } = await startTestApiServer(t, { autoApproveCsrs: true });
  let health: NodeHealth = { runtimeReady: true, networkReady: true };
  const cp = await joinedControlPlane(t, server, () => health);

  const n = await admin.get<NodeObj>(nodePath);
  assert.equal(n.metadata.labels?.['kubernetes.io/hostname'], nodeName);
  assert.equal(n.metadata.labels?.['kubernetes.io/os'], 'linux');
  assert.match(n.metadata.labels?.['kubernetes.io/arch'] ?? '', /^(amd64|arm64)$/);
  assert.deepEqual(n.spec.taints, [{ key: 'kna-t/test', value: 'yes', effect: 'NoSchedule' }]);
  assert.ok(n.status.addresses.some((a) => a.type === 'Hostname'));
  for (const r of ['cpu', 'memory', 'ephemeral-storage', 'pods']) assert.ok(n.status.capacity[r] && n.status.allocatable[r], r);
  assert.equal(n.status.capacity.pods, '110');
  assert.match(n.status.allocatable.cpu!, /^\d+m?$/);
  assert.deepEqual(n.status.conditions.map((c) => c.type).sort(), ['DiskPressure', 'MemoryPressure', 'NetworkUnavailable', 'PIDPressure', 'Ready']);
  assert.equal(n.status.conditions.find((c) => c.type === 'Ready')?.status, 'True');
  assert.match(n.status.nodeInfo.kubeletVersion!, /^v1\.\d+\.\d+-kna\./);
  assert.equal(n.status.nodeInfo.containerRuntimeVersion, 'containerd://1.6.20');
  assert.match(n.status.nodeInfo.kernelVersion!, /^\d+\.\d+/);
  assert.equal(n.status.daemonEndpoints.kubeletEndpoint.Port, 10250);

  const first = await eventually('the lease', () => admin.get<Lease>(leasePath));
  assert.equal(first.spec.holderIdentity, nodeName);
  assert.equal(first.spec.leaseDurationSeconds, 40);
  assert.match(first.spec.renewTime!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  await eventually('the lease owned by the Node', async () => ((await admin.get<Lease>(leasePath)).metadata.ownerReferences as { uid: string }[] | undefined)?.[0]?.uid === n.metadata.uid || undefined);
  await eventually('the lease renewed', async () => (await admin.get<Lease>(leasePath)).spec.renewTime !== first.spec.renewTime || undefined);

  // Health reaches the conditions: network down → NotReady and NetworkUnavailable.
  health = { runtimeReady: true, networkReady: false };
  cp.nodeStatus.poke();
  const down = await eventually('Ready=False', async () => {
    const c = (await admin.get<NodeObj>(nodePath)).status.conditions;
    return c.find((x) => x.type === 'Ready')?.status === 'False' ? c : undefined;
  });
  assert.equal(down.find((c) => c.type === 'NetworkUnavailable')?.status, 'True');
  assert.equal(down.find((c) => c.type === 'Ready')?.reason, 'KubeletNotReady');
});

test('an API server restart: the node keeps renewing its lease and watches relist after 410', async (t) => {
  const dir = tempDir(t, 'apiserver');
  let server = await TestApiServer.start({ dir, autoApproveCsrs: true });
  const port = server.port;
  defer(t, () => server.stop());
  const cp = await joinedControlPlane(t, server, () => ({ runtimeReady: true, networkReady: true }));
  const podsPath = resourcePath({ resource: 'pods' });
  const seen = new Set<string>();
  const inf = cp.watchList<KubeObject>(podsPath, (ev) => { if (ev.type !== 'DELETED') seen.add(ev.object.metadata.name); }, { fieldSelector: `spec.nodeName=${nodeName}`, minBackoffMs: 100, maxBackoffMs: 500 });
  await inf.synced();
  let admin = adminClient(server);
  const pod = (name: string) => ({ metadata: { name }, spec: { nodeName, containers: [{ name: 'c', image: 'localhost/kna/busybox:latest' }] } });
  await admin.create(resourcePath({ resource: 'pods', namespace: 'default' }), pod('before'));
  await eventually('the pod seen by the informer', () => seen.has('before') || undefined);
  await eventually('a few lease renewals', () => cp.lease.renewals >= 3 || undefined);

  admin.close();
  await server.stop();
  const restartedAt = new Date();
  server = await TestApiServer.start({ dir, port, autoApproveCsrs: true });
  admin = adminClient(server);
  defer(t, () => admin.close());

  await eventually('a lease renewed after the restart', async () => new Date((await admin.get<Lease>(leasePath)).spec.renewTime!) > restartedAt || undefined);
  await admin.create(resourcePath({ resource: 'pods', namespace: 'default' }), pod('after'));
  await eventually('the new pod seen after the restart', () => seen.has('after') || undefined);
  assert.ok(inf.stats.expired >= 1, 'the informer resumed from a resourceVersion the restarted server no longer had, got 410 and relisted');
  assert.equal((await admin.get<NodeObj>(nodePath)).metadata.uid, cp.nodeStatus.node?.metadata.uid, 'the same Node, not a new one');
});

test('client certificate rotation: a new CSR as the node itself, new files, the client keeps working', async (t) => {
  const { server, admin } = await startTestApiServer(t, { autoApproveCsrs: true, certificateDurationSeconds: 8 });
  const cp = await joinedControlPlane(t, server, () => ({ runtimeReady: true, networkReady: true }));
  const certFile = cp.client.credentials.certFile!;
  const before = new X509Certificate(await readFile(certFile));
  await eventually('a rotation', () => (cp.rotator?.rotations ?? 0) >= 1 || undefined, 60_000);
  const after = new X509Certificate(await readFile(certFile));
  assert.notEqual(after.serialNumber, before.serialNumber);
  assert.notDeepEqual(after.publicKey.export({ type: 'spki', format: 'der' }), before.publicKey.export({ type: 'spki', format: 'der' }), 'a new key');
  const csrs = (await admin.list<KubeObject & { spec: { username: string } }>(resourcePath({ group: 'certificates.k8s.io', resource: 'certificatesigningrequests' }))).items;
  assert.ok(csrs.some((c) => c.spec.username === `system:node:${nodeName}`), 'the renewal CSR comes from the node identity');
  const renewals = cp.lease.renewals;
  await eventually('lease renewals with the new certificate', () => cp.lease.renewals > renewals + 2 || undefined);
});
