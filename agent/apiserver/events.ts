// kubelet's Events in the API server, as client-go's event broadcaster and
// correlator record them: a core/v1 Event per new (object, type, reason, message,
// source), the same one again only bumps count and lastTimestamp by PATCH; ten
// different messages for one (object, type, reason) within 10 minutes become one
// "(combined from similar events)" Event; a token bucket per object (burst 25, one
// token per 5 minutes) drops the excess. The pod machinery never waits for any of
// it: events go through a bounded queue sent in the background, a few retries
// while the server is away, then dropped with a debug line.
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { EventType, PodEvents, PodRef } from '../pods/events.js';
import { errorMessage } from '../util/errors.js';
import { resourcePath, type ApiClient } from './client.js';
import { ApiConnectionError, ApiError } from './errors.js';
import { sleep } from './retry.js';

export const EVENT_COMPONENT = 'kubelet';

/** A core/v1 Event as kubelet's recorder writes it. */
export interface CoreEvent {
  apiVersion: 'v1';
  kind: 'Event';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  involvedObject: { kind: 'Pod'; apiVersion: 'v1'; namespace: string; name: string; uid: string; resourceVersion?: string; fieldPath?: string };
  reason: string;
  message: string;
  type: EventType;
  source: { component: string; host: string };
  firstTimestamp: string;
  lastTimestamp: string;
  count: number;
  eventTime: null;
  reportingComponent: string;
  reportingInstance: string;
}

/** What a repeated event changes on the stored one (a strategic merge patch). */
export interface EventPatch {
  count: number;
  lastTimestamp: string;
  message: string;
}

/** metav1.Time: RFC 3339 in whole seconds. */
export const apiTime = (ms: number): string => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

/** The Event of one occurrence (count 1, named later by the correlator). */
export function podEvent(pod: PodRef, type: EventType, reason: string, message: string, host: string, nowMs: number, fieldPath?: string): CoreEvent {
  const m = pod.metadata;
  const namespace = m.namespace || 'default';
  const rv = typeof m.resourceVersion === 'string' && m.resourceVersion ? m.resourceVersion : undefined;
  const ts = apiTime(nowMs);
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: '', namespace },
    involvedObject: { kind: 'Pod', apiVersion: 'v1', namespace, name: m.name, uid: m.uid, ...(rv ? { resourceVersion: rv } : {}), ...(fieldPath ? { fieldPath } : {}) },
    reason,
    message,
    type,
    source: { component: EVENT_COMPONENT, host },
    firstTimestamp: ts,
    lastTimestamp: ts,
    count: 1,
    eventTime: null,
    reportingComponent: EVENT_COMPONENT,
    reportingInstance: host,
  };
}

/** A Map that forgets its least recently used keys beyond `max`. */
export class Lru<K, V> {
  private readonly map = new Map<K, V>();
  constructor(private readonly max: number) {}

  get(k: K): V | undefined {
    const v = this.map.get(k);
    if (v !== undefined) {
      this.map.delete(k);
      this.map.set(k, v);
    }
    return v;
  }

  set(k: K, v: V): void {
    this.map.delete(k);
    this.map.set(k, v);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as K);
  }

  get size(): number {
    return this.map.size;
  }
}

