import assert from 'node:assert/strict';
import type { NetworkInterfaceInfo } from 'node:os';
import { test } from 'node:test';
import { pickNodeIP } from '../../agent/network/start.js';
import { ConfigError } from '../../agent/util/errors.js';

const addr = (address: string, family: 'IPv4' | 'IPv6'): NetworkInterfaceInfo =>
  ({ address, family, netmask: '', mac: '00:00:00:00:00:00', internal: false, cidr: null }) as NetworkInterfaceInfo;
const ifaces = { eth0: [addr('fe80::1', 'IPv6'), addr('192.0.2.7', 'IPv4')], eth1: [addr('fd00::1', 'IPv6')] };
const host = () => ['2001:db8::1', '198.51.100.3'];

test('node IP: --node-ip, else --overlay-iface\'s IPv4 address, else the first IPv4 host address', () => {
  assert.equal(pickNodeIP({ nodeIP: '203.0.113.9', overlayIface: 'eth0' }, ifaces, host), '203.0.113.9');
  assert.equal(pickNodeIP({ overlayIface: 'eth0' }, ifaces, host), '192.0.2.7');
  assert.equal(pickNodeIP({}, ifaces, host), '198.51.100.3');
  assert.throws(() => pickNodeIP({ overlayIface: 'eth1' }, ifaces, host), (e: unknown) => e instanceof ConfigError && /^--overlay-iface: eth1 has no IPv4 address/.test(e.message));
  assert.throws(() => pickNodeIP({}, ifaces, () => ['2001:db8::1']), /--node-ip: no IPv4 host address/);
});
