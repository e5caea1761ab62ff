// An informer in the small: list, then watch from the list's resourceVersion with
// bookmarks; resume after a dropped stream from the last resourceVersion seen; on
// 410 Gone list again and report the difference as events, so a consumer never
// has to know a relist happened. One loop per watched collection.
import type { Logger } from 'pino';
import type { ApiClient, KubeObject, WatchEvent } from './client.js';
import { ApiError } from './errors.js';
import { Backoff, sleep } from './retry.js';

export interface InformerEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: T;
  /** the previous state (MODIFIED, DELETED) */
  old?: T;
}

export interface WatchListOptions {
  labelSelector?: string;
  fieldSelector?: string;
  /** items per list page */
  pageSize?: number;
  /** first reconnect delay, doubled up to maxBackoffMs */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** server-side watch timeout; default 5-10 min, random, like client-go's reflector */
  watchTimeoutSeconds?: number;
  log?: Logger;
}

export const objectKey = (o: KubeObject): string => (o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name);

export class Informer<T extends KubeObject = KubeObject> {
  /** the current state, keyed by "namespace/name" (or "name") */
  readonly store = new Map<string, T>();
  resourceVersion = '';
  /** how many times a full list ran, and how many watches ended in 410 */
  readonly stats = { lists: 0, watches: 0, expired: 0 };
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private syncedResolve!: () => void;
  private readonly syncedPromise = new Promise<void>((r) => (this.syncedResolve = r));
  private readonly backoff: Backoff;

  constructor(
    private readonly client: ApiClient,
    /** a collection path, e.g. /api/v1/pods or /api/v1/namespaces/ns/configmaps */
    readonly path: string,
    private readonly onEvent: (ev: InformerEvent<T>) => void | Promise<void>,
    private readonly opts: WatchListOptions = {},
  ) {
    this.backoff = new Backoff(opts.minBackoffMs ?? 800, opts.maxBackoffMs ?? 30_000);
  }

  start(): this {
    this.loop ??= this.run();
    return this;
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  /** Resolves once the first list has been delivered. */
  synced(): Promise<void> {
    return this.syncedPromise;
  }

  private get selectors() {
    return { labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector };
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    let needList = true;
    while (!signal.aborted) {
      try {
        if (needList) {
          await this.list();
          needList = false;
          this.syncedResolve();
        }
        await this.watch(signal);
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof ApiError && err.isGone) {
          // Our resourceVersion is older than the server's history: list again.
          this.stats.expired++;
          this.opts.log?.info({ path: this.path, resourceVersion: this.resourceVersion }, 'watch expired (410), relisting');
          needList = true;
          continue;
        }
        const delay = this.backoff.next();
        this.opts.log?.warn({ path: this.path, err: (err as Error).message, retryInMs: delay }, 'list/watch failed');
        await sleep(delay, signal);
      }
    }
  }

  private async list(): Promise<void> {
    const items: T[] = [];
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await this.client.list<T>(this.path, { ...this.selectors, limit: this.opts.pageSize ?? 500, continue: cont });
      items.push(...page.items);
      cont = page.metadata.continue || undefined;
      rv = page.metadata.resourceVersion;
    } while (cont);
    this.stats.lists++;
    this.backoff.reset();
    const seen = new Set<string>();
    for (const o of items) {
      const k = objectKey(o);
      seen.add(k);
      const old = this.store.get(k);
      this.store.set(k, o);
      if (!old) await this.emit({ type: 'ADDED', object: o });
      else if (old.metadata.resourceVersion !== o.metadata.resourceVersion) await this.emit({ type: 'MODIFIED', object: o, old });
    }
    for (const [k, old] of [...this.store]) {
      if (seen.has(k)) continue;
      this.store.delete(k);
      await this.emit({ type: 'DELETED', object: old, old });
    }
    this.resourceVersion = rv;
  }

  private async watch(signal: AbortSignal): Promise<void> {
    const timeoutSeconds = this.opts.watchTimeoutSeconds ?? Math.floor(300 * (1 + Math.random()));
    this.stats.watches++;
    const started = Date.now();
    let events = 0;
    const stream = this.client.watch<T>(this.path, { ...this.selectors, resourceVersion: this.resourceVersion, allowWatchBookmarks: true, timeoutSeconds }, signal);
    for await (const ev of stream) {
      await this.apply(ev);
      events++;
      this.backoff.reset();
    }
    // A server that ends watches at once would have us spin: treat it as a failure (backoff).
    if (events === 0 && Date.now() - started < 1000 && !signal.aborted) throw new Error('watch closed immediately without events');
  }

  private async apply(ev: WatchEvent<T>): Promise<void> {
    if (ev.type === 'ERROR') {
      const s = ev.object;
      throw new ApiError('WATCH', this.path, s.code ?? 500, s.reason ?? 'InternalError', s.message ?? 'watch error');
    }
    const o = ev.object;
    if (o.metadata?.resourceVersion) this.resourceVersion = o.metadata.resourceVersion;
    if (ev.type === 'BOOKMARK') return;
    const k = objectKey(o);
    const old = this.store.get(k);
    if (ev.type === 'DELETED') {
      this.store.delete(k);
      await this.emit({ type: 'DELETED', object: o, ...(old ? { old } : {}) });
    } else {
      this.store.set(k, o);
      await this.emit(old ? { type: 'MODIFIED', object: o, old } : { type: 'ADDED', object: o });
    }
  }

  private async emit(ev: InformerEvent<T>): Promise<void> {
    try {
      await this.onEvent(ev);
    } catch (err) {
      this.opts.log?.error({ path: this.path, err: (err as Error).message }, 'informer handler failed');
    }
  }
}

/** Lists and watches `path`, delivering every change to `onEvent`. Call stop() to end. */
export function watchList<T extends KubeObject = KubeObject>(client: ApiClient, path: string, onEvent: (ev: InformerEvent<T>) => void | Promise<void>, opts: WatchListOptions = {}): Informer<T> {
  return new Informer<T>(client, path, onEvent, opts).start();
}
