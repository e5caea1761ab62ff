// Pure reconciliation: what several service ports want (a ledger: two Services may
// name the same externalIP:port, many ports share one cluster IP) against what the
// kernel holds, as ipvsadm / ipset / ip commands. Graceful removal lives here: a TCP
// or SCTP real server that is no longer wanted gets weight 0 (no new connections,
// established ones go on) and is deleted once the kernel counts no connection to it;
// a UDP one goes at once (the proxier deletes its conntrack entries).
import { ipvsadm, realKey, type KernelReal, type KernelVirtualServer, type VirtualServer } from './model.js';

/** Values wanted per key by several owners; the lowest owner id wins, so the outcome never depends on event order. */
export class Ledger<T> {
  private readonly byOwner = new Map<string, ReadonlyMap<string, T>>();
  private readonly byKey = new Map<string, Map<string, T>>();

  /** Replaces what `owner` wants (undefined: nothing); returns the keys whose wanted value may have changed. */
  set(owner: string, items: ReadonlyMap<string, T> | undefined): string[] {
    const old = this.byOwner.get(owner);
    const changed = new Set<string>();
    if (old) {
      for (const k of old.keys()) {
        changed.add(k);
        const owners = this.byKey.get(k)!;
        owners.delete(owner);
        if (owners.size === 0) this.byKey.delete(k);
      }
    }
    if (items && items.size > 0) {
      this.byOwner.set(owner, items);
      for (const [k, v] of items) {
        changed.add(k);
        let owners = this.byKey.get(k);
        if (!owners) this.byKey.set(k, (owners = new Map()));
        owners.set(owner, v);
      }
    } else {
      this.byOwner.delete(owner);
    }
    return [...changed];
  }

  get(key: string): T | undefined {
    const owners = this.byKey.get(key);
    if (!owners) return undefined;
    if (owners.size === 1) return owners.values().next().value;
    let best: string | undefined;
    for (const o of owners.keys()) if (best === undefined || o < best) best = o;
    return owners.get(best!);
  }

  has(key: string): boolean { return this.byKey.has(key); }
  keys(): IterableIterator<string> { return this.byKey.keys(); }
  get size(): number { return this.byKey.size; }
}

export const asKeys = (s: Iterable<string>): Map<string, true> => new Map([...s].map((k) => [k, true as const]));

export interface VsChange {
  /** ipvsadm -R lines, in order. */
  readonly lines: readonly string[];
  /** The virtual server once the lines are applied (undefined: gone). */
  readonly next: KernelVirtualServer | undefined;
  /** Some real server of it is draining (weight 0, waiting for its connections to end). */
  readonly draining: boolean;
}

/**
 * One virtual server from `have` (kernel) to `want`. With `connsKnown` (counts just read
 * from the kernel), an unwanted TCP real server without connections is deleted at once
 * instead of drained.
 */
export function diffVirtualServer(want: VirtualServer | undefined, have: KernelVirtualServer | undefined, connsKnown = false): VsChange {
  if (!want) return { lines: have ? [ipvsadm.deleteService(have)] : [], next: undefined, draining: false };
  const lines: string[] = [];
  const reals = new Map<string, KernelReal>();
  const fresh = (r: { ip: string; port: number }): KernelReal => ({ ip: r.ip, port: r.port, weight: 1, activeConns: 0, inactiveConns: 0 });
  if (!have) {
    lines.push(ipvsadm.addService(want));
    for (const r of want.reals) { lines.push(ipvsadm.addReal(want, r, 1)); reals.set(realKey(r), fresh(r)); }
    return { lines, next: { ...vsFields(want), reals }, draining: false };
  }
  if (have.scheduler !== want.scheduler || have.persistence !== want.persistence) lines.push(ipvsadm.editService(want));
  const wanted = new Set<string>();
  for (const r of want.reals) {
    const k = realKey(r);
    wanted.add(k);
    const cur = have.reals.get(k);
    if (!cur) lines.push(ipvsadm.addReal(want, r, 1));
    else if (cur.weight !== 1) lines.push(ipvsadm.editReal(want, r, 1)); // back from draining
    reals.set(k, cur ? { ...cur, weight: 1 } : fresh(r));
  }
  let draining = false;
  for (const [k, cur] of have.reals) {
    if (wanted.has(k)) continue;
    if (want.protocol === 'UDP' || (connsKnown && cur.activeConns + cur.inactiveConns === 0)) {
      lines.push(ipvsadm.deleteReal(want, cur));
      continue;
    }
    if (cur.weight !== 0) lines.push(ipvsadm.editReal(want, cur, 0));
    reals.set(k, { ...cur, weight: 0 });
    draining = true;
  }
  return { lines, next: { ...vsFields(want), reals }, draining };
}

const vsFields = (v: VirtualServer): Omit<KernelVirtualServer, 'reals'> =>
  ({ protocol: v.protocol, address: v.address, port: v.port, scheduler: v.scheduler, persistence: v.persistence });

/**
 * The draining real servers (weight 0 in `believed`) whose connections have ended by the
 * kernel's fresh count: delete lines, and the virtual servers as they will be. A real
 * server found with a weight again, or gone, is no longer draining.
 */
export function drainedReals(believed: KernelVirtualServer, kernel: KernelVirtualServer | undefined): { lines: string[]; next: KernelVirtualServer; draining: boolean } {
  const lines: string[] = [];
  const reals = new Map(believed.reals);
  let draining = false;
  for (const [k, r] of believed.reals) {
    if (r.weight !== 0) continue;
    const now = kernel?.reals.get(k);
    if (!now) { reals.delete(k); continue; }
    if (now.weight !== 0) continue;
    if (now.activeConns + now.inactiveConns === 0) {
      lines.push(ipvsadm.deleteReal(believed, r));
      reals.delete(k);
    } else {
      reals.set(k, now);
      draining = true;
    }
  }
  return { lines, next: { ...believed, reals }, draining };
}

/** Set-like keys from `have` to what the ledger wants, for the given keys. */
export function diffKeys(keys: Iterable<string>, want: Ledger<unknown>, have: ReadonlySet<string>): { add: string[]; del: string[] } {
  const add: string[] = [];
  const del: string[] = [];
  for (const k of keys) {
    const w = want.has(k);
    if (w && !have.has(k)) add.push(k);
    else if (!w && have.has(k)) del.push(k);
  }
  return { add, del };
}

