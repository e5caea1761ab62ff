// ClusterIP with real packets: spread, affinity, REJECT without endpoints, the
// unallocated service range, hairpin, terminating endpoints, and cleanup.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Proxier } from '../../agent/proxy/proxier.js';
import { NODE_POD_GW, ProxyLab, service, slice, type Probe } from '../harness/proxy-lab.js';

const NODE = 'node-a';
const lab = new ProxyLab('pxc');
const backends = { b1: '10.244.1.11', b2: '10.244.1.12', b3: '10.244.1.13' };
const CLIENT_IP = '10.244.1.50';
let proxier: Proxier;
let client: Probe;
const backendNs: Record<string, string> = {};

before(async () => {
  await lab.setUp();
  for (const [name, ip] of Object.entries(backends)) {
    backendNs[name] = await lab.addPod(name, ip);
    await lab.serve(backendNs[name]!, name, [8080]);
  }
  client = lab.client(await lab.addPod('client', CLIENT_IP));
  proxier = lab.proxier(NODE);
  await proxier.start();
});

after(async () => {
  await proxier?.stop();
  await lab.close();
});

const all = Object.values(backends).map((ip) => ({ ip, node: NODE }));
const web = (name: string, clusterIP: string, extra: Record<string, unknown> = {}): Record<string, unknown> =>
  service(name, { clusterIP, ports: [{ name: 'http', port: 80, targetPort: 8080 }], ...extra });
const httpSlice = (svc: string, eps: Parameters<typeof slice>[1]): Record<string, unknown> => slice(svc, eps, [{ name: 'http', port: 8080 }]);

/** Which backend answered each of n connections; pod-to-Service traffic keeps its source. */
async function who(host: string, port: number, n: number): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const r = await client.tcp(host, port);
    assert.ok(r.ok, `connection ${i} to ${host}:${port} failed: ${r.ok ? '' : r.code}`);
    const [name, peer] = r.data.split(' ');
    assert.equal(peer, CLIENT_IP);
    seen.set(name!, (seen.get(name!) ?? 0) + 1);
  }
  return seen;
}

test('ClusterIP spreads connections over every backend; a bad Service blocks nothing', async () => {
  const bad = service('bad', { clusterIP: '10.96.0.99', ports: [{ port: 0 }] });
  proxier.setState([web('web', '10.96.0.10'), bad], [httpSlice('web', all)]);
  await proxier.syncNow();
  assert.deepEqual(proxier.errors(), ['Service default/bad: spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive']);
  const seen = await who('10.96.0.10', 80, 60);
  assert.deepEqual([...seen.keys()].sort(), ['b1', 'b2', 'b3']);
  for (const [name, count] of seen) assert.ok(count >= 5, `${name} got only ${count} of 60`);
});

test('the node itself reaches a ClusterIP (OUTPUT path, masqueraded)', async (t) => {
  const nodeClient = lab.client(lab.node);
  t.after(() => nodeClient.proc.kill('SIGKILL'));
  const r = await nodeClient.tcp('10.96.0.10', 80);
  assert.ok(r.ok, r.ok ? '' : r.code);
  assert.match(r.data, new RegExp(`^b[123] ${NODE_POD_GW.replaceAll('.', '\\.')}$`));
});

test('ClientIP affinity pins a client to one backend', async () => {
  proxier.onServiceUpdate(web('sticky', '10.96.0.11', { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } }));
  proxier.onEndpointSliceUpdate(httpSlice('sticky', all));
  await proxier.syncNow();
  const seen = await who('10.96.0.11', 80, 20);
  assert.equal(seen.size, 1, `affinity broken: ${JSON.stringify([...seen])}`);
});

test('a Service without endpoints refuses connections at once (REJECT, not a timeout)', async () => {
  proxier.onServiceUpdate(web('empty', '10.96.0.12'));
  await proxier.syncNow();
  const r = await client.tcp('10.96.0.12', 80, { timeoutMs: 5000 });
  assert.deepEqual(r, { id: r.id, ok: false, code: 'ECONNREFUSED' });
});

