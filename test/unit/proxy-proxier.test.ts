// The Proxier's sync logic against a recording command runner (the kernel side is
// covered by test/integration/proxy-*.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { formatExplanation, Proxier, type ProxierOptions } from '../../agent/proxy/proxier.js';
import type { CommandResult, CommandRunner } from '../../agent/proxy/runner.js';

class FakeRunner implements CommandRunner {
  readonly restores: string[] = [];
  readonly commands: string[] = [];
  failNextRestore = false;
  async run(argv: readonly string[], input?: string): Promise<CommandResult> {
    const cmd = argv.join(' ');
    this.commands.push(cmd);
    const ok = (stdout = ''): CommandResult => ({ stdout, stderr: '', exitCode: 0 });
    if (argv[0] === 'iptables-restore') {
      if (this.failNextRestore) { this.failNextRestore = false; return { stdout: '', stderr: 'iptables-restore: line 3 failed', exitCode: 1 }; }
      this.restores.push(input ?? '');
      return ok();
    }
    if (argv[0] === 'iptables-save') return ok(`*${argv[2]}\n:INPUT ACCEPT [0:0]\nCOMMIT\n`);
    if (argv[0] === 'iptables') return ok(`-P ${argv.at(-1)} ACCEPT\n`);
    if (argv[0] === 'ip') return ok(JSON.stringify([{ flags: ['LOOPBACK'], addr_info: [{ local: '127.0.0.1', scope: 'host' }] }, { addr_info: [{ local: '192.168.1.10', scope: 'global' }] }]));
    if (argv[0] === 'conntrack') return { stdout: '', stderr: '0 flow entries have been deleted.', exitCode: 1 };
    throw new Error(`unexpected command ${cmd}`);
  }
}

const svc = (name: string, clusterIP: string, extra: Record<string, unknown> = {}): Record<string, unknown> =>
  ({ metadata: { name, namespace: 'default' }, spec: { clusterIP, ports: [{ name: 'http', port: 80 }], ...extra } });
const slice = (svcName: string, ips: string[]): Record<string, unknown> => ({
  metadata: { name: `${svcName}-1`, namespace: 'default', labels: { 'kubernetes.io/service-name': svcName } },
  addressType: 'IPv4', endpoints: ips.map((ip) => ({ addresses: [ip], nodeName: 'node-a' })), ports: [{ name: 'http', port: 8080 }],
});

function setup(extra: Partial<ProxierOptions> = {}): { p: Proxier; runner: FakeRunner; registry: Registry } {
  const runner = new FakeRunner();
  const registry = new Registry();
  const p = new Proxier({
    nodeName: 'node-a', runner, registry, serviceCIDRs: ['10.96.0.0/16'], clusterCIDR: '10.244.0.0/16',
    minSyncPeriodMs: 0, logger: pino({ level: 'silent' }), healthCheckBindAddress: null, ...extra,
  });
  return { p, runner, registry };
}

test('the first sync is full; an endpoint change then costs one nat restore that leaves KUBE-SERVICES alone', async () => {
  const { p, runner } = setup();
  p.onServiceUpdate(svc('web', '10.96.0.10'));
  p.onEndpointSliceUpdate(slice('web', ['10.244.1.1']));
  const full = await p.syncNow();
  assert.equal(full.kind, 'full');
  assert.equal(runner.restores.length, 2);
  assert.ok(runner.commands.includes('iptables-save -t nat'), 'a first sync reads what exists');

  p.onEndpointSliceUpdate(slice('web', ['10.244.1.2']));
  const partial = await p.syncNow();
  assert.equal(partial.kind, 'partial');
  assert.equal(runner.restores.length, 3);
  assert.equal(partial.input.filter, undefined);
  assert.ok(!partial.input.nat!.includes('KUBE-SERVICES'));
  assert.match(partial.input.nat!, /--to-destination 10\.244\.1\.2:8080/);
  assert.equal((await p.syncNow()).kind, 'none');
});

test('a failed restore is reported and makes the next sync full', async () => {
  const { p, runner, registry } = setup();
  await p.syncNow();
  p.onServiceUpdate(svc('web', '10.96.0.10'));
  runner.failNextRestore = true;
  await assert.rejects(p.syncNow(), /iptables-restore failed \(exit 1\): iptables-restore: line 3 failed/);
  const failures = (await registry.getSingleMetric('kubeproxy_sync_proxy_rules_iptables_restore_failures_total')!.get()).values[0]!.value;
  assert.equal(failures, 1);
  const again = await p.syncNow();
  assert.equal(again.kind, 'full');
  assert.ok(runner.commands.filter((c) => c === 'iptables-save -t nat').length >= 2, 'state is re-read after a failure');
});

