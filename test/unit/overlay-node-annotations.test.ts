import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  annotationsToPublish, BACKEND_DATA_ANNOTATION, BACKEND_TYPE_ANNOTATION, backendAnnotations, nodePodCIDR, peerFromNode, PUBLIC_IP_ANNOTATION, type NodeLike,
} from '../../agent/network/node-annotations.js';
import { mergePeers, type PeerInfo } from '../../agent/network/peers.js';

const MAC = '0e:6b:ac:1e:00:0b';
const vxlanRules = { mode: 'vxlan' as const, vni: 1, clusterCIDR: '10.240.0.0/16' };

function node(name: string, annotations: Record<string, string> | undefined, podCIDR?: unknown): NodeLike {
  return { metadata: { name, ...(annotations ? { annotations } : {}) }, spec: podCIDR === undefined ? {} : { podCIDR } };
}
const vxlanAnn = (over: Record<string, string> = {}) => ({
  [BACKEND_TYPE_ANNOTATION]: 'vxlan', [BACKEND_DATA_ANNOTATION]: JSON.stringify({ vni: 1, vtepMAC: MAC }), [PUBLIC_IP_ANNOTATION]: '172.30.0.11', ...over,
});

test('a node publishes its backend type, backend data and underlay IP; only what differs is patched', () => {
  const self: PeerInfo = { name: 'a', nodeIP: '172.30.0.10', podCIDR: '10.240.0.0/24', vtepMAC: '0e:6b:ac:1e:00:0a' };
  const want = backendAnnotations('vxlan', self, 1);
  assert.deepEqual(want, { 'kna.io/backend-type': 'vxlan', 'kna.io/backend-data': '{"vni":1,"vtepMAC":"0e:6b:ac:1e:00:0a"}', 'kna.io/public-ip': '172.30.0.10' });
  assert.deepEqual(backendAnnotations('host-gw', { name: 'a', nodeIP: '172.30.0.10', podCIDR: '10.240.0.0/24' }, 1),
    { 'kna.io/backend-type': 'host-gw', 'kna.io/backend-data': '{}', 'kna.io/public-ip': '172.30.0.10' });

  assert.deepEqual(annotationsToPublish(node('a', undefined), want), want, 'a Node without annotations gets all three');
  assert.equal(annotationsToPublish(node('a', { ...want, other: 'x' }), want), undefined, 'nothing to do when they are there (other annotations are left alone)');
  assert.deepEqual(annotationsToPublish(node('a', { ...want, 'kna.io/public-ip': '172.30.0.99' }), want), { 'kna.io/public-ip': '172.30.0.10' });
  assert.deepEqual(annotationsToPublish(undefined, want), want);
});

test('the pod CIDR is spec.podCIDR, else the first IPv4 entry of spec.podCIDRs', () => {
  assert.equal(nodePodCIDR(node('a', undefined, '10.240.3.0/24')), '10.240.3.0/24');
  assert.equal(nodePodCIDR({ metadata: { name: 'a' }, spec: { podCIDRs: ['fd00::/64', '10.240.4.0/24'] } }), '10.240.4.0/24');
  assert.equal(nodePodCIDR(node('a', undefined)), undefined);
  assert.equal(nodePodCIDR(node('a', undefined, '')), undefined);
  assert.equal(nodePodCIDR(undefined), undefined);
});

test('a Node with valid annotations and a pod CIDR is a peer (MAC lower-cased)', () => {
  assert.deepEqual(peerFromNode(node('b', vxlanAnn(), '10.240.1.0/24'), vxlanRules), { peer: { name: 'b', nodeIP: '172.30.0.11', podCIDR: '10.240.1.0/24', vtepMAC: MAC } });
  const upper = vxlanAnn({ [BACKEND_DATA_ANNOTATION]: JSON.stringify({ vni: 1, vtepMAC: MAC.toUpperCase() }) });
  assert.deepEqual(peerFromNode(node('b', upper, '10.240.1.0/24'), vxlanRules), { peer: { name: 'b', nodeIP: '172.30.0.11', podCIDR: '10.240.1.0/24', vtepMAC: MAC } });
  const hostgw = { [BACKEND_TYPE_ANNOTATION]: 'host-gw', [BACKEND_DATA_ANNOTATION]: '{}', [PUBLIC_IP_ANNOTATION]: '172.30.0.11' };
  assert.deepEqual(peerFromNode(node('b', hostgw, '10.240.1.0/24'), { mode: 'host-gw', vni: 1 }), { peer: { name: 'b', nodeIP: '172.30.0.11', podCIDR: '10.240.1.0/24' } });
});

