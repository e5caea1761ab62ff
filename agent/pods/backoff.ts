// Per-key exponential back-off with kubelet's semantics (client-go flowcontrol.Backoff,
// without jitter): the first back-off is 10 s, each next one doubles up to 300 s, and
// a key whose last back-off started more than 2 x max (10 min) before the event is
// stable again: it starts over at 10 s. Crash loops use it per (pod UID, container);
// image pulls per image. The clock is injectable, all times are ms since the epoch.

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  now?: () => number;
}

interface Entry {
  backoffMs: number;
  lastUpdate: number;
}

export const CRASH_BACKOFF_INITIAL_MS = 10_000;
export const CRASH_BACKOFF_MAX_MS = 300_000;

export class Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  private readonly now: () => number;
  private readonly entries = new Map<string, Entry>();

  constructor(opts: BackoffOptions = {}) {
    this.initialMs = opts.initialMs ?? CRASH_BACKOFF_INITIAL_MS;
    this.maxMs = opts.maxMs ?? CRASH_BACKOFF_MAX_MS;
    this.now = opts.now ?? Date.now;
  }

  /** The current back-off duration of a key (0 if none). */
  get(key: string): number {
    return this.entries.get(key)?.backoffMs ?? 0;
  }

  /**
   * Records one more back-off step for an event at `eventTime` (kubelet: the restart
   * of a container that finished at eventTime): initial after a stable period, else double.
   */
  next(key: string, eventTime: number = this.now()): void {
    const e = this.entries.get(key);
    const backoffMs = !e || this.expired(eventTime, e) ? this.initialMs : Math.min(e.backoffMs * 2, this.maxMs);
    this.entries.set(key, { backoffMs, lastUpdate: this.now() });
  }

  /** True while less than the back-off has passed since eventTime (kubelet's crash-loop test). */
  isInBackOffSince(key: string, eventTime: number): boolean {
    const e = this.entries.get(key);
    if (!e || this.expired(eventTime, e)) return false;
    return this.now() - eventTime < e.backoffMs;
  }

  /** ms left before the back-off since eventTime ends (0 when not backing off). */
  remainingSince(key: string, eventTime: number): number {
    return this.isInBackOffSince(key, eventTime) ? eventTime + this.get(key) - this.now() : 0;
  }

  /** True while less than the back-off has passed since the last next() (kubelet's image-pull test). */
  isInBackOffSinceUpdate(key: string, eventTime: number = this.now()): boolean {
    const e = this.entries.get(key);
    if (!e || this.expired(eventTime, e)) return false;
    return eventTime - e.lastUpdate < e.backoffMs;
  }

  /** A failure now: same as next(key, at). */
  failed(key: string, at: number = this.now()): void {
    this.next(key, at);
  }

  /** ms left of the back-off window opened by the last failure (0 when none). */
  remaining(key: string, at: number = this.now()): number {
    const e = this.entries.get(key);
    return e && this.isInBackOffSinceUpdate(key, at) ? e.lastUpdate + e.backoffMs - at : 0;
  }

  reset(key: string): void {
    this.entries.delete(key);
  }

  /** Forgets keys idle for more than 2 x max; call now and then. */
  gc(): void {
    const now = this.now();
    for (const [k, e] of this.entries) if (now - e.lastUpdate > 2 * this.maxMs) this.entries.delete(k);
  }

  get size(): number {
    return this.entries.size;
  }

  private expired(eventTime: number, e: Entry): boolean {
    return eventTime - e.lastUpdate > 2 * this.maxMs;
  }
}

/** The crash back-off key of a container: per pod UID and container name. */
export function crashBackoffKey(podUid: string, containerName: string): string {
  return `${podUid}/${containerName}`;
}

/** Go's time.Duration text for whole seconds: 10s, 1m20s, 5m0s, 1h0m0s. */
export function formatDuration(ms: number): string {
  let s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return h > 0 ? `${h}h${m}m${s}s` : `${m}m${s}s`;
}
