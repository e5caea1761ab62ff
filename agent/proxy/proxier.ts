// The iptables-mode proxy: Service / EndpointSlice events in, netfilter rules out.
// Events go to the change tracker; syncs are rate-limited (minSyncPeriodMs) and
// serialized. A sync is full (every chain rewritten: at start, after a failure, and
// every fullSyncPeriodMs) or partial (only the changed Services' chains).
import { performance } from 'node:perf_hooks';
import { pino, type Logger } from 'pino';
import { Registry } from 'prom-client';
import { cidrContains, parseCIDR, parseIP } from './ip.js';
import { staleConntrackEntries, flushConntrack } from './conntrack.js';
import { selectEndpoints } from './endpoint-selection.js';
import { ServiceHealthServer } from './healthcheck.js';
import { FIXED_CHAINS, type Table } from './iptables/chains.js';
import { hookKeyOf, renderFull, renderPartial, TABLES, type PortChange, type TableTexts } from './iptables/render.js';
import { cleanupIptables, readExisting, readHooks, restoreTables } from './iptables/restore.js';
import { baseRules, servicePortRules, type BaseRules, type RuleOptions, type ServicePortRules } from './iptables/rules.js';
import { ProxyMetrics } from './metrics.js';
import { commandRunner, type CommandRunner } from './runner.js';
import { ChangeTracker, type ServiceChange } from './tracker.js';
import type { Endpoint, IPFamily, ServicePortState } from './types.js';
import { parseEndpointSlice, parseService, ProxyValidationError } from './validate.js';

export interface ProxierOptions {
  /** This node's name: endpoints with this nodeName are local. */
  readonly nodeName: string;
  readonly family?: IPFamily;
  /** --service-cluster-ip-range: addresses here that no Service holds are rejected. */
  readonly serviceCIDRs?: readonly string[];
  /** --cluster-cidr: pod traffic is told from other traffic by this range. */
  readonly clusterCIDR?: string;
  /** --masquerade-all. */
  readonly masqueradeAll?: boolean;
  /** --nodeport-addresses: CIDRs; NodePorts answer on node addresses inside them. Default: every local address. */
  readonly nodePortAddresses?: readonly string[];
  readonly masqueradeBit?: number;
  /** Least time between two syncs, so bursts of events batch up (kube-proxy --iptables-min-sync-period, 1 s). */
  readonly minSyncPeriodMs?: number;
  /** Period of the sync loop: retries after failures, refreshes health (kube-proxy --iptables-sync-period, 30 s). */
  readonly syncPeriodMs?: number;
  /** Period of full syncs that rewrite every chain (kube-proxy: 1 h). */
  readonly fullSyncPeriodMs?: number;
  /** healthz turns unhealthy when a change waited this long (default 2 x syncPeriodMs). */
  readonly healthTimeoutMs?: number;
  /** Where iptables/conntrack/ip run (default: this process's netns). */
  readonly runner?: CommandRunner;
  /** prom-client registry for the kubeproxy_* metrics (default: a private one). */
  readonly registry?: Registry;
  readonly logger?: Logger;
  /** Address for healthCheckNodePort servers; null disables them. Default: all addresses. */
  readonly healthCheckBindAddress?: string | null;
}

export class ProxierConfigError extends Error {
  override readonly name = 'ProxierConfigError';
}

export interface SyncResult {
  readonly kind: 'full' | 'partial' | 'none';
  readonly durationMs: number;
  /** Time spent waiting for iptables-restore (and, on full syncs, for reading the current rules). */
  readonly iptablesMs: number;
  readonly changedServices: number;
  /** The restore input per table, exactly as handed to iptables-restore. */
  readonly input: TableTexts;
}

export interface ProxyHealth {
  readonly healthy: boolean;
  readonly lastSync: Date | null;
  readonly lastFullSync: Date | null;
  /** The oldest change not yet programmed. */
  readonly oldestPendingChange: Date | null;
}

export interface ExplainedEndpoint extends Endpoint { readonly usedForCluster: boolean; readonly usedForLocal: boolean }

export interface ExplainedPort {
  readonly id: string;
  readonly protocol: string;
  readonly clusterIP: string;
  readonly port: number;
  readonly nodePort: number;
  readonly externalIPs: readonly string[];
  readonly loadBalancerIPs: readonly string[];
  readonly endpoints: readonly ExplainedEndpoint[];
  /** Rules made for this port, as iptables-restore lines, per table. */
  readonly rules: Readonly<Record<Table, readonly string[]>>;
}

