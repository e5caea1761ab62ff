// nftables mode: chain names, per-port chains, sets and map elements (pure generation, no kernel).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hash16 } from '../../agent/proxy/iptables/chains.js';
import {
  PORT_CHAIN, PORT_SET, affinitySet, baseObjects, endpointChain, portNames, servicePortObjects, type MapElement, type NftPort,
} from '../../agent/proxy/nftables/rules.js';
import type { Endpoint } from '../../agent/proxy/types.js';
import { parseService } from '../../agent/proxy/validate.js';
import { ep, OPTS, port, remote } from './proxy-fixtures.js';


const chain = (p: NftPort, name: string): readonly string[] => p.chains.get(name) ?? assert.fail(`no chain ${name}`);
const els = (p: NftPort, map?: string): string[] => p.elements.filter((e) => !map || e.map === map).map((e: MapElement) => `${e.map}: ${e.key} : ${e.value}`);

test('names are hashes of the port identity, shared with iptables mode, within nft identifier rules', () => {
  const sp = port({ sessionAffinity: 'ClientIP' });
  const h = hash16('ns/web:httptcp');
  assert.deepEqual(portNames(sp), { svc: `svc-${h}`, local: `local-${h}`, ext: `ext-${h}`, fw: `fw-${h}` });
  for (const n of [...Object.values(portNames(sp)), endpointChain(sp, ep('10.244.1.2'))]) assert.match(n, PORT_CHAIN);
  assert.match(affinitySet(sp, ep('10.244.1.2')), PORT_SET);
  assert.notEqual(endpointChain(sp, ep('10.244.1.2')), endpointChain(sp, ep('10.244.1.3')));
  // A new timeout is a new set (an existing set's timeout cannot be changed everywhere).
  const longer = port({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } });
  assert.notEqual(affinitySet(sp, ep('10.244.1.2')), affinitySet(longer, ep('10.244.1.2')));
});

test('ClusterIP: one element, masquerade from outside the cluster CIDR, numgen spread DNATing remote endpoints in place', () => {
  const sp = port({});
  const { svc } = portNames(sp);
  const p = servicePortObjects({ port: sp, endpoints: [remote('10.244.2.1'), remote('10.244.2.2'), remote('10.244.2.3')] }, OPTS);
  assert.deepEqual(els(p), [`service-ips: 10.96.0.10 . tcp . 80 : goto ${svc}`]);
  assert.deepEqual(chain(p, svc), [
    'ip daddr 10.96.0.10 tcp dport 80 ip saddr != 10.244.0.0/16 jump mark-for-masquerade',
    'numgen random mod 3 == 0 meta l4proto tcp dnat to 10.244.2.1:8080',
    'numgen random mod 2 == 0 meta l4proto tcp dnat to 10.244.2.2:8080',
    'meta l4proto tcp dnat to 10.244.2.3:8080',
  ]);
  assert.deepEqual([...p.chains.keys()], [svc], 'remote endpoints need no chain');
  assert.equal(p.sets.size, 0);
  const all = servicePortObjects({ port: sp, endpoints: [remote('10.244.2.1')] }, { family: 4, masqueradeAll: true });
  assert.equal(chain(all, svc)[0], 'ip daddr 10.96.0.10 tcp dport 80 jump mark-for-masquerade');
  const none = servicePortObjects({ port: sp, endpoints: [remote('10.244.2.1')] }, { family: 4 });
  assert.deepEqual(chain(none, svc), ['meta l4proto tcp dnat to 10.244.2.1:8080'], 'no cluster CIDR: nothing tells pods from others');
});

