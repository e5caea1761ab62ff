// Exponential backoff with jitter and an abortable sleep, for reconnects.

export class Backoff {
  private current: number;

  constructor(
    private readonly initialMs = 800,
    private readonly maxMs = 30_000,
    private readonly factor = 2,
  ) {
    this.current = initialMs;
  }

  /** The next delay: grows by `factor` up to `maxMs`, with ±20% jitter so nodes spread out. */
  next(): number {
    const d = this.current;
    this.current = Math.min(this.maxMs, this.current * this.factor);
    return Math.round(d * (0.8 + Math.random() * 0.4));
  }

  reset(): void {
    this.current = this.initialMs;
  }
}

/** Resolves after `ms`, or at once (without throwing) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
