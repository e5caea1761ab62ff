// IPVS mode's pure parts: planning, virtual/real server diffing with graceful removal,
// ipset contents, the fixed iptables rules, schedulers, and parsing of the tools' output.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveConfig } from '../../agent/config.js';
import { asKeys, diffKeys, diffVirtualServer, drainedReals, Ledger } from '../../agent/proxy/ipvs/diff.js';
import { entry, nodePortsOf, parseIpsetSave, renderCreate, setName } from '../../agent/proxy/ipvs/ipsets.js';
import { ipvsIptables, renderIptables, renderIptablesCleanup } from '../../agent/proxy/ipvs/iptables.js';
import { parseIpvsList, type KernelReal, type KernelVirtualServer, type VirtualServer } from '../../agent/proxy/ipvs/model.js';
import { nodePortAddresses, planPort, type PlanOptions } from '../../agent/proxy/ipvs/plan.js';
import { IPVS_SCHEDULERS, schedulerKernelOption } from '../../agent/proxy/ipvs/scheduler.js';
import { parseSave } from '../../agent/proxy/iptables/render.js';
import { parseService } from '../../agent/proxy/validate.js';
import { ep, port, remote } from './proxy-fixtures.js';

const PLAN: PlanOptions = { scheduler: 'rr', nodePortIPs: ['192.168.77.1', '10.244.0.1'], nodeIPs: ['192.168.77.1', '10.244.0.1'] };


const realsOf = (v: VirtualServer | undefined): string[] => (v?.reals ?? []).map((r) => `${r.ip}:${r.port}`).sort();

test('ClusterIP: a virtual server on the bound cluster IP, every ready endpoint a real server, hairpin only for local pods', () => {
  const plan = planPort({ port: port({}), endpoints: [ep('10.244.1.11'), remote('10.244.2.1'), ep('10.244.1.12', { ready: false, serving: false })] }, PLAN);
  assert.deepEqual([...plan.virtualServers.keys()], ['TCP 10.96.0.10:80']);
  const vs = plan.virtualServers.get('TCP 10.96.0.10:80')!;
  assert.equal(vs.scheduler, 'rr');
  assert.equal(vs.persistence, 0);
  assert.deepEqual(realsOf(vs), ['10.244.1.11:8080', '10.244.2.1:8080']);
  assert.deepEqual([...plan.addresses], ['10.96.0.10']);
  assert.deepEqual([...plan.members].sort(), [
    'CLUSTER-IP 10.96.0.10,tcp:80',
    'IPVS-IPS 10.96.0.10',
    'LOOP-BACK 10.244.1.11,tcp:8080,10.244.1.11',
  ]);
});

test('sessionAffinity ClientIP is the persistence timeout; the scheduler is the option given', () => {
  const sp = port({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } } });
  const vs = planPort({ port: sp, endpoints: [ep('10.244.1.11')] }, { ...PLAN, scheduler: 'wlc' }).virtualServers.get('TCP 10.96.0.10:80')!;
  assert.equal(vs.persistence, 600);
  assert.equal(vs.scheduler, 'wlc');
  const noAffinity = planPort({ port: port({}), endpoints: [ep('10.244.1.11')] }, PLAN).virtualServers.get('TCP 10.96.0.10:80')!;
  assert.equal(noAffinity.persistence, 0);
});

