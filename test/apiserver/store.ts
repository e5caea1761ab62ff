// The test control plane's storage: every object of every type under one global
// resourceVersion counter (like etcd's revision), an event history bounded like
// a watch cache (older resourceVersions → 410), watchers, and a JSON file so the
// double can be stopped and started again on the same data.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';

export type Obj = Record<string, unknown> & { metadata: Meta };
export interface Meta {
  name: string;
  namespace?: string;
  uid: string;
  resourceVersion: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [k: string]: unknown;
}

/** An object read loosely, field by field, by code that knows what it looks for. */
export type Loose = { metadata: any; [k: string]: any }; // untyped JSON, like the wire

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';
export interface Change {
  rv: number;
  key: string;
  type: EventType;
  object: Obj;
  /** the object before the change (MODIFIED, DELETED) */
  prev?: Obj;
}

export interface Watcher {
  key: string;
  namespace?: string;
  matches(o: Obj): boolean;
  send(type: EventType, o: Obj): void;
}

export class ResourceExpiredError extends Error {
  override readonly name = 'ResourceExpiredError';
  constructor(readonly requested: number, readonly oldest: number) {
    super(`too old resource version: ${requested} (${oldest})`);
  }
}

const objKey = (ns: string | undefined, name: string): string => (ns ? `${ns}/${name}` : name);

export class Store {
  rv = 1;
  private objects = new Map<string, Map<string, Obj>>();
  private history: Change[] = [];
  /** the oldest resourceVersion a watch may start from */
  private floor = 1;
  private watchers = new Set<Watcher>();
  private listeners = new Set<(c: Change) => void>();
  private saveTimer: NodeJS.Immediate | undefined;

  constructor(private readonly file?: string, private readonly historyLimit = 5000) {
    if (file) this.load(file);
  }

  private table(key: string): Map<string, Obj> {
    let t = this.objects.get(key);
    if (!t) this.objects.set(key, (t = new Map()));
    return t;
  }

  get(key: string, ns: string | undefined, name: string): Obj | undefined {
    const o = this.table(key).get(objKey(ns, name));
    return o && structuredClone(o);
  }

  list(key: string, ns?: string): Obj[] {
    const out = [...this.table(key).values()].filter((o) => !ns || o.metadata.namespace === ns);
    return structuredClone(out).sort((a, b) => objKey(a.metadata.namespace, a.metadata.name).localeCompare(objKey(b.metadata.namespace, b.metadata.name)));
  }

  /** Writes `o` (create or replace) and returns the stored copy with its new resourceVersion. */
  put(key: string, o: Obj): Obj {
    const t = this.table(key);
    const k = objKey(o.metadata.namespace, o.metadata.name);
    const prev = t.get(k);
    const stored = structuredClone(o);
    stored.metadata.resourceVersion = String(++this.rv);
    t.set(k, stored);
    this.commit({ rv: this.rv, key, type: prev ? 'MODIFIED' : 'ADDED', object: stored, ...(prev ? { prev } : {}) });
    return structuredClone(stored);
  }

  remove(key: string, ns: string | undefined, name: string): Obj | undefined {
    const t = this.table(key);
    const k = objKey(ns, name);
    const prev = t.get(k);
    if (!prev) return undefined;
    t.delete(k);
    // A deleted object is reported at the revision of its deletion.
    const object = structuredClone(prev);
    object.metadata.resourceVersion = String(++this.rv);
    this.commit({ rv: this.rv, key, type: 'DELETED', object, prev });
    return structuredClone(object);
  }

  private commit(c: Change): void {
    this.history.push(c);
    if (this.history.length > this.historyLimit) this.floor = this.history.splice(0, this.history.length - this.historyLimit).at(-1)!.rv;
    for (const w of this.watchers) deliver(w, c);
    for (const l of this.listeners) l(c);
    this.scheduleSave();
  }

  /** Every change, for in-process controllers. */
  onChange(l: (c: Change) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /**
   * Starts a watch. `from` undefined: current objects arrive as ADDED first (rv "0"
   * or unset on a real server); a number: changes after it, or ResourceExpiredError
   * when history no longer reaches back that far.
   */
  watch(w: Watcher, from: number | undefined): () => void {
    if (from === undefined) {
      for (const o of this.list(w.key, w.namespace)) if (w.matches(o)) w.send('ADDED', o);
    } else {
      if (from < this.floor) throw new ResourceExpiredError(from, this.floor);
      for (const c of this.history) if (c.rv > from && c.key === w.key) deliver(w, c);
    }
    this.watchers.add(w);
    return () => this.watchers.delete(w);
  }

  /** Drops the event history, as an etcd compaction does: older watches get 410. */
  compact(): void {
    this.history = [];
    this.floor = this.rv;
  }

  // ---------------------------------------------------------------- persistence

  private load(file: string): void {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return;
    }
    const data = JSON.parse(text) as { rv: number; objects: Record<string, Obj[]> };
    this.rv = data.rv;
    this.floor = data.rv; // a restarted server has no history: older watches get 410
    for (const [key, items] of Object.entries(data.objects)) {
      const t = this.table(key);
      for (const o of items) t.set(objKey(o.metadata.namespace, o.metadata.name), o);
    }
  }

  private scheduleSave(): void {
    if (!this.file || this.saveTimer) return;
    this.saveTimer = setImmediate(() => {
      this.saveTimer = undefined;
      this.save();
    });
  }

  save(): void {
    if (!this.file) return;
    if (this.saveTimer) clearImmediate(this.saveTimer);
    this.saveTimer = undefined;
    const objects = Object.fromEntries([...this.objects].map(([k, t]) => [k, [...t.values()]]));
    writeFileSync(`${this.file}.tmp`, JSON.stringify({ rv: this.rv, objects }));
    renameSync(`${this.file}.tmp`, this.file);
  }

  closeWatchers(): void {
    this.watchers.clear();
  }
}

/** Selector transitions as the watch cache reports them: entering = ADDED, leaving = DELETED. */
function deliver(w: Watcher, c: Change): void {
  if (c.key !== w.key) return;
  const inNs = (o: Obj) => !w.namespace || o.metadata.namespace === w.namespace;
  const now = inNs(c.object) && w.matches(c.object);
  const before = c.prev !== undefined && inNs(c.prev) && w.matches(c.prev);
  if (c.type === 'ADDED') {
    if (now) w.send('ADDED', c.object);
  } else if (c.type === 'DELETED') {
    if (before) w.send('DELETED', c.object);
  } else if (now && before) w.send('MODIFIED', c.object);
  else if (now) w.send('ADDED', c.object);
  else if (before) w.send('DELETED', c.object);
}
