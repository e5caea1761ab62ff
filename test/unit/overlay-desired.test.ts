import assert from 'node:assert/strict';
import { test } from 'node:test';
import { desiredState, RTPROT_KNA, vtepIP, vtepMacFor } from '../../agent/network/overlay/desired.js';
import type { PeerInfo } from '../../agent/network/peers.js';

const self: PeerInfo = { name: 'a', nodeIP: '172.30.0.10', podCIDR: '10.240.0.0/24', vtepMAC: '0e:6b:ac:1e:00:0a' };
const b: PeerInfo = { name: 'b', nodeIP: '172.30.0.11', podCIDR: '10.240.1.0/24', vtepMAC: '0e:6b:ac:1e:00:0b' };
const c: PeerInfo = { name: 'c', nodeIP: '172.30.0.12', podCIDR: '10.240.2.0/24', vtepMAC: '0e:6b:ac:1e:00:0c' };
const dev = { vxlan: 7, underlay: 2, underlayCidrs: ['172.30.0.0/24'] };

test('vxlan: one route, neighbour and fdb entry per peer, self skipped', () => {
  const d = desiredState('vxlan', self, [self, b, c], dev);
  assert.deepEqual(d.skipped, []);
  assert.deepEqual(d.routes, [
    { dst: '10.240.1.0/24', gateway: '10.240.1.0', oif: 7, onlink: true, protocol: RTPROT_KNA, table: 254 },
    { dst: '10.240.2.0/24', gateway: '10.240.2.0', oif: 7, onlink: true, protocol: RTPROT_KNA, table: 254 },
  ]);
  assert.deepEqual(d.neighbours, [
    { ifindex: 7, ip: '10.240.1.0', mac: b.vtepMAC, permanent: true },
    { ifindex: 7, ip: '10.240.2.0', mac: c.vtepMAC, permanent: true },
  ]);
  assert.deepEqual(d.fdb, [
    { ifindex: 7, mac: b.vtepMAC, dst: '172.30.0.11', permanent: true },
    { ifindex: 7, mac: c.vtepMAC, dst: '172.30.0.12', permanent: true },
  ]);
});

test('host-gw: a route via the peer node IP on the underlay, nothing else', () => {
  const d = desiredState('host-gw', self, [b, { ...c, vtepMAC: undefined } as PeerInfo], dev);
  assert.deepEqual(d.routes.map((r) => [r.dst, r.gateway, r.oif, r.onlink]), [['10.240.1.0/24', '172.30.0.11', 2, undefined], ['10.240.2.0/24', '172.30.0.12', 2, undefined]]);
  assert.deepEqual(d.neighbours, []);
  assert.deepEqual(d.fdb, []);
});

test('peers that cannot work are skipped with a reason', () => {
  const d = desiredState('vxlan', self, [
    { name: 'nomac', nodeIP: '172.30.0.20', podCIDR: '10.240.20.0/24' },
    { name: 'sameip', nodeIP: '172.30.0.10', podCIDR: '10.240.21.0/24', vtepMAC: '0e:00:00:00:00:01' },
    { name: 'overlap', nodeIP: '172.30.0.22', podCIDR: '10.240.0.0/16', vtepMAC: '0e:00:00:00:00:02' },
  ], dev);
  assert.deepEqual(d.routes, []);
  assert.deepEqual(d.skipped.map((s) => s.peer), ['nomac', 'sameip', 'overlap']);
  assert.match(d.skipped[0]!.reason, /vtepMAC/);
  const h = desiredState('host-gw', self, [{ name: 'far', nodeIP: '192.168.9.9', podCIDR: '10.240.9.0/24' }], dev);
  assert.deepEqual(h.routes, []);
  assert.match(h.skipped[0]!.reason, /not on this node's L2/);
});

test('VTEP IP is the pod CIDR network address; VTEP MAC is stable, local, unicast', () => {
  assert.equal(vtepIP('10.244.3.0/24'), '10.244.3.0');
  assert.throws(() => vtepIP('10.244.3.1/24'), /podCIDR: .*network address/);
  const mac = vtepMacFor('172.30.0.10');
  assert.equal(mac, '0e:6b:ac:1e:00:0a');
  const first = parseInt(mac.slice(0, 2), 16);
  assert.equal(first & 0x02, 0x02, 'locally administered');
  assert.equal(first & 0x01, 0, 'unicast');
});
