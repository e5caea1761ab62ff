// Standalone mode's source of truth: the manifest folder. Watched for changes (with a
// periodic rescan, since inotify misses edits on some filesystems); each scan yields
// the whole desired state, and bad files are reported without stopping the others.
import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { readManifestDir, type ManifestError, type ManifestObject } from './manifest/reader.js';
import type { Logger } from '../util/log.js';

export interface DesiredState {
  objects: ManifestObject[];
  errors: ManifestError[];
}

export class ManifestSource extends EventEmitter<{ update: [DesiredState] }> {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private last = '';
  private lastErrors = new Set<string>();
  private scanning: Promise<void> | undefined;
  private rescanAgain = false;

  constructor(private readonly dir: string, private readonly nodeName: string, private readonly log: Logger, private readonly rescanMs = 10_000) {
    super();
  }

  /** Scans once (so the caller knows the desired state before syncing), then watches. */
  async start(): Promise<void> {
    await this.scan();
    try {
      this.watcher = watch(this.dir, () => this.schedule());
      this.watcher.on('error', (err) => this.log.warn({ err, dir: this.dir }, 'manifest folder watch failed; rescanning periodically'));
    } catch (err) {
      this.log.warn({ err, dir: this.dir }, 'cannot watch the manifest folder; rescanning periodically');
    }
    this.timer = setInterval(() => this.schedule(), this.rescanMs);
  }

  stop(): void {
    this.watcher?.close();
    clearInterval(this.timer);
    clearTimeout(this.debounce);
  }

  private schedule(): void {
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.scan(), 2); // coalesce a rename's event pair
  }

  /** One scan at a time; a change seen during a scan triggers one more. */
  scan(): Promise<void> {
    if (this.scanning) {
      this.rescanAgain = true;
      return this.scanning;
    }
    this.scanning = (async () => {
      do {
        this.rescanAgain = false;
        const state = await readManifestDir(this.dir, this.nodeName).catch((err: Error) => ({
          objects: [] as ManifestObject[], errors: [{ file: this.dir, message: err.message }] as ManifestError[], failed: true,
        }));
        if ('failed' in state) {
          // An unreadable folder keeps the last good state rather than deleting every pod.
          this.reportErrors(state.errors);
          continue;
        }
        this.reportErrors(state.errors);
        const key = JSON.stringify(state.objects);
        if (key !== this.last) {
          this.last = key;
          this.emit('update', state);
        }
      } while (this.rescanAgain);
    })().finally(() => { this.scanning = undefined; });
    return this.scanning;
  }

  /** Logs each distinct error once, so a bad file does not flood the log every rescan. */
  private reportErrors(errors: ManifestError[]): void {
    const now = new Set(errors.map((e) => e.message));
    for (const e of now) if (!this.lastErrors.has(e)) this.log.error({ error: e }, 'invalid manifest');
    this.lastErrors = now;
  }
}
