// Chain naming and rule text of the iptables mode (pure generation, no kernel).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { endpointChain, hash16, isOurChain, serviceChains } from '../../agent/proxy/iptables/chains.js';
import { baseRules, probability, servicePortRules } from '../../agent/proxy/iptables/rules.js';
import type { Endpoint } from '../../agent/proxy/types.js';
import { parseService } from '../../agent/proxy/validate.js';
import { ep, OPTS, port, remote } from './proxy-fixtures.js';


const nat = (r: ReturnType<typeof servicePortRules>, chain: string): readonly string[] => r.chains.get(chain) ?? assert.fail(`no chain ${chain}`);
const top = (r: ReturnType<typeof servicePortRules>, table: string, chain: string): string[] =>
  r.top.filter((t) => t.table === table && t.chain === chain).map((t) => t.rule);

test('chain names are kube-proxy hashes of the service port identity', () => {
  // The value kube-proxy's own tests use for "ns1/svc1:p80" TCP.
  assert.equal(`KUBE-SVC-${hash16('ns1/svc1:p80tcp')}`, 'KUBE-SVC-XPGD46QRK7WJZT7O');
  const sp = port({});
  const names = serviceChains(sp);
  const h = names.svc.slice('KUBE-SVC-'.length);
  assert.deepEqual(names, { svc: `KUBE-SVC-${h}`, svl: `KUBE-SVL-${h}`, ext: `KUBE-EXT-${h}`, fw: `KUBE-FW-${h}` });
  assert.notEqual(endpointChain(sp, ep('10.244.1.2')), endpointChain(sp, ep('10.244.1.3')));
  for (const n of [...Object.values(names), endpointChain(sp, ep('10.244.1.2'))]) assert.ok(n.length <= 28, n);
  assert.ok(isOurChain('nat', names.svc) && isOurChain('filter', 'KUBE-FORWARD') && !isOurChain('filter', names.svc) && !isOurChain('nat', 'DOCKER'));
});

test('ClusterIP: one stable jump, masquerade from outside the cluster CIDR, random spread', () => {
  const sp = port({});
  const { svc } = serviceChains(sp);
    const r = servicePortRules({ port: sp, endpoints: [remote('10.244.2.1'), remote('10.244.2.2'), remote('10.244.2.3')] }, OPTS);
  assert.deepEqual(top(r, 'nat', 'KUBE-SERVICES'), [`-A KUBE-SERVICES -m comment --comment "ns/web:http cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 80 -j ${svc}`]);
  assert.deepEqual(nat(r, svc), [
    `-A ${svc} -m comment --comment "ns/web:http cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ`,
    `-A ${svc} -m comment --comment "ns/web:http -> 10.244.2.1:8080" -m statistic --mode random --probability 0.3333333333 -p tcp -j DNAT --to-destination 10.244.2.1:8080`,
    `-A ${svc} -m comment --comment "ns/web:http -> 10.244.2.2:8080" -m statistic --mode random --probability 0.5000000000 -p tcp -j DNAT --to-destination 10.244.2.2:8080`,
    `-A ${svc} -m comment --comment "ns/web:http -> 10.244.2.3:8080" -p tcp -j DNAT --to-destination 10.244.2.3:8080`,
  ]);
  assert.deepEqual(r.top.filter((t) => t.table === 'filter'), []);
  assert.equal(r.chains.size, 1, 'remote endpoints need no KUBE-SEP chain');
  // masquerade-all marks everything to the cluster IP.
  const all = servicePortRules({ port: sp, endpoints: [remote('10.244.2.1')] }, { family: 4, masqueradeAll: true });
  assert.match(nat(all, svc)[0]!, /--dport 80 -j KUBE-MARK-MASQ$/);
});