test('NodePort: one virtual server per node address; externalTrafficPolicy decides the set and the real servers', () => {
  const eps = [ep('10.244.1.11'), remote('10.244.2.1')];
  const cluster = planPort({ port: port({ type: 'NodePort', ports: [{ name: 'http', port: 80, nodePort: 30080 }] }), endpoints: eps }, PLAN);
  assert.deepEqual([...cluster.virtualServers.keys()].sort(), ['TCP 10.244.0.1:30080', 'TCP 10.96.0.10:80', 'TCP 192.168.77.1:30080']);
  assert.deepEqual(realsOf(cluster.virtualServers.get('TCP 192.168.77.1:30080')), ['10.244.1.11:8080', '10.244.2.1:8080']);
  assert.ok(cluster.members.has('NODE-PORT-TCP 30080'));
  assert.deepEqual([...cluster.addresses], ['10.96.0.10'], 'node addresses are not bound to kube-ipvs0');

  const etpLocal = port({ type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 31000, ports: [{ name: 'http', port: 80, nodePort: 30081 }] });
  const local = planPort({ port: etpLocal, endpoints: eps }, PLAN);
  assert.deepEqual(realsOf(local.virtualServers.get('TCP 192.168.77.1:30081')), ['10.244.1.11:8080'], 'only this node\'s endpoints');
  assert.deepEqual(realsOf(local.virtualServers.get('TCP 10.96.0.10:80')), ['10.244.1.11:8080', '10.244.2.1:8080'], 'the cluster IP keeps the internal policy');
  assert.ok(local.members.has('NODE-PORT-LOCAL-TCP 30081') && !local.members.has('NODE-PORT-TCP 30081'));
  assert.ok(local.members.has('HEALTH-CHECK-NODE-PORT 31000'));

  // Endpoints only elsewhere: the external virtual servers are dropped in the filter table.
  const none = planPort({ port: etpLocal, endpoints: [remote('10.244.2.1')] }, PLAN);
  assert.deepEqual(realsOf(none.virtualServers.get('TCP 192.168.77.1:30081')), []);
  assert.deepEqual([...none.members].filter((m) => m.startsWith('NO-LOCAL-ENDPOINTS')).sort(), [
    'NO-LOCAL-ENDPOINTS 10.244.0.1,tcp:30081', 'NO-LOCAL-ENDPOINTS 192.168.77.1,tcp:30081',
  ]);
});

test('internalTrafficPolicy Local: local real servers only, dropped when the endpoints are all elsewhere, refused when there are none', () => {
  const sp = port({ internalTrafficPolicy: 'Local' });
  const some = planPort({ port: sp, endpoints: [ep('10.244.1.11'), remote('10.244.2.1')] }, PLAN);
  assert.deepEqual(realsOf(some.virtualServers.get('TCP 10.96.0.10:80')), ['10.244.1.11:8080']);
  assert.ok(![...some.members].some((m) => m.startsWith('NO-LOCAL')));
  const elsewhere = planPort({ port: sp, endpoints: [remote('10.244.2.1')] }, PLAN);
  assert.ok(elsewhere.members.has('NO-LOCAL-ENDPOINTS 10.96.0.10,tcp:80'));
  // No endpoints at all: an empty virtual server, which IPVS answers with port unreachable.
  const empty = planPort({ port: sp, endpoints: [] }, PLAN);
  assert.deepEqual(realsOf(empty.virtualServers.get('TCP 10.96.0.10:80')), []);
  assert.ok(![...empty.members].some((m) => m.startsWith('NO-LOCAL')));
});

test('externalIPs and load-balancer IPs: bound, in their sets; source ranges fill the firewall sets', () => {
  const sp = port({
    type: 'LoadBalancer', externalIPs: ['203.0.113.7'], loadBalancerSourceRanges: ['192.168.77.0/24', '198.51.100.5/32'], ports: [{ name: 'http', port: 80, nodePort: 30082 }],
  }, { loadBalancer: { ingress: [{ ip: '198.51.100.10' }] } });
  const plan = planPort({ port: sp, endpoints: [ep('10.244.1.11')] }, PLAN);
  assert.deepEqual([...plan.addresses].sort(), ['10.96.0.10', '198.51.100.10', '203.0.113.7']);
  for (const k of ['TCP 203.0.113.7:80', 'TCP 198.51.100.10:80']) assert.deepEqual(realsOf(plan.virtualServers.get(k)), ['10.244.1.11:8080'], k);
  const members = [...plan.members];
  for (const m of [
    'EXTERNAL-IP 203.0.113.7,tcp:80', 'LOAD-BALANCER 198.51.100.10,tcp:80', 'LOAD-BALANCER-FW 198.51.100.10,tcp:80',
    'LOAD-BALANCER-SOURCE-CIDR 198.51.100.10,tcp:80,192.168.77.0/24', 'LOAD-BALANCER-SOURCE-CIDR 198.51.100.10,tcp:80,198.51.100.5',
    // 192.168.77.0/24 holds a node address: the node's own traffic (from the VIP) is admitted too.
    'LOAD-BALANCER-SOURCE-CIDR 198.51.100.10,tcp:80,198.51.100.10',
    'IPVS-IPS 198.51.100.10', 'IPVS-IPS 203.0.113.7',
  ]) assert.ok(members.includes(m), m);
  assert.ok(!members.some((m) => m.startsWith('LOAD-BALANCER-LOCAL') || m.startsWith('EXTERNAL-IP-LOCAL')));
});