test('metrics carry kube-proxy names', async () => {
  const { p, registry } = setup();
  p.onServiceUpdate(svc('web', '10.96.0.10'));
  p.onEndpointSliceUpdate(slice('web', ['10.244.1.1', '10.244.1.2']));
  await p.syncNow();
  const text = await registry.metrics();
  for (const name of [
    'kubeproxy_sync_proxy_rules_duration_seconds_count 1',
    'kubeproxy_sync_full_proxy_rules_duration_seconds_count 1',
    'kubeproxy_sync_proxy_rules_endpoint_changes_total 1',
    'kubeproxy_sync_proxy_rules_service_changes_total 1',
    'kubeproxy_network_programming_duration_seconds_count 1',
  ]) assert.ok(text.includes(name), `missing ${name}`);
  assert.match(text, /kubeproxy_sync_proxy_rules_last_timestamp_seconds \d/);
  // nat: 1 jump + SVC (masquerade + 2) + 2 KUBE-SEP x 2 + fixed (3 POSTROUTING, 1 MARK-MASQ, 1 NodePort jump).
  assert.match(text, /kubeproxy_sync_proxy_rules_iptables_total\{table="nat"\} 13/);
  assert.match(text, /kubeproxy_sync_proxy_rules_iptables_total\{table="filter"\} 4/);
});

test('healthz follows sync freshness', async () => {
  const { p } = setup();
  assert.equal(p.healthz().healthy, false, 'not started');
  await p.start();
  const h = p.healthz();
  assert.equal(h.healthy, true);
  assert.ok(h.lastSync instanceof Date && h.lastFullSync instanceof Date);
  await p.stop();
  // A change that waits longer than the health timeout (2 x 30 s by default) makes it unhealthy.
  const { p: q } = setup({ minSyncPeriodMs: 3_600_000 });
  await q.start();
  q.onServiceUpdate(svc('web', '10.96.0.10')); // held back by the min sync period
  assert.equal(q.healthz().healthy, true);
  assert.equal(q.healthz(Date.now() + 61_000).healthy, false);
  await q.stop();
});

test('setState replaces everything; explain tells what was made and why', async () => {
  const { p } = setup();
  p.setState([svc('web', '10.96.0.10'), svc('old', '10.96.0.11'), svc('bad', '10.96.0.12', { ports: [{ port: 99999 }] })], [slice('web', ['10.244.1.1'])]);
  await p.syncNow();
  p.setState([svc('web', '10.96.0.10'), svc('bad', '10.96.0.12', { ports: [{ port: 99999 }] }), svc('hl', 'None')], [slice('web', ['10.244.1.1'])]);
  const r = await p.syncNow();
  assert.match(r.input.nat!, /-X KUBE-SVC-/, 'the removed Service loses its chains');
  assert.equal(p.explain('default', 'old'), undefined);
  assert.deepEqual(p.errors(), ['Service default/bad: spec.ports[0].port: Invalid value: 99999: must be between 1 and 65535, inclusive']);
  assert.equal(p.explain('default', 'hl')!.skipped, 'headless (clusterIP None)');
  const e = p.explain('default', 'web')!;
  assert.equal(e.ports[0]!.endpoints[0]!.usedForCluster, true);
  const text = formatExplanation(e);
  assert.match(text, /^Service default\/web\n {2}port default\/web:http TCP 10\.96\.0\.10:80\n {4}endpoint 10\.244\.1\.1:8080 ready node=node-a \(local\) -> cluster\n {4}\*nat\n/);
  assert.match(formatExplanation(p.explain('default', 'bad')!), /refused: Service default\/bad: spec\.ports\[0\]\.port/);
});

test('the sync loop notices lost hooks (tables flushed) and resyncs everything', async () => {
  const { p, runner } = setup({ syncPeriodMs: 20 });
  await p.start();
  const before = runner.commands.filter((c) => c === 'iptables-save -t nat').length;
  // The fake's `iptables -S` never shows our hooks, as after a flush.
  for (let i = 0; i < 100 && runner.commands.filter((c) => c === 'iptables-save -t nat').length === before; i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  await p.stop();
  assert.ok(runner.commands.filter((c) => c === 'iptables-save -t nat').length > before, 'expected a full sync that re-reads the tables');
});
