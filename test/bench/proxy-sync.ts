// npm run bench -- proxy-sync [SIZES...] [iptables] [nftables]
// Full and partial sync of the proxy at 1,000 and 10,000 Services x 10 endpoints, in
// iptables and nftables mode, inside a netns made (and removed) here. Reference,
// measured in the same run: the kernel tool alone applying the very same input
// (iptables-restore, `nft -f`): the floor. Endpoints are on other nodes, as most
// endpoints of a big cluster are for any one node.
import { performance } from 'node:perf_hooks';
import { execa } from 'execa';
import { pino } from 'pino';
import { Proxier, type SyncResult } from '../../agent/proxy/proxier.js';
import { netnsRunner, type CommandRunner } from '../../agent/proxy/runner.js';
import { restoreTables } from '../../agent/proxy/iptables/restore.js';
import { NftablesBackend } from '../../agent/proxy/nftables/backend.js';
import { nftScript } from '../../agent/proxy/nftables/nft.js';
import type { ProxyMode } from '../../agent/proxy/backend.js';

const ENDPOINTS = 10;
const PARTIAL_SAMPLES = 20;
const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
const SIZES = sizes.length > 0 ? sizes : [1000, 10000];
type BenchMode = Extract<ProxyMode, 'iptables' | 'nftables'>;
const modes = process.argv.slice(2).filter((a): a is BenchMode => a === 'iptables' || a === 'nftables');
const MODES: BenchMode[] = modes.length > 0 ? modes : ['iptables', 'nftables'];

const emit = (o: Record<string, unknown>): void => { process.stdout.write(`${JSON.stringify(o)}\n`); };
const median = (l: number[]): number => { const s = [...l].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]!; };
const round = (n: number, digits = 2): number => Math.round(n * 10 ** digits) / 10 ** digits;

let nsCounter = 0;
async function withNetns<T>(fn: (runner: CommandRunner, ns: string) => Promise<T>): Promise<T> {
  const ns = `kna-t-bench-${process.pid}-${nsCounter++}`;
  await execa('ip', ['netns', 'add', ns]);
  try {
    await execa('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    return await fn(netnsRunner(ns), ns);
  } finally {
    await execa('ip', ['netns', 'del', ns], { reject: false });
  }
}

const ip = (base: number, i: number): string => `${base >> 8}.${base & 255}.${(i >> 8) & 255}.${i & 255}`;

function objects(i: number, epShift = 0): { svc: unknown; slice: unknown } {
  const name = `svc-${i}`;
  const svc = {
    apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'bench' },
    spec: { clusterIP: ip((10 << 8) | 96, i + 10), ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
  };
  const slice = {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name: `${name}-abcde`, namespace: 'bench', labels: { 'kubernetes.io/service-name': name } },
    addressType: 'IPv4',
    endpoints: Array.from({ length: ENDPOINTS }, (_, e) => ({
      addresses: [`10.${100 + ((i * ENDPOINTS + e + epShift) >> 16) % 100}.${((i * ENDPOINTS + e + epShift) >> 8) & 255}.${(i * ENDPOINTS + e + epShift) & 255}`],
      conditions: { ready: true }, nodeName: `node-${e}`,
    })),
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  };
  return { svc, slice };
}

