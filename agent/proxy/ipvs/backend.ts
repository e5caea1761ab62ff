// IPVS mode: virtual servers for every Service address on the dummy kube-ipvs0
// (plan.ts), applied as one `ipvsadm -R` batch per sync, ipset members through one
// `ipset restore`, kube-ipvs0's addresses through one `ip -batch`, and a fixed set of
// iptables rules (iptables.ts) written on full syncs. A full sync reads the kernel
// (virtual servers with connection counts, kube-ipvs0, our sets) and diffs against it;
// a partial one diffs the changed ports against what the last syncs applied.
// Real servers that go away drain (diff.ts): a timer polls `ipvsadm -Ln` while any do.
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { BackendSync, PortEdit, ProxyBackend, RuleOptions } from '../backend.js';
import { hostMask } from '../ip.js';
import type { Table } from '../iptables/chains.js';
import { CommandStartError, type CommandRunner } from '../runner.js';
import type { IPFamily, ServicePortState } from '../types.js';
import { asKeys, diffKeys, diffVirtualServer, drainedReals, Ledger } from './diff.js';
import {
  isOurSetName, nodePortsOf, parseIpsetSave, renderAdd, renderCreate, renderDel, SETS, splitMember, type SetMember,
} from './ipsets.js';
import { hookKeyOfRule, ipvsIptables, presentHooks, renderIptables, renderIptablesCleanup, type IpvsIptables } from './iptables.js';
import {
  createDummy, deleteDummy, DUMMY, dummyAddresses, ipBatch, ipsetRestore, ipsetSave, iptablesRestore, iptablesSave, ipvsadmList,
  ipvsadmRestore, kernelHasIpvs, preflightIpvs, setSysctls,
} from './io.js';
import { ipvsadm, parseIpvsList, type KernelVirtualServer, type VirtualServer } from './model.js';
import { nodePortAddresses, planPort, type PlanOptions, type PortPlan } from './plan.js';
import { DEFAULT_IPVS_SCHEDULER, type IpvsScheduler } from './scheduler.js';

export interface IpvsBackendOptions {
  /** --ipvs-scheduler (default rr). */
  readonly scheduler?: IpvsScheduler;
  /** How often draining real servers are checked for remaining connections (default 2 s; each check is one `ipvsadm -Ln`). */
  readonly drainPollMs?: number;
  /** Where failures of the background drain check go. */
  readonly logger?: Logger;
}

/** The changes one sync makes, per kind. */
interface Changes {
  readonly vs: readonly string[];
  readonly addrs: readonly string[];
  readonly members: readonly string[];
}

const isServiceLine = (l: string): boolean => /^-[ADE] /.test(l);

export class IpvsBackend implements ProxyBackend {
  readonly mode = 'ipvs';
  private readonly scheduler: IpvsScheduler;
  private readonly drainPollMs: number;
  private readonly logger: Logger | undefined;

  private plans = new Map<string, PortPlan>();
  private vs = new Ledger<VirtualServer>();
  private addrs = new Ledger<true>();
  private members = new Ledger<true>();
  /** What the kernel holds of ours after our last successful commands. */
  private kernelVs = new Map<string, KernelVirtualServer>();
  private kernelAddrs = new Set<string>();
  private kernelMembers = new Set<SetMember>();
  /** Virtual servers with draining (weight 0) real servers. */
  private readonly draining = new Set<string>();
  private planOpts: PlanOptions | undefined;
  private iptables: IpvsIptables | undefined;
  private stateKnown = false;
  private sysctlsSet = false;
  private written: Record<string, number> = {};
  private lock: Promise<unknown> = Promise.resolve();
  private drainTimer: NodeJS.Timeout | undefined;

  constructor(private readonly runner: CommandRunner, private readonly family: IPFamily, opts: IpvsBackendOptions = {}) {
    this.scheduler = opts.scheduler ?? DEFAULT_IPVS_SCHEDULER;
    this.drainPollMs = opts.drainPollMs ?? 2000;
    this.logger = opts.logger;
  }

  preflight(): Promise<void> {
    return preflightIpvs(this.runner, this.scheduler);
  }

