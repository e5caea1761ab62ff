// What only nftables mode has to show, in a netns of our own: other tables are never
// touched, a partial sync is one transaction over the changed port's objects only,
// affinity entries survive full syncs, what a previous run left is swept, and a table
// removed behind the proxy's back comes back. (Behaviour with real packets: the shared
// scenarios, proxy-scenarios.test.ts.)
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { execa } from 'execa';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { NftablesBackend } from '../../agent/proxy/nftables/backend.js';
import { affinitySet, endpointChain, portNames } from '../../agent/proxy/nftables/rules.js';
import { Proxier, type ProxierOptions } from '../../agent/proxy/proxier.js';
import { ProxyModeUnsupportedError } from '../../agent/proxy/backend.js';
import { commandRunner, netnsRunner, type CommandRunner } from '../../agent/proxy/runner.js';
import type { Endpoint } from '../../agent/proxy/types.js';
import { parseService } from '../../agent/proxy/validate.js';
import { service, slice, type TestEndpoint } from '../harness/proxy-lab.js';
import { proxyLeftovers } from '../harness/proxy-modes.js';

const NS = `kna-t-pxn-${process.pid}`;
const OTHER = 'kna-t-other';

const nft = async (...args: string[]): Promise<string> => (await execa('ip', ['netns', 'exec', NS, 'nft', ...args])).stdout;

