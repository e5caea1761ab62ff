import assert from 'node:assert/strict';
import { test } from 'node:test';
import { podRules } from '../../cni/commands/attachment.js';
import type { Allocation } from '../../cni/ipam/ipam.js';
import { Cidr } from '../../cni/net/ip.js';
import { configVersion, decodeConfig, parseConfig } from '../../cni/spec/config.js';
import { CniError } from '../../cni/spec/errors.js';

const base = { cniVersion: '1.0.0', name: 'net', type: 'kna-cni', ipam: { type: 'host-local', ranges: [[{ subnet: '10.1.0.0/24' }]] } };
const fails = (raw: object, code: number, msg: RegExp) =>
  assert.throws(() => parseConfig(raw as Record<string, unknown>), (e: unknown) => e instanceof CniError && e.code === code && msg.test(e.message), `${JSON.stringify(raw)} -> ${code} ${msg}`);

test('defaults follow the reference bridge plugin', () => {
  const c = parseConfig(base);
  assert.equal(c.bridge, 'cni0');
  assert.deepEqual([c.isGateway, c.isDefaultGateway, c.ipMasq, c.hairpinMode, c.promiscMode], [false, false, false, false, false]);
  assert.equal(c.ipam!.dataDir, '/var/lib/cni/networks');
  assert.deepEqual(c.portMappings, []);
  assert.equal(parseConfig({ ...base, isDefaultGateway: true }).isGateway, true, 'isDefaultGateway implies isGateway');
});

test('portMappings: camelCase or Go field names (containerd 1.6), protocol default tcp', () => {
  const c = parseConfig({ ...base, runtimeConfig: { portMappings: [
    { HostPort: 8080, ContainerPort: 80, Protocol: 'UDP', HostIP: '' },
    { hostPort: 8443, containerPort: 443, hostIP: '192.0.2.1' },
  ] } });
  assert.equal(c.portMappings.length, 2);
  assert.deepEqual({ ...c.portMappings[0] }, { hostPort: 8080, containerPort: 80, protocol: 'udp' });
  assert.equal(c.portMappings[1]!.protocol, 'tcp');
  assert.equal(c.portMappings[1]!.hostIP!.toString(), '192.0.2.1');
});

test('legacy single-range ipam form and routes', () => {
  const c = parseConfig({ ...base, ipam: { type: 'host-local', subnet: '10.2.0.0/16', rangeStart: '10.2.0.10', routes: [{ dst: '0.0.0.0/0' }, { dst: '192.168.0.0/16', gw: '10.2.0.254' }] } });
  assert.deepEqual(c.ipam!.rangeSets, [[{ subnet: '10.2.0.0/16', rangeStart: '10.2.0.10' }]]);
  assert.equal(c.ipam!.routes[1]!.gw!.toString(), '10.2.0.254');
});

test('valid attachments for GC, prevResult in the legacy ip4 shape', () => {
  const c = parseConfig({ ...base, 'cni.dev/valid-attachments': [{ containerID: 'abc', ifname: 'eth0' }], prevResult: { cniVersion: '0.2.0', ip4: { ip: '10.1.0.5/24', gateway: '10.1.0.1' } } });
  assert.deepEqual(c.validAttachments, [{ containerId: 'abc', ifname: 'eth0' }]);
  assert.deepEqual(c.prevResult!.ips, [{ address: '10.1.0.5/24', gateway: '10.1.0.1' }]);
});

