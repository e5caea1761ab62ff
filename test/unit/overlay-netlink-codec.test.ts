import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ifla } from 'netlink';
import { bytesToMac, cidrsOverlap, decodeLinkinfo, encodeVxlanLinkinfo, InvalidValueError, macToBytes, parseCidr } from '../../agent/network/netlink/codec.js';

test('vxlan IFLA_LINKINFO round-trips: kind, VNI, big-endian port, local, underlay, nolearning', () => {
  const buf = encodeVxlanLinkinfo({ vni: 42, port: 8472, local: '172.30.0.10', underlay: 3, learning: false });
  const info = ifla.parseInfo(buf);
  assert.equal(info.kind, 'vxlan');
  const data = ifla.parseVxlan(info.data!);
  assert.deepEqual(data.port, Buffer.from([0x21, 0x18]));
  assert.equal(data.learning, 0);
  assert.deepEqual(decodeLinkinfo(buf), { kind: 'vxlan', vxlan: { vni: 42, port: 8472, local: '172.30.0.10', underlay: 3, learning: false } });
});

test('values are checked before they reach the kernel', () => {
  assert.throws(() => encodeVxlanLinkinfo({ vni: 1 << 24, port: 8472, learning: false }), InvalidValueError);
  assert.throws(() => encodeVxlanLinkinfo({ vni: 1, port: 0, learning: false }), /port: 0 is not a UDP port/);
  assert.throws(() => encodeVxlanLinkinfo({ vni: 1, port: 8472, local: '1.2.3.256', learning: false }), /local:/);
  assert.throws(() => macToBytes('0e:6b:00:00:00'), /mac:/);
  assert.throws(() => parseCidr('10.0.0.1/24'), /network address \(did you mean 10\.0\.0\.0\/24\?\)/);
  assert.throws(() => parseCidr('10.0.0.0/33'), InvalidValueError);
});

test('helpers', () => {
  assert.equal(bytesToMac(macToBytes('0E:6B:AC:1E:00:0A')), '0e:6b:ac:1e:00:0a');
  assert.ok(cidrsOverlap('10.0.0.0/16', '10.0.5.0/24'));
  assert.ok(!cidrsOverlap('10.0.0.0/24', '10.0.1.0/24'));
});
