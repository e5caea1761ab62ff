// nftables mode: one table of our own (rules.ts), written by one `nft -f -` transaction
// per sync (render.ts, nft.ts).
import { ProxyModeUnsupportedError, type BackendSync, type PortEdit, type ProxyBackend, type RuleOptions } from '../backend.js';
import { KernelState } from '../kernel-state.js';
import { CommandStartError, type CommandRunner } from '../runner.js';
import type { IPFamily, ServicePortState } from '../types.js';
import { ElementTable } from './elements.js';
import { baseChainsPresent, deleteTable, isOurChain, isOurSet, listOurObjects, nftScript } from './nft.js';
import { baseChainsDiffer, renderFull, renderPartial, type ExistingObjects } from './render.js';
import { baseObjects, servicePortObjects, tableRef, type NftBase, type NftPort } from './rules.js';

/** The label of our counts in kubeproxy_sync_proxy_rules_iptables_total{table=...}. */
const LABEL = 'nftables';

const portRules = (p: NftPort): number => {
  let n = 0;
  for (const rules of p.chains.values()) n += rules.length;
  return n;
};

const baseRuleCount = (b: NftBase): number => {
  let n = 0;
  for (const rules of b.rules.values()) n += rules.length;
  return n;
};

/** A small Service exercising every feature we use, for preflight's check-mode run. */
function sampleState(family: IPFamily): ServicePortState {
  const a = (n: number): string => (family === 4 ? `192.0.2.${n}` : `2001:db8::${n}`);
  return {
    port: {
      id: 'kna-preflight/check:p', service: { namespace: 'kna-preflight', name: 'check' }, portName: 'p', protocol: 'TCP',
      clusterIP: a(1), port: 80, nodePort: 30999, externalIPs: [], loadBalancerIPs: [a(2)], loadBalancerSourceRanges: [`${a(0)}/${family === 4 ? 24 : 64}`],
      affinityTimeoutSeconds: 60, externalPolicyLocal: true, internalPolicyLocal: false, healthCheckNodePort: 0,
    },
    endpoints: [3, 4].map((n) => ({ ip: a(n), port: 8080, ready: true, serving: true, terminating: false, isLocal: n === 3 })),
  };
}

export class NftablesBackend implements ProxyBackend {
  readonly mode = 'nftables';
  /** What the last sync made, per service port id. */
  private ports = new Map<string, NftPort>();
  private elements = new ElementTable();
  private base: NftBase | undefined;
  private ruleTotal = 0;
  private written = 0;
  /** Which of our chains and sets exist, known from our own writes (kernel-state.ts). */
  private readonly kernel = new KernelState();

  constructor(private readonly runner: CommandRunner, private readonly family: IPFamily) {}

  async preflight(): Promise<void> {
    const opts: RuleOptions = { family: this.family, serviceCIDRs: [this.family === 4 ? '192.0.2.0/24' : '2001:db8::/64'], clusterCIDR: this.family === 4 ? '198.51.100.0/24' : '2001:db8:1::/64' };
    const state = sampleState(this.family);
    const port = servicePortObjects(state, opts);
    const script = renderFull(this.family, [port], baseObjects(opts), port.elements);
    try {
      // Check mode: the kernel validates the whole transaction (every expression, the
      // NAT hooks) and applies nothing.
      await nftScript(this.runner, script, { check: true });
    } catch (err) {
      if (err instanceof CommandStartError) {
        throw new ProxyModeUnsupportedError('nftables', 'the nft command is missing (Debian package nftables)');
      }
      const detail = err instanceof Error ? err.message.split('\n').slice(0, 3).join(' ') : String(err);
      throw new ProxyModeUnsupportedError('nftables', `this kernel cannot load our nftables rules (${detail}); it needs CONFIG_NF_TABLES `
        + 'with CONFIG_NFT_NAT, CONFIG_NFT_CT, CONFIG_NFT_NUMGEN, CONFIG_NFT_FIB_INET (CONFIG_NFT_FIB_IPV4/IPV6), CONFIG_NFT_REJECT and CONFIG_NFT_MASQ');
    }
  }