test('errors: spec codes and the field path', () => {
  fails({ ...base, name: '' }, 7, /^name: /);
  fails({ ...base, type: 3 }, 7, /^type: must be a string/);
  fails({ ...base, mtu: 20 }, 7, /^mtu: 20 is outside 68\.\.65535/);
  fails({ ...base, ipMasq: 'yes' }, 7, /^ipMasq: must be true or false/);
  fails({ ...base, bridge: 'br 0' }, 7, /^bridge: /);
  fails({ ...base, ipam: { type: 'host-local', ranges: [[{ subnet: '10.1.0.0/24' }], []] } }, 7, /^ipam\.ranges\[1\]: must be a non-empty array/);
  fails({ ...base, ipam: { type: 'host-local', ranges: [[{ subnet: '10.1.0.0' }]] } }, 7, /^ipam\.ranges\[0\]\[0\]\.subnet: "10\.1\.0\.0" is not a valid CIDR/);
  fails({ ...base, ipam: { type: 'host-local', ranges: [[{ subnet: '10.1.0.0/24', gateway: '10.1.0.300' }]] } }, 7, /^ipam\.ranges\[0\]\[0\]\.gateway: /);
  fails({ ...base, ipam: { type: 'host-local' } }, 7, /^ipam\.ranges: at least one/);
  fails({ ...base, ipam: { ...base.ipam, dataDir: 'relative' } }, 7, /^ipam\.dataDir: /);
  fails({ ...base, ipam: { type: 'host-local', ranges: [[{ subnet: '10.1.0.0/24' }]], routes: [{ dst: 'default' }] } }, 7, /^ipam\.routes\[0\]\.dst/);
  fails({ ...base, runtimeConfig: { portMappings: [{ hostPort: 0, containerPort: 80 }] } }, 7, /^runtimeConfig\.portMappings\[0\]\.hostPort: 0 is outside/);
  fails({ ...base, runtimeConfig: { portMappings: [{ hostPort: 80 }] } }, 7, /containerPort: required integer missing/);
  fails({ ...base, runtimeConfig: { portMappings: [{ hostPort: 80, containerPort: 80, hostIP: '1.2.3' }] } }, 7, /hostIP/);
  fails({ ...base, dns: { nameservers: ['x'] } }, 7, /^dns\.nameservers\[0\]/);
  fails({ ...base, 'cni.dev/valid-attachments': [{ containerID: '-x', ifname: 'eth0' }] }, 7, /containerID/);
  fails({ ...base, vlan: 100 }, 2, /^vlan: /);
  fails({ ...base, enabledad: true }, 2, /^enabledad/);
  fails({ ...base, ipam: { type: 'dhcp' } }, 2, /^ipam\.type: "dhcp"/);
  fails({ ...base, ipam: { ...base.ipam, resolvConf: '/etc/resolv.conf' } }, 2, /^ipam\.resolvConf/);
  fails({ ...base, prevResult: { ips: [{ address: '10.1.0.5' }] } }, 6, /^prevResult: ips\[0\]\.address/);
});

test('decoding and version come first', () => {
  assert.throws(() => decodeConfig('{'), (e: unknown) => e instanceof CniError && e.code === 6);
  assert.throws(() => decodeConfig('[1]'), (e: unknown) => e instanceof CniError && e.code === 6);
  assert.throws(() => configVersion({}), (e: unknown) => e instanceof CniError && e.code === 7);
  assert.throws(() => configVersion({ cniVersion: '0.2.0' }), (e: unknown) => e instanceof CniError && e.code === 1);
  assert.equal(configVersion({ cniVersion: '0.3.1' }), '0.3.1');
});

test('nonMasqueradeCIDRs: parsed, checked, and exempt from the pod\'s masquerade', () => {
  const c = parseConfig({ ...base, ipMasq: true, nonMasqueradeCIDRs: ['10.240.0.0/16'] });
  assert.deepEqual(c.nonMasqueradeCidrs?.map(String), ['10.240.0.0/16']);
  assert.equal(parseConfig(base).nonMasqueradeCidrs, undefined);
  fails({ ...base, nonMasqueradeCIDRs: ['10.240.0.0/33'] }, 7, /^nonMasqueradeCIDRs\[0\]: "10\.240\.0\.0\/33" is not a valid CIDR/);
  fails({ ...base, nonMasqueradeCIDRs: '10.240.0.0/16' }, 7, /^nonMasqueradeCIDRs: must be an array/);
  const rules = podRules(c, [{ address: Cidr.parse('10.1.0.5/24') } as Allocation], [Cidr.parse('10.1.0.0/24')], 'tag').get(4)!.map((r) => r.spec);
  assert.equal(rules.filter((s) => s.includes('-d 10.240.0.0/16') && s.endsWith('-j RETURN')).length, 1);
  assert.ok(rules.at(-1)!.endsWith('-j MASQUERADE'), 'masquerade stays last');
});