  /** Syncs, drain checks and cleanup never overlap: each reads then edits the kernel. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.catch(() => undefined).then(fn);
    this.lock = run;
    return run;
  }

  syncFull(states: readonly ServicePortState[], opts: RuleOptions): Promise<BackendSync> {
    return this.exclusive(async () => {
      const t0 = performance.now();
      try {
        return await this.full(states, opts, t0);
      } catch (err) {
        this.invalidate();
        throw err;
      }
    });
  }

  syncPartial(edits: readonly PortEdit[], _opts: RuleOptions): Promise<BackendSync> {
    return this.exclusive(async () => {
      const t0 = performance.now();
      if (!this.planOpts || !this.stateKnown) throw new Error('IPVS partial sync without a successful full sync');
      const vs = new Set<string>();
      const addrs = new Set<string>();
      const members = new Set<string>();
      for (const e of edits) {
        const plan = e.next ? planPort(e.next, this.planOpts) : undefined;
        if (plan) this.plans.set(e.id, plan); else this.plans.delete(e.id);
        this.setLedgers(e.id, plan, vs, addrs, members);
      }
      try {
        const input = await this.apply({ vs: [...vs], addrs: [...addrs], members: [...members] }, false, undefined);
        return { input, kernelMs: performance.now() - t0 };
      } catch (err) {
        this.invalidate();
        throw err;
      }
    });
  }

  private setLedgers(id: string, plan: PortPlan | undefined, vs: Set<string>, addrs: Set<string>, members: Set<string>): void {
    for (const k of this.vs.set(id, plan?.virtualServers)) vs.add(k);
    for (const k of this.addrs.set(id, plan ? asKeys(plan.addresses) : undefined)) addrs.add(k);
    for (const k of this.members.set(id, plan ? asKeys(plan.members) : undefined)) members.add(k);
  }

  private async full(states: readonly ServicePortState[], opts: RuleOptions, t0: number): Promise<BackendSync> {
    const r = this.runner;
    // Every command costs (much more so under emulation): read in parallel, write once per tool.
    const [saved, dummy, ipsetText, kernel] = await Promise.all([
      iptablesSave(r, this.family), dummyAddresses(r, this.family), ipsetSave(r), ipvsadmList(r),
      this.sysctlsSet ? undefined : setSysctls(r),
    ]);
    this.sysctlsSet = true;
    const bound = dummy ?? [];
    if (!dummy) await createDummy(r);
    const sets = parseIpsetSave(this.family, ipsetText);

    // NodePorts are made on node addresses, never on Service addresses (local too).
    const serviceIPs = new Set(bound);
    for (const s of states) for (const ip of [s.port.clusterIP, ...s.port.externalIPs, ...s.port.loadBalancerIPs]) serviceIPs.add(ip);
    this.planOpts = {
      scheduler: this.scheduler,
      nodePortIPs: nodePortAddresses(opts.nodePortIPs, opts.nodeIPs, serviceIPs),
      nodeIPs: (opts.nodeIPs ?? []).filter((ip) => !serviceIPs.has(ip)),
    };
    this.plans = new Map();
    this.vs = new Ledger();
    this.addrs = new Ledger();
    this.members = new Ledger();
    const none = new Set<string>();
    for (const s of states) {
      const plan = planPort(s, this.planOpts);
      this.plans.set(s.port.id, plan);
      this.setLedgers(s.port.id, plan, none, none, none);
    }

    // Ours in the kernel: virtual servers on kube-ipvs0's addresses, and on node addresses at our NodePorts.
    const ourAddrs = new Set([...bound, ...this.addrs.keys()]);
    const nodePorts = nodePortsOf([...sets.members, ...this.members.keys()]);
    this.kernelVs = new Map();
    for (const [k, v] of kernel) if (ourAddrs.has(v.address) || nodePorts.has(`${v.protocol} ${v.port}`)) this.kernelVs.set(k, v);
    this.kernelAddrs = new Set(bound);
    this.kernelMembers = sets.members;
    this.draining.clear();

    this.iptables = ipvsIptables(opts);
    const changes: Changes = {
      vs: [...new Set([...this.kernelVs.keys(), ...this.vs.keys()])],
      addrs: [...ourAddrs],
      members: [...new Set([...sets.members, ...this.members.keys()])],
    };
    const creates = renderCreate(this.family).filter((_, i) => !sets.sets.has(SETS[i]!.kind));
    const input = await this.apply(changes, true, { creates, iptables: renderIptables(this.iptables, saved) });
    return { input, kernelMs: performance.now() - t0 };
  }

  /**
   * Applies the changes for these keys, one call per tool: kube-ipvs0's addresses, set
   * members (so masquerade marks and filter verdicts are in place before a virtual
   * server takes traffic), the iptables rules on full syncs, then ipvsadm.
   */
  private async apply(changes: Changes, connsKnown: boolean, full: { creates: string[]; iptables: string } | undefined): Promise<Record<string, string>> {
    const r = this.runner;
    const addrs = diffKeys(changes.addrs, this.addrs, this.kernelAddrs);
    const members = diffKeys(changes.members, this.members, this.kernelMembers);
    const lines: string[] = [];
    const next = new Map<string, { vs: KernelVirtualServer | undefined; draining: boolean }>();
    for (const k of changes.vs) {
      const d = diffVirtualServer(this.vs.get(k), this.kernelVs.get(k), connsKnown);
      for (const l of d.lines) lines.push(l);
      next.set(k, { vs: d.next, draining: d.draining });
    }
    const addr = (op: 'add' | 'del', ip: string): string => `address ${op} ${ip}${hostMask(this.family)} dev ${DUMMY}`;
    const ip = [...addrs.add.map((a) => addr('add', a)), ...addrs.del.map((a) => addr('del', a))];
    const sets = [...(full?.creates ?? []), ...members.add.map((m) => renderAdd(this.family, m)), ...members.del.map((m) => renderDel(this.family, m))];

    await ipBatch(r, ip);
    for (const a of addrs.add) this.kernelAddrs.add(a);
    for (const a of addrs.del) this.kernelAddrs.delete(a);
    await ipsetRestore(r, sets);
    for (const m of members.add) this.kernelMembers.add(m);
    for (const m of members.del) this.kernelMembers.delete(m);
    if (full) await iptablesRestore(r, this.family, full.iptables);
    await ipvsadmRestore(r, lines);
    for (const [k, n] of next) {
      if (n.vs) this.kernelVs.set(k, n.vs); else this.kernelVs.delete(k);
      if (n.draining) this.draining.add(k); else this.draining.delete(k);
    }

    this.stateKnown = true;
    const serviceLines = lines.filter(isServiceLine).length;
    this.written = {
      'ipvs-virtual-servers': serviceLines,
      'ipvs-real-servers': lines.length - serviceLines,
      ipset: members.add.length + members.del.length,
      filter: full ? this.iptablesCount('filter') : 0,
      nat: full ? this.iptablesCount('nat') : 0,
    };
    this.scheduleDrain();
    const input: Record<string, string> = {};
    if (lines.length) input.ipvsadm = `${lines.join('\n')}\n`;
    if (sets.length) input.ipset = `${sets.join('\n')}\n`;
    if (ip.length) input.ip = `${ip.join('\n')}\n`;
    if (full) input.iptables = full.iptables;
    return input;
  }

