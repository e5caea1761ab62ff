// The proxy: Service / EndpointSlice events in, kernel state out through one backend
// (iptables, nftables or IPVS: backend.ts). Events go to the change tracker; syncs are
// rate-limited (minSyncPeriodMs) and serialized. A sync is full (everything rewritten:
// at start, after a failure, and every fullSyncPeriodMs) or partial (only the changed
// Services).
import { performance } from 'node:perf_hooks';
import { pino, type Logger } from 'pino';
import { Registry } from 'prom-client';
import { cidrContains, parseCIDR, parseIP } from './ip.js';
import { staleConntrackEntries, flushConntrack } from './conntrack.js';
import { selectEndpoints } from './endpoint-selection.js';
import { ServiceHealthServer } from './healthcheck.js';
import type { PortEdit, ProxyBackend, RuleOptions } from './backend.js';
import { IptablesBackend } from './iptables/backend.js';
import { ProxyMetrics } from './metrics.js';
import { commandRunner, type CommandRunner } from './runner.js';
import { ChangeTracker, type ServiceChange } from './tracker.js';
import { nsName, type Endpoint, type IPFamily, type ServicePortState } from './types.js';
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
  /** Where iptables/nft/ipvsadm/conntrack/ip run (default: this process's netns). */
  readonly runner?: CommandRunner;
  /** How rules reach the kernel (default: iptables through `runner`). */
  readonly backend?: (runner: CommandRunner, family: IPFamily) => ProxyBackend;
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
  /** Time spent in the kernel tools (and, on full syncs, reading the current state). */
  readonly kernelMs: number;
  readonly changedServices: number;
  /** The input handed to the kernel tools, per table or tool (e.g. iptables-restore input per table). */
  readonly input: Readonly<Record<string, string>>;
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
  /** What the backend made for this port, per table, in its tool's own syntax. */
  readonly rules: Readonly<Record<string, readonly string[]>>;
}

export interface Explanation {
  readonly service: string;
  /** Validation error that keeps the Service out, if any. */
  readonly error?: string;
  /** Why a valid Service makes no rules (headless, ExternalName...). */
  readonly skipped?: string;
  readonly ports: readonly ExplainedPort[];
}

interface NoLocal { readonly internal: boolean; readonly external: boolean }

/** A Local traffic policy with endpoints, none of them here (kube-proxy's no_local_endpoints metric). */
function noLocalOf(state: ServicePortState): NoLocal {
  const sp = state.port;
  const sel = selectEndpoints(sp, state.endpoints);
  const none = sel.hasAny && sel.local.length === 0;
  return { internal: sp.internalPolicyLocal && none, external: sp.externalPolicyLocal && none };
}

type ObjectRef = { metadata?: { namespace?: string; name?: string } } | null | undefined;

const refOf = (obj: unknown): { namespace: string; name: string } => {
  const m = (obj as ObjectRef)?.metadata ?? {};
  return { namespace: m.namespace || 'default', name: m.name ?? '' };
};

export class Proxier {
  readonly metrics: ProxyMetrics;
  private readonly family: IPFamily;
  private readonly runner: CommandRunner;
  private readonly backend: ProxyBackend;
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

  /** Service ports as last applied, by id. */
  private applied = new Map<string, ServicePortState>();
  private noLocal = { internal: 0, external: 0 };
  private readonly invalid = new Map<string, ProxyValidationError>();
  private readonly hcPorts = new Map<string, number>();
  private readonly localCounts = new Map<string, number>();

  private initialized = false;
  private needFullSync = true;
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
    this.runner = opts.runner ?? commandRunner();
    this.backend = (opts.backend ?? ((r, f) => new IptablesBackend(r, f)))(this.runner, this.family);
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

  get mode(): ProxyBackend['mode'] {
    return this.backend.mode;
  }

