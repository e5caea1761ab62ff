// Which map elements are in the kernel. Two Services can claim the same key (an
// externalIP . port both list, a clusterIP given twice by hand): a map holds one value
// per key and the kernel refuses a second `add element` with another value, which would
// fail the whole transaction. So each key keeps its claimants in order and the first
// one's value is the element; iptables mode gets the same effect from rule order.
import type { MapElement, MapName } from './rules.js';

interface Claim { readonly id: string; value: string }
interface Entry { readonly map: MapName; readonly key: string; readonly by: Claim[] }

const keyOf = (e: { map: MapName; key: string }): string => `${e.map}\t${e.key}`;

/** One port's elements before and after a change. */
export interface ElementEdit { readonly id: string; readonly prev: readonly MapElement[]; readonly next: readonly MapElement[] }

/** What the kernel must change: deletions first, then additions (a changed value is both). */
export interface ElementChanges { readonly removed: readonly MapElement[]; readonly added: readonly MapElement[] }

export class ElementTable {
  private readonly claims = new Map<string, Entry>();

  /** Elements in the kernel, in claim order. */
  *entries(): IterableIterator<MapElement> {
    for (const c of this.claims.values()) yield { map: c.map, key: c.key, value: c.by[0]!.value };
  }

  get size(): number {
    return this.claims.size;
  }

  /** The value in the kernel for this key. */
  valueOf(e: { map: MapName; key: string }): string | undefined {
    return this.claims.get(keyOf(e))?.by[0]?.value;
  }

  /** Applies several ports' changes; returns the net change of the kernel's elements. */
  apply(edits: readonly ElementEdit[]): ElementChanges {
    const touched = new Map<string, { map: MapName; key: string; before: string | undefined }>();
    for (const { prev, next } of edits) {
      for (const e of [...prev, ...next]) {
        const k = keyOf(e);
        if (!touched.has(k)) touched.set(k, { map: e.map, key: e.key, before: this.valueOf(e) });
      }
    }
    for (const e of edits) this.replace(e.id, e.prev, e.next);
    const removed: MapElement[] = [];
    const added: MapElement[] = [];
    for (const { map, key, before } of touched.values()) {
      const after = this.valueOf({ map, key });
      if (before === after) continue;
      if (before !== undefined) removed.push({ map, key, value: before });
      if (after !== undefined) added.push({ map, key, value: after });
    }
    return { removed, added };
  }

  /** Replaces the elements claimed by port `id`, keeping its place for keys it still claims. */
  private replace(id: string, prev: readonly MapElement[], next: readonly MapElement[]): void {
    const wanted = new Map(next.map((e) => [keyOf(e), e]));
    for (const e of prev) {
      const k = keyOf(e);
      if (wanted.has(k)) continue;
      const entry = this.claims.get(k);
      const i = entry?.by.findIndex((c) => c.id === id) ?? -1;
      if (i < 0) continue;
      entry!.by.splice(i, 1);
      if (entry!.by.length === 0) this.claims.delete(k);
    }
    for (const [k, e] of wanted) {
      let entry = this.claims.get(k);
      if (!entry) this.claims.set(k, (entry = { map: e.map, key: e.key, by: [] }));
      const mine = entry.by.find((c) => c.id === id);
      if (mine) mine.value = e.value; else entry.by.push({ id, value: e.value });
    }
  }
}
