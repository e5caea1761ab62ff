import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePrevResult, toVersion, type Result } from '../../cni/spec/result.js';

const r: Result = {
  cniVersion: '1.1.0',
  interfaces: [{ name: 'br0', mac: 'aa:bb:cc:dd:ee:ff' }, { name: 'eth0', mac: '0a:58:0a:00:00:05', sandbox: '/run/netns/x', mtu: 1400 }],
  ips: [{ address: '10.0.0.5/24', gateway: '10.0.0.1', interface: 1 }, { address: 'fd00::5/64', gateway: 'fd00::1', interface: 1 }],
  routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1', mtu: 1400 }],
};

test('1.1.0 keeps interface mtu and route extras; 1.0.0 drops them', () => {
  const v11 = toVersion(r, '1.1.0') as { interfaces: Array<{ mtu?: number }>; routes: Array<{ mtu?: number }> };
  assert.equal(v11.interfaces[1]!.mtu, 1400);
  assert.equal(v11.routes[0]!.mtu, 1400);
  const v10 = toVersion(r, '1.0.0') as { interfaces: Array<{ mtu?: number }>; routes: Array<{ mtu?: number }>; ips: Array<{ version?: string }>; dns: object };
  assert.equal(v10.interfaces[1]!.mtu, undefined);
  assert.equal(v10.routes[0]!.mtu, undefined);
  assert.equal(v10.ips[0]!.version, undefined);
  assert.deepEqual(v10.dns, {});
});

test('0.3.x and 0.4.0 carry ips[].version', () => {
  for (const v of ['0.3.0', '0.3.1', '0.4.0']) {
    const out = toVersion(r, v) as { cniVersion: string; ips: Array<{ version: string }> };
    assert.equal(out.cniVersion, v);
    assert.deepEqual(out.ips.map((i) => i.version), ['4', '6']);
  }
});

test('prevResult: any supported shape becomes the current one', () => {
  const p = parsePrevResult(toVersion(r, '0.4.0'), '0.4.0');
  assert.deepEqual(p.ips, r.ips);
  assert.equal(p.interfaces![1]!.sandbox, '/run/netns/x');
  const legacy = parsePrevResult({ cniVersion: '0.2.0', ip4: { ip: '10.0.0.5/24', routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }] }, dns: { nameservers: ['1.1.1.1'] } }, '0.2.0');
  assert.deepEqual(legacy, { cniVersion: '0.2.0', ips: [{ address: '10.0.0.5/24' }], routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }], dns: { nameservers: ['1.1.1.1'] } });
  assert.throws(() => parsePrevResult({ ips: [{ address: '10.0.0.5/24', gateway: 'nope' }] }, '1.0.0'), /ips\[0\]\.gateway/);
  assert.throws(() => parsePrevResult('x', '1.0.0'), /prevResult: must be an object/);
});