/** client-go's passive token bucket: `burst` tokens, one more every `refillMs`. */
export class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(private readonly burst: number, private readonly refillMs: number, now: number) {
    this.tokens = burst;
    this.last = now;
  }

  tryAccept(now: number): boolean {
    this.tokens = Math.min(this.burst, this.tokens + Math.max(0, now - this.last) / this.refillMs);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export interface CorrelatorOptions {
  now?: () => number;
  /** entries kept per cache (client-go: 4096) */
  cacheSize?: number;
  /** spam filter: burst and refill per object (client-go: 25, one per 5 minutes) */
  burst?: number;
  refillMs?: number;
  /** distinct messages per (object, type, reason) before they are combined, and the window (client-go: 10, 10 minutes) */
  maxSimilar?: number;
  similarWindowMs?: number;
}

export interface Correlated {
  event: CoreEvent;
  /** set when the event repeats one already stored: PATCH it (create it when gone) */
  patch?: EventPatch;
  /** dropped by the spam filter */
  skip: boolean;
  /** the cache key: updateState() with the server's answer under it */
  key: string;
}

const join = (...parts: (string | undefined)[]) => parts.map((p) => p ?? '').join('\x00');
const objectKey = (e: CoreEvent) => join(e.source.component, e.source.host, e.involvedObject.kind, e.involvedObject.namespace, e.involvedObject.name, e.involvedObject.uid, e.involvedObject.apiVersion);
const similarKey = (e: CoreEvent) => join(objectKey(e), e.type, e.reason, e.reportingComponent, e.reportingInstance);
const eventKey = (e: CoreEvent) => join(objectKey(e), e.involvedObject.fieldPath, e.type, e.reason, e.message);

/**
 * client-go's EventCorrelator, pure (the clock is injected): aggregate similar events,
 * observe repeats (count, the stored name), then filter spam. Call correlate() and
 * updateState() in the order events are sent.
 */
export class EventCorrelator {
  private readonly now: () => number;
  private readonly similar: Lru<string, { messages: Set<string>; last: number }>;
  private readonly seen: Lru<string, { count: number; firstTimestamp: string; name: string; resourceVersion?: string }>;
  private readonly spam: Lru<string, TokenBucket>;
  private readonly o: Required<Omit<CorrelatorOptions, 'now' | 'cacheSize'>>;
  private lastNanos = 0n;

  constructor(opts: CorrelatorOptions = {}) {
    this.now = opts.now ?? Date.now;
    const size = opts.cacheSize ?? 4096;
    this.similar = new Lru(size);
    this.seen = new Lru(size);
    this.spam = new Lru(size);
    this.o = { burst: opts.burst ?? 25, refillMs: opts.refillMs ?? 300_000, maxSimilar: opts.maxSimilar ?? 10, similarWindowMs: opts.similarWindowMs ?? 600_000 };
  }

  /** `<object name>.<hex nanoseconds>`, unique within this recorder even for events in the same millisecond. */
  private name(objName: string, nowMs: number): string {
    let n = BigInt(nowMs) * 1_000_000n;
    if (n <= this.lastNanos) n = this.lastNanos + 1n;
    this.lastNanos = n;
    return `${objName}.${n.toString(16)}`;
  }

  correlate(input: CoreEvent): Correlated {
    const now = this.now();
    let ev: CoreEvent = { ...input, metadata: { ...input.metadata, name: input.metadata.name || this.name(input.involvedObject.name, now) } };
    // Aggregation: the n-th distinct message of one (object, type, reason) within the window.
    const sKey = similarKey(ev);
    let rec = this.similar.get(sKey);
    if (!rec || now - rec.last > this.o.similarWindowMs) rec = { messages: new Set(), last: now };
    rec.messages.add(ev.message);
    rec.last = now;
    this.similar.set(sKey, rec);
    let key = eventKey(ev);
    if (rec.messages.size >= this.o.maxSimilar) {
      rec.messages.delete(rec.messages.values().next().value as string);
      const ts = apiTime(now);
      ev = { ...ev, metadata: { name: this.name(ev.involvedObject.name, now), namespace: ev.metadata.namespace }, message: `(combined from similar events): ${ev.message}`, count: 1, firstTimestamp: ts, lastTimestamp: ts };
      key = sKey;
    }
    // Observation: a repeat keeps the stored Event's name and first time, one more count.
    const last = this.seen.get(key);
    let patch: EventPatch | undefined;
    if (last) {
      ev = {
        ...ev,
        metadata: { name: last.name, namespace: ev.metadata.namespace, ...(last.resourceVersion ? { resourceVersion: last.resourceVersion } : {}) },
        count: last.count + 1,
        firstTimestamp: last.firstTimestamp,
      };
      patch = { count: ev.count, lastTimestamp: ev.lastTimestamp, message: ev.message };
    }
    this.seen.set(key, { count: ev.count, firstTimestamp: ev.firstTimestamp, name: ev.metadata.name, ...(ev.metadata.resourceVersion ? { resourceVersion: ev.metadata.resourceVersion } : {}) });
    // Spam filter, per object: counted above even when dropped here, as client-go does.
    const oKey = objectKey(ev);
    let bucket = this.spam.get(oKey);
    if (!bucket) this.spam.set(oKey, (bucket = new TokenBucket(this.o.burst, this.o.refillMs, now)));
    const skip = !bucket.tryAccept(now);
    return { event: ev, ...(patch ? { patch } : {}), skip, key };
  }

  /** The server's copy after a create or patch: later repeats patch it. */
  updateState(key: string, saved: Pick<CoreEvent, 'metadata' | 'count' | 'firstTimestamp'>): void {
    this.seen.set(key, { count: saved.count, firstTimestamp: saved.firstTimestamp, name: saved.metadata.name, ...(saved.metadata.resourceVersion ? { resourceVersion: saved.metadata.resourceVersion } : {}) });
  }
}

export interface ApiEventsOptions {
  client: Pick<ApiClient, 'request'>;
  nodeName: string;
  log: Logger;
  registry?: Registry;
  /** events waiting beyond this are dropped (client-go: 1000) */
  queueLimit?: number;
  /** waits between tries of one event while the server is away */
  retryDelaysMs?: number[];
  correlator?: EventCorrelator;
  now?: () => number;
  /** the involvedObject's name: a static pod's is its mirror's, as kubelet names static pods */
  objectName?: (pod: PodRef) => string;
}

type Result = 'created' | 'patched' | 'filtered' | 'dropped';

/** The API sink of PodEvents (joined nodes). */
export class ApiEvents implements PodEvents {
  private readonly queue: CoreEvent[] = [];
  private sending: Promise<void> | undefined;
  private stopped = false;
  private readonly abort = new AbortController();
  private readonly correlator: EventCorrelator;
  private readonly now: () => number;
  private readonly counter: Counter<'result'> | undefined;

  constructor(private readonly o: ApiEventsOptions) {
    this.now = o.now ?? Date.now;
    this.correlator = o.correlator ?? new EventCorrelator({ now: this.now });
    this.counter = o.registry
      ? new Counter({ name: 'kna_events_recorded_total', help: 'Pod Events for the API server, by outcome: created, patched (a repeat), filtered (spam filter), dropped (queue full or the server refused or stayed away).', labelNames: ['result'], registers: [o.registry] })
      : undefined;
  }

  event(pod: PodRef, type: EventType, reason: string, message: string, fieldPath?: string): void {
    if (this.stopped) return;
    if (this.queue.length >= (this.o.queueLimit ?? 1000)) {
      this.count('dropped');
      this.o.log.debug({ pod: `${pod.metadata.namespace}/${pod.metadata.name}`, event: reason }, 'event dropped: queue full');
      return;
    }
    const name = this.o.objectName?.(pod) ?? pod.metadata.name;
    const ref = name === pod.metadata.name ? pod : { metadata: { ...pod.metadata, name } };
    this.queue.push(podEvent(ref, type, reason, message, this.o.nodeName, this.now(), fieldPath));
    this.sending ??= this.drain().finally(() => (this.sending = undefined));
  }

  /** Sends what is queued for up to `drainMs`, then gives up on the rest. */
  async stop(drainMs = 2000): Promise<void> {
    this.stopped = true;
    const t = sleep(drainMs, this.abort.signal);
    await Promise.race([this.sending, t]);
    this.abort.abort();
    await this.sending;
  }

  /** Events waiting to be sent (tests, metrics). */
  get pending(): number {
    return this.queue.length;
  }

  private count(r: Result): void {
    this.counter?.inc({ result: r });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0 && !this.abort.signal.aborted) {
      const c = this.correlator.correlate(this.queue.shift()!);
      if (c.skip) {
        this.count('filtered');
        continue;
      }
      await this.send(c);
    }
    if (this.abort.signal.aborted && this.queue.length > 0) {
      this.o.log.debug({ events: this.queue.length }, 'events dropped at stop');
      for (const _ of this.queue.splice(0)) this.count('dropped');
    }
  }

  private async send(c: Correlated): Promise<void> {
    const ns = c.event.metadata.namespace;
    const delays = this.o.retryDelaysMs ?? [1000, 2000, 4000];
    const req = <T>(method: string, path: string, body: unknown, contentType?: string) =>
      this.o.client.request<T>(method, path, { body, signal: this.abort.signal, timeoutMs: 10_000, ...(contentType ? { contentType } : {}) });
    for (let attempt = 0; ; attempt++) {
      try {
        let saved: CoreEvent | undefined;
        if (c.patch) {
          try {
            saved = await req<CoreEvent>('PATCH', resourcePath({ resource: 'events', namespace: ns, name: c.event.metadata.name }), c.patch, 'application/strategic-merge-patch+json');
            this.count('patched');
          } catch (err) {
            // Gone (expired, deleted): record it anew, with the count it has reached.
            if (!(err instanceof ApiError && err.isNotFound)) throw err;
          }
        }
        if (!saved) {
          const { resourceVersion: _rv, ...metadata } = c.event.metadata;
          saved = await req<CoreEvent>('POST', resourcePath({ resource: 'events', namespace: ns }), { ...c.event, metadata });
          this.count('created');
        }
        this.correlator.updateState(c.key, saved);
        return;
      } catch (err) {
        const retry = !this.abort.signal.aborted && attempt < delays.length && retryable(err);
        if (!retry) {
          this.count('dropped');
          this.o.log.debug({ pod: `${ns}/${c.event.involvedObject.name}`, event: c.event.reason, err: errorMessage(err) }, 'event dropped');
          return;
        }
        await sleep(delays[attempt]!, this.abort.signal);
      }
    }
  }
}

/** No answer, or the server is overloaded or failing: try again; anything else is final. */
function retryable(err: unknown): boolean {
  if (err instanceof ApiConnectionError) return true;
  return err instanceof ApiError && (err.code === 429 || err.code >= 500);
}