test('local endpoints get a chain with the hairpin masquerade; affinity sets are looked up first and refreshed', () => {
  const sp = port({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } });
  const l = ep('10.244.1.5');
  const r = remote('10.244.2.5');
  const [al, ar, el] = [affinitySet(sp, l), affinitySet(sp, r), endpointChain(sp, l)];
  const p = servicePortObjects({ port: sp, endpoints: [l, r] }, OPTS);
  assert.deepEqual(chain(p, portNames(sp).svc).slice(1), [
    `ip saddr @${al} goto ${el}`,
    `ip saddr @${ar} meta l4proto tcp update @${ar} { ip saddr } dnat to 10.244.2.5:8080`,
    `numgen random mod 2 == 0 goto ${el}`,
    `meta l4proto tcp update @${ar} { ip saddr } dnat to 10.244.2.5:8080`,
  ]);
  assert.deepEqual(chain(p, el), [
    'ip saddr 10.244.1.5 jump mark-for-masquerade',
    `meta l4proto tcp update @${al} { ip saddr } dnat to 10.244.1.5:8080`,
  ]);
  assert.deepEqual([...p.sets], [
    [al, '{ type ipv4_addr ; flags dynamic,timeout ; timeout 60s ; }'],
    [ar, '{ type ipv4_addr ; flags dynamic,timeout ; timeout 60s ; }'],
  ]);
});

test('no endpoints: elements stay, chains are empty, the no-endpoint maps reject', () => {
  const sp = port({ type: 'NodePort', externalIPs: ['192.0.2.7'], ports: [{ name: 'http', port: 80, nodePort: 30080 }] });
  const n = portNames(sp);
  const p = servicePortObjects({ port: sp, endpoints: [ep('10.244.1.5', { ready: false, serving: false })] }, OPTS);
  assert.deepEqual(els(p), [
    `service-ips: 10.96.0.10 . tcp . 80 : goto ${n.svc}`,
    'no-endpoint-services: 10.96.0.10 . tcp . 80 : goto reject-chain',
    `service-ips: 192.0.2.7 . tcp . 80 : goto ${n.ext}`,
    'no-endpoint-services: 192.0.2.7 . tcp . 80 : goto reject-chain',
    `service-nodeports: tcp . 30080 : goto ${n.ext}`,
    'no-endpoint-nodeports: tcp . 30080 : goto reject-chain',
  ]);
  assert.deepEqual(chain(p, n.svc), []);
  assert.deepEqual(chain(p, n.ext), []);
});

test('an endpoint change leaves the dispatch elements alone', () => {
  const sp = port({ type: 'LoadBalancer', loadBalancerSourceRanges: ['192.0.2.0/24'], externalTrafficPolicy: 'Local', ports: [{ name: 'http', port: 80, nodePort: 30080 }] },
    { loadBalancer: { ingress: [{ ip: '198.51.100.1' }] } });
  const dispatch = (eps: Endpoint[]): string[] => els(servicePortObjects({ port: sp, endpoints: eps }, OPTS)).filter((e) => e.startsWith('service-'));
  const before = dispatch([ep('10.244.1.5')]);
  assert.deepEqual(dispatch([]), before);
  assert.deepEqual(dispatch([ep('10.244.1.6'), remote('10.244.2.6')]), before);
});

test('externalTrafficPolicy Local: no SNAT from outside, local endpoints only, pods and the node go the cluster way', () => {
  const sp = port({ type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 32000, ports: [{ name: 'http', port: 80, nodePort: 30080 }] },
    { loadBalancer: { ingress: [{ ip: '198.51.100.1' }] } });
  const n = portNames(sp);
  const l = ep('10.244.1.5');
  const p = servicePortObjects({ port: sp, endpoints: [l, remote('10.244.2.5')] }, OPTS);
  assert.deepEqual(chain(p, n.ext), [
    `ip saddr 10.244.0.0/16 goto ${n.svc}`,
    'fib saddr type local jump mark-for-masquerade',
    `fib saddr type local goto ${n.svc}`,
    `goto ${n.local}`,
  ]);
  assert.deepEqual(chain(p, n.local), [`goto ${endpointChain(sp, l)}`]);
  assert.equal(chain(p, n.svc).length, 3, 'cluster chain: masquerade + both endpoints');
  assert.deepEqual(els(p, 'no-endpoint-services'), []);

  // Only a remote endpoint: external traffic is dropped here; pods still go through the cluster chain.
  const none = servicePortObjects({ port: sp, endpoints: [remote('10.244.2.5')] }, OPTS);
  assert.deepEqual(chain(none, n.local), []);
  assert.equal(chain(none, n.ext).length, 3);
  assert.deepEqual(els(none).filter((e) => e.startsWith('no-endpoint')), [
    'no-endpoint-services: 198.51.100.1 . tcp . 80 : drop',
    'no-endpoint-nodeports: tcp . 30080 : drop',
  ]);
});