before(async () => {
  await execa('ip', ['netns', 'add', NS]);
  await execa('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
});

after(async () => {
  await execa('ip', ['netns', 'del', NS], { reject: false });
});

/** The netns' real runner, also recording every argv it runs. */
function recording(): { runner: CommandRunner; calls: Array<readonly string[]> } {
  const inner = netnsRunner(NS);
  const calls: Array<readonly string[]> = [];
  return { calls, runner: { run: (argv, input) => { calls.push(argv); return inner.run(argv, input); } } };
}

function proxier(runner: CommandRunner, extra: Partial<ProxierOptions> = {}): Proxier {
  return new Proxier({
    nodeName: 'node-a', runner, backend: (r, f) => new NftablesBackend(r, f), serviceCIDRs: ['10.96.0.0/16'], clusterCIDR: '10.244.0.0/16',
    minSyncPeriodMs: 0, logger: pino({ level: 'silent' }), healthCheckBindAddress: null, ...extra,
  });
}

const web = (name: string, ip: string, extra: Record<string, unknown> = {}): Record<string, unknown> =>
  service(name, { clusterIP: ip, ports: [{ name: 'http', port: 80, targetPort: 8080 }], ...extra });
const eps = (name: string, list: TestEndpoint[]): Record<string, unknown> => slice(name, list, [{ name: 'http', port: 8080 }]);
const portOf = (svc: Record<string, unknown>): ReturnType<typeof parseService>['ports'][number] => parseService(svc, 4).ports[0]!;
const endpoint = (ip: string, isLocal: boolean): Endpoint => ({ ip, port: 8080, ready: true, serving: true, terminating: false, isLocal });

test('other tables are never touched: syncs, partial syncs and cleanup leave them as they were', async () => {
  await execa('ip', ['netns', 'exec', NS, 'nft', '-f', '-'], {
    input: [
      `add table ip ${OTHER}`,
      `add chain ip ${OTHER} pre { type nat hook prerouting priority -100 ; }`,
      `add set ip ${OTHER} s { type ipv4_addr ; elements = { 192.0.2.1 } ; }`,
      `add rule ip ${OTHER} pre ip daddr @s tcp dport 80 counter dnat to 192.0.2.2:8080`,
      '',
    ].join('\n'),
  });
  try {
    const before = await nft('list', 'table', 'ip', OTHER);
    const { runner } = recording();
    const p = proxier(runner);
    p.setState([web('a', '10.96.0.1'), web('b', '10.96.0.2', { type: 'NodePort' })], [eps('a', [{ ip: '10.244.1.1', node: 'node-a' }])]);
    await p.start();
    assert.equal(await nft('list', 'table', 'ip', OTHER), before, 'after a full sync');
    p.onEndpointSliceUpdate(eps('a', [{ ip: '10.244.1.2', node: 'node-b' }]));
    p.onServiceDelete(web('b', '10.96.0.2'));
    assert.equal((await p.syncNow()).kind, 'partial');
    assert.equal(await nft('list', 'table', 'ip', OTHER), before, 'after a partial sync');
    await p.syncNow({ full: true });
    await p.cleanup();
    assert.equal(await nft('list', 'table', 'ip', OTHER), before, 'after cleanup');
    assert.deepEqual(await proxyLeftovers(NS), []);
  } finally {
    await execa('ip', ['netns', 'exec', NS, 'nft', 'delete', 'table', 'ip', OTHER], { reject: false });
  }
});

test('a partial sync is one nft transaction rewriting only the changed port\'s chains', async () => {
  const { runner, calls } = recording();
  const p = proxier(runner);
  const a = web('a', '10.96.0.1');
  const b = web('b', '10.96.0.2');
  p.setState([a, b], [eps('a', [{ ip: '10.244.1.1', node: 'node-a' }]), eps('b', [{ ip: '10.244.1.2', node: 'node-b' }])]);
  await p.start();
  // nft -a shows rule handles: a rewritten rule gets a new one.
  const handles = async (chain: string): Promise<string[]> => (await nft('-a', 'list', 'chain', 'ip', 'kna-proxy', chain)).match(/# handle \d+/g) ?? [];
  const [na, nb] = [portNames(portOf(a)), portNames(portOf(b))];
  const before = { a: await handles(na.svc), b: await handles(nb.svc), services: await handles('services') };

  calls.length = 0;
  p.onEndpointSliceUpdate(eps('a', [{ ip: '10.244.1.1', node: 'node-a' }, { ip: '10.244.2.1', node: 'node-b' }]));
  const r = await p.syncNow();
  assert.equal(r.kind, 'partial');
  assert.deepEqual(calls.filter((c) => c[0] === 'nft'), [['nft', '-f', '-']], 'one nft run');
  const script = r.input.nftables ?? '';
  const touched = new Set([...script.matchAll(/^(?:add|flush|delete) (?:chain|rule) ip kna-proxy (\S+)/gm)].map((m) => m[1]));
  assert.deepEqual([...touched], [na.svc], `only a's cluster chain is rewritten:\n${script}`);
  assert.doesNotMatch(script, /element/, 'an endpoint change touches no map element');
  assert.notDeepEqual(await handles(na.svc), before.a);
  assert.deepEqual(await handles(nb.svc), before.b, 'b\'s chain is untouched');
  assert.deepEqual(await handles('services'), before.services, 'the dispatch chain is untouched');

  // Losing every endpoint: the no-endpoint element comes, in the same single run.
  calls.length = 0;
  p.onEndpointSliceUpdate(eps('a', []));
  const empty = await p.syncNow();
  assert.equal(calls.filter((c) => c[0] === 'nft').length, 1);
  assert.match(empty.input.nftables ?? '', /^add element ip kna-proxy no-endpoint-services \{ 10\.96\.0\.1 \. tcp \. 80 : goto reject-chain \}$/m);
  assert.match(await nft('list', 'map', 'ip', 'kna-proxy', 'no-endpoint-services'), /10\.96\.0\.1 \. tcp \. 80 : goto reject-chain/);

  // Explain shows the port's chains and elements in nft's syntax; the metrics count rules and elements.
  const rules = p.explain('default', 'b')!.ports[0]!.rules.nftables!;
  assert.ok(rules.includes(`add element ip kna-proxy service-ips { 10.96.0.2 . tcp . 80 : goto ${nb.svc} }`), rules.join('\n'));
  assert.ok(rules.includes(`add rule ip kna-proxy ${nb.svc} meta l4proto tcp dnat to 10.244.1.2:8080`), rules.join('\n'));
  const total = (await p.metrics.rulesTotal.get()).values.find((v) => v.labels.table === 'nftables')?.value ?? 0;
  assert.ok(total > 20, `rules + elements: ${total}`);
  await p.cleanup();
});

test('affinity entries survive a full sync; a changed timeout makes a fresh set', async () => {
  const { runner } = recording();
  const p = proxier(runner);
  const sticky = web('sticky', '10.96.0.5', { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } } });
  p.setState([sticky], [eps('sticky', [{ ip: '10.244.1.1', node: 'node-a' }, { ip: '10.244.2.1', node: 'node-b' }])]);
  await p.start();
  const set = affinitySet(portOf(sticky), endpoint('10.244.2.1', false));
  // What a client's first packet would have put there.
  await nft('add', 'element', 'ip', 'kna-proxy', set, '{ 10.244.1.50 }');
  await p.syncNow({ full: true });
  assert.match(await nft('list', 'set', 'ip', 'kna-proxy', set), /10\.244\.1\.50/, 'the client keeps its endpoint');

  const longer = web('sticky', '10.96.0.5', { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 900 } } });
  p.onServiceUpdate(longer);
  assert.equal((await p.syncNow()).kind, 'partial');
  const sets = await nft('-t', 'list', 'sets', 'ip');
  assert.ok(!sets.includes(set), 'the old set is gone');
  assert.ok(sets.includes(affinitySet(portOf(longer), endpoint('10.244.2.1', false))));
  assert.match(sets, /timeout 15m/);
  await p.cleanup();
});

