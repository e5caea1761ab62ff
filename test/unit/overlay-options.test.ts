import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Overlay } from '../../agent/network/overlay.js';
import { InvalidValueError } from '../../agent/network/netlink/codec.js';

const base = { mode: 'vxlan' as const, nodeName: 'node-a', nodeIP: '172.30.0.10', podCIDR: '10.240.0.0/24' };

test('self() publishes name, node IP, pod CIDR and (vxlan only) the VTEP MAC, before start', () => {
  assert.deepEqual(new Overlay(base).self(), { name: 'node-a', nodeIP: '172.30.0.10', podCIDR: '10.240.0.0/24', vtepMAC: '0e:6b:ac:1e:00:0a' });
  assert.equal(new Overlay({ ...base, vtepMAC: '0E:00:00:00:00:01' }).self().vtepMAC, '0e:00:00:00:00:01');
  assert.deepEqual(new Overlay({ ...base, mode: 'host-gw' }).self(), { name: 'node-a', nodeIP: '172.30.0.10', podCIDR: '10.240.0.0/24' });
  assert.throws(() => new Overlay(base).podMtu(), /needs start\(\)/);
});

test('bad options are refused with the option named', () => {
  const bad = (o: object, re: RegExp) => assert.throws(() => new Overlay({ ...base, ...o }), (e: unknown) => e instanceof InvalidValueError && re.test(e.message));
  bad({ nodeIP: '172.30.0' }, /^nodeIP: /);
  bad({ podCIDR: '10.240.0.1/24' }, /^podCIDR: /);
  bad({ nodeName: 'Node_A' }, /^nodeName: /);
  bad({ device: 'a-name-longer-than-15' }, /^device: /);
  bad({ iface: 'eth 0' }, /^iface: /);
  bad({ vni: 0 }, /^vni: /);
  bad({ port: 70000 }, /^port: /);
  bad({ vtepMAC: 'nope' }, /^vtepMAC: /);
  bad({ mode: 'udp' }, /^overlay: /);
});
