// nftables mode: full and partial scripts, map elements claimed twice, and the kernel
// accepting what we render (`nft -c`, check mode, inside a throwaway netns of
// `unshare --net`, so nothing is left anywhere).
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { execa } from 'execa';
import type { RuleOptions } from '../../agent/proxy/backend.js';
import { ElementTable } from '../../agent/proxy/nftables/elements.js';
import { renderFull, renderPartial, type PortChange } from '../../agent/proxy/nftables/render.js';
import { affinitySet, baseObjects, endpointChain, portNames, servicePortObjects, type NftPort } from '../../agent/proxy/nftables/rules.js';
import type { Endpoint, IPFamily, ServicePortState } from '../../agent/proxy/types.js';
import { parseService } from '../../agent/proxy/validate.js';

const OPTS4: RuleOptions = { family: 4, clusterCIDR: '10.244.0.0/16', serviceCIDRs: ['10.96.0.0/16'], nodeIPs: ['192.168.77.1'] };
const OPTS6: RuleOptions = { family: 6, clusterCIDR: 'fd00:244::/64', serviceCIDRs: ['fd00:96::/112'], nodeIPs: ['fd00:77::1'], nodePortIPs: ['fd00:77::1'] };

const ep = (ip: string, isLocal: boolean, o: Partial<Endpoint> = {}): Endpoint =>
  ({ ip, port: 8080, ready: true, serving: true, terminating: false, nodeName: isLocal ? 'a' : 'b', isLocal, ...o });

function state(family: IPFamily, name: string, spec: Record<string, unknown>, endpoints: Endpoint[], status?: Record<string, unknown>): ServicePortState {
  const info = parseService({ metadata: { name, namespace: 'ns' }, spec, ...(status ? { status } : {}) }, family);
  assert.ok(info.ports[0], `${name}: ${info.skipped ?? 'no port'}`);
  return { port: info.ports[0], endpoints };
}

/** A varied set of Services of one family: every feature the rules use. */
function services(family: IPFamily): ServicePortState[] {
  const a = (n: number): string => (family === 4 ? `10.96.0.${n}` : `fd00:96::${n}`);
  const pod = (n: number): string => (family === 4 ? `10.244.1.${n}` : `fd00:244::${n}`);
  const pub = (n: number): string => (family === 4 ? `198.51.100.${n}` : `2001:db8::${n}`);
  const lb = (n: number): Record<string, unknown> => ({ loadBalancer: { ingress: [{ ip: pub(n) }] } });
  const http = (extra: Record<string, unknown> = {}): Array<Record<string, unknown>> => [{ name: 'http', port: 80, targetPort: 8080, ...extra }];
  const two = [ep(pod(1), true), ep(pod(2), false)];
  return [
    state(family, 'cluster', { clusterIP: a(1), ports: http() }, [ep(pod(1), false), ep(pod(2), false), ep(pod(3), true)]),
    state(family, 'nodeport', { type: 'NodePort', clusterIP: a(2), ports: http({ nodePort: 30080 }) }, two),
    state(family, 'lb', { type: 'LoadBalancer', clusterIP: a(3), loadBalancerSourceRanges: [family === 4 ? '192.168.77.0/24' : 'fd00:77::/64'], ports: http({ nodePort: 30081 }) }, two, lb(3)),
    state(family, 'extip', { clusterIP: a(4), externalIPs: [pub(4)], ports: http() }, two),
    state(family, 'sticky', { clusterIP: a(5), sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } }, ports: http() }, two),
    state(family, 'etp', { type: 'LoadBalancer', clusterIP: a(6), externalTrafficPolicy: 'Local', healthCheckNodePort: 32000, ports: http({ nodePort: 30082 }) }, [ep(pod(2), false)], lb(6)),
    state(family, 'itp', { clusterIP: a(7), internalTrafficPolicy: 'Local', ports: http() }, [ep(pod(2), false)]),
    state(family, 'empty', { type: 'NodePort', clusterIP: a(8), externalIPs: [pub(8)], ports: http({ nodePort: 30083 }) }, []),
    state(family, 'dns', { clusterIP: a(9), ports: [{ name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353 }] }, [ep(pod(4), true)]),
    state(family, 'sctp', { type: 'NodePort', clusterIP: a(10), ports: [{ name: 's', port: 9999, protocol: 'SCTP', nodePort: 30084 }] }, [ep(pod(5), false)]),
  ];
}