test('internalTrafficPolicy Local: the cluster IP goes to local-H, dropped without local endpoints', () => {
  const sp = port({ internalTrafficPolicy: 'Local' });
  const n = portNames(sp);
  const p = servicePortObjects({ port: sp, endpoints: [remote('10.244.2.5')] }, OPTS);
  assert.deepEqual(els(p), [`service-ips: 10.96.0.10 . tcp . 80 : goto ${n.local}`, 'no-endpoint-services: 10.96.0.10 . tcp . 80 : drop']);
  assert.ok(!p.chains.has(n.svc), 'no cluster chain when nothing uses cluster endpoints');
});

test('terminating endpoints are used only when no endpoint is ready', () => {
  const sp = port({});
  const targets = (eps: Endpoint[]): string[] =>
    chain(servicePortObjects({ port: sp, endpoints: eps }, OPTS), portNames(sp).svc).flatMap((r) => /dnat to (\S+)/.exec(r)?.[1] ?? []);
  const [ready, leaving, dead] = [remote('10.244.2.5'), remote('10.244.2.6', { ready: false, serving: true, terminating: true }), remote('10.244.2.7', { ready: false, serving: false, terminating: true })];
  assert.deepEqual(targets([ready, leaving, dead]), ['10.244.2.5:8080']);
  assert.deepEqual(targets([leaving, dead]), ['10.244.2.6:8080']);
  assert.deepEqual(targets([dead]), []);
});

test('loadBalancerSourceRanges: the firewall element and chain, the VIP admitted when the node is in a range', () => {
  const sp = port({ type: 'LoadBalancer', loadBalancerSourceRanges: ['192.0.2.0/24', '203.0.113.0/24'], ports: [{ name: 'http', port: 80, nodePort: 30080 }] },
    { loadBalancer: { ingress: [{ ip: '198.51.100.1' }] } });
  const n = portNames(sp);
  const p = servicePortObjects({ port: sp, endpoints: [ep('10.244.1.5')] }, { ...OPTS, nodeIPs: ['192.0.2.50'] });
  assert.deepEqual(els(p, 'firewall-ips'), [`firewall-ips: 198.51.100.1 . tcp . 80 : goto ${n.fw}`]);
  assert.deepEqual(els(p, 'service-ips')[1], `service-ips: 198.51.100.1 . tcp . 80 : goto ${n.ext}`);
  assert.deepEqual(chain(p, n.fw), ['ip saddr != { 192.0.2.0/24, 203.0.113.0/24, 198.51.100.1 } drop']);
  const away = servicePortObjects({ port: sp, endpoints: [ep('10.244.1.5')] }, { ...OPTS, nodeIPs: ['10.0.0.1'] });
  assert.deepEqual(chain(away, n.fw), ['ip saddr != { 192.0.2.0/24, 203.0.113.0/24 } drop']);
  // Without endpoints the address is rejected like any other, whoever asks.
  const empty = servicePortObjects({ port: sp, endpoints: [] }, OPTS);
  assert.deepEqual(els(empty, 'firewall-ips'), []);
  assert.deepEqual(chain(empty, n.fw), []);
});

