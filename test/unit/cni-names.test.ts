import assert from 'node:assert/strict';
import { test } from 'node:test';
import { podBatch, podRoutes, ipInNetns } from '../../cni/bridge/pod.js';
import { buildConflist } from '../../cni/conflist.js';
import { parseArgs, readEnv } from '../../cni/env.js';
import { Cidr, IP } from '../../cni/net/ip.js';
import { attachmentTag, fnv64, formatMac, hostVethName, isValidContainerId, isValidIfName, parseAttachmentTag, podMac } from '../../cni/net/names.js';
import { CniError } from '../../cni/spec/errors.js';

test('names: veth from the attachment, tags round-trip, MACs', () => {
  const a = hostVethName('net', 'abc', 'eth0');
  assert.match(a, /^veth[0-9a-f]{11}$/);
  assert.equal(a, hostVethName('net', 'abc', 'eth0'));
  assert.notEqual(a, hostVethName('net', 'abc', 'eth1'));
  assert.equal(fnv64(''), 'cbf29ce484222325');
  assert.deepEqual(parseAttachmentTag(attachmentTag('net', 'abc', 'eth0')), { network: 'net', containerId: 'abc', ifname: 'eth0' });
  assert.equal(parseAttachmentTag('kna-cni masquerade'), undefined);
  assert.equal(formatMac(podMac(IP.parse('10.1.2.3').bytes())), '0a:58:0a:01:02:03');
  assert.match(formatMac(podMac(IP.parse('fd00::3').bytes())), /^0a:58(:[0-9a-f]{2}){4}$/);
  for (const ok of ['eth0', 'net1', 'a.b', 'x-y_z@1']) assert.ok(isValidIfName(ok), ok);
  for (const bad of ['', '.', '..', 'eth 0', 'a/b', 'a:b', 'sixteen-chars-xx', 'q"uote']) assert.ok(!isValidIfName(bad), bad);
  assert.ok(isValidContainerId('0123abc_.-x'));
  for (const bad of ['', '-abc', 'a b', 'a/b', 'x'.repeat(129)]) assert.ok(!isValidContainerId(bad), bad);
});

test('pod routes: IPAM routes with the family gateway, default routes, no duplicates', () => {
  const addrs = [{ address: Cidr.parse('10.1.0.5/24'), gateway: IP.parse('10.1.0.1') }, { address: Cidr.parse('fd00::5/64'), gateway: IP.parse('fd00::1') }];
  const routes = podRoutes(addrs, [{ dst: Cidr.parse('0.0.0.0/0') }, { dst: Cidr.parse('192.168.0.0/16'), gw: IP.parse('10.1.0.254') }, { dst: Cidr.parse('2001:db8::/32') }], true);
  assert.deepEqual(routes, [
    { dst: '0.0.0.0/0', gw: '10.1.0.1' },
    { dst: '192.168.0.0/16', gw: '10.1.0.254' },
    { dst: '2001:db8::/32', gw: 'fd00::1' },
    { dst: '::/0', gw: 'fd00::1' },
  ]);
  assert.deepEqual(podRoutes([addrs[0]!], [{ dst: Cidr.parse('::/0') }], false), [], 'no IPv6 address, no IPv6 route');
  assert.equal(podBatch('eth0', addrs, routes.slice(0, 1)), 'link set dev lo up\nlink set dev eth0 up\naddress add 10.1.0.5/24 dev eth0\naddress add fd00::5/64 dev eth0 nodad\nroute add 0.0.0.0/0 via 10.1.0.1 dev eth0\n');
});

test('pod netns helper: ip -n for named netns, nsenter for any other path', () => {
  assert.deepEqual(ipInNetns('/var/run/netns/cni-1234', ['-batch', '-']), ['ip', '-n', 'cni-1234', '-batch', '-']);
  assert.deepEqual(ipInNetns('/run/netns/x', ['a']), ['ip', '-n', 'x', 'a']);
  assert.deepEqual(ipInNetns('/proc/42/ns/net', ['a']), ['nsenter', '--net=/proc/42/ns/net', '--', 'ip', 'a']);
  assert.deepEqual(ipInNetns('/run/netns/sub/x', ['a']), ['nsenter', '--net=/run/netns/sub/x', '--', 'ip', 'a']);
});

test('environment: checked per command', () => {
  const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'abc', CNI_NETNS: '/run/netns/x', CNI_IFNAME: 'eth0', CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=web', CNI_PATH: '/opt/cni/bin:/usr/lib/cni' };
  const e = readEnv(env);
  assert.equal(e.args.get('K8S_POD_NAME'), 'web');
  assert.deepEqual(e.path, ['/opt/cni/bin', '/usr/lib/cni']);
  assert.equal(readEnv({ ...env, CNI_COMMAND: 'DEL', CNI_NETNS: '' }).netns, '', 'DEL without netns');
  const code = (over: object) => { try { readEnv({ ...env, ...over }); return 0; } catch (err) { return (err as CniError).code; } };
  assert.equal(code({ CNI_NETNS: '' }), 4);
  assert.equal(code({ CNI_NETNS: 'relative' }), 4);
  assert.equal(code({ CNI_IFNAME: 'a/b' }), 4);
  assert.equal(code({ CNI_CONTAINERID: undefined }), 4);
  assert.equal(code({ CNI_COMMAND: 'NOPE' }), 4);
  assert.equal(code({ CNI_COMMAND: 'VERSION', CNI_CONTAINERID: undefined }), 0);
  assert.throws(() => parseArgs('A=1;B'), /CNI_ARGS/);
});

test('conflist: kna-cni by default, the reference chain on request, dual stack', () => {
  const ours = buildConflist({ name: 'kna', bridge: 'kna0', podCidrs: ['10.244.0.0/24', 'fd44::/64'], mtu: 1450 }) as { cniVersion: string; plugins: Array<Record<string, unknown>> };
  assert.equal(ours.cniVersion, '1.0.0');
  assert.equal(ours.plugins.length, 1);
  assert.deepEqual(ours.plugins[0]!.capabilities, { portMappings: true });
  assert.equal(ours.plugins[0]!.type, 'kna-cni');
  assert.equal(ours.plugins[0]!.mtu, 1450);
  assert.deepEqual((ours.plugins[0]!.ipam as { ranges: unknown }).ranges, [[{ subnet: '10.244.0.0/24' }], [{ subnet: 'fd44::/64' }]]);
  const ref = buildConflist({ name: 'kna', bridge: 'kna0', podCidrs: ['10.244.0.0/24'], plugin: 'reference', dataDir: '/var/lib/kna/cni' }) as { plugins: Array<Record<string, unknown>> };
  assert.deepEqual(ref.plugins.map((p) => p.type), ['bridge', 'portmap']);
  assert.equal((ref.plugins[0]!.ipam as { dataDir: string }).dataDir, '/var/lib/kna/cni');
  assert.throws(() => buildConflist({ name: 'kna', bridge: 'kna0', podCidrs: [] }));
});
