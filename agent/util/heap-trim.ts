// Gives the heap back to the system once a burst of work is over. V8 keeps the pages
// it grew into while pods started, and its memory reducer seldom runs in a process that
// allocates a little every second (as the relist loop does): with 30 pods about a
// third of the heap stays as free space. One compacting collection after a quiet
// spell returns it (5–7 MB of RSS with 30 pods). It needs `gc`, which the `kna`
// launcher exposes (--expose-gc); without it this does nothing.
import { getHeapStatistics } from 'node:v8';
import type { Logger } from './log.js';

type GcFunction = (opts: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

export interface HeapTrimOptions {
  /** quiet time after the last activity before trimming */
  quietMs?: number;
  /**
   * Growth of the heap since the last trim that is worth one (the collection takes
   * tens of ms). Growth, not free space: until a collection runs, dead objects count
   * as used, so free space right after a burst says little.
   */
  minGrowthBytes?: number;
  /** at most one trim per this period */
  minIntervalMs?: number;
  /** the collector; default the global one from --expose-gc */
  gc?: GcFunction;
  heapStats?: () => { total_heap_size: number };
}

export class HeapTrimmer {
  private timer: NodeJS.Timeout | undefined;
  private lastTrim = 0;
  /** the heap's size right after the last trim */
  private trimmedTo = 0;
  private readonly gc: GcFunction | undefined;

  constructor(private readonly log: Logger, private readonly o: HeapTrimOptions = {}) {
    this.gc = o.gc ?? (globalThis as { gc?: GcFunction }).gc;
  }

  get enabled(): boolean {
    return this.gc !== undefined;
  }

  /** Something changed (pods started, stopped...): trim once things have been quiet for a while. */
  activity(): void {
    if (!this.gc) return;
    clearTimeout(this.timer);
    const wait = Math.max(this.o.quietMs ?? 10_000, this.lastTrim + (this.o.minIntervalMs ?? 30_000) - Date.now());
    this.timer = setTimeout(() => this.trim(), wait);
    this.timer.unref();
  }

  /** Collects with compaction when the heap grew enough since the last trim; returns the bytes freed (0 if skipped). */
  trim(): number {
    if (!this.gc) return 0;
    const stats = this.o.heapStats ?? getHeapStatistics;
    const before = stats().total_heap_size;
    if (before - this.trimmedTo < (this.o.minGrowthBytes ?? 4 << 20)) return 0;
    const t0 = performance.now();
    this.gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    this.lastTrim = Date.now();
    this.trimmedTo = stats().total_heap_size;
    const freed = before - this.trimmedTo;
    this.log.debug({ freedMb: +(freed / 1048576).toFixed(1), heapMb: +(this.trimmedTo / 1048576).toFixed(1), ms: Math.round(performance.now() - t0) }, 'heap trimmed');
    return freed;
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}
