// nft scripts (`nft -f -` input) built from rule blocks. Pure. Each script is one
// transaction: the kernel applies all of it or none.
//
// Full sync: create the table if missing, flush every rule and map of ours, declare
// every chain and set, delete stale ones, then write all rules and elements. Affinity
// sets are declared, not flushed, so clients keep their endpoint across full syncs.
// Partial sync: only the changed ports. Order matters inside the transaction: new
// chains and sets exist before rules and elements point at them, and chains or sets are
// deleted only after the elements and rules pointing at them are gone.
import type { IPFamily } from '../types.js';
import type { ElementChanges } from './elements.js';
import { BASE_CHAINS, MAP_NAMES, tableRef, type MapElement, type MapName, type NftBase, type NftPort } from './rules.js';

/** Our objects found in the kernel before a full sync. */
export interface ExistingObjects {
  readonly chains: ReadonlySet<string>;
  readonly sets: ReadonlySet<string>;
  /** Start from an empty table (a base chain of ours has another hook or priority than we would give it). */
  readonly recreate?: boolean;
}

export const NO_OBJECTS: ExistingObjects = { chains: new Set(), sets: new Set() };

/** Elements per `add/delete element` command: keeps one line (and an error excerpt) reasonable. */
const CHUNK = 1000;

const declareChain = (t: string, name: string, spec: string): string => `add chain ${t} ${name}${spec ? ` ${spec}` : ''}`;

/** A chain comment holds the service port id; anything but validated id characters is left out. */
const portChainSpec = (p: NftPort): string => (/^[a-z0-9./:-]{1,120}$/.test(p.comment) ? `{ comment "${p.comment}" ; }` : '');

function elementCommands(t: string, verb: 'add' | 'delete', elements: Iterable<MapElement>, out: string[]): void {
  const byMap = new Map<MapName, string[]>();
  for (const e of elements) {
    const l = byMap.get(e.map) ?? [];
    l.push(verb === 'add' ? `${e.key} : ${e.value}` : e.key);
    byMap.set(e.map, l);
  }
  for (const map of MAP_NAMES) {
    const items = byMap.get(map) ?? [];
    for (let i = 0; i < items.length; i += CHUNK) out.push(`${verb} element ${t} ${map} { ${items.slice(i, i + CHUNK).join(', ')} }`);
  }
}

/** Every object of ours, replacing whatever the table held. */
export function renderFull(family: IPFamily, ports: Iterable<NftPort>, base: NftBase, elements: Iterable<MapElement>, existing: ExistingObjects = NO_OBJECTS): string {
  const t = tableRef(family);
  const out: string[] = [`add table ${t}`];
  if (existing.recreate) out.push(`delete table ${t}`, `add table ${t}`);
  out.push(`flush table ${t}`);
  for (const [name, spec] of base.chainSpecs) out.push(declareChain(t, name, spec));
  for (const [name, spec] of base.maps) out.push(`add map ${t} ${name} ${spec}`, `flush map ${t} ${name}`);

  const chains = new Set<string>(base.chainSpecs.keys());
  const sets = new Set<string>();
  const rules: string[] = [];
  for (const p of ports) {
    const spec = portChainSpec(p);
    for (const [name, list] of p.chains) {
      chains.add(name);
      out.push(declareChain(t, name, spec));
      for (const r of list) rules.push(`add rule ${t} ${name} ${r}`);
    }
    for (const [name, spec] of p.sets) {
      sets.add(name);
      out.push(`add set ${t} ${name} ${spec}`);
    }
  }
  if (!existing.recreate) {
    // Their rules went with the flush and their elements with the map flushes.
    for (const c of existing.chains) if (!chains.has(c)) out.push(`delete chain ${t} ${c}`);
    for (const s of existing.sets) if (!sets.has(s)) out.push(`delete set ${t} ${s}`);
  }
  for (const [chain, list] of base.rules) for (const r of list) out.push(`add rule ${t} ${chain} ${r}`);
  for (const r of rules) out.push(r);
  elementCommands(t, 'add', elements, out);
  out.push('');
  return out.join('\n');
}

/** One service port before and after (absent: added / removed). */
export interface PortChange { readonly prev?: NftPort | undefined; readonly next?: NftPort | undefined }

const sameLines = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((l, i) => l === b[i]);

/** Only the changed ports' chains, sets and elements; an empty string when nothing changes. */
export function renderPartial(family: IPFamily, changes: Iterable<PortChange>, elements: ElementChanges): string {
  const t = tableRef(family);
  const declare: string[] = [];
  const flush: string[] = [];
  const rules: string[] = [];
  const drop: string[] = [];
  const none = new Map<string, never>();
  for (const { prev, next } of changes) {
    const before = prev?.chains ?? none;
    const after = next?.chains ?? none;
    for (const [name, list] of after) {
      const old = before.get(name);
      if (old && sameLines(old, list)) continue;
      if (old) flush.push(`flush chain ${t} ${name}`);
      else declare.push(declareChain(t, name, portChainSpec(next!)));
      for (const r of list) rules.push(`add rule ${t} ${name} ${r}`);
    }
    for (const name of before.keys()) {
      if (after.has(name)) continue;
      flush.push(`flush chain ${t} ${name}`);
      drop.push(`delete chain ${t} ${name}`);
    }
    // A set that stays keeps its entries: the clients stay on their endpoints.
    for (const [name, spec] of next?.sets ?? none) if (!prev?.sets.has(name)) declare.push(`add set ${t} ${name} ${spec}`);
    for (const name of prev?.sets.keys() ?? []) if (!next?.sets.has(name)) drop.push(`delete set ${t} ${name}`);
  }
  const out: string[] = [...declare];
  elementCommands(t, 'delete', elements.removed, out);
  out.push(...flush, ...rules);
  elementCommands(t, 'add', elements.added, out);
  // Deleted chains are empty and unreferenced by now; sets last, as rules of deleted chains used them.
  out.push(...drop.filter((l) => l.startsWith('delete chain')), ...drop.filter((l) => l.startsWith('delete set')));
  if (out.length === 0) return '';
  out.push('');
  return out.join('\n');
}

/** Removes the whole table, whether or not it exists (kna cleanup, mode change). */
export function renderCleanup(family: IPFamily): string {
  const t = tableRef(family);
  return `add table ${t}\ndelete table ${t}\n`;
}

/** A base chain that exists with another type, hook or priority than ours cannot be updated in place. */
export function baseChainsDiffer(found: ReadonlyMap<string, { type?: string; hook?: string; prio?: number }>): boolean {
  return BASE_CHAINS.some((c) => {
    const f = found.get(c.name);
    return f !== undefined && (f.type !== c.type || f.hook !== c.hook || f.prio !== c.priority);
  });
}