test('UDP and SCTP ports use their protocol in virtual servers and set members', () => {
  const sp = parseService({ metadata: { name: 'dns', namespace: 'ns' }, spec: { clusterIP: '10.96.0.53', type: 'NodePort', ports: [{ name: 'dns', port: 53, protocol: 'UDP', nodePort: 30053 }] } }, 4).ports[0]!;
  const plan = planPort({ port: sp, endpoints: [ep('10.244.1.31', { port: 5353 })] }, PLAN);
  assert.ok(plan.virtualServers.has('UDP 10.96.0.53:53') && plan.virtualServers.has('UDP 192.168.77.1:30053'));
  assert.ok(plan.members.has('CLUSTER-IP 10.96.0.53,udp:53') && plan.members.has('NODE-PORT-UDP 30053'));
});

test('NodePort addresses: --nodeport-addresses or every node address, never a Service address, once each', () => {
  const svc = new Set(['10.96.0.10', '198.51.100.10']);
  assert.deepEqual(nodePortAddresses(undefined, ['192.168.77.1', '10.244.0.1', '10.244.0.1', '10.96.0.10'], svc), ['10.244.0.1', '192.168.77.1']);
  assert.deepEqual(nodePortAddresses(['192.168.77.1'], ['192.168.77.1', '10.244.0.1'], svc), ['192.168.77.1']);
  assert.deepEqual(nodePortAddresses(undefined, undefined, svc), []);
});

// ---- diffing and graceful removal ---------------------------------------------

const want = (reals: string[], o: Partial<VirtualServer> = {}): VirtualServer => ({
  protocol: 'TCP', address: '10.96.0.10', port: 80, scheduler: 'rr', persistence: 0,
  reals: reals.map((r) => ({ ip: r, port: 8080 })), ...o,
});
const kreal = (ip: string, weight = 1, active = 0, inactive = 0): [string, KernelReal] =>
  [`${ip}:8080`, { ip, port: 8080, weight, activeConns: active, inactiveConns: inactive }];
const have = (reals: Array<[string, KernelReal]>, o: Partial<KernelVirtualServer> = {}): KernelVirtualServer => ({
  protocol: 'TCP', address: '10.96.0.10', port: 80, scheduler: 'rr', persistence: 0, reals: new Map(reals), ...o,
});

test('a new virtual server is added with its real servers; an unwanted one is deleted; an unchanged one costs nothing', () => {
  const add = diffVirtualServer(want(['10.244.1.11', '10.244.1.12'], { persistence: 60 }), undefined);
  assert.deepEqual(add.lines, [
    '-A -t 10.96.0.10:80 -s rr -p 60',
    '-a -t 10.96.0.10:80 -r 10.244.1.11:8080 -m -w 1',
    '-a -t 10.96.0.10:80 -r 10.244.1.12:8080 -m -w 1',
  ]);
  assert.equal(add.next?.reals.size, 2);
  const del = diffVirtualServer(undefined, have([kreal('10.244.1.11')]));
  assert.deepEqual(del.lines, ['-D -t 10.96.0.10:80']);
  assert.equal(del.next, undefined);
  assert.deepEqual(diffVirtualServer(want(['10.244.1.11']), have([kreal('10.244.1.11', 1, 3, 4)])).lines, []);
  assert.deepEqual(diffVirtualServer(undefined, undefined).lines, []);
});

test('scheduler or persistence changes edit the virtual server in place', () => {
  const d = diffVirtualServer(want(['10.244.1.11'], { scheduler: 'lc', persistence: 30 }), have([kreal('10.244.1.11')]));
  assert.deepEqual(d.lines, ['-E -t 10.96.0.10:80 -s lc -p 30']);
  const off = diffVirtualServer(want(['10.244.1.11']), have([kreal('10.244.1.11')], { persistence: 30 }));
  assert.deepEqual(off.lines, ['-E -t 10.96.0.10:80 -s rr']);
});

