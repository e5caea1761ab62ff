// For every proxy mode: partial syncs must leave the kernel exactly where a full sync
// of the same state would (random Service / EndpointSlice changes through partial
// syncs in one netns, the final state by one full sync in a fresh netns, compared),
// and state removed behind the proxy's back comes back by itself.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { execa } from 'execa';
import { pino } from 'pino';
import { Proxier } from '../../agent/proxy/proxier.js';
import { netnsRunner } from '../../agent/proxy/runner.js';
import { IptablesBackend } from '../../agent/proxy/iptables/backend.js';
import { service, slice, type TestEndpoint } from '../harness/proxy-lab.js';
import { MODES, modesUnderTest, proxyLeftovers } from '../harness/proxy-modes.js';

const names = { a: `kna-t-pxs-${process.pid}-a`, b: `kna-t-pxs-${process.pid}-b` };

before(async () => {
  for (const ns of Object.values(names)) {
    await execa('ip', ['netns', 'add', ns]);
    await execa('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  }
});

after(async () => {
  for (const ns of Object.values(names)) await execa('ip', ['netns', 'del', ns], { reject: false });
});

/** Small deterministic PRNG (mulberry32), so a failure replays. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), seed | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

for (const mode of modesUnderTest()) describe(`proxy mode ${mode}`, () => {
const support = MODES[mode]!;

test('random changes through partial syncs end where one full sync ends', async () => {
  const rand = rng(20261124);
  const pick = <T>(l: readonly T[]): T => l[Math.floor(rand() * l.length)]!;
  const opts = { nodeName: 'node-a', serviceCIDRs: ['10.96.0.0/16'], clusterCIDR: '10.244.0.0/16', minSyncPeriodMs: 0, logger: pino({ level: 'silent' }), healthCheckBindAddress: null, backend: support.backend };
  const a = new Proxier({ ...opts, runner: netnsRunner(names.a) });
  await a.start();
  const services = new Map<string, Record<string, unknown>>();
  const slices = new Map<string, Record<string, unknown>>();
  const kinds = { partial: 0, full: 0 };

  const randomService = (i: number): Record<string, unknown> => {
    const type = pick(['ClusterIP', 'NodePort', 'LoadBalancer']);
    const ports = [{ name: 'p0', port: 80, targetPort: 8080, protocol: pick(['TCP', 'UDP']) }];
    if (rand() < 0.3) ports.push({ name: 'p1', port: 443, targetPort: 8443, protocol: 'TCP' });
    return service(`s${i}`, {
      type, clusterIP: `10.96.1.${i}`,
      ports: ports.map((p, j) => (type === 'ClusterIP' ? p : { ...p, nodePort: 30000 + i * 2 + j })),
      ...(rand() < 0.3 ? { externalIPs: [`203.0.113.${i}`] } : {}),
      ...(rand() < 0.3 ? { sessionAffinity: 'ClientIP' } : {}),
      ...(type !== 'ClusterIP' && rand() < 0.5 ? { externalTrafficPolicy: 'Local' } : {}),
      ...(rand() < 0.2 ? { internalTrafficPolicy: 'Local' } : {}),
      ...(type === 'LoadBalancer' && rand() < 0.5 ? { loadBalancerSourceRanges: ['192.0.2.0/24'] } : {}),
    }, type === 'LoadBalancer' ? { loadBalancer: { ingress: [{ ip: `198.51.100.${i}` }] } } : undefined);
  };
  const randomSlice = (i: number): Record<string, unknown> => {
    const eps: TestEndpoint[] = [];
    const n = Math.floor(rand() * 5);
    for (let e = 0; e < n; e++) {
      const state = pick(['ready', 'ready', 'terminating', 'gone']);
      eps.push({
        ip: `10.244.${1 + Math.floor(rand() * 2)}.${i * 10 + e}`, node: pick(['node-a', 'node-b']),
        ready: state === 'ready', serving: state !== 'gone', terminating: state !== 'ready',
      });
    }
    return slice(`s${i}`, eps, [{ name: 'p0', port: 8080, protocol: 'TCP' }, { name: 'p0', port: 8080, protocol: 'UDP' }, { name: 'p1', port: 8443 }]);
  };

  for (let step = 0; step < 60; step++) {
    for (let k = 0; k < 1 + Math.floor(rand() * 3); k++) {
      const i = Math.floor(rand() * 8);
      const op = rand();
      if (op < 0.3) { const s = randomService(i); services.set(`s${i}`, s); a.onServiceUpdate(s); }
      else if (op < 0.4) { const s = services.get(`s${i}`); services.delete(`s${i}`); if (s) a.onServiceDelete(s); }
      else if (op < 0.9) { const s = randomSlice(i); slices.set(`s${i}`, s); a.onEndpointSliceUpdate(s); }
      else { const s = slices.get(`s${i}`); slices.delete(`s${i}`); if (s) a.onEndpointSliceDelete(s); }
    }
    const r = await a.syncNow();
    if (r.kind !== 'none') kinds[r.kind]++;
  }
  assert.ok(kinds.partial > 40, `expected mostly partial syncs, got ${JSON.stringify(kinds)}`);

  const b = new Proxier({ ...opts, runner: netnsRunner(names.b) });
  b.setState([...services.values()], [...slices.values()]);
  await b.start();
  assert.deepEqual(await support.snapshot(names.a), await support.snapshot(names.b));
  await a.cleanup();
  await b.cleanup();
  assert.deepEqual([...await proxyLeftovers(names.a), ...await proxyLeftovers(names.b)], []);
});

test('rules come back by themselves after someone removes them behind the proxy\'s back', async () => {
  const p = new Proxier({
    backend: support.backend,
    nodeName: 'node-a', serviceCIDRs: ['10.96.0.0/16'], minSyncPeriodMs: 0, syncPeriodMs: 100,
    logger: pino({ level: 'silent' }), healthCheckBindAddress: null, runner: netnsRunner(names.a),
  });
  p.onServiceUpdate(service('web', { clusterIP: '10.96.2.1', ports: [{ port: 80 }] }));
  await p.start();
  const hooked = (): Promise<boolean> => support.hooked(names.a);
  assert.ok(await hooked());
  // While everything is in place, the periodic check must not rewrite everything.
  const firstFull = p.healthz().lastFullSync;
  await new Promise((r) => setTimeout(r, 600));
  assert.deepEqual(p.healthz().lastFullSync, firstFull, 'a full sync ran although nothing was removed');
  await support.sabotage(names.a);
  assert.equal(await hooked(), false);
  let back = false;
  for (let i = 0; i < 50 && !back; i++) {
    await new Promise((r) => setTimeout(r, 100));
    back = await hooked();
  }
  await p.cleanup();
  assert.ok(back, 'the proxy did not restore what was removed');
});
});

test('iptables, large clusters: past the endpoint threshold Service chains lose their comments, partial syncs only for what they rewrite', async () => {
  const p = new Proxier({
    backend: (runner, family) => new IptablesBackend(runner, family, { terseAboveEndpoints: 3 }),
    nodeName: 'node-a', serviceCIDRs: ['10.96.0.0/16'], clusterCIDR: '10.244.0.0/16', minSyncPeriodMs: 0,
    logger: pino({ level: 'silent' }), healthCheckBindAddress: null, runner: netnsRunner(names.a),
  });
  const eps = (n: number, base: number): TestEndpoint[] => Array.from({ length: n }, (_, i) => ({ ip: `10.244.2.${base + i}`, node: 'node-b' }));
  for (const [name, ip, n] of [['a', '10.96.3.1', 2], ['b', '10.96.3.2', 1]] as const) {
    p.onServiceUpdate(service(name, { clusterIP: ip, ports: [{ port: 80, targetPort: 8080 }] }));
    p.onEndpointSliceUpdate(slice(name, eps(n, name === 'a' ? 10 : 20), [{ port: 8080 }]));
  }
  /** The rules of Service `name`'s KUBE-SVC chain, found through its commented jump. */
  const chainOf = async (name: string): Promise<string[]> => {
    const save = (await execa('ip', ['netns', 'exec', names.a, 'iptables-save', '-t', 'nat'])).stdout.split('\n');
    const jump = save.find((l) => l.startsWith('-A KUBE-SERVICES') && l.includes(`"default/${name} cluster IP"`)) ?? assert.fail(`no jump for ${name}`);
    const chain = / -j (KUBE-SVC-\S+)/.exec(jump)![1]!;
    return save.filter((l) => l.startsWith(`-A ${chain} `));
  };
  const commented = (rules: string[]): number => rules.filter((l) => l.includes('--comment')).length;
  try {
    await p.start();
    assert.equal(commented(await chainOf('a')), 3, '3 endpoints in all: every rule keeps its comment');
    // A fourth endpoint: b's chain is rewritten terse, a's stays as it is until a full sync.
    p.onEndpointSliceUpdate(slice('b', eps(2, 20), [{ port: 8080 }]));
    assert.equal((await p.syncNow()).kind, 'partial');
    const b = await chainOf('b');
    assert.equal(b.length, 3);
    assert.equal(commented(b), 0);
    assert.equal(commented(await chainOf('a')), 3);
    await p.syncNow({ full: true });
    assert.equal(commented(await chainOf('a')), 0);
    assert.match((await chainOf('a')).join('\n'), /^-A KUBE-SVC-\S+ -p tcp -m statistic --mode random --probability 0\.50* -j DNAT --to-destination 10\.244\.2\.10:8080$/m);
  } finally {
    await p.cleanup();
  }
});