export interface Explanation {
  readonly service: string;
  /** Validation error that keeps the Service out, if any. */
  readonly error?: string;
  /** Why a valid Service makes no rules (headless, ExternalName...). */
  readonly skipped?: string;
  readonly ports: readonly ExplainedPort[];
}

interface BlockStats { readonly filter: number; readonly nat: number; readonly noLocalInternal: boolean; readonly noLocalExternal: boolean }

function statsOf(b: ServicePortRules, sp: ServicePortState['port']): BlockStats {
  let nat = 0;
  for (const rules of b.chains.values()) nat += rules.length;
  let filter = 0;
  for (const r of b.top) if (r.table === 'nat') nat++; else filter++;
  const sel = b.selection;
  return {
    filter, nat,
    noLocalInternal: sp.internalPolicyLocal && sel.hasAny && sel.local.length === 0,
    noLocalExternal: sp.externalPolicyLocal && sel.hasAny && sel.local.length === 0,
  };
}

interface Block { readonly rules: ServicePortRules; readonly state: ServicePortState; readonly stats: BlockStats }

type ObjectRef = { metadata?: { namespace?: string; name?: string } } | null | undefined;

const refOf = (obj: unknown): { namespace: string; name: string } => {
  const m = (obj as ObjectRef)?.metadata ?? {};
  return { namespace: m.namespace || 'default', name: m.name ?? '' };
};

export class Proxier {
  readonly metrics: ProxyMetrics;
  private readonly family: IPFamily;
  private readonly runner: CommandRunner;
  private readonly logger: Logger;
  private readonly tracker: ChangeTracker;
  private readonly health: ServiceHealthServer | undefined;
  private readonly minSyncPeriodMs: number;
  private readonly syncPeriodMs: number;
  private readonly fullSyncPeriodMs: number;
  private readonly healthTimeoutMs: number;
  /** Rule options from configuration; ruleOpts adds the node addresses read at full syncs. */
  private readonly staticRuleOpts: RuleOptions;
  private ruleOpts: RuleOptions;
  private base: BaseRules;

  /** Rules as last applied, per service port id. */
  private blocks = new Map<string, Block>();
  private totals = { filter: 0, nat: 0, noLocalInternal: 0, noLocalExternal: 0 };
  private readonly invalid = new Map<string, ProxyValidationError>();
  private readonly hcPorts = new Map<string, number>();
  private readonly localCounts = new Map<string, number>();