  /** Fails (ProxyModeUnsupportedError) when the kernel lacks what the mode needs. */
  preflight(): Promise<void> {
    return this.backend.preflight();
  }

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
    await this.backend.cleanup();
    this.applied = new Map();
    this.noLocal = { internal: 0, external: 0 };
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
    if (!due) {
      // Someone flushed the tables (a firewall reload...): put everything back now, not in an hour.
      try {
        if (!(await this.backend.intact())) {
          this.logger.warn('proxy hooks are gone from the host\'s netfilter; doing a full sync');
          this.needFullSync = true;
          this.backend.invalidate();
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
      return { kind: 'none', durationMs: performance.now() - t0, kernelMs: 0, changedServices: 0, input: {} };
    }

    let kernelMs = 0;
    let input: Readonly<Record<string, string>>;
    let commit: () => void;
    try {
      if (full) {
        const t = performance.now();
        await this.refreshNodeAddresses();
        kernelMs += performance.now() - t;
        const states = [...this.tracker.states()];
        const r = await this.backend.syncFull(states, this.ruleOpts);
        ({ input } = r);
        kernelMs += r.kernelMs;
        commit = () => this.replaceApplied(states);
      } else {
        const edits: PortEdit[] = [];
        for (const change of changes) {
          const current = new Set(change.current.map((s) => s.port.id));
          for (const s of change.previous) if (!current.has(s.port.id)) edits.push({ id: s.port.id, next: undefined });
          for (const s of change.current) edits.push({ id: s.port.id, next: s });
        }
        const r = await this.backend.syncPartial(edits, this.ruleOpts);
        ({ input } = r);
        kernelMs += r.kernelMs;
        commit = () => { for (const e of edits) this.setApplied(e.id, e.next); };
      }
    } catch (err) {
      // The changes are consumed: only a full sync can bring the kernel back in line.
      this.needFullSync = true;
      this.backend.invalidate();
      this.oldestPending = Math.min(pendingSince ?? Date.now(), this.oldestPending ?? Infinity);
      this.metrics.restoreFailures.inc();
      if (!full) this.metrics.partialRestoreFailures.inc();
      throw err;
    }

    commit();
    this.needFullSync = false;
    const now = Date.now();
    this.lastSync = now;
    if (full) this.lastFullSync = now;
    const durationMs = performance.now() - t0;
    this.recordMetrics(full, durationMs, changes);
    await this.afterSync(full, changes);
    return { kind: full ? 'full' : 'partial', durationMs, kernelMs, changedServices: changes.length, input };
  }

  private setApplied(id: string, next: ServicePortState | undefined): void {
    const prev = this.applied.get(id);
    if (prev) this.countNoLocal(prev, -1);
    if (next) { this.applied.set(id, next); this.countNoLocal(next, 1); } else this.applied.delete(id);
  }

  private replaceApplied(states: readonly ServicePortState[]): void {
    this.applied = new Map();
    this.noLocal = { internal: 0, external: 0 };
    for (const s of states) this.setApplied(s.port.id, s);
  }

  private countNoLocal(state: ServicePortState, sign: 1 | -1): void {
    const n = noLocalOf(state);
    this.noLocal.internal += sign * Number(n.internal);
    this.noLocal.external += sign * Number(n.external);
  }

  /** Node addresses for --nodeport-addresses and the LB firewall; re-read on full syncs. */
  private async refreshNodeAddresses(): Promise<void> {
    const ips = await listNodeIPs(this.runner, this.family);
    const cidrs = (this.opts.nodePortAddresses ?? []).map((c) => parseCIDR(c)!);
    const nodePortIPs = cidrs.length === 0 ? undefined
      : ips.filter((ip) => !ip.loopback && cidrs.some((c) => cidrContains(c, parseIP(ip.ip)!))).map((ip) => ip.ip);
    const nodeIPs = ips.filter((ip) => !ip.loopback).map((ip) => ip.ip);
    this.ruleOpts = { ...this.staticRuleOpts, nodeIPs, ...(nodePortIPs ? { nodePortIPs } : {}) };
  }

  private recordMetrics(full: boolean, durationMs: number, changes: readonly ServiceChange[]): void {
    const m = this.metrics;
    const seconds = durationMs / 1000;
    m.syncDuration.observe(seconds);
    (full ? m.fullSyncDuration : m.partialSyncDuration).observe(seconds);
    m.lastSyncTimestamp.set(Date.now() / 1000);
    const counts = this.backend.counts();
    for (const [table, n] of Object.entries(counts.total)) m.rulesTotal.set({ table }, n);
    for (const [table, n] of Object.entries(counts.lastSync)) m.rulesLastSync.set({ table }, n);
    m.noLocalEndpoints.set({ traffic_policy: 'internal' }, this.noLocal.internal);
    m.noLocalEndpoints.set({ traffic_policy: 'external' }, this.noLocal.external);
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
      for (const s of this.applied.values()) {
        const service = nsName(s.port.service);
        const l = byService.get(service);
        if (l) l.push(s); else byService.set(service, [s]);
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
      const rules = this.backend.rulesFor(s.port.id);
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
    for (const [t, rules] of Object.entries(p.rules)) {
      if (rules.length === 0) continue;
      out.push(`    *${t}`);
      for (const r of rules) out.push(`      ${r}`);
    }
  }
  return out.join('\n');
}