  // ---- graceful removal ---------------------------------------------------------

  private scheduleDrain(): void {
    if (this.draining.size === 0 || this.drainTimer) return;
    this.drainTimer = setTimeout(() => {
      this.drainTimer = undefined;
      this.exclusive(() => this.drainOnce())
        .catch((err: unknown) => this.logger?.warn({ err }, 'checking draining IPVS real servers failed; retrying'))
        .finally(() => this.scheduleDrain());
    }, this.drainPollMs);
    this.drainTimer.unref();
  }

  /** Deletes the draining real servers whose connections have all ended. */
  private async drainOnce(): Promise<void> {
    if (this.draining.size === 0) return;
    const kernel = await ipvsadmList(this.runner);
    const lines: string[] = [];
    const updates: Array<[string, ReturnType<typeof drainedReals>]> = [];
    for (const k of this.draining) {
      const believed = this.kernelVs.get(k);
      if (!believed) { this.draining.delete(k); continue; }
      const d = drainedReals(believed, kernel.get(k));
      lines.push(...d.lines);
      updates.push([k, d]);
    }
    await ipvsadmRestore(this.runner, lines);
    for (const [k, d] of updates) {
      this.kernelVs.set(k, d.next);
      if (!d.draining) this.draining.delete(k);
    }
  }

  // ---- the rest of the contract -------------------------------------------------

  invalidate(): void {
    this.stateKnown = false;
    this.draining.clear();
    clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
  }