  private initialized = false;
  private needFullSync = true;
  /** We know which of our chains exist (false at start and after a failed restore). */
  private stateKnown = false;
  private lastSyncStart = 0;
  private lastSync: number | null = null;
  private lastFullSync: number | null = null;
  private oldestPending: number | undefined;
  private running: Promise<unknown> | undefined;
  private syncTimer: NodeJS.Timeout | undefined;
  private loopTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: ProxierOptions) {
    this.family = opts.family ?? 4;
    const ofFamily = (field: string, cidr: string): string => {
      const c = parseCIDR(cidr);
      if (!c || c.family !== this.family) throw new ProxierConfigError(`${field}: ${JSON.stringify(cidr)} is not an IPv${this.family} CIDR`);
      return c.text;
    };
    if (!opts.nodeName) throw new ProxierConfigError('nodeName: required');
    const clusterCIDR = opts.clusterCIDR === undefined ? undefined : ofFamily('clusterCIDR', opts.clusterCIDR);
    const serviceCIDRs = (opts.serviceCIDRs ?? []).map((c) => ofFamily('serviceCIDRs', c));
    (opts.nodePortAddresses ?? []).forEach((c) => ofFamily('nodePortAddresses', c));
    const bit = opts.masqueradeBit ?? 14;
    if (!Number.isInteger(bit) || bit < 0 || bit > 31) throw new ProxierConfigError(`masqueradeBit: ${bit} is not in 0..31`);
    this.staticRuleOpts = {
      family: this.family, serviceCIDRs, masqueradeBit: bit, masqueradeAll: opts.masqueradeAll ?? false,
      ...(clusterCIDR ? { clusterCIDR } : {}),
    };
    this.ruleOpts = this.staticRuleOpts;
    this.base = baseRules(this.ruleOpts);
    this.runner = opts.runner ?? commandRunner();
    this.logger = opts.logger ?? pino({ name: 'proxy' }, pino.destination(2));
    this.tracker = new ChangeTracker(opts.nodeName, this.family);
    this.metrics = new ProxyMetrics(opts.registry ?? new Registry());
    this.minSyncPeriodMs = opts.minSyncPeriodMs ?? 1000;
    this.syncPeriodMs = opts.syncPeriodMs ?? 30_000;
    this.fullSyncPeriodMs = opts.fullSyncPeriodMs ?? 3_600_000;
    this.healthTimeoutMs = opts.healthTimeoutMs ?? 2 * this.syncPeriodMs;
    const bind = opts.healthCheckBindAddress === undefined ? (this.family === 4 ? '0.0.0.0' : '::') : opts.healthCheckBindAddress;
    this.health = bind === null ? undefined : new ServiceHealthServer({ bindAddress: bind, proxyHealthy: () => this.healthz().healthy, logger: this.logger });
  }

  // ---- events -------------------------------------------------------------------

  /** A Service was added or changed (v1 Service JSON). An invalid one is reported and left out. */
  onServiceUpdate(obj: unknown): void {
    this.metrics.serviceChanges.inc();
    this.applyService(obj);
    this.queueSync();
  }

  onServiceDelete(obj: unknown): void {
    this.metrics.serviceChanges.inc();
    const { namespace, name } = refOf(obj);
    this.invalid.delete(`Service ${namespace}/${name}`);
    this.tracker.deleteService(namespace, name);
    this.queueSync();
  }

  /** An EndpointSlice was added or changed (discovery.k8s.io/v1 JSON). */
  onEndpointSliceUpdate(obj: unknown): void {
    this.metrics.endpointChanges.inc();
    this.applySlice(obj);
    this.queueSync();
  }

  onEndpointSliceDelete(obj: unknown): void {
    this.metrics.endpointChanges.inc();
    const { namespace, name } = refOf(obj);
    this.invalid.delete(`EndpointSlice ${namespace}/${name}`);
    this.tracker.deleteSlice(namespace, name);
    this.queueSync();
  }

  /** Replaces the whole set (standalone mode: everything from the manifests). */
  setState(services: readonly unknown[], endpointSlices: readonly unknown[]): void {
    const keep = { services: new Set<string>(), slices: new Set<string>() };
    for (const s of services) { const r = refOf(s); keep.services.add(`${r.namespace}/${r.name}`); this.applyService(s); }
    for (const s of endpointSlices) { const r = refOf(s); keep.slices.add(`${r.namespace}/${r.name}`); this.applySlice(s); }
    const known = this.tracker.keys();
    for (const k of known.services) if (!keep.services.has(k)) { const [ns, n] = k.split('/') as [string, string]; this.tracker.deleteService(ns, n); }
    for (const k of known.slices) if (!keep.slices.has(k)) { const [ns, n] = k.split('/') as [string, string]; this.tracker.deleteSlice(ns, n); }
    for (const k of [...this.invalid.keys()]) {
      const [kind, key] = k.split(' ') as [string, string];
      if (!(kind === 'Service' ? keep.services : keep.slices).has(key)) this.invalid.delete(k);
    }
    this.queueSync();
  }

  /** Current validation errors, one message per refused object. */
  errors(): string[] {
    return [...this.invalid.values()].map((e) => e.message);
  }

  private applyService(obj: unknown): void {
    const { namespace, name } = refOf(obj);
    const key = `Service ${namespace}/${name}`;
    try {
      this.tracker.setService(parseService(obj, this.family));
      this.invalid.delete(key);
    } catch (err) {
      if (!(err instanceof ProxyValidationError)) throw err;
      this.refuse(key, err);
      this.tracker.deleteService(namespace, name);
    }
  }

  private applySlice(obj: unknown): void {
    const { namespace, name } = refOf(obj);
    const key = `EndpointSlice ${namespace}/${name}`;
    try {
      this.tracker.setSlice(parseEndpointSlice(obj));
      this.invalid.delete(key);
    } catch (err) {
      if (!(err instanceof ProxyValidationError)) throw err;
      this.refuse(key, err);
      this.tracker.deleteSlice(namespace, name);
    }
  }

  /** Records why an object is left out; logs once per distinct error (manifests are re-read often). */
  private refuse(key: string, err: ProxyValidationError): void {
    if (this.invalid.get(key)?.message !== err.message) this.logger.error({ object: key, err: err.message }, 'invalid object left out of the proxy rules');
    this.invalid.set(key, err);
  }

  // ---- lifecycle ----------------------------------------------------------------

  /** Programs the rules for everything received so far, then keeps them in sync. */
  async start(): Promise<void> {
    this.initialized = true;
    this.oldestPending ??= Date.now();
    this.loopTimer = setInterval(() => void this.periodic(), this.syncPeriodMs);
    this.loopTimer.unref();
    try {
      await this.syncNow();
    } catch (err) {
      this.logger.error({ err }, 'initial proxy sync failed; retrying on the sync period');
    }
  }

  /** Stops syncing (rules stay in place). */
  async stop(): Promise<void> {
    this.initialized = false;
    clearInterval(this.loopTimer);
    clearTimeout(this.syncTimer);
    this.syncTimer = undefined;
    await this.running?.catch(() => undefined);
    await this.health?.close();
  }

  /** Stops and removes every chain and rule this proxy mode makes (kna cleanup, mode change). */
  async cleanup(): Promise<void> {
    await this.stop();
    await cleanupIptables(this.runner, this.family);
    this.blocks = new Map();
    this.totals = { filter: 0, nat: 0, noLocalInternal: 0, noLocalExternal: 0 };
    this.stateKnown = false;
    this.needFullSync = true;
  }

  /** Freshness for /healthz: unhealthy when a change has waited longer than the health timeout. */
  healthz(now = Date.now()): ProxyHealth {
    const pending = this.oldestPending;
    return {
      healthy: this.initialized && (pending === undefined || now - pending < this.healthTimeoutMs),
      lastSync: this.lastSync === null ? null : new Date(this.lastSync),
      lastFullSync: this.lastFullSync === null ? null : new Date(this.lastFullSync),
      oldestPendingChange: pending === undefined ? null : new Date(pending),
    };
  }

  /** Ports of the healthCheckNodePort servers now listening, per "namespace/name". */
  healthCheckPorts(): Map<string, number> {
    return this.health?.ports() ?? new Map();
  }

  private queueSync(): void {
    this.oldestPending ??= Date.now();
    this.metrics.lastQueuedTimestamp.set(Date.now() / 1000);
    this.metrics.serviceChangesPending.set(this.tracker.pending);
    this.metrics.endpointChangesPending.set(this.tracker.pending);
    if (!this.initialized || this.syncTimer) return;
    const delay = Math.max(0, this.lastSyncStart + this.minSyncPeriodMs - performance.now());
    this.syncTimer = setTimeout(() => {
      this.syncTimer = undefined;
      this.syncNow().catch((err: unknown) => this.logger.error({ err }, 'proxy sync failed; next attempt does a full sync'));
    }, delay);
  }

  /** The sync loop's tick: retries, the hourly full sync, and a cheap check that our hooks survive. */
  private async periodic(): Promise<void> {
    if (this.running) return;
    const fullDue = this.lastFullSync === null || Date.now() - this.lastFullSync >= this.fullSyncPeriodMs;
    let due = this.needFullSync || fullDue || this.tracker.pending > 0;
    if (!due && this.stateKnown) {
      // Someone flushed the tables (a firewall reload...): put everything back now, not in an hour.
      try {
        const hooks = await readHooks(this.runner, this.family, HOOKED_CHAINS);
        if (this.base.hooks.some((h) => !hooks.has(hookKeyOf(h)))) {
          this.logger.warn('proxy hooks are gone from the built-in chains; doing a full sync');
          this.needFullSync = true;
          this.stateKnown = false;
          due = true;
        }
      } catch (err) {
        this.logger.error({ err }, 'cannot check the proxy hooks');
      }
    }
    if (due && this.initialized) await this.syncNow().catch((err: unknown) => this.logger.error({ err }, 'periodic proxy sync failed'));
  }

  /** Runs a sync now (after any running one); full when needed, else partial. */
  syncNow(opts: { full?: boolean } = {}): Promise<SyncResult> {
    // A queued sync would only find nothing left to do.
    clearTimeout(this.syncTimer);
    this.syncTimer = undefined;
    const run = (this.running ?? Promise.resolve()).catch(() => undefined).then(() => this.sync(opts.full ?? false));
    this.running = run;
    const clear = (): void => { if (this.running === run) this.running = undefined; };
    run.then(clear, clear);
    return run;
  }

  // ---- sync ---------------------------------------------------------------------

  private async sync(forceFull: boolean): Promise<SyncResult> {
    const t0 = performance.now();
    this.lastSyncStart = t0;
    const full = forceFull || this.needFullSync || this.lastFullSync === null || Date.now() - this.lastFullSync >= this.fullSyncPeriodMs;
    const pendingSince = this.oldestPending;
    this.oldestPending = undefined;
    const changes = this.tracker.takeChanges();
    this.metrics.serviceChangesPending.set(0);
    this.metrics.endpointChangesPending.set(0);
    if (!full && changes.length === 0) {
      this.lastSync = Date.now();
      return { kind: 'none', durationMs: performance.now() - t0, iptablesMs: 0, changedServices: 0, input: {} };
    }

    let iptablesMs = 0;
    let input: TableTexts;
    let commit: () => void;
    try {
      if (full) {
        const t = performance.now();
        const existing = this.stateKnown
          ? { chains: this.knownChains(), hooks: await readHooks(this.runner, this.family, HOOKED_CHAINS) }
          : await readExisting(this.runner, this.family);
        await this.refreshNodeAddresses();
        iptablesMs += performance.now() - t;
        const blocks = new Map<string, Block>();
        for (const state of this.tracker.states()) blocks.set(state.port.id, this.makeBlock(state));
        input = renderFull([...blocks.values()].map((b) => b.rules), this.base, existing);
        commit = () => this.replaceBlocks(blocks);
      } else {
        const edits: Array<{ id: string; prev: Block | undefined; next: Block | undefined }> = [];
        for (const change of changes) {
          const current = new Set(change.current.map((s) => s.port.id));
          for (const s of change.previous) if (!current.has(s.port.id)) edits.push({ id: s.port.id, prev: this.blocks.get(s.port.id), next: undefined });
          for (const s of change.current) edits.push({ id: s.port.id, prev: this.blocks.get(s.port.id), next: this.makeBlock(s) });
        }
        input = renderPartial(edits.map((e): PortChange => ({ prev: e.prev?.rules, next: e.next?.rules })), this.base);
        commit = () => { for (const e of edits) this.setBlock(e.id, e.next); };
      }
      const t = performance.now();
      await restoreTables(this.runner, this.family, input);
      iptablesMs += performance.now() - t;
    } catch (err) {
      // The changes are consumed: only a full sync can bring the kernel back in line.
      this.needFullSync = true;
      this.stateKnown = false;
      this.oldestPending = Math.min(pendingSince ?? Date.now(), this.oldestPending ?? Infinity);
      this.metrics.restoreFailures.inc();
      if (!full) this.metrics.partialRestoreFailures.inc();
      throw err;
    }

    commit();
    this.needFullSync = false;
    this.stateKnown = true;
    const now = Date.now();
    this.lastSync = now;
    if (full) this.lastFullSync = now;
    const durationMs = performance.now() - t0;
    this.recordMetrics(full, durationMs, changes, input);
    await this.afterSync(full, changes);
    return { kind: full ? 'full' : 'partial', durationMs, iptablesMs, changedServices: changes.length, input };
  }

  private makeBlock(state: ServicePortState): Block {
    const rules = servicePortRules(state, this.ruleOpts);
    return { rules, state, stats: statsOf(rules, state.port) };
  }

  private setBlock(id: string, next: Block | undefined): void {
    const prev = this.blocks.get(id);
    if (prev) this.count(prev.stats, -1);
    if (next) { this.blocks.set(id, next); this.count(next.stats, 1); } else this.blocks.delete(id);
  }

  private replaceBlocks(blocks: Map<string, Block>): void {
    this.blocks = blocks;
    this.totals = { filter: 0, nat: 0, noLocalInternal: 0, noLocalExternal: 0 };
    for (const b of blocks.values()) this.count(b.stats, 1);
  }

  private count(s: BlockStats, sign: 1 | -1): void {
    this.totals.filter += sign * s.filter;
    this.totals.nat += sign * s.nat;
    this.totals.noLocalInternal += sign * Number(s.noLocalInternal);
    this.totals.noLocalExternal += sign * Number(s.noLocalExternal);
  }

  /** Our chains as they exist after the last successful sync. */
  private knownChains(): Record<Table, Set<string>> {
    const nat = new Set(FIXED_CHAINS.nat);
    for (const b of this.blocks.values()) for (const c of b.rules.chains.keys()) nat.add(c);
    return { filter: new Set(FIXED_CHAINS.filter), nat };
  }

  /** Node addresses for --nodeport-addresses and the LB firewall; re-read on full syncs. */
  private async refreshNodeAddresses(): Promise<void> {
    const ips = await listNodeIPs(this.runner, this.family);
    const cidrs = (this.opts.nodePortAddresses ?? []).map((c) => parseCIDR(c)!);
    const nodePortIPs = cidrs.length === 0 ? undefined
      : ips.filter((ip) => !ip.loopback && cidrs.some((c) => cidrContains(c, parseIP(ip.ip)!))).map((ip) => ip.ip);
    const nodeIPs = ips.filter((ip) => !ip.loopback).map((ip) => ip.ip);
    this.ruleOpts = { ...this.staticRuleOpts, nodeIPs, ...(nodePortIPs ? { nodePortIPs } : {}) };
    this.base = baseRules(this.ruleOpts);
  }

  private recordMetrics(full: boolean, durationMs: number, changes: readonly ServiceChange[], input: TableTexts): void {
    const m = this.metrics;
    const seconds = durationMs / 1000;
    m.syncDuration.observe(seconds);
    (full ? m.fullSyncDuration : m.partialSyncDuration).observe(seconds);
    m.lastSyncTimestamp.set(Date.now() / 1000);
    for (const t of TABLES) {
      let fixed = 0;
      for (const rules of this.base.fixed[t].values()) fixed += rules.length;
      for (const rules of this.base.tails[t].values()) fixed += rules.length;
      m.rulesTotal.set({ table: t }, fixed + this.totals[t]);
      // Lines written this sync (kube-proxy: the rules handed to iptables-restore).
      m.rulesLastSync.set({ table: t }, full ? fixed + this.totals[t] : (input[t]?.match(/^-[AID] /gm) ?? []).length);
    }
    m.noLocalEndpoints.set({ traffic_policy: 'internal' }, this.totals.noLocalInternal);
    m.noLocalEndpoints.set({ traffic_policy: 'external' }, this.totals.noLocalExternal);
    const now = Date.now();
    for (const c of changes) m.networkProgramming.observe(Math.max(0, now - c.triggeredAt) / 1000);
  }

  /** Health check servers and conntrack: after the rules are in place. */
  private async afterSync(full: boolean, changes: readonly ServiceChange[]): Promise<void> {
    // kube-proxy counts unique local ready endpoint IPs per Service.
    const account = (service: string, states: readonly ServicePortState[]): void => {
      this.hcPorts.delete(service);
      this.localCounts.delete(service);
      const ips = new Set<string>();
      for (const s of states) {
        if (s.port.healthCheckNodePort) this.hcPorts.set(service, s.port.healthCheckNodePort);
        for (const ep of s.endpoints) if (ep.isLocal && ep.ready) ips.add(ep.ip);
      }
      if (ips.size > 0) this.localCounts.set(service, ips.size);
    };
    if (full) {
      this.hcPorts.clear();
      this.localCounts.clear();
      const byService = new Map<string, ServicePortState[]>();
      for (const b of this.blocks.values()) {
        const l = byService.get(b.rules.service);
        if (l) l.push(b.state); else byService.set(b.rules.service, [b.state]);
      }
      for (const [service, states] of byService) account(service, states);
    } else {
      for (const c of changes) account(c.service, c.current);
    }
    if (this.health) {
      await this.health.syncServices(this.hcPorts);
      this.health.syncEndpoints(this.localCounts);
    }
    const stale = staleConntrackEntries(changes);
    if (stale.length > 0) {
      try {
        await flushConntrack(this.runner, this.family, stale);
      } catch (err) {
        this.logger.error({ err }, 'failed to clear stale conntrack entries');
      }
    }
  }

  // ---- explain ------------------------------------------------------------------

  /** The Service, its endpoints and the rules made for it (kna explain service NS/NAME). */
  explain(namespace: string, name: string): Explanation | undefined {
    const service = `${namespace}/${name}`;
    const error = this.invalid.get(`Service ${service}`)?.message;
    const { info, states } = this.tracker.lookup(namespace, name);
    if (!info && !error) return undefined;
    const ports = states.map((s): ExplainedPort => {
      const sel = selectEndpoints(s.port, s.endpoints);
      const rules: Record<Table, string[]> = { filter: [], nat: [] };
      const block = this.blocks.get(s.port.id)?.rules;
      if (block) {
        for (const r of block.top) rules[r.table].push(r.rule);
        for (const [chain, lines] of block.chains) rules.nat.push(`:${chain} - [0:0]`, ...lines);
      }
      const sp = s.port;
      return {
        id: sp.id, protocol: sp.protocol, clusterIP: sp.clusterIP, port: sp.port, nodePort: sp.nodePort,
        externalIPs: sp.externalIPs, loadBalancerIPs: sp.loadBalancerIPs,
        endpoints: s.endpoints.map((ep) => ({ ...ep, usedForCluster: sel.cluster.includes(ep), usedForLocal: sel.local.includes(ep) })),
        rules,
      };
    });
    return { service, ...(error ? { error } : {}), ...(info?.skipped ? { skipped: info.skipped } : {}), ports };
  }
}