test('UDP and SCTP ports match their protocol in keys, masquerade and DNAT', () => {
  for (const protocol of ['UDP', 'SCTP']) {
    const sp = port({ ports: [{ name: 'p', port: 53, protocol }] });
    const p = servicePortObjects({ port: sp, endpoints: [remote('10.244.2.5')] }, OPTS);
    const l4 = protocol.toLowerCase();
    assert.deepEqual(els(p), [`service-ips: 10.96.0.10 . ${l4} . 53 : goto ${portNames(sp).svc}`]);
    assert.deepEqual(chain(p, portNames(sp).svc), [
      `ip daddr 10.96.0.10 ${l4} dport 53 ip saddr != 10.244.0.0/16 jump mark-for-masquerade`,
      `meta l4proto ${l4} dnat to 10.244.2.5:8080`,
    ]);
  }
});

test('IPv6: ip6 matches, ipv6_addr sets and bracketed DNAT targets', () => {
  const sp = parseService({ metadata: { name: 'web', namespace: 'ns' }, spec: { clusterIP: 'fd00::a', sessionAffinity: 'ClientIP', ports: [{ port: 80 }] } }, 6).ports[0]!;
  const e: Endpoint = { ip: 'fd00:1::5', port: 8080, ready: true, serving: true, terminating: false, isLocal: true };
  const p = servicePortObjects({ port: sp, endpoints: [e] }, { family: 6, clusterCIDR: 'fd00:1::/64' });
  assert.deepEqual(els(p), [`service-ips: fd00::a . tcp . 80 : goto ${portNames(sp).svc}`]);
  assert.deepEqual(chain(p, endpointChain(sp, e)), [
    'ip6 saddr fd00:1::5 jump mark-for-masquerade',
    `meta l4proto tcp update @${affinitySet(sp, e)} { ip6 saddr } dnat to [fd00:1::5]:8080`,
  ]);
  assert.equal(chain(p, portNames(sp).svc)[0], 'ip6 daddr fd00::a tcp dport 80 ip6 saddr != fd00:1::/64 jump mark-for-masquerade');
  assert.match(p.sets.get(affinitySet(sp, e))!, /type ipv6_addr ; flags dynamic,timeout ; timeout 10800s/);
});

test('base objects: hooks and priorities, masquerade mark, NodePort addresses, unallocated-range reject', () => {
  const b = baseObjects({ ...OPTS, masqueradeBit: 12 });
  assert.equal(b.chainSpecs.get('nat-output'), '{ type nat hook output priority -100 ; }');
  assert.equal(b.chainSpecs.get('filter-prerouting'), '{ type filter hook prerouting priority -110 ; }');
  assert.equal(b.chainSpecs.get('nat-postrouting'), '{ type nat hook postrouting priority 100 ; }');
  assert.deepEqual(b.rules.get('mark-for-masquerade'), ['meta mark set meta mark | 0x1000']);
  assert.deepEqual(b.rules.get('masquerading'), ['meta mark & 0x1000 == 0 return', 'meta mark set meta mark ^ 0x1000', 'masquerade fully-random']);
  assert.deepEqual(b.rules.get('filter-forward'), ['ct state invalid drop', 'ct state new jump endpoints-check', 'ct state new ip daddr { 10.96.0.0/16 } goto reject-chain']);
  assert.deepEqual(b.rules.get('services'), [
    'ip daddr . meta l4proto . th dport vmap @service-ips',
    'fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports',
  ]);
  const only = baseObjects({ ...OPTS, nodePortIPs: ['192.168.1.10', '192.168.2.10'] });
  assert.equal(only.rules.get('services')![1], 'ip daddr { 192.168.1.10, 192.168.2.10 } meta l4proto . th dport vmap @service-nodeports');
  assert.equal(baseObjects({ ...OPTS, nodePortIPs: [] }).rules.get('services')!.length, 1, 'no address matches: no NodePorts');
  assert.deepEqual(baseObjects({ family: 6 }).rules.get('filter-output-post-dnat'), ['ct state new jump endpoints-check']);
  assert.match(baseObjects({ family: 6 }).rules.get('services')![1]!, /^fib daddr type local ip6 daddr != ::1 /);
});
