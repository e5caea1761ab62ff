// The difference between what the kernel holds (our routes, by protocol tag; the
// neighbour and FDB entries of our own device) and what it should hold: what to set
// (add or replace) and what to delete. Keys are the kernel's own identities (route
// dst+table, neighbour IP, FDB MAC), so a restart converges to exactly one entry per
// key: extras and stale values are deleted. Pure.
import type { FdbEntry, Neighbour, Route } from '../netlink/types.js';
import type { KernelState } from './desired.js';

export interface Changes<T> {
  set: T[];
  del: T[];
}

export interface Plan {
  routes: Changes<Route>;
  neighbours: Changes<Neighbour>;
  fdb: Changes<FdbEntry>;
}

const routeKey = (r: Route) => `${r.table} ${r.dst}`;
const routeSlot = (r: Route) => `${r.table} ${r.dst} ${r.priority ?? 0}`;
const sameRoute = (a: Route, b: Route) =>
  a.gateway === b.gateway && a.oif === b.oif && !!a.onlink === !!b.onlink && (a.priority ?? 0) === (b.priority ?? 0) && a.protocol === b.protocol;
const sameNeighbour = (a: Neighbour, b: Neighbour) => a.mac === b.mac && a.permanent === b.permanent;
const sameFdb = (a: FdbEntry, b: FdbEntry) => a.dst === b.dst && a.permanent === b.permanent;

interface Keys<T> {
  /** What we want exactly one of (route dst, neighbour IP, FDB MAC). */
  key: (x: T) => string;
  /** What a replace overwrites in place (FDB: one remote of a MAC; routes: one metric). */
  slot: (x: T) => string;
  same: (a: T, b: T) => boolean;
  /** Unwanted observed items to leave alone (kernel-owned dynamic neighbours). */
  keep?: (x: T) => boolean;
}

/**
 * Keyed diff. Per desired key: keep one equal observed item, else set the desired one.
 * Delete every other observed item, except the one the set replaces in place (so a
 * delete never removes what the set just wrote, and sets can go first).
 */
function diff<T>(desired: T[], observed: T[], k: Keys<T>): Changes<T> {
  const want = new Map(desired.map((d) => [k.key(d), d]));
  const kept = new Map<string, T>();
  for (const o of observed) {
    const d = want.get(k.key(o));
    if (d && !kept.has(k.key(o)) && k.same(d, o)) kept.set(k.key(o), o);
  }
  const del = observed.filter((o) => {
    const d = want.get(k.key(o));
    if (kept.get(k.key(o)) === o) return false;
    if (d) return kept.has(k.key(o)) || k.slot(o) !== k.slot(d);
    return !k.keep?.(o);
  });
  const set = [...want.entries()].filter(([key]) => !kept.has(key)).map(([, d]) => d);
  return { set, del };
}

export function planChanges(desired: KernelState, observed: KernelState): Plan {
  return {
    routes: diff(desired.routes, observed.routes, { key: routeKey, slot: routeSlot, same: sameRoute }),
    // A dynamic (non-permanent) neighbour for an IP we do not manage is the kernel's business.
    neighbours: diff(desired.neighbours, observed.neighbours, { key: (n) => n.ip, slot: (n) => n.ip, same: sameNeighbour, keep: (n) => !n.permanent }),
    fdb: diff(desired.fdb, observed.fdb, { key: (f) => f.mac, slot: (f) => `${f.mac} ${f.dst ?? ''}`, same: sameFdb }),
  };
}

export const isEmptyPlan = (p: Plan): boolean =>
  !p.routes.set.length && !p.routes.del.length && !p.neighbours.set.length && !p.neighbours.del.length && !p.fdb.set.length && !p.fdb.del.length;