function newProxier(runner: CommandRunner, mode: ProxyMode = 'iptables'): Proxier {
  return new Proxier({
    nodeName: 'bench-node', runner, serviceCIDRs: ['10.96.0.0/12'], clusterCIDR: '10.64.0.0/10',
    minSyncPeriodMs: 0, logger: pino({ level: 'silent' }), healthCheckBindAddress: null,
    ...(mode === 'nftables' ? { backend: (r: CommandRunner) => new NftablesBackend(r, 4) } : {}),
  });
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

type SyncInput = SyncResult['input'];

/** What differs between modes: how the kernel tool alone applies an input, and what else to measure. */
interface Mode {
  /** the floor: the kernel tool alone applying this input */
  replay(runner: CommandRunner, input: SyncInput): Promise<number>;
  /** the sync changed endpoints only (what the partial samples must be) */
  endpointOnly(r: SyncResult): boolean;
  /** facts about the full sync's input */
  shape(full: SyncResult): Record<string, number>;
  /** mode-only measures, on the synced node, given the partial syncs' inputs; before a full resync */
  extras?(runner: CommandRunner, full: SyncResult, partials: SyncInput[]): Promise<Record<string, number>>;
}

const iptablesMode: Mode = {
  replay: (runner, input) => timed(() => restoreTables(runner, 4, input)),
  endpointOnly: (r) => r.kind === 'partial' && !r.input.filter && !/^-[DX] /m.test(r.input.nat ?? ''),
  shape: (full) => ({ nat_chains: (full.input.nat?.match(/^:/gm) ?? []).length }),
  async extras(runner, full, partials) {
    // kube-proxy's partial sync re-declares KUBE-SERVICES: the same change that way.
    const svcRules = (full.input.nat ?? '').split('\n').filter((l) => l.startsWith('-A KUBE-SERVICES '));
    const kubeProxyStyle: number[] = [];
    for (const input of partials.slice(0, 3)) {
      const change = input.nat!.split('\n').filter((l) => l !== '*nat' && l !== 'COMMIT' && l !== '');
      kubeProxyStyle.push(await this.replay(runner, { nat: ['*nat', ':KUBE-SERVICES - [0:0]', ...change, ...svcRules, 'COMMIT', ''].join('\n') }));
    }
    // Where the floor goes: the same inputs with the nat hooks removed, so the kernel has
    // no rules reachable from a hook to re-validate on commit (the resync puts them back).
    const unhook = ['PREROUTING', 'OUTPUT'].map((c) => `-D ${c} -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`);
    await this.replay(runner, { nat: ['*nat', ...unhook, 'COMMIT', ''].join('\n') });
    const unhooked: number[] = [];
    for (const input of partials.slice(0, 5)) unhooked.push(await this.replay(runner, input));
    return { floor_without_nat_hooks_ms: round(median(unhooked)), kube_proxy_style_partial_ms: round(median(kubeProxyStyle)) };
  },
};

const nftablesMode: Mode = {
  replay: (runner, input) => timed(() => nftScript(runner, input.nftables ?? '')),
  endpointOnly: (r) => r.kind === 'partial' && !/element|delete /.test(r.input.nftables ?? ''),
  shape: (full) => {
    const text = full.input.nftables ?? '';
    return { chains: (text.match(/^add chain /gm) ?? []).length, script_mib: round(text.length / 2 ** 20) };
  },
};

const MODE_PARTS: Record<BenchMode, Mode> = { iptables: iptablesMode, nftables: nftablesMode };

async function measure(n: number, mode: BenchMode): Promise<Record<string, number>> {
  const m = MODE_PARTS[mode];
  const all = Array.from({ length: n }, (_, i) => objects(i));
  const fullOurs: SyncResult[] = [];
  const fullRef: number[] = [];
  const fullRounds = n >= 10000 ? 2 : 3;
  const partial: SyncResult[] = [];
  const partialRef: number[] = [];
  let resync: SyncResult | undefined;
  let serviceAdd = 0;
  let serviceDelete = 0;
  let ingestMs = 0;
  let shape: Record<string, number> = {};
  let extras: Record<string, number> = {};

  for (let round = 0; round < fullRounds; round++) {
    // Ours: a fresh node, every Service known, first (full) sync.
    const last = round === fullRounds - 1;
    const ours = await withNetns(async (runner) => {
      const p = newProxier(runner, mode);
      const t = performance.now();
      for (const o of all) { p.onServiceUpdate(o.svc); p.onEndpointSliceUpdate(o.slice); }
      ingestMs = performance.now() - t;
      const r = await p.syncNow();
      if (last) {
        // Partial syncs: one endpoint of one Service changes, back and forth. Each is
        // followed at once by its reference, so load on the machine hits both alike:
        // the same input replayed alone (idempotent: it only re-declares that chain).
        const i = Math.floor(n / 2);
        for (let s = 0; s < PARTIAL_SAMPLES; s++) {
          p.onEndpointSliceUpdate(objects(i, s % 2 === 0 ? 1_000_000 : 0).slice);
          const pr = await p.syncNow();
          if (!m.endpointOnly(pr)) throw new Error(`expected an endpoint-only partial sync:\n${JSON.stringify(pr.input).slice(0, 2000)}`);
          partial.push(pr);
          partialRef.push(await m.replay(runner, pr.input));
        }
        // Adding and removing a whole Service.
        const extra = objects(n);
        p.onServiceUpdate(extra.svc);
        p.onEndpointSliceUpdate(extra.slice);
        serviceAdd = (await p.syncNow()).durationMs;
        p.onServiceDelete(extra.svc);
        p.onEndpointSliceDelete(extra.slice);
        serviceDelete = (await p.syncNow()).durationMs;
        extras = (await m.extras?.(runner, r, partial.map((x) => x.input))) ?? {};
        resync = await p.syncNow({ full: true });
        shape = m.shape(r);
      }
      return r;
    });
    fullOurs.push(ours);
    fullRef.push(await withNetns((runner) => m.replay(runner, ours.input)));
  }

  const fullMs = median(fullOurs.map((r) => r.durationMs));
  const partialMs = median(partial.map((r) => r.durationMs));
  const floorMs = median(partialRef);
  return {
    services: n,
    endpoints_per_service: ENDPOINTS,
    ...shape,
    ingest_ms: round(ingestMs),
    full_ms: round(fullMs),
    full_floor_ms: round(median(fullRef)),
    full_ratio: round(fullMs / median(fullRef)),
    full_own_share: round(median(fullOurs.map((r) => (r.durationMs - r.kernelMs) / r.durationMs)), 3),
    resync_ms: round(resync?.durationMs ?? 0),
    partial_ms: round(partialMs),
    floor_ms: round(floorMs),
    ratio: round(partialMs / floorMs),
    own_share: round(median(partial.map((r) => (r.durationMs - r.kernelMs) / r.durationMs)), 3),
    ...extras,
    service_add_ms: round(serviceAdd),
    service_delete_ms: round(serviceDelete),
  };
}

const results: Partial<Record<ProxyMode, Array<Record<string, number>>>> = {};
for (const n of SIZES) {
  for (const mode of MODES) {
    const r = await measure(n, mode);
    (results[mode] ??= []).push(r);
    emit({ bench: 'proxy-sync', mode, ...r });
  }
}
const lastOf = (mode: ProxyMode): Record<string, number> | undefined => results[mode]?.[results[mode]!.length - 1];
const [ipt, nft] = [lastOf('iptables'), lastOf('nftables')];
const main = ipt ?? nft!;
emit({
  summary: true, bench: 'proxy-sync',
  mode: ipt ? 'iptables' : 'nftables',
  ...main,
  ours: main.partial_ms, reference: main.floor_ms, units: 'ms (partial sync after one endpoint change; reference = the kernel tool alone applying the same input)',
  ...(ipt && nft ? {
    nftables: { full_ms: nft.full_ms, full_floor_ms: nft.full_floor_ms, full_ratio: nft.full_ratio, partial_ms: nft.partial_ms, floor_ms: nft.floor_ms, ratio: nft.ratio },
    nftables_vs_iptables: { full: round(nft.full_ms! / ipt.full_ms!), partial: round(nft.partial_ms! / ipt.partial_ms!) },
  } : {}),
  target_partial_ms: 50, target_own_share: 0.2,
});