test('a TCP real server that goes away drains at weight 0; UDP goes at once; with fresh counts an idle one goes at once', () => {
  const tcp = diffVirtualServer(want(['10.244.1.12']), have([kreal('10.244.1.11', 1, 2, 0), kreal('10.244.1.12')]));
  assert.deepEqual(tcp.lines, ['-e -t 10.96.0.10:80 -r 10.244.1.11:8080 -m -w 0']);
  assert.equal(tcp.draining, true);
  assert.equal(tcp.next?.reals.get('10.244.1.11:8080')?.weight, 0, 'kept while its connections last');

  const again = diffVirtualServer(want(['10.244.1.12']), tcp.next);
  assert.deepEqual(again.lines, [], 'already draining: nothing to do');
  assert.equal(again.draining, true);

  const udp = diffVirtualServer(want(['10.244.1.12'], { protocol: 'UDP', port: 53 }), have([kreal('10.244.1.11'), kreal('10.244.1.12')], { protocol: 'UDP', port: 53 }));
  assert.deepEqual(udp.lines, ['-d -u 10.96.0.10:53 -r 10.244.1.11:8080']);
  assert.equal(udp.draining, false);

  const idle = diffVirtualServer(want([]), have([kreal('10.244.1.11', 1, 0, 0), kreal('10.244.1.12', 0, 1, 0)]), true);
  assert.deepEqual(idle.lines, ['-d -t 10.96.0.10:80 -r 10.244.1.11:8080']);
  assert.equal(idle.draining, true, 'the busy one keeps draining');
});

test('an endpoint that comes back while draining gets its weight back', () => {
  const d = diffVirtualServer(want(['10.244.1.11']), have([kreal('10.244.1.11', 0, 1, 1)]));
  assert.deepEqual(d.lines, ['-e -t 10.96.0.10:80 -r 10.244.1.11:8080 -m -w 1']);
  assert.equal(d.draining, false);
  assert.equal(d.next?.reals.get('10.244.1.11:8080')?.weight, 1);
});

test('draining real servers are deleted once the kernel counts no connection; gone or re-weighted ones are forgotten', () => {
  const believed = have([kreal('10.244.1.11', 0), kreal('10.244.1.12', 0), kreal('10.244.1.13', 0), kreal('10.244.1.14', 1)]);
  const kernel = have([kreal('10.244.1.11', 0, 0, 0), kreal('10.244.1.12', 0, 0, 2), kreal('10.244.1.14', 1, 5, 0)]);
  const d = drainedReals(believed, kernel);
  assert.deepEqual(d.lines, ['-d -t 10.96.0.10:80 -r 10.244.1.11:8080']);
  assert.equal(d.draining, true, '.12 still has a connection in TIME_WAIT');
  assert.deepEqual([...d.next.reals.keys()].sort(), ['10.244.1.12:8080', '10.244.1.14:8080']);
  const done = drainedReals(d.next, have([kreal('10.244.1.12', 0, 0, 0), kreal('10.244.1.14', 1)]));
  assert.deepEqual(done.lines, ['-d -t 10.96.0.10:80 -r 10.244.1.12:8080']);
  assert.equal(done.draining, false);
  // The whole virtual server went away behind our back.
  assert.deepEqual(drainedReals(believed, undefined).next.reals.size, 1);
});

test('ledger: several ports may want one key; the lowest id wins whatever the order; changed keys are reported', () => {
  const l = new Ledger<string>();
  assert.deepEqual(l.set('b/svc:p', new Map([['TCP 203.0.113.7:80', 'b'], ['x', 'b']])).sort(), ['TCP 203.0.113.7:80', 'x']);
  l.set('a/svc:p', new Map([['TCP 203.0.113.7:80', 'a']]));
  assert.equal(l.get('TCP 203.0.113.7:80'), 'a');
  assert.deepEqual(l.set('a/svc:p', undefined), ['TCP 203.0.113.7:80']);
  assert.equal(l.get('TCP 203.0.113.7:80'), 'b');
  l.set('b/svc:p', undefined);
  assert.equal(l.size, 0);
  const addrs = new Ledger<true>();
  addrs.set('p1', asKeys(['10.96.0.10']));
  addrs.set('p2', asKeys(['10.96.0.10']));
  addrs.set('p1', undefined);
  assert.deepEqual(diffKeys(['10.96.0.10', '10.96.0.11'], addrs, new Set(['10.96.0.11'])), { add: ['10.96.0.10'], del: ['10.96.0.11'] }, 'a shared address stays while one port holds it');
});

// ---- tools' text --------------------------------------------------------------