/** Built-in chains our hooks live in. */
const HOOKED_CHAINS: Readonly<Record<Table, readonly string[]>> = {
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  nat: ['PREROUTING', 'OUTPUT', 'POSTROUTING'],
};

/** Addresses on this node's interfaces (via `ip -j addr`, in the runner's netns). */
async function listNodeIPs(runner: CommandRunner, family: IPFamily): Promise<Array<{ ip: string; loopback: boolean }>> {
  const r = await runner.run(['ip', '-j', family === 4 ? '-4' : '-6', 'addr', 'show']);
  if (r.exitCode !== 0) throw new Error(`ip addr show failed: ${r.stderr.trim()}`);
  const links = JSON.parse(r.stdout || '[]') as Array<{ flags?: string[]; addr_info?: Array<{ local?: string; scope?: string }> }>;
  const out: Array<{ ip: string; loopback: boolean }> = [];
  for (const link of links) {
    for (const a of link.addr_info ?? []) {
      const p = a.local ? parseIP(a.local) : undefined;
      if (p && p.family === family && a.scope !== 'link') out.push({ ip: p.text, loopback: a.scope === 'host' || (link.flags ?? []).includes('LOOPBACK') });
    }
  }
  return out;
}

/** Human-readable form of explain() for the CLI. */
export function formatExplanation(e: Explanation): string {
  const out: string[] = [`Service ${e.service}`];
  if (e.error) out.push(`  refused: ${e.error}`);
  if (e.skipped) out.push(`  no rules: ${e.skipped}`);
  for (const p of e.ports) {
    out.push(`  port ${p.id} ${p.protocol} ${p.clusterIP}:${p.port}${p.nodePort ? ` nodePort ${p.nodePort}` : ''}`
      + `${p.externalIPs.length ? ` externalIPs ${p.externalIPs.join(',')}` : ''}${p.loadBalancerIPs.length ? ` loadBalancer ${p.loadBalancerIPs.join(',')}` : ''}`);
    if (p.endpoints.length === 0) out.push('    endpoints: none');
    for (const ep of p.endpoints) {
      const state = ep.ready ? 'ready' : ep.serving ? 'serving' : 'not-ready';
      const use = [ep.usedForCluster && 'cluster', ep.usedForLocal && 'local'].filter(Boolean).join('+') || 'unused';
      out.push(`    endpoint ${ep.ip}:${ep.port} ${state}${ep.terminating ? ',terminating' : ''} node=${ep.nodeName ?? '?'}${ep.isLocal ? ' (local)' : ''} -> ${use}`);
    }
    for (const t of TABLES) {
      if (p.rules[t].length === 0) continue;
      out.push(`    *${t}`);
      for (const r of p.rules[t]) out.push(`      ${r}`);
    }
  }
  return out.join('\n');
}