function full(family: IPFamily, states: ServicePortState[], opts: RuleOptions): { script: string; ports: NftPort[]; elements: ElementTable } {
  const ports = states.map((s) => servicePortObjects(s, opts));
  const elements = new ElementTable();
  elements.apply(ports.map((p) => ({ id: p.id, prev: [], next: p.elements })));
  return { script: renderFull(family, ports, baseObjects(opts), elements.entries()), ports, elements };
}

function partial(family: IPFamily, elements: ElementTable, changes: PortChange[]): string {
  const el = elements.apply(changes.map((c) => ({ id: (c.next ?? c.prev)!.id, prev: c.prev?.elements ?? [], next: c.next?.elements ?? [] })));
  return renderPartial(family, changes, el);
}

/** Applies `applied` scripts, then checks `checked` with nft -c, in a fresh network namespace. */
async function nftAccepts(applied: string[], checked: string): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'kna-t-nft-'));
  try {
    const files: string[] = [];
    for (const [i, s] of [...applied, checked].entries()) {
      files.push(join(dir, `${i}.nft`));
      await writeFile(files[i]!, s);
    }
    // The shell only strings together fixed commands; the scripts are files given as arguments.
    const r = await execa('unshare', ['--net', 'sh', '-ec', 'n=$#; i=1; for f; do if [ $i -lt $n ]; then nft -f "$f"; else nft -c -f "$f"; fi; i=$((i+1)); done', 'sh', ...files], { reject: false });
    assert.equal(r.exitCode, 0, `nft refused the script:\n${r.stderr}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const isRoot = process.getuid?.() === 0;

test('full script: creates and flushes our table, re-declares maps, deletes stale chains and sets', () => {
  const { script } = full(4, services(4).slice(0, 1), OPTS4);
  const lines = script.split('\n');
  assert.deepEqual(lines.slice(0, 2), ['add table ip kna-proxy', 'flush table ip kna-proxy']);
  assert.ok(lines.includes('flush map ip kna-proxy service-ips'));
  assert.ok(lines.every((l) => l === '' || / ip kna-proxy( |$)/.test(l)), 'every command names our table, and only it');
  const stale = renderFull(4, [], baseObjects(OPTS4), [], { chains: new Set(['svc-AAAAAAAAAAAAAAAA']), sets: new Set(['aff-AAAAAAAAAAAAAAAA']) });
  assert.ok(stale.includes('delete chain ip kna-proxy svc-AAAAAAAAAAAAAAAA\ndelete set ip kna-proxy aff-AAAAAAAAAAAAAAAA\n'));
  assert.ok(stale.indexOf('flush table') < stale.indexOf('delete chain'), 'a stale chain is emptied before it is deleted');
  const again = renderFull(4, [], baseObjects(OPTS4), [], { chains: new Set(), sets: new Set(), recreate: true });
  assert.deepEqual(again.split('\n').slice(0, 4), ['add table ip kna-proxy', 'delete table ip kna-proxy', 'add table ip kna-proxy', 'flush table ip kna-proxy']);
});

test('partial script: an endpoint change rewrites only that port\'s chains, elements untouched', () => {
  const [s] = services(4);
  const { ports, elements } = full(4, [s!], OPTS4);
  const next = servicePortObjects({ ...s!, endpoints: [...s!.endpoints.slice(0, 2), ep('10.244.1.9', false)] }, OPTS4);
  const script = partial(4, elements, [{ prev: ports[0], next }]);
  const svc = portNames(s!.port).svc;
  const local = endpointChain(s!.port, s!.endpoints[2]!);
  assert.deepEqual(script.split('\n').filter(Boolean).map((l) => l.split(' ').slice(0, 5).join(' ')), [
    `flush chain ip kna-proxy ${svc}`,
    `flush chain ip kna-proxy ${local}`,
    ...Array(4).fill(`add rule ip kna-proxy ${svc}`),
    `delete chain ip kna-proxy ${local}`,
  ]);
  assert.equal(partial(4, elements, [{ prev: next, next }]), '', 'nothing changed: nothing to run');
});

test('partial script: element deletions come before the chains they point at are deleted', () => {
  const [, nodeport] = services(4);
  const { ports, elements } = full(4, [nodeport!], OPTS4);
  const script = partial(4, elements, [{ prev: ports[0], next: undefined }]);
  const n = portNames(nodeport!.port);
  const at = (s: string): number => { const i = script.indexOf(s); assert.ok(i >= 0, `missing: ${s}\n${script}`); return i; };
  assert.ok(at(`delete element ip kna-proxy service-ips { 10.96.0.2 . tcp . 80 }`) < at(`delete chain ip kna-proxy ${n.svc}`));
  assert.ok(at(`delete element ip kna-proxy service-nodeports { tcp . 30080 }`) < at(`delete chain ip kna-proxy ${n.ext}`));
  assert.ok(at(`flush chain ip kna-proxy ${n.ext}`) < at(`delete chain ip kna-proxy ${n.ext}`));
  assert.equal(elements.size, 0);
});

test('partial script: affinity sets of staying endpoints are kept, those of leaving ones deleted last', () => {
  const sticky = services(4)[4]!;
  const { ports, elements } = full(4, [sticky], OPTS4);
  const [stay, leave] = sticky.endpoints;
  const next = servicePortObjects({ ...sticky, endpoints: [stay!] }, OPTS4);
  const script = partial(4, elements, [{ prev: ports[0], next }]);
  assert.ok(!script.includes(`set ip kna-proxy ${affinitySet(sticky.port, stay!)}`), 'the staying endpoint keeps its clients');
  assert.ok(script.trimEnd().endsWith(`delete set ip kna-proxy ${affinitySet(sticky.port, leave!)}`));
});

test('a key claimed by two Services: the first holds it, the second takes over when it goes', () => {
  const t = new ElementTable();
  const a = [{ map: 'service-ips' as const, key: '203.0.113.7 . tcp . 80', value: 'goto ext-A' }];
  const b = [{ map: 'service-ips' as const, key: '203.0.113.7 . tcp . 80', value: 'goto ext-B' }];
  assert.deepEqual(t.apply([{ id: 'a', prev: [], next: a }, { id: 'b', prev: [], next: b }]), { removed: [], added: a });
  assert.deepEqual(t.apply([{ id: 'b', prev: b, next: b }]), { removed: [], added: [] }, 'the shadowed claim changes nothing');
  assert.deepEqual(t.apply([{ id: 'a', prev: a, next: [] }]), { removed: a, added: b });
  assert.deepEqual([...t.entries()], b);
  // Several edits in one sync net out: gone and back is no change.
  assert.deepEqual(t.apply([{ id: 'b', prev: b, next: [] }, { id: 'c', prev: [], next: b }]), { removed: [], added: [] });
});

for (const family of [4, 6] as const) {
  const opts = family === 4 ? OPTS4 : OPTS6;
  test(`IPv${family}: the kernel accepts the full script, a second full sync over it and partial scripts`, { skip: !isRoot && 'needs root' }, async () => {
    const states = services(family);
    const first = full(family, states, opts);
    await nftAccepts([], first.script);
    // A second full sync on top of the first: stale objects deleted, sets kept.
    const fewer = full(family, states.slice(2), opts);
    const known = { chains: new Set(first.ports.flatMap((p) => [...p.chains.keys()])), sets: new Set(first.ports.flatMap((p) => [...p.sets.keys()])) };
    await nftAccepts([first.script], renderFull(family, fewer.ports, baseObjects(opts), fewer.elements.entries(), known));

    // Partial: every port loses its endpoints, then a new Service arrives and one goes.
    const none = states.map((s) => servicePortObjects({ ...s, endpoints: [] }, opts));
    const drained = partial(family, first.elements, first.ports.map((p, i) => ({ prev: p, next: none[i] })));
    await nftAccepts([first.script], drained);
    const extra = servicePortObjects(state(family, 'late', { clusterIP: family === 4 ? '10.96.0.99' : 'fd00:96::99', ports: [{ port: 81 }] }, []), opts);
    const more = partial(family, first.elements, [{ next: extra }, { prev: none[0], next: undefined }]);
    await nftAccepts([first.script, drained], more);
  });
}
