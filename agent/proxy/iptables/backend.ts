// iptables mode: kube-proxy's chain layout (rules.ts), applied with one
// `iptables-restore --noflush` per table (render.ts, restore.ts).
import type { BackendSync, PortEdit, ProxyBackend, RuleOptions } from '../backend.js';
import { KernelState } from '../kernel-state.js';
import type { CommandRunner } from '../runner.js';
import type { IPFamily, ServicePortState } from '../types.js';
import { FIXED_CHAINS, type Table } from './chains.js';
import { hookKeyOf, renderFull, renderPartial, TABLES } from './render.js';
import { cleanupIptables, readExisting, readHooks, restoreTables } from './restore.js';
import { baseRules, servicePortRules, TERSE_ABOVE_ENDPOINTS, type BaseRules, type ServicePortRules } from './rules.js';

/** Built-in chains our hooks live in. */
const HOOKED_CHAINS: Readonly<Record<Table, readonly string[]>> = {
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  nat: ['PREROUTING', 'OUTPUT', 'POSTROUTING'],
};

const ruleCount = (b: ServicePortRules, table: Table): number => {
  let n = 0;
  for (const r of b.top) if (r.table === table) n++;
  if (table === 'nat') for (const rules of b.chains.values()) n += rules.length;
  return n;
};

export interface IptablesBackendOptions {
  /** Above this many endpoints in all, Service chains are written without comments (rules.ts). */
  readonly terseAboveEndpoints?: number;
}

export class IptablesBackend implements ProxyBackend {
  readonly mode = 'iptables';
  /** Rules as last applied, per service port id. */
  private blocks = new Map<string, ServicePortRules>();
  /** Endpoints per service port id as last applied, and their sum: what decides terse rules. */
  private endpointCounts = new Map<string, number>();
  private endpointTotal = 0;
  private readonly terseAbove: number;
  private totals: Record<Table, number> = { filter: 0, nat: 0 };
  private written: Record<Table, number> = { filter: 0, nat: 0 };
  private base: BaseRules | undefined;
  /** Which of our chains exist, known from our own writes (kernel-state.ts). */
  private readonly kernel = new KernelState();

  constructor(private readonly runner: CommandRunner, private readonly family: IPFamily, opts: IptablesBackendOptions = {}) {
    this.terseAbove = opts.terseAboveEndpoints ?? TERSE_ABOVE_ENDPOINTS;
  }

  async preflight(): Promise<void> {
    // iptables-restore itself reports a missing binary or table on the first sync.
  }

  async syncFull(states: readonly ServicePortState[], opts: RuleOptions): Promise<BackendSync> {
    const t0 = performance.now();
    const existing = this.kernel.known
      ? { chains: this.knownChains(), hooks: await readHooks(this.runner, this.family, HOOKED_CHAINS) }
      : await readExisting(this.runner, this.family);
    const base = baseRules(opts);
    const counts = new Map(states.map((s) => [s.port.id, s.endpoints.length]));
    let total = 0;
    for (const n of counts.values()) total += n;
    const terse = total > this.terseAbove;
    const blocks = new Map<string, ServicePortRules>();
    for (const s of states) blocks.set(s.port.id, servicePortRules(s, opts, terse));
    const input = renderFull(blocks.values(), base, existing);
    await this.kernel.write(() => restoreTables(this.runner, this.family, input));
    this.base = base;
    this.blocks = blocks;
    this.endpointCounts = counts;
    this.endpointTotal = total;
    this.totals = { filter: 0, nat: 0 };
    for (const b of blocks.values()) for (const t of TABLES) this.totals[t] += ruleCount(b, t);
    this.written = { filter: this.ownedRules('filter'), nat: this.ownedRules('nat') };
    return { input, kernelMs: performance.now() - t0 };
  }

  async syncPartial(edits: readonly PortEdit[], opts: RuleOptions): Promise<BackendSync> {
    const t0 = performance.now();
    const base = this.base ?? baseRules(opts);
    // As kube-proxy: the style follows the endpoint total at each sync, and the chains a
    // partial sync leaves alone keep theirs until the next full sync.
    let total = this.endpointTotal;
    for (const e of edits) total += (e.next?.endpoints.length ?? 0) - (this.endpointCounts.get(e.id) ?? 0);
    const terse = total > this.terseAbove;
    const next = edits.map((e) => (e.next ? servicePortRules(e.next, opts, terse) : undefined));
    const input = renderPartial(edits.map((e, i) => ({ prev: this.blocks.get(e.id), next: next[i] })), base);
    await this.kernel.write(() => restoreTables(this.runner, this.family, input));
    edits.forEach((e, i) => {
      const prev = this.blocks.get(e.id);
      const n = next[i];
      for (const t of TABLES) this.totals[t] += (n ? ruleCount(n, t) : 0) - (prev ? ruleCount(prev, t) : 0);
      if (n) this.blocks.set(e.id, n); else this.blocks.delete(e.id);
      if (e.next) this.endpointCounts.set(e.id, e.next.endpoints.length); else this.endpointCounts.delete(e.id);
    });
    this.endpointTotal = total;
    // kube-proxy reports the rules handed to iptables-restore.
    this.written = { filter: (input.filter?.match(/^-[AID] /gm) ?? []).length, nat: (input.nat?.match(/^-[AID] /gm) ?? []).length };
    return { input, kernelMs: performance.now() - t0 };
  }

  invalidate(): void {
    this.kernel.forget();
  }

  async intact(): Promise<boolean> {
    if (!this.kernel.known || !this.base) return true;
    const hooks = await readHooks(this.runner, this.family, HOOKED_CHAINS);
    return this.base.hooks.every((h) => hooks.has(hookKeyOf(h)));
  }

  async cleanup(): Promise<void> {
    await cleanupIptables(this.runner, this.family);
    this.blocks = new Map();
    this.endpointCounts = new Map();
    this.endpointTotal = 0;
    this.totals = { filter: 0, nat: 0 };
    this.kernel.forget();
  }

  rulesFor(id: string): Record<Table, string[]> {
    const rules: Record<Table, string[]> = { filter: [], nat: [] };
    const block = this.blocks.get(id);
    if (block) {
      for (const r of block.top) rules[r.table].push(r.rule);
      for (const [chain, lines] of block.chains) rules.nat.push(`:${chain} - [0:0]`, ...lines);
    }
    return rules;
  }

  counts(): { total: Record<Table, number>; lastSync: Record<Table, number> } {
    return { total: { filter: this.ownedRules('filter'), nat: this.ownedRules('nat') }, lastSync: this.written };
  }

  /** Service rules plus the fixed chains and tails. */
  private ownedRules(t: Table): number {
    let n = this.totals[t];
    if (this.base) {
      for (const rules of this.base.fixed[t].values()) n += rules.length;
      for (const rules of this.base.tails[t].values()) n += rules.length;
    }
    return n;
  }

  /** Our chains as they exist after the last successful sync. */
  private knownChains(): Record<Table, Set<string>> {
    const nat = new Set(FIXED_CHAINS.nat);
    for (const b of this.blocks.values()) for (const c of b.chains.keys()) nat.add(c);
    return { filter: new Set(FIXED_CHAINS.filter), nat };
  }
}
