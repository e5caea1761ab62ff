// UDP flows and conntrack: a flow follows the endpoints when they change, because
// the proxy deletes the stale conntrack entries (UDP has no connection end).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { execa } from 'execa';
import type { Proxier } from '../../agent/proxy/proxier.js';
import { ProxyLab, service, slice, type Probe } from '../harness/proxy-lab.js';

const NODE = 'node-a';
const lab = new ProxyLab('pxu');
const pods = { u1: '10.244.1.31', u2: '10.244.1.32' };
const CLIENT_IP = '10.244.1.50';
let proxier: Proxier;
let client: Probe;

before(async () => {
  await lab.setUp();
  for (const [name, ip] of Object.entries(pods)) await lab.serve(await lab.addPod(name, ip), name, [], [5353]);
  client = lab.client(await lab.addPod('client', CLIENT_IP));
  proxier = lab.proxier(NODE);
  await proxier.start();
});

after(async () => {
  await proxier?.stop();
  await lab.close();
});

const dns = (name: string, clusterIP: string): Record<string, unknown> =>
  service(name, { clusterIP, ports: [{ name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353 }] });
const dnsSlice = (svc: string, ips: string[]): Record<string, unknown> =>
  slice(svc, ips.map((ip) => ({ ip, node: NODE })), [{ name: 'dns', port: 5353, protocol: 'UDP' }]);

/** Conntrack entries in the node NATed to `ip`. */
async function entriesTo(ip: string): Promise<number> {
  const r = await execa('ip', ['netns', 'exec', lab.node, 'conntrack', '-L', '-p', 'udp', '--dst-nat', ip], { reject: false });
  return r.stdout.split('\n').filter((l) => l.includes('udp')).length;
}

test('a UDP flow moves to the new endpoint when the old one goes', async () => {
  proxier.onServiceUpdate(dns('dns', '10.96.0.53'));
  proxier.onEndpointSliceUpdate(dnsSlice('dns', [pods.u1]));
  await proxier.syncNow();
  for (let i = 0; i < 3; i++) {
    const r = await client.udp('10.96.0.53', 53, 40053);
    assert.deepEqual(r.ok && r.data, `u1 ${CLIENT_IP}`);
  }
  assert.ok((await entriesTo(pods.u1)) > 0, 'the flow should be tracked');

  // u1 leaves the Service but keeps answering: only the conntrack flush moves the flow.
  proxier.onEndpointSliceUpdate(dnsSlice('dns', [pods.u2]));
  await proxier.syncNow();
  assert.equal(await entriesTo(pods.u1), 0, 'stale entries must be gone');
  const r = await client.udp('10.96.0.53', 53, 40053);
  assert.deepEqual(r.ok && r.data, `u2 ${CLIENT_IP}`);
});

test('a UDP Service that gets its first endpoint answers the same flow at once', async () => {
  proxier.onServiceUpdate(dns('late', '10.96.0.54'));
  await proxier.syncNow();
  const before = await client.udp('10.96.0.54', 53, 40054, { timeoutMs: 300 });
  assert.equal(before.ok, false);
  proxier.onEndpointSliceUpdate(dnsSlice('late', [pods.u1]));
  await proxier.syncNow();
  const r = await client.udp('10.96.0.54', 53, 40054);
  assert.deepEqual(r.ok && r.data, `u1 ${CLIENT_IP}`);
});