test('terse (large clusters): no comments inside the Service\'s chains, the jumps into them keep theirs', () => {
  const sp = port({ type: 'LoadBalancer', sessionAffinity: 'ClientIP', loadBalancerSourceRanges: ['192.0.2.0/24'], ports: [{ name: 'http', port: 80, nodePort: 30080 }] },
    { loadBalancer: { ingress: [{ ip: '198.51.100.1' }] } });
  const state = { port: sp, endpoints: [ep('10.244.1.5'), remote('10.244.2.1'), remote('10.244.2.2')] };
  const full = servicePortRules(state, OPTS);
  const terse = servicePortRules(state, OPTS, true);
  const own = (r: typeof full): string[] => [...r.chains.values()].flat();
  assert.ok(own(full).filter((l) => l.includes('-m comment')).length >= 8, 'by default the port\'s chains name it');
  assert.deepEqual(own(terse).filter((l) => l.includes('-m comment')), []);
  // The same rules otherwise, in the same chains.
  assert.deepEqual(own(terse), own(full).map((l) => l.replace(/ -m comment --comment "[^"]*"/, '')));
  assert.deepEqual([...terse.chains.keys()], [...full.chains.keys()]);
  assert.deepEqual(terse.top, full.top);
});

test('the rule probabilities spread connections evenly', () => {
  for (let n = 1; n <= 40; n++) {
    let left = 1;
    for (let i = 0; i < n; i++) {
      // Rule i is reached with probability `left` and matches with 1/(n-i) (the last always).
      const p = i < n - 1 ? Number(probability(n - i)) : 1;
      assert.ok(Math.abs(left * p - 1 / n) < 1e-9, `n=${n} endpoint ${i}: ${left * p}`);
      left *= 1 - p;
    }
  }
});

test('local endpoints get a KUBE-SEP chain with the hairpin masquerade', () => {
  const sp = port({});
  const e = ep('10.244.1.5');
  const sep = endpointChain(sp, e);
  const r = servicePortRules({ port: sp, endpoints: [e] }, OPTS);
  assert.deepEqual(nat(r, sep), [
    `-A ${sep} -m comment --comment "ns/web:http" -s 10.244.1.5/32 -j KUBE-MARK-MASQ`,
    `-A ${sep} -m comment --comment "ns/web:http" -p tcp -j DNAT --to-destination 10.244.1.5:8080`,
  ]);
  assert.equal(nat(r, serviceChains(sp).svc).at(-1), `-A ${serviceChains(sp).svc} -m comment --comment "ns/web:http -> 10.244.1.5:8080" -j ${sep}`);
});

test('ClientIP affinity: recent-list lookups first, the list is named after KUBE-SEP', () => {
  const sp = port({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } });
  const local = ep('10.244.1.5');
  const remote = ep('10.244.2.5', { isLocal: false, nodeName: 'n2' });
  const [sl, sr] = [endpointChain(sp, local), endpointChain(sp, remote)];
  const { svc } = serviceChains(sp);
  const r = servicePortRules({ port: sp, endpoints: [local, remote] }, OPTS);
  assert.deepEqual(nat(r, svc).slice(1), [
    `-A ${svc} -m comment --comment "ns/web:http -> 10.244.1.5:8080" -m recent --name ${sl} --rcheck --seconds 60 --reap -j ${sl}`,
    `-A ${svc} -m comment --comment "ns/web:http -> 10.244.2.5:8080" -m recent --name ${sr} --update --seconds 60 --reap -p tcp -j DNAT --to-destination 10.244.2.5:8080`,
    `-A ${svc} -m comment --comment "ns/web:http -> 10.244.1.5:8080" -m statistic --mode random --probability 0.5000000000 -j ${sl}`,
    `-A ${svc} -m comment --comment "ns/web:http -> 10.244.2.5:8080" -m recent --name ${sr} --set -p tcp -j DNAT --to-destination 10.244.2.5:8080`,
  ]);
  assert.match(nat(r, sl)[1]!, new RegExp(`-m recent --name ${sl} --set -p tcp -j DNAT`));
});

test('no endpoints: the jump stays, its chain is empty, the filter table rejects', () => {
  const sp = port({ type: 'NodePort', externalIPs: ['192.0.2.7'], ports: [{ name: 'http', port: 80, nodePort: 30080 }] });
  const names = serviceChains(sp);
  const r = servicePortRules({ port: sp, endpoints: [ep('10.244.1.5', { ready: false, serving: false })] }, OPTS);
  assert.deepEqual(nat(r, names.svc), []);
  assert.deepEqual(nat(r, names.ext), []);
  assert.equal(top(r, 'nat', 'KUBE-SERVICES').length, 2);
  assert.deepEqual(top(r, 'filter', 'KUBE-SERVICES'), ['-A KUBE-SERVICES -m comment --comment "ns/web:http has no endpoints" -m tcp -p tcp -d 10.96.0.10 --dport 80 -j REJECT']);
  assert.deepEqual(top(r, 'filter', 'KUBE-EXTERNAL-SERVICES'), [
    '-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns/web:http has no endpoints" -m tcp -p tcp -d 192.0.2.7 --dport 80 -j REJECT',
    '-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns/web:http has no endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30080 -j REJECT',
  ]);
});

test('an endpoint change never touches the shared nat chains', () => {
  const sp = port({ type: 'LoadBalancer', loadBalancerSourceRanges: ['192.0.2.0/24'], externalTrafficPolicy: 'Local', ports: [{ name: 'http', port: 80, nodePort: 30080 }] },
    { loadBalancer: { ingress: [{ ip: '198.51.100.1' }] } });
  const natTop = (eps: Endpoint[]): string[] => servicePortRules({ port: sp, endpoints: eps }, OPTS).top.filter((t) => t.table === 'nat').map((t) => t.rule);
  const base = natTop([ep('10.244.1.5')]);
  assert.deepEqual(natTop([]), base);
  assert.deepEqual(natTop([ep('10.244.1.6'), ep('10.244.2.6', { isLocal: false })]), base);
  assert.deepEqual(natTop([ep('10.244.2.6', { isLocal: false, ready: false, serving: true, terminating: true })]), base);
});

test('externalTrafficPolicy Local: no SNAT from outside, local endpoints only, short-circuit for pods and the node', () => {
  const sp = port({ type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 32000, ports: [{ name: 'http', port: 80, nodePort: 30080 }] },
    { loadBalancer: { ingress: [{ ip: '198.51.100.1' }] } });
  const names = serviceChains(sp);
  const local = ep('10.244.1.5');
  const remote = ep('10.244.2.5', { isLocal: false, nodeName: 'n2' });
  const r = servicePortRules({ port: sp, endpoints: [local, remote] }, OPTS);
  assert.deepEqual(nat(r, names.ext), [
    `-A ${names.ext} -m comment --comment "pod traffic for ns/web:http external destinations" -s 10.244.0.0/16 -j ${names.svc}`,
    `-A ${names.ext} -m comment --comment "masquerade LOCAL traffic for ns/web:http external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ`,
    `-A ${names.ext} -m comment --comment "route LOCAL traffic for ns/web:http external destinations" -m addrtype --src-type LOCAL -j ${names.svc}`,
    `-A ${names.ext} -j ${names.svl}`,
  ]);
  assert.deepEqual(nat(r, names.svl), [`-A ${names.svl} -m comment --comment "ns/web:http -> 10.244.1.5:8080" -j ${endpointChain(sp, local)}`]);
  assert.equal(nat(r, names.svc).length, 3, 'cluster chain: masquerade + both endpoints');
  assert.deepEqual(top(r, 'filter', 'KUBE-NODEPORTS'), ['-A KUBE-NODEPORTS -m comment --comment "ns/web:http health check node port" -m tcp -p tcp --dport 32000 -j ACCEPT']);
  assert.deepEqual(top(r, 'nat', 'KUBE-NODEPORTS'), [`-A KUBE-NODEPORTS -m comment --comment "ns/web:http" -m tcp -p tcp --dport 30080 -j ${names.ext}`]);

  // Only a remote endpoint: external traffic is dropped here; pods still go through the cluster chain.
  const none = servicePortRules({ port: sp, endpoints: [remote] }, OPTS);
  assert.deepEqual(nat(none, names.svl), []);
  assert.equal(nat(none, names.ext).length, 3);
  assert.deepEqual(top(none, 'filter', 'KUBE-EXTERNAL-SERVICES').map((l) => l.replace(/ -m tcp.*? -j /, ' … -j ')), [
    '-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns/web:http has no local endpoints" … -j DROP',
    '-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns/web:http has no local endpoints" -m addrtype --dst-type LOCAL … -j DROP',
  ]);
});

test('internalTrafficPolicy Local: the cluster IP goes to KUBE-SVL, dropped without local endpoints', () => {
  const sp = port({ internalTrafficPolicy: 'Local' });
  const names = serviceChains(sp);
  const r = servicePortRules({ port: sp, endpoints: [ep('10.244.2.5', { isLocal: false })] }, OPTS);
  assert.match(top(r, 'nat', 'KUBE-SERVICES')[0]!, new RegExp(`-j ${names.svl}$`));
  assert.ok(!r.chains.has(names.svc), 'no cluster chain when nothing uses cluster endpoints');
  assert.deepEqual(top(r, 'filter', 'KUBE-SERVICES'), ['-A KUBE-SERVICES -m comment --comment "ns/web:http has no local endpoints" -m tcp -p tcp -d 10.96.0.10 --dport 80 -j DROP']);
});

test('terminating endpoints are used only when no endpoint is ready', () => {
  const sp = port({});
  const { svc } = serviceChains(sp);
  const ready = ep('10.244.1.5');
  const leaving = ep('10.244.1.6', { ready: false, serving: true, terminating: true });
  const dead = ep('10.244.1.7', { ready: false, serving: false, terminating: true });
  const targets = (eps: Endpoint[]): string[] =>
    nat(servicePortRules({ port: sp, endpoints: eps }, OPTS), svc).filter((l) => l.includes(' -> ')).map((l) => /-> (\S+?)"/.exec(l)![1]!);
  assert.deepEqual(targets([ready, leaving, dead]), ['10.244.1.5:8080']);
  assert.deepEqual(targets([leaving, dead]), ['10.244.1.6:8080']);
  assert.deepEqual(targets([dead]), []);
});

test('loadBalancerSourceRanges: KUBE-FW admits the ranges, the filter table drops the rest', () => {
  const sp = port({ type: 'LoadBalancer', loadBalancerSourceRanges: ['192.0.2.0/24'], ports: [{ name: 'http', port: 80, nodePort: 30080 }] },
    { loadBalancer: { ingress: [{ ip: '198.51.100.1' }] } });
  const names = serviceChains(sp);
  const r = servicePortRules({ port: sp, endpoints: [ep('10.244.1.5')] }, { ...OPTS, nodeIPs: ['192.0.2.50'] });
  assert.match(top(r, 'nat', 'KUBE-SERVICES')[1]!, new RegExp(`-d 198.51.100.1 --dport 80 -j ${names.fw}$`));
  assert.deepEqual(nat(r, names.fw), [
    `-A ${names.fw} -m comment --comment "ns/web:http loadbalancer IP" -s 192.0.2.0/24 -j ${names.ext}`,
    // The node is inside a range: traffic looping back from the VIP is admitted too.
    `-A ${names.fw} -m comment --comment "ns/web:http loadbalancer IP" -s 198.51.100.1 -j ${names.ext}`,
  ]);
  assert.deepEqual(top(r, 'filter', 'KUBE-PROXY-FIREWALL'), [`-A KUBE-PROXY-FIREWALL -m comment --comment "ns/web:http traffic not accepted by ${names.fw}" -m tcp -p tcp -d 198.51.100.1 --dport 80 -j DROP`]);
});

test('base rules: hooks, masquerade mark, NodePort addresses and the unallocated-range reject', () => {
  const b = baseRules({ ...OPTS, masqueradeBit: 12 });
  assert.equal(b.hooks.length, 12);
  assert.deepEqual(b.fixed.nat.get('KUBE-MARK-MASQ'), ['-A KUBE-MARK-MASQ -j MARK --or-mark 0x1000']);
  assert.deepEqual(b.tails.filter.get('KUBE-SERVICES'), ['-A KUBE-SERVICES -m comment --comment "reject traffic to unallocated service IPs" -d 10.96.0.0/16 -j REJECT']);
  assert.match(b.tails.nat.get('KUBE-SERVICES')![0]!, /-m addrtype --dst-type LOCAL ! -d 127\.0\.0\.0\/8 -j KUBE-NODEPORTS$/);
  const only = baseRules({ ...OPTS, nodePortIPs: ['192.168.1.10', '192.168.2.10'] });
  assert.deepEqual(only.tails.nat.get('KUBE-SERVICES')!.map((l) => l.split(' -d ')[1]), ['192.168.1.10 -j KUBE-NODEPORTS', '192.168.2.10 -j KUBE-NODEPORTS']);
});

test('IPv6 rules use /128 host masks and bracketed DNAT targets', () => {
  const sp = parseService({ metadata: { name: 'web', namespace: 'ns' }, spec: { clusterIP: 'fd00::a', ports: [{ port: 80 }] } }, 6).ports[0]!;
  const e: Endpoint = { ip: 'fd00:1::5', port: 8080, ready: true, serving: true, terminating: false, isLocal: true };
  const r = servicePortRules({ port: sp, endpoints: [e] }, { family: 6 });
  assert.deepEqual(nat(r, endpointChain(sp, e)), [
    `-A ${endpointChain(sp, e)} -m comment --comment "ns/web" -s fd00:1::5/128 -j KUBE-MARK-MASQ`,
    `-A ${endpointChain(sp, e)} -m comment --comment "ns/web" -p tcp -j DNAT --to-destination [fd00:1::5]:8080`,
  ]);
});