test('two Services claiming one externalIP:port: the first holds it, the second takes over when it goes', async () => {
  const { runner } = recording();
  const p = proxier(runner);
  const one = web('one', '10.96.0.31', { externalIPs: ['203.0.113.9'] });
  const two = web('two', '10.96.0.32', { externalIPs: ['203.0.113.9'] });
  p.setState([one, two], []);
  await p.start();
  const holder = async (): Promise<string | undefined> =>
    /203\.0\.113\.9 \. tcp \. 80 : goto (ext-\w+)/.exec(await nft('list', 'map', 'ip', 'kna-proxy', 'service-ips'))?.[1];
  assert.equal(await holder(), portNames(portOf(one)).ext);
  assert.match(p.explain('default', 'two')!.ports[0]!.rules.nftables!.join('\n'), /203\.0\.113\.9 .* # shadowed/);
  p.onServiceDelete(one);
  assert.equal((await p.syncNow()).kind, 'partial');
  assert.equal(await holder(), portNames(portOf(two)).ext);
  await p.cleanup();
});

test('a new proxier sweeps what a previous run left: stale chains and sets, a base chain of another priority', async () => {
  const { runner } = recording();
  const old = proxier(runner);
  const gone = web('gone', '10.96.0.7', { sessionAffinity: 'ClientIP' });
  old.setState([gone], [eps('gone', [{ ip: '10.244.1.7', node: 'node-a' }])]);
  await old.start();
  await old.stop();

  const next = proxier(runner);
  next.setState([web('new', '10.96.0.8')], []);
  await next.start();
  await next.stop();
  const chains = await nft('list', 'chains', 'ip');
  const goneEp = endpointChain(portOf(gone), endpoint('10.244.1.7', true));
  assert.ok(!chains.includes(portNames(portOf(gone)).svc) && !chains.includes(goneEp), chains);
  assert.ok(chains.includes(portNames(portOf(web('new', '10.96.0.8'))).svc));
  assert.ok(!(await nft('-t', 'list', 'sets', 'ip')).includes('aff-'), 'stale affinity sets are deleted');

  // As if an older version had hooked output elsewhere: a base chain cannot be moved, the table is remade.
  await nft('delete', 'chain', 'ip', 'kna-proxy', 'filter-output');
  await nft('add', 'chain', 'ip', 'kna-proxy', 'filter-output', '{ type filter hook output priority 0 ; }');
  const p = proxier(runner);
  p.setState([web('new', '10.96.0.8')], []);
  await p.start();
  // In JSON: nft 1.1 (Debian 13) prints priority -110 as "dstnat - 10", 1.0 (Debian 12) as "-110".
  const listed = JSON.parse(await nft('-j', 'list', 'chain', 'ip', 'kna-proxy', 'filter-output')) as { nftables: { chain?: { hook?: string; prio?: number } }[] };
  const remade = listed.nftables.find((o) => o.chain)?.chain;
  assert.deepEqual([remade?.hook, remade?.prio], ['output', -110]);
  assert.match(await nft('list', 'map', 'ip', 'kna-proxy', 'service-ips'), /10\.96\.0\.8 \. tcp \. 80/);
  await p.cleanup();
});

test('the table deleted behind the proxy\'s back comes back at the next periodic check; an intact one is left alone', async () => {
  const { runner, calls } = recording();
  const p = proxier(runner, { syncPeriodMs: 100 });
  p.setState([web('web', '10.96.2.1')], [eps('web', [{ ip: '10.244.1.1', node: 'node-a' }])]);
  await p.start();
  const first = p.healthz().lastFullSync;
  calls.length = 0;
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(p.healthz().lastFullSync, first, 'a full sync ran although nothing was removed');
  assert.ok(calls.some((c) => c.join(' ') === 'nft -j list chains ip'), 'the periodic check looks');

  const hooked = async (chain: string, rule: string): Promise<boolean> =>
    (await execa('ip', ['netns', 'exec', NS, 'nft', 'list', 'chain', 'ip', 'kna-proxy', chain], { reject: false })).stdout.includes(rule);
  for (const [what, sabotage, chain, rule] of [
    ['the table', 'delete table ip kna-proxy', 'nat-prerouting', 'jump services'],
    ['a base chain', 'flush chain ip kna-proxy filter-input\ndelete chain ip kna-proxy filter-input', 'filter-input', 'jump endpoints-check'],
  ] as const) {
    await execa('ip', ['netns', 'exec', NS, 'nft', '-f', '-'], { input: `${sabotage}\n` });
    assert.equal(await hooked(chain, rule), false);
    let back = false;
    for (let i = 0; i < 50 && !back; i++) {
      await new Promise((r) => setTimeout(r, 100));
      back = await hooked(chain, rule);
    }
    assert.ok(back, `${what} did not come back`);
  }
  assert.match(await nft('list', 'map', 'ip', 'kna-proxy', 'service-ips'), /10\.96\.2\.1 \. tcp \. 80/);
  await p.cleanup();
  assert.deepEqual(await proxyLeftovers(NS), []);
});

test('preflight: passes on this kernel without applying anything; names what is missing otherwise', async () => {
  await new NftablesBackend(netnsRunner(NS), 4).preflight();
  await new NftablesBackend(netnsRunner(NS), 6).preflight();
  await proxier(netnsRunner(NS), { registry: new Registry() }).preflight();
  assert.equal((await nft('list', 'tables')).trim(), '', 'check mode applies nothing');
  // No nft command at all, and an nft the kernel answers with an error.
  await assert.rejects(new NftablesBackend(commandRunner(['/nonexistent/kna-t-nft']), 4).preflight(),
    (err: Error) => err instanceof ProxyModeUnsupportedError && /nft command is missing/.test(err.message));
  const refusing = commandRunner(['sh', '-c', 'echo "Error: Could not process rule: Operation not supported" >&2; exit 1', 'kna-t']);
  await assert.rejects(new NftablesBackend(refusing, 4).preflight(),
    (err: Error) => err instanceof ProxyModeUnsupportedError && /CONFIG_NF_TABLES/.test(err.message) && /Operation not supported/.test(err.message));
});