  async syncFull(states: readonly ServicePortState[], opts: RuleOptions): Promise<BackendSync> {
    const t0 = performance.now();
    const existing = this.kernel.known ? this.knownObjects() : await this.readObjects();
    const base = baseObjects(opts);
    const ports = new Map<string, NftPort>();
    for (const s of states) ports.set(s.port.id, servicePortObjects(s, opts));
    const elements = new ElementTable();
    elements.apply([...ports.values()].map((p) => ({ id: p.id, prev: [], next: p.elements })));
    const script = renderFull(this.family, ports.values(), base, elements.entries(), existing);
    await this.kernel.write(() => nftScript(this.runner, script));
    this.base = base;
    this.ports = ports;
    this.elements = elements;
    this.ruleTotal = 0;
    for (const p of ports.values()) this.ruleTotal += portRules(p);
    this.written = this.total();
    return { input: { [LABEL]: script }, kernelMs: performance.now() - t0 };
  }

  async syncPartial(edits: readonly PortEdit[], opts: RuleOptions): Promise<BackendSync> {
    const t0 = performance.now();
    const changes = edits.map((e) => ({ id: e.id, prev: this.ports.get(e.id), next: e.next ? servicePortObjects(e.next, opts) : undefined }));
    // Updated before the kernel answers: a failure makes the next sync a full one, which rebuilds it.
    const elementChanges = this.elements.apply(changes.map((c) => ({ id: c.id, prev: c.prev?.elements ?? [], next: c.next?.elements ?? [] })));
    const script = renderPartial(this.family, changes, elementChanges);
    if (script) await this.kernel.write(() => nftScript(this.runner, script));
    for (const c of changes) {
      this.ruleTotal += (c.next ? portRules(c.next) : 0) - (c.prev ? portRules(c.prev) : 0);
      if (c.next) this.ports.set(c.id, c.next); else this.ports.delete(c.id);
    }
    this.written = (script.match(/^add rule /gm) ?? []).length + elementChanges.added.length + elementChanges.removed.length;
    return { input: script ? { [LABEL]: script } : {}, kernelMs: performance.now() - t0 };
  }

  invalidate(): void {
    this.kernel.forget();
  }

  async intact(): Promise<boolean> {
    if (!this.kernel.known) return true;
    return baseChainsPresent(this.runner, this.family);
  }

  async cleanup(): Promise<void> {
    await deleteTable(this.runner, this.family);
    this.ports = new Map();
    this.elements = new ElementTable();
    this.ruleTotal = 0;
    this.kernel.forget();
  }

  rulesFor(id: string): Record<string, string[]> {
    const p = this.ports.get(id);
    if (!p) return { [LABEL]: [] };
    const t = tableRef(this.family);
    const lines: string[] = [];
    for (const e of p.elements) {
      // Another Service claimed the same key first: this element is not in the kernel.
      const shadowed = this.elements.valueOf(e) !== e.value ? ' # shadowed: another Service holds this key' : '';
      lines.push(`add element ${t} ${e.map} { ${e.key} : ${e.value} }${shadowed}`);
    }
    for (const [name, spec] of p.sets) lines.push(`add set ${t} ${name} ${spec}`);
    for (const [name, rules] of p.chains) {
      lines.push(`add chain ${t} ${name}`);
      for (const r of rules) lines.push(`add rule ${t} ${name} ${r}`);
    }
    return { [LABEL]: lines };
  }

  counts(): { total: Record<string, number>; lastSync: Record<string, number> } {
    return { total: { [LABEL]: this.total() }, lastSync: { [LABEL]: this.written } };
  }

  /** Rules plus map elements of ours. */
  private total(): number {
    return this.ruleTotal + this.elements.size + (this.base ? baseRuleCount(this.base) : 0);
  }

  /** Our chains and sets as the last successful sync left them. */
  private knownObjects(): ExistingObjects {
    const chains = new Set<string>();
    const sets = new Set<string>();
    for (const p of this.ports.values()) {
      for (const c of p.chains.keys()) chains.add(c);
      for (const s of p.sets.keys()) sets.add(s);
    }
    return { chains, sets };
  }

  private async readObjects(): Promise<ExistingObjects> {
    const found = await listOurObjects(this.runner, this.family);
    return {
      chains: new Set([...found.chains.keys()].filter(isOurChain)),
      sets: new Set([...found.sets].filter(isOurSet)),
      recreate: baseChainsDiffer(found.chains),
    };
  }
}
