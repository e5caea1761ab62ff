// Traffic from outside the node: NodePort, externalTrafficPolicy Local with its health
// check server, load-balancer IPs with source ranges, externalIPs, --nodeport-addresses.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, test } from 'node:test';
import type { Proxier, ProxierOptions } from '../../agent/proxy/proxier.js';
import { EXT_IPS, NODE_EXT_IP, NODE_POD_GW, ProxyLab, service, slice, type Probe } from '../harness/proxy-lab.js';

const NODE = 'node-a';
const lab = new ProxyLab('pxe');
const pods = { l1: '10.244.1.21', l2: '10.244.1.22', r1: '10.244.1.23' };
const LOCAL = [{ ip: pods.l1, node: NODE }, { ip: pods.l2, node: NODE }];
const REMOTE = { ip: pods.r1, node: 'node-b' };
let proxier: Proxier;
let ext: Probe;
let podClient: Probe;
let hcPort: number;

function newProxier(extra: Partial<ProxierOptions> = {}): Proxier {
  return lab.proxier(NODE, { healthCheckBindAddress: '127.0.0.1', ...extra });
}

/** A TCP port free on loopback right now, for the health check server. */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as { port: number };
  await new Promise((r) => s.close(r));
  return port;
}

before(async () => {
  await lab.setUp();
  for (const [name, ip] of Object.entries(pods)) await lab.serve(await lab.addPod(name, ip), name, [8080]);
  ext = lab.client(lab.ext);
  podClient = lab.client(await lab.addPod('client', '10.244.1.50'));
  hcPort = await freePort();
  proxier = newProxier();
  await proxier.start();
});

after(async () => {
  await proxier?.stop();
  await lab.close();
});

const ports = (extra: Record<string, unknown> = {}): Array<Record<string, unknown>> => [{ name: 'http', port: 80, targetPort: 8080, ...extra }];
const httpSlice = (svc: string, eps: Parameters<typeof slice>[1]): Record<string, unknown> => slice(svc, eps, [{ name: 'http', port: 8080 }]);

async function answers(from: Probe, host: string, port: number, n: number, localAddress?: string): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < n; i++) {
    const r = await from.tcp(host, port, localAddress ? { localAddress } : {});
    assert.ok(r.ok, `connection ${i} to ${host}:${port} failed: ${r.ok ? '' : r.code}`);
    out.push(r.data.split(' ') as [string, string]);
  }
  return out;
}

test('NodePort from an external client (externalTrafficPolicy Cluster: any endpoint, SNAT)', async () => {
  proxier.onServiceUpdate(service('np', { type: 'NodePort', clusterIP: '10.96.0.20', ports: ports({ nodePort: 30080 }) }));
  proxier.onEndpointSliceUpdate(httpSlice('np', [LOCAL[0]!, REMOTE]));
  await proxier.syncNow();
  const got = await answers(ext, NODE_EXT_IP, 30080, 30);
  assert.deepEqual([...new Set(got.map(([n]) => n))].sort(), ['l1', 'r1']);
  assert.deepEqual([...new Set(got.map(([, peer]) => peer))], [NODE_POD_GW], 'external traffic must be masqueraded');
});

test('externalTrafficPolicy Local keeps the client IP, uses only local endpoints, answers health checks', async () => {
  proxier.onServiceUpdate(service('local', {
    type: 'LoadBalancer', clusterIP: '10.96.0.21', externalTrafficPolicy: 'Local', healthCheckNodePort: hcPort, ports: ports({ nodePort: 30081 }),
  }, { loadBalancer: { ingress: [{ ip: '198.51.100.21' }] } }));
  proxier.onEndpointSliceUpdate(httpSlice('local', [LOCAL[0]!, REMOTE]));
  await proxier.syncNow();
  for (const [host, port] of [[NODE_EXT_IP, 30081], ['198.51.100.21', 80]] as const) {
    const got = await answers(ext, host, port, 15);
    assert.deepEqual([...new Set(got.map(([n]) => n))], ['l1'], `${host}:${port} must reach only the local endpoint`);
    assert.deepEqual([...new Set(got.map(([, peer]) => peer))], [EXT_IPS[0]], 'client source IP must be kept');
  }
  let res = await fetch(`http://127.0.0.1:${hcPort}/`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/json');
  assert.deepEqual(await res.json(), { service: { namespace: 'default', name: 'local' }, localEndpoints: 1, serviceProxyHealthy: true });

  // Only a remote endpoint left: this node drops external traffic and says 503.
  proxier.onEndpointSliceUpdate(httpSlice('local', [REMOTE]));
  await proxier.syncNow();
  const r = await ext.tcp(NODE_EXT_IP, 30081, { timeoutMs: 800 });
  assert.equal(r.ok ? 'connected' : r.code, 'ETIMEDOUT');
  res = await fetch(`http://127.0.0.1:${hcPort}/`);
  assert.equal(res.status, 503);
  assert.equal(((await res.json()) as { localEndpoints: number }).localEndpoints, 0);
  // Pods still reach it through the cluster path (they are not "external").
  assert.deepEqual((await answers(podClient, NODE_EXT_IP, 30081, 3)).map(([n]) => n), ['r1', 'r1', 'r1']);
});

test('a load-balancer IP admits only loadBalancerSourceRanges', async () => {
  proxier.onServiceUpdate(service('lb', {
    type: 'LoadBalancer', clusterIP: '10.96.0.22', loadBalancerSourceRanges: [`${EXT_IPS[0]}/32`], ports: ports({ nodePort: 30082 }),
  }, { loadBalancer: { ingress: [{ ip: '198.51.100.10' }] } }));
  proxier.onEndpointSliceUpdate(httpSlice('lb', LOCAL));
  await proxier.syncNow();
  await answers(ext, '198.51.100.10', 80, 5, EXT_IPS[0]);
  const r = await ext.tcp('198.51.100.10', 80, { localAddress: EXT_IPS[1], timeoutMs: 800 });
  assert.equal(r.ok ? 'connected' : r.code, 'ETIMEDOUT', 'a source outside the ranges must be dropped');
});

test('externalIPs route to the Service', async () => {
  proxier.onServiceUpdate(service('extip', { clusterIP: '10.96.0.23', externalIPs: ['203.0.113.7'], ports: ports() }));
  proxier.onEndpointSliceUpdate(httpSlice('extip', LOCAL));
  await proxier.syncNow();
  const got = await answers(ext, '203.0.113.7', 80, 10);
  assert.ok(got.every(([n]) => n === 'l1' || n === 'l2'));
});

test('--nodeport-addresses limits the addresses NodePorts answer on', async () => {
  // Every local address by default, the pod-facing gateway included...
  assert.equal((await answers(podClient, NODE_POD_GW, 30080, 1)).length, 1);
  await proxier.cleanup();
  proxier = newProxier({ nodePortAddresses: ['192.168.77.0/24'] });
  proxier.onServiceUpdate(service('np', { type: 'NodePort', clusterIP: '10.96.0.20', ports: ports({ nodePort: 30080 }) }));
  proxier.onEndpointSliceUpdate(httpSlice('np', LOCAL));
  await proxier.start();
  // ...then only the one inside 192.168.77.0/24.
  await answers(ext, NODE_EXT_IP, 30080, 3);
  const r = await podClient.tcp(NODE_POD_GW, 30080, { timeoutMs: 3000 });
  assert.equal(r.ok ? 'connected' : r.code, 'ECONNREFUSED');
  await proxier.cleanup();
  assert.doesNotMatch(await lab.iptablesSave(), /KUBE-/);
});