test('addresses in the service range that no Service holds are rejected, not routed out', async () => {
  for (const [host, port] of [['10.96.99.99', 80], ['10.96.0.10', 81]] as const) {
    const r = await client.tcp(host, port, { timeoutMs: 5000 });
    assert.equal(r.ok ? 'connected' : r.code, 'ECONNREFUSED', `${host}:${port}`);
  }
});

test('hairpin: a pod reaches itself through its Service', async (t) => {
  proxier.onServiceUpdate(web('hairpin', '10.96.0.13'));
  proxier.onEndpointSliceUpdate(httpSlice('hairpin', [{ ip: backends.b1, node: NODE }]));
  await proxier.syncNow();
  const self = lab.client(backendNs.b1!);
  t.after(() => self.proc.kill('SIGKILL'));
  const r = await self.tcp('10.96.0.13', 80);
  assert.ok(r.ok, r.ok ? '' : r.code);
  // The pod sees the node as the source: that SNAT is what makes the reply come back.
  assert.equal(r.data, `b1 ${NODE_POD_GW}`);
});

test('terminating endpoints serve only while no ready endpoint exists', async () => {
  proxier.onServiceUpdate(web('rolling', '10.96.0.14'));
  proxier.onEndpointSliceUpdate(httpSlice('rolling', [
    { ip: backends.b1, node: NODE },
    { ip: backends.b2, node: NODE, ready: false, serving: true, terminating: true },
    { ip: backends.b3, node: NODE, ready: false, serving: false, terminating: true },
  ]));
  await proxier.syncNow();
  assert.deepEqual([...(await who('10.96.0.14', 80, 10)).keys()], ['b1']);
  proxier.onEndpointSliceUpdate(httpSlice('rolling', [
    { ip: backends.b2, node: NODE, ready: false, serving: true, terminating: true },
    { ip: backends.b3, node: NODE, ready: false, serving: false, terminating: true },
  ]));
  await proxier.syncNow();
  assert.deepEqual([...(await who('10.96.0.14', 80, 10)).keys()], ['b2']);
});

test('internalTrafficPolicy Local: only this node\'s endpoints, dropped when it has none', async () => {
  proxier.onServiceUpdate(web('itp', '10.96.0.15', { internalTrafficPolicy: 'Local' }));
  proxier.onEndpointSliceUpdate(httpSlice('itp', [{ ip: backends.b1, node: NODE }, { ip: backends.b2, node: 'node-b' }]));
  await proxier.syncNow();
  assert.deepEqual([...(await who('10.96.0.15', 80, 10)).keys()], ['b1']);
  proxier.onEndpointSliceUpdate(httpSlice('itp', [{ ip: backends.b2, node: 'node-b' }]));
  await proxier.syncNow();
  const r = await client.tcp('10.96.0.15', 80, { timeoutMs: 800 });
  assert.equal(r.ok ? 'connected' : r.code, 'ETIMEDOUT', 'dropped, as kube-proxy does');
});

test('explain shows the Service, its endpoints and its rules', () => {
  const e = proxier.explain('default', 'web');
  assert.ok(e);
  assert.equal(e.ports.length, 1);
  assert.equal(e.ports[0]!.endpoints.length, 3);
  assert.ok(e.ports[0]!.rules.nat.some((r) => r.startsWith('-A KUBE-SERVICES ') && r.includes('-d 10.96.0.10 --dport 80')));
  assert.match(proxier.explain('default', 'bad')!.error!, /spec\.ports\[0\]\.port/);
});

test('cleanup leaves no rule or chain behind', async () => {
  await proxier.cleanup();
  const saved = await lab.iptablesSave();
  assert.doesNotMatch(saved, /KUBE-/);
  assert.doesNotMatch(saved, /^-A /m, 'a rule survived cleanup');
});
