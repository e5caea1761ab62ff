// iptables-restore input for full, partial and cleanup syncs (pure).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { serviceChains } from '../../agent/proxy/iptables/chains.js';
import { existingFromSave, generateRules, parseSave, renderCleanup, renderFull, renderPartial } from '../../agent/proxy/iptables/render.js';
import { baseRules, servicePortRules, type RuleOptions } from '../../agent/proxy/iptables/rules.js';
import type { Endpoint, ServicePort } from '../../agent/proxy/types.js';
import { parseService } from '../../agent/proxy/validate.js';

const OPTS: RuleOptions = { family: 4, clusterCIDR: '10.244.0.0/16', serviceCIDRs: ['10.96.0.0/16'] };
const BASE = baseRules(OPTS);

function port(name: string, clusterIP: string): ServicePort {
  return parseService({ metadata: { name, namespace: 'ns' }, spec: { clusterIP, ports: [{ port: 80 }] } }, 4).ports[0]!;
}
const ep = (ip: string): Endpoint => ({ ip, port: 8080, ready: true, serving: true, terminating: false, nodeName: 'n2', isLocal: false });
const lines = (text: string | undefined): string[] => (text ?? '').split('\n').filter((l) => l && l !== 'COMMIT' && !l.startsWith('*'));

test('an endpoint change rewrites only that Service chain: no shared chain, no filter table', () => {
  const sp = port('web', '10.96.0.10');
  const { svc } = serviceChains(sp);
  const prev = servicePortRules({ port: sp, endpoints: [ep('10.244.2.1')] }, OPTS);
  const next = servicePortRules({ port: sp, endpoints: [ep('10.244.2.2')] }, OPTS);
  const out = renderPartial([{ prev, next }], BASE);
  assert.equal(out.filter, undefined);
  assert.deepEqual(lines(out.nat), [`:${svc} - [0:0]`, ...next.chains.get(svc)!]);
  assert.ok(!out.nat!.includes('KUBE-SERVICES'));
  assert.deepEqual(renderPartial([{ prev, next: prev }], BASE), {}, 'nothing changed, nothing to restore');
});

test('a new Service is inserted above the tail; a removed one is deleted rule by rule', () => {
  const sp = port('web', '10.96.0.10');
  const { svc } = serviceChains(sp);
  const rules = servicePortRules({ port: sp, endpoints: [ep('10.244.2.1')] }, OPTS);
  const jump = rules.top.find((t) => t.table === 'nat')!.rule;
  const added = lines(renderPartial([{ next: rules }], BASE).nat);
  assert.deepEqual(added, [`:${svc} - [0:0]`, jump.replace('-A KUBE-SERVICES', '-I KUBE-SERVICES 1'), ...rules.chains.get(svc)!]);
  const removed = lines(renderPartial([{ prev: rules }], BASE).nat);
  assert.deepEqual(removed, [`:${svc} - [0:0]`, jump.replace('-A ', '-D '), `-X ${svc}`]);
});

test('losing the last endpoint adds the REJECT rule in the filter table, getting one back deletes it', () => {
  const sp = port('web', '10.96.0.10');
  const some = servicePortRules({ port: sp, endpoints: [ep('10.244.2.1')] }, OPTS);
  const none = servicePortRules({ port: sp, endpoints: [] }, OPTS);
  const reject = '-m comment --comment "ns/web has no endpoints" -m tcp -p tcp -d 10.96.0.10 --dport 80 -j REJECT';
  assert.deepEqual(lines(renderPartial([{ prev: some, next: none }], BASE).filter), [`-I KUBE-SERVICES 1 ${reject}`]);
  assert.deepEqual(lines(renderPartial([{ prev: none, next: some }], BASE).filter), [`-D KUBE-SERVICES ${reject}`]);
});

test('a full sync declares everything, deletes stale chains of ours and adds only missing hooks', () => {
  const sp = port('web', '10.96.0.10');
  const blocks = [servicePortRules({ port: sp, endpoints: [ep('10.244.2.1')] }, OPTS)];
  const saved = parseSave([
    '*nat', ':PREROUTING ACCEPT [0:0]', ':KUBE-SERVICES - [0:0]', ':KUBE-SVC-OLDOLDOLDOLDOLDO - [0:0]', ':DOCKER - [0:0]',
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES', 'COMMIT',
    '*filter', ':INPUT ACCEPT [0:0]', 'COMMIT',
  ].join('\n'));
  const out = renderFull(blocks, BASE, existingFromSave(saved));
  const nat = lines(out.nat);
  assert.ok(nat.includes(':KUBE-SVC-OLDOLDOLDOLDOLDO - [0:0]') && nat.at(-1) === '-X KUBE-SVC-OLDOLDOLDOLDOLDO');
  assert.ok(!nat.some((l) => l.includes('DOCKER')), 'chains of others are left alone');
  assert.ok(!nat.some((l) => l.startsWith('-I PREROUTING')), 'the existing hook is not added twice');
  assert.ok(nat.some((l) => l.startsWith('-I OUTPUT 1 ') && l.endsWith('-j KUBE-SERVICES')));
  // The NodePort jump stays the last rule of KUBE-SERVICES.
  const svcRules = nat.filter((l) => l.startsWith('-A KUBE-SERVICES '));
  assert.match(svcRules.at(-1)!, /-j KUBE-NODEPORTS$/);
  assert.equal(lines(out.filter).filter((l) => l.startsWith('-I ')).length, 9);
});

test('generateRules gives the whole rule set for an empty table pair', () => {
  const { filter, nat } = generateRules([{ port: port('web', '10.96.0.10'), endpoints: [ep('10.244.2.1')] }], OPTS);
  assert.ok(filter.startsWith('*filter\n') && filter.endsWith('COMMIT\n'));
  assert.ok(nat.startsWith('*nat\n') && nat.includes(':KUBE-MARK-MASQ - [0:0]'));
});

test('cleanup unhooks and deletes only our chains', () => {
  const saved = parseSave([
    '*nat', ':PREROUTING ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]', ':KUBE-SERVICES - [0:0]', ':KUBE-SEP-AAAAAAAAAAAAAAAA - [0:0]', ':CNI-X - [0:0]',
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A POSTROUTING -s 10.244.0.0/16 -j CNI-X', 'COMMIT',
  ].join('\n'));
  const out = renderCleanup(saved);
  assert.equal(out.filter, undefined);
  assert.deepEqual(lines(out.nat), [
    ':KUBE-SERVICES - [0:0]', ':KUBE-SEP-AAAAAAAAAAAAAAAA - [0:0]',
    '-D PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-X KUBE-SERVICES', '-X KUBE-SEP-AAAAAAAAAAAAAAAA',
  ]);
});

test('a table listed in several blocks (one `iptables -S` per chain) keeps every block', () => {
  const saved = parseSave([
    '*filter', ':INPUT ACCEPT [0:0]', '-A INPUT -j KUBE-NODEPORTS',
    '*filter', ':OUTPUT ACCEPT [0:0]', '-A OUTPUT -j KUBE-SERVICES',
    '*nat', ':PREROUTING ACCEPT [0:0]', '-A PREROUTING -j KUBE-SERVICES',
  ].join('\n'));
  assert.deepEqual([...existingFromSave(saved).hooks].sort(), ['filter INPUT KUBE-NODEPORTS', 'filter OUTPUT KUBE-SERVICES', 'nat PREROUTING KUBE-SERVICES']);
});
