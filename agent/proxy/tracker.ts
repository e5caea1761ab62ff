// Change tracking, in the spirit of kube-proxy's service/endpoints change trackers:
// Services and EndpointSlices come in one by one; a sync asks which Services really
// changed since the last sync (no-op updates are dropped) and gets their service
// ports before and after, endpoints merged from all their slices.
import { isDeepStrictEqual } from 'node:util';
import { joinHostPort } from './ip.js';
import type { Endpoint, EndpointSliceInfo, IPFamily, ServiceInfo, ServicePortState } from './types.js';

export interface ServiceChange {
  /** "namespace/name". */
  readonly service: string;
  readonly previous: readonly ServicePortState[];
  readonly current: readonly ServicePortState[];
  /** Earliest trigger time (ms since epoch) of the changes folded in here. */
  readonly triggeredAt: number;
}

const rank = (ep: Endpoint): number => (ep.ready ? 2 : ep.serving ? 1 : 0);

export class ChangeTracker {
  private readonly services = new Map<string, ServiceInfo>();
  /** Service "ns/name" -> slice name -> slice. */
  private readonly slices = new Map<string, Map<string, EndpointSliceInfo>>();
  /** Slice "ns/name" -> the Service it belongs to (slices can be relabelled). */
  private readonly sliceOwner = new Map<string, string>();
  /** Service -> earliest pending trigger time. */
  private readonly dirty = new Map<string, number>();
  /** Service -> its ports as of the last take. */
  private readonly synced = new Map<string, readonly ServicePortState[]>();

  constructor(private readonly nodeName: string, private readonly family: IPFamily) {}

  /** Number of Services with changes not yet taken. */
  get pending(): number { return this.dirty.size; }

  setService(info: ServiceInfo, at = Date.now()): void {
    const key = `${info.namespace}/${info.name}`;
    this.services.set(key, info);
    this.mark(key, at);
  }

  deleteService(namespace: string, name: string, at = Date.now()): void {
    const key = `${namespace}/${name}`;
    if (this.services.delete(key)) this.mark(key, at);
  }

  setSlice(slice: EndpointSliceInfo, at = slice.triggerTime ?? Date.now()): void {
    const sliceKey = `${slice.namespace}/${slice.name}`;
    const owner = `${slice.namespace}/${slice.serviceName}`;
    const before = this.sliceOwner.get(sliceKey);
    if (before !== undefined && before !== owner) this.deleteSlice(slice.namespace, slice.name, at);
    this.sliceOwner.set(sliceKey, owner);
    let bySlice = this.slices.get(owner);
    if (!bySlice) this.slices.set(owner, (bySlice = new Map()));
    bySlice.set(slice.name, slice);
    this.mark(owner, at);
  }

  deleteSlice(namespace: string, name: string, at = Date.now()): void {
    const sliceKey = `${namespace}/${name}`;
    const owner = this.sliceOwner.get(sliceKey);
    if (owner === undefined) return;
    this.sliceOwner.delete(sliceKey);
    const bySlice = this.slices.get(owner)!;
    bySlice.delete(name);
    if (bySlice.size === 0) this.slices.delete(owner);
    this.mark(owner, at);
  }

  /** Names ("ns/name") of every Service and every slice currently known, for replacing the whole set. */
  keys(): { services: string[]; slices: string[] } {
    return { services: [...this.services.keys()], slices: [...this.sliceOwner.keys()] };
  }

  /** Services whose ports or endpoints differ from the last take, and marks them taken. */
  takeChanges(): ServiceChange[] {
    const changes: ServiceChange[] = [];
    for (const [key, at] of this.dirty) {
      const states = this.build(key);
      const before = this.synced.get(key) ?? [];
      if (isDeepStrictEqual(before, states)) continue;
      if (states.length > 0) this.synced.set(key, states);
      else this.synced.delete(key);
      changes.push({ service: key, previous: before, current: states, triggeredAt: at });
    }
    this.dirty.clear();
    return changes;
  }

  /** Every service port as of the last takeChanges(). */
  *states(): Iterable<ServicePortState> {
    for (const s of this.synced.values()) yield* s;
  }

  /** The Service as last taken, with its validated form (for explain). */
  lookup(namespace: string, name: string): { info?: ServiceInfo; states: readonly ServicePortState[] } {
    const key = `${namespace}/${name}`;
    const info = this.services.get(key);
    return { ...(info ? { info } : {}), states: this.synced.get(key) ?? [] };
  }

  private mark(key: string, at: number): void {
    const t = this.dirty.get(key);
    if (t === undefined || at < t) this.dirty.set(key, at);
  }

  private build(key: string): ServicePortState[] {
    const info = this.services.get(key);
    if (!info) return [];
    const slices = [...(this.slices.get(key)?.values() ?? [])].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const addressType = this.family === 4 ? 'IPv4' : 'IPv6';
    return info.ports.map((port) => {
      const byAddr = new Map<string, Endpoint>();
      for (const slice of slices) {
        if (slice.addressType !== addressType) continue;
        const p = slice.ports.find((sp) => sp.name === port.portName && sp.protocol === port.protocol);
        if (!p) continue;
        for (const ep of slice.endpoints) {
          const e: Endpoint = {
            ip: ep.address, port: p.port, ready: ep.ready, serving: ep.serving, terminating: ep.terminating,
            ...(ep.nodeName !== undefined ? { nodeName: ep.nodeName } : {}),
            isLocal: ep.nodeName === this.nodeName,
          };
          // The same address in two slices (during a controller's move): keep the most ready.
          const k = joinHostPort(e.ip, e.port);
          const old = byAddr.get(k);
          if (!old || rank(e) > rank(old)) byAddr.set(k, e);
        }
      }
      const endpoints = [...byAddr.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, e]) => e);
      return { port, endpoints };
    });
  }
}