test('Nodes without the data yet are skipped as missing; invalid values are skipped as wrong, naming the value', () => {
  const skip = (n: NodeLike, re: RegExp, missing = false, rules: Parameters<typeof peerFromNode>[1] = vxlanRules) => {
    const r = peerFromNode(n, rules);
    assert.ok('skip' in r, `${JSON.stringify(n)} became a peer`);
    assert.match(r.skip, re);
    assert.equal(r.missing === true, missing, r.skip);
  };
  skip(node('b', undefined, '10.240.1.0/24'), /no kna\.io\/backend-type annotation/, true);
  skip(node('b', vxlanAnn({ [PUBLIC_IP_ANNOTATION]: undefined as unknown as string })), /no kna\.io\/public-ip/, true);
  skip(node('b', vxlanAnn()), /no spec\.podCIDR/, true);
  skip(node('b', vxlanAnn(), ''), /no spec\.podCIDR/, true);

  skip(node('b', vxlanAnn({ [BACKEND_TYPE_ANNOTATION]: 'host-gw' }), '10.240.1.0/24'), /backend-type is "host-gw", this node runs vxlan/);
  skip(node('b', vxlanAnn({ [PUBLIC_IP_ANNOTATION]: '172.30.0' }), '10.240.1.0/24'), /public-ip "172\.30\.0" is not an IPv4 address/);
  skip(node('b', vxlanAnn({ [PUBLIC_IP_ANNOTATION]: 'fd00::1' }), '10.240.1.0/24'), /not an IPv4 address/);
  skip(node('b', vxlanAnn({ [PUBLIC_IP_ANNOTATION]: '127.0.0.1' }), '10.240.1.0/24'), /127\.0\.0\.1 is a loopback address/);
  skip(node('b', vxlanAnn({ [PUBLIC_IP_ANNOTATION]: '224.0.0.1' }), '10.240.1.0/24'), /multicast/);
  skip(node('b', vxlanAnn({ [PUBLIC_IP_ANNOTATION]: '0.0.0.0' }), '10.240.1.0/24'), /unspecified/);
  skip(node('b', vxlanAnn(), '10.240.1.1/24'), /spec\.podCIDR "10\.240\.1\.1\/24" is not an IPv4 network CIDR/);
  skip(node('b', vxlanAnn(), 'garbage'), /not an IPv4 network CIDR/);
  skip(node('b', vxlanAnn(), 42), /no spec\.podCIDR/, true);
  skip(node('b', vxlanAnn(), '0.0.0.0/0'), /not inside the cluster CIDR 10\.240\.0\.0\/16/);
  skip(node('b', vxlanAnn(), '10.99.1.0/24'), /not inside the cluster CIDR/);
  skip(node('b', vxlanAnn({ [BACKEND_DATA_ANNOTATION]: 'not json' }), '10.240.1.0/24'), /backend-data is missing or not JSON/);
  skip(node('b', vxlanAnn({ [BACKEND_DATA_ANNOTATION]: undefined as unknown as string }), '10.240.1.0/24'), /backend-data is missing or not JSON/);
  skip(node('b', vxlanAnn({ [BACKEND_DATA_ANNOTATION]: JSON.stringify({ vni: 2, vtepMAC: MAC }) }), '10.240.1.0/24'), /vni 2 differs from this node's 1/);
  skip(node('b', vxlanAnn({ [BACKEND_DATA_ANNOTATION]: JSON.stringify({ vni: '1', vtepMAC: MAC }) }), '10.240.1.0/24'), /vni "1" differs/);
  skip(node('b', vxlanAnn({ [BACKEND_DATA_ANNOTATION]: JSON.stringify({ vni: 1, vtepMAC: 'zz:zz' }) }), '10.240.1.0/24'), /vtepMAC "zz:zz" is not a MAC address/);
  skip(node('b', vxlanAnn({ [BACKEND_DATA_ANNOTATION]: JSON.stringify({ vni: 1 }) }), '10.240.1.0/24'), /vtepMAC undefined is not a MAC/);
  skip(node('b', vxlanAnn({ [BACKEND_DATA_ANNOTATION]: JSON.stringify({ vni: 1, vtepMAC: 'ff:ff:ff:ff:ff:ff' }) }), '10.240.1.0/24'), /not a unicast MAC/);
  skip(node('b', vxlanAnn({ [BACKEND_DATA_ANNOTATION]: JSON.stringify({ vni: 1, vtepMAC: '01:00:5e:00:00:01' }) }), '10.240.1.0/24'), /not a unicast MAC/);
  skip(node('b', vxlanAnn({ [BACKEND_DATA_ANNOTATION]: JSON.stringify({ vni: 1, vtepMAC: '00:00:00:00:00:00' }) }), '10.240.1.0/24'), /not a unicast MAC/);
  skip(node('b', vxlanAnn({ [BACKEND_DATA_ANNOTATION]: 'null' }), '10.240.1.0/24'), /vni undefined differs/);
  skip(node('B_x', vxlanAnn(), '10.240.1.0/24'), /not a DNS-1123 subdomain/);
  // Without a cluster CIDR only the form is checked.
  assert.ok('peer' in peerFromNode(node('b', vxlanAnn(), '10.99.1.0/24'), { mode: 'vxlan', vni: 1 }));
  // --cluster-cidr may carry host bits (ipaddr accepts them there).
  assert.ok('peer' in peerFromNode(node('b', vxlanAnn(), '10.240.1.0/24'), { ...vxlanRules, clusterCIDR: '10.240.0.1/16' }));
});

test('merging the peers file with the Nodes: the file wins on a name; clashing Node peers are left out', () => {
  const p = (name: string, ip: number, cidr: number, mac = true): PeerInfo => ({ name, nodeIP: `172.30.0.${ip}`, podCIDR: `10.240.${cidr}.0/24`, ...(mac ? { vtepMAC: `0e:6b:ac:1e:00:${ip.toString(16).padStart(2, '0')}` } : {}) });
  const file = [p('a', 10, 0), p('b', 11, 1)];
  const api = [p('d', 13, 3), p('b', 21, 9), p('c', 12, 2)];
  const r = mergePeers(file, api);
  assert.deepEqual(r.peers, [p('a', 10, 0), p('b', 11, 1), p('c', 12, 2), p('d', 13, 3)], 'file entries first, then Nodes by name; b from the file');
  assert.deepEqual(r.skipped, []);

  const clash = mergePeers(file, [p('e', 11, 5), p('f', 14, 1), { ...p('g', 15, 6), vtepMAC: p('a', 10, 0).vtepMAC! }, { ...p('h', 16, 7), podCIDR: '10.240.0.0/16' }, p('i', 17, 8)]);
  assert.deepEqual(clash.peers.map((x) => x.name), ['a', 'b', 'i']);
  assert.deepEqual(clash.skipped, [
    { peer: 'e', reason: 'node IP 172.30.0.11 clashes with the peers file\'s b' },
    { peer: 'f', reason: 'pod CIDR 10.240.1.0/24 (overlaps 10.240.1.0/24) clashes with the peers file\'s b' },
    { peer: 'g', reason: 'VTEP MAC 0e:6b:ac:1e:00:0a clashes with the peers file\'s a' },
    { peer: 'h', reason: 'pod CIDR 10.240.0.0/16 (overlaps 10.240.0.0/24) clashes with the peers file\'s a' },
  ]);
  // Two Nodes with one pod CIDR: the first by name is kept.
  const twoNodes = mergePeers([], [p('y', 20, 4), p('x', 21, 4)]);
  assert.deepEqual(twoNodes.peers.map((x) => x.name), ['x']);
  assert.deepEqual(twoNodes.skipped, [{ peer: 'y', reason: 'pod CIDR 10.240.4.0/24 (overlaps 10.240.4.0/24) clashes with Node x' }]);
  // host-gw peers have no MAC: absent MACs never clash.
  assert.equal(mergePeers([p('a', 10, 0, false)], [p('b', 11, 1, false)]).peers.length, 2);
});