test('ipvsadm -Ln output parses into virtual servers with weights and connection counts', () => {
  const text = [
    'IP Virtual Server version 1.2.1 (size=4096)',
    'Prot LocalAddress:Port Scheduler Flags',
    '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
    'TCP  10.96.0.11:80 rr persistent 60',
    '  -> 10.244.1.11:8080             Masq    1      3          7         ',
    '  -> 10.244.1.12:8080             Masq    0      0          1         ',
    'TCP  [fd00::10]:80 wlc',
    '  -> [fd00:1::5]:8080             Masq    1      0          0',
    'FWM  7 rr',
    '  -> 10.0.0.1:0                   Masq    1      0          0',
    'UDP  10.96.0.12:53 rr',
    '',
  ].join('\n');
  const vs = parseIpvsList(text);
  assert.deepEqual([...vs.keys()], ['TCP 10.96.0.11:80', 'TCP [fd00::10]:80', 'UDP 10.96.0.12:53']);
  const v = vs.get('TCP 10.96.0.11:80')!;
  assert.equal(v.persistence, 60);
  assert.deepEqual(v.reals.get('10.244.1.12:8080'), { ip: '10.244.1.12', port: 8080, weight: 0, activeConns: 0, inactiveConns: 1 });
  assert.equal(v.reals.get('10.244.1.11:8080')?.activeConns, 3);
  assert.equal(vs.get('TCP [fd00::10]:80')?.reals.get('[fd00:1::5]:8080')?.ip, 'fd00:1::5');
  assert.equal(vs.get('UDP 10.96.0.12:53')?.reals.size, 0);
});

test('ipset: kube-proxy names per family, entries as ipset save prints them, our members read back', () => {
  assert.equal(setName(4, 'CLUSTER-IP'), 'KUBE-CLUSTER-IP');
  assert.equal(setName(6, 'CLUSTER-IP'), 'KUBE-6-CLUSTER-IP');
  assert.equal(entry.ipPortNet('198.51.100.10', 'TCP', 80, '10.0.0.5/32'), '198.51.100.10,tcp:80,10.0.0.5');
  assert.equal(entry.ipPortNet('198.51.100.10', 'TCP', 80, '10.0.0.0/8'), '198.51.100.10,tcp:80,10.0.0.0/8');
  assert.ok(renderCreate(4).includes('create KUBE-NODE-PORT-TCP bitmap:port range 0-65535'));
  assert.ok(renderCreate(6).includes('create KUBE-6-CLUSTER-IP hash:ip,port family inet6 hashsize 1024 maxelem 65536'));
  for (const line of renderCreate(4)) assert.ok(line.split(' ')[1]!.length <= 31, line);
  const saved = parseIpsetSave(4, [
    'create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x96c489bb',
    'add KUBE-CLUSTER-IP 10.96.0.10,tcp:80',
    'create KUBE-NODE-PORT-UDP bitmap:port range 0-65535',
    'add KUBE-NODE-PORT-UDP 30053',
    'create KUBE-6-CLUSTER-IP hash:ip,port family inet6',
    'add KUBE-6-CLUSTER-IP fd00::10,tcp:80',
    'create OTHER hash:ip',
    'add OTHER 1.2.3.4',
  ].join('\n'));
  assert.deepEqual([...saved.sets], ['CLUSTER-IP', 'NODE-PORT-UDP']);
  assert.deepEqual([...saved.members], ['CLUSTER-IP 10.96.0.10,tcp:80', 'NODE-PORT-UDP 30053']);
  assert.deepEqual([...nodePortsOf(saved.members)], ['UDP 30053']);
});