  async intact(): Promise<boolean> {
    if (!this.stateKnown || !this.iptables) return true;
    const [saved, dummy] = await Promise.all([iptablesSave(this.runner, this.family), dummyAddresses(this.runner, this.family)]);
    const hooks = presentHooks(saved);
    return dummy !== undefined && this.iptables.hooks.every((h) => hooks.has(hookKeyOfRule(h)));
  }

  /**
   * Removes both proxy modes' iptables chains (they share names), every virtual server
   * on kube-ipvs0's addresses or at one of our NodePorts, kube-ipvs0 and our ipsets (of
   * both families). Needs no state: `kna cleanup` runs it in a fresh process.
   */
  cleanup(): Promise<void> {
    return this.exclusive(async () => {
      this.invalidate();
      const r = this.runner;
      const ignoreMissing = (err: unknown): string => { if (err instanceof CommandStartError) return ''; throw err; };
      const hasIpvs = kernelHasIpvs();
      const [saved, ipsetText, bound, listing] = await Promise.all([
        iptablesSave(r, this.family),
        ipsetSave(r).catch(ignoreMissing),
        dummyAddresses(r),
        hasIpvs ? r.run(['ipvsadm', '-Ln']).then((x) => x.stdout, ignoreMissing) : '',
      ]);
      // iptables first: a set that a rule references cannot be destroyed.
      await iptablesRestore(r, this.family, renderIptablesCleanup(saved));
      const boundSet = new Set(bound ?? []);
      const nodePorts = nodePortsOf([...parseIpsetSave(4, ipsetText).members, ...parseIpsetSave(6, ipsetText).members]);
      await ipvsadmRestore(r, [...parseIpvsList(listing).values()]
        .filter((v) => boundSet.has(v.address) || nodePorts.has(`${v.protocol} ${v.port}`))
        .map((v) => ipvsadm.deleteService(v)));
      if (bound) await deleteDummy(r);
      const ours = ipsetText.split('\n').map((l) => /^create (\S+) /.exec(l)?.[1]).filter((n): n is string => n !== undefined && isOurSetName(n));
      await ipsetRestore(r, ours.map((n) => `destroy ${n}`));
      this.plans = new Map();
      this.vs = new Ledger();
      this.addrs = new Ledger();
      this.members = new Ledger();
      this.kernelVs = new Map();
      this.kernelAddrs = new Set();
      this.kernelMembers = new Set();
      this.iptables = undefined;
      this.written = {};
    });
  }

  /** ipvsadm lines (with the real servers' current weights), ipset members, kube-ipvs0 addresses and the iptables rules that match those sets. */
  rulesFor(id: string): Record<string, string[]> {
    const plan = this.plans.get(id);
    if (!plan) return {};
    const ipvs: string[] = [];
    for (const [k, want] of plan.virtualServers) {
      const v = this.kernelVs.get(k);
      if (!v) { ipvs.push(`${ipvsadm.addService(want)}  # not applied`); continue; }
      ipvs.push(ipvsadm.addService(v));
      for (const real of v.reals.values()) ipvs.push(ipvsadm.addReal(v, real, real.weight) + (real.weight === 0 ? '  # draining' : ''));
    }
    const kinds = new Set([...plan.members].map((m) => splitMember(m).kind));
    const ipt = (t: Table): string[] => (this.iptables?.rules ?? []).filter((x) => x.table === t && x.sets.some((k) => kinds.has(k))).map((x) => x.rule);
    return {
      ipvs,
      ipset: [...plan.members].map((m) => renderAdd(this.family, m)).sort(),
      [DUMMY]: [...plan.addresses].map((a) => `${a}${hostMask(this.family)}`),
      filter: ipt('filter'),
      nat: ipt('nat'),
    };
  }

  counts(): { total: Record<string, number>; lastSync: Record<string, number> } {
    let reals = 0;
    for (const v of this.kernelVs.values()) reals += v.reals.size;
    return {
      total: {
        'ipvs-virtual-servers': this.kernelVs.size,
        'ipvs-real-servers': reals,
        ipset: this.kernelMembers.size,
        filter: this.iptablesCount('filter'),
        nat: this.iptablesCount('nat'),
      },
      lastSync: this.written,
    };
  }

  private iptablesCount(t: Table): number {
    return this.iptables ? [...this.iptables.rules, ...this.iptables.hooks].filter((x) => x.table === t).length : 0;
  }
}