test('iptables: fixed rules that match our sets; missing hooks only are inserted; cleanup takes both modes\' chains and nothing else', () => {
  const ipt = ipvsIptables({ family: 4, clusterCIDR: '10.244.0.0/16', serviceCIDRs: ['10.96.0.0/16'] });
  const rules = ipt.rules.map((r) => r.rule);
  assert.ok(rules.includes('-A KUBE-SERVICES -m comment --comment "cluster IP from outside the cluster" -m set --match-set KUBE-CLUSTER-IP dst,dst ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ'));
  assert.ok(rules.includes('-A KUBE-POSTROUTING -m comment --comment "hairpin: a pod reaching itself through a Service" -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE'));
  assert.ok(rules.includes('-A KUBE-IPVS-FILTER -m comment --comment "no Service on this address and port" -m set --match-set KUBE-IPVS-IPS dst -j REJECT'));
  assert.ok(rules.includes('-A KUBE-SERVICES -m comment --comment "reject traffic to unallocated service IPs" -d 10.96.0.0/16 -j REJECT'));
  const all = ipvsIptables({ family: 4, masqueradeAll: true });
  assert.ok(all.rules.some((r) => r.rule.includes('KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ') && !r.rule.includes('! -s')));
  assert.ok(ipvsIptables({ family: 6 }).rules.some((r) => r.rule.includes('KUBE-6-LOOP-BACK')));

  const first = renderIptables(ipt, new Map());
  assert.match(first, /^\*filter\n:KUBE-SERVICES - \[0:0\]\n/);
  assert.match(first, /\*nat\n:KUBE-SERVICES - \[0:0\]\n/);
  assert.match(first, /-I PREROUTING 1 -m comment --comment "kubernetes service portals" -j KUBE-SERVICES/);
  assert.match(first, /-I INPUT 1 -m conntrack --ctstate NEW -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER/);
  // Once in place (as iptables-save prints them), hooks are not inserted twice.
  const hooked = parseSave(`${ipt.hooks.map((h) => `*${h.table}\n${h.rule}\nCOMMIT`).join('\n')}\n`);
  assert.doesNotMatch(renderIptables(ipt, hooked), /^-I /m);

  const saved = parseSave([
    '*filter', ':INPUT ACCEPT [0:0]', ':KUBE-IPVS-FILTER - [0:0]', ':KUBE-EXTERNAL-SERVICES - [0:0]', ':OTHER - [0:0]',
    '-A INPUT -m conntrack --ctstate NEW -j KUBE-IPVS-FILTER', '-A INPUT -j KUBE-EXTERNAL-SERVICES', '-A INPUT -j OTHER', 'COMMIT',
    '*nat', ':PREROUTING ACCEPT [0:0]', ':KUBE-SERVICES - [0:0]', ':KUBE-SVC-ABC - [0:0]', '-A PREROUTING -j KUBE-SERVICES', 'COMMIT', '',
  ].join('\n'));
  // The iptables mode ran here before: its own chains go in the same restore.
  const switched = renderIptables(ipt, saved);
  assert.match(switched, /-D INPUT -j KUBE-EXTERNAL-SERVICES\n/);
  assert.match(switched, /-X KUBE-EXTERNAL-SERVICES\n/);
  assert.match(switched, /-X KUBE-SVC-ABC\n/);
  assert.doesNotMatch(switched, /OTHER|-X KUBE-IPVS-FILTER|-I INPUT 1 -m conntrack --ctstate NEW -m comment --comment "kubernetes ipvs access filter"/);

  const clean = renderIptablesCleanup(saved);
  assert.equal(clean.split('*nat')[0], [
    '*filter', ':KUBE-IPVS-FILTER - [0:0]', ':KUBE-EXTERNAL-SERVICES - [0:0]',
    '-D INPUT -m conntrack --ctstate NEW -j KUBE-IPVS-FILTER', '-D INPUT -j KUBE-EXTERNAL-SERVICES',
    '-X KUBE-IPVS-FILTER', '-X KUBE-EXTERNAL-SERVICES', 'COMMIT', '',
  ].join('\n'));
  assert.match(clean, /-D PREROUTING -j KUBE-SERVICES\n/);
  assert.match(clean, /-X KUBE-SVC-ABC/);
  assert.equal(renderIptablesCleanup(parseSave('*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j OTHER\nCOMMIT\n')), '');
});

test('schedulers: the flag accepts kube-proxy\'s list only; each names its kernel option', () => {
  assert.deepEqual([...IPVS_SCHEDULERS], ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'sh', 'dh', 'sed', 'nq', 'mh']);
  assert.equal(resolveConfig({}).ipvsScheduler, 'rr');
  assert.equal(resolveConfig({ ipvsScheduler: 'sh' }).ipvsScheduler, 'sh');
  assert.throws(() => resolveConfig({ ipvsScheduler: 'fastest' }), /^ConfigError: --ipvs-scheduler: /);
  assert.equal(schedulerKernelOption('lblcr'), 'CONFIG_IP_VS_LBLCR');
});
