// Reading containerd's CRI log files: each line is `<RFC3339Nano> <stdout|stderr> <P|F> <text>`,
// P marking a partial line that the next entry continues.
import { open } from 'node:fs/promises';

export interface LogEntry {
  time: string;
  stream: 'stdout' | 'stderr';
  text: string;
}

/** Parses whole file lines into entries, joining partial (P) pieces. */
export class CriLogParser {
  private partial: LogEntry | undefined;

  push(line: string): LogEntry | undefined {
    const m = /^(\S+) (stdout|stderr) ([PF]) ?(.*)$/.exec(line);
    if (!m) return undefined; // a torn or foreign line: skip rather than print garbage
    const [, time, stream, tag, text] = m as unknown as [string, string, 'stdout' | 'stderr', 'P' | 'F', string];
    if (this.partial && this.partial.stream === stream) {
      this.partial.text += text;
    } else {
      this.partial = { time, stream, text };
    }
    if (tag === 'P') return undefined;
    const done = this.partial;
    this.partial = undefined;
    return done;
  }
}

export function formatEntry(e: LogEntry, timestamps: boolean): string {
  return (timestamps ? `${e.time} ` : '') + e.text + '\n';
}

export interface ReadLogOptions {
  tail?: number;
  /** only entries at or after this time (kubectl logs --since/--since-time) */
  since?: Date;
  timestamps?: boolean;
  follow?: boolean;
  signal?: AbortSignal;
  /** Polling interval for follow, ms. */
  pollMs?: number;
}

/** An entry's time in ms (RFC3339Nano: the digits past milliseconds are dropped, not rounded). */
export function entryTime(e: LogEntry): number {
  return Date.parse(e.time.replace(/(\.\d{3})\d+/, '$1'));
}

/** Streams a CRI log file as plain text lines to `write`, like `kubectl logs`. */
export async function readCriLog(path: string, write: (chunk: string) => void, opts: ReadLogOptions = {}): Promise<void> {
  const parser = new CriLogParser();
  const fh = await open(path, 'r');
  try {
    let pos = 0;
    let rest = '';
    const readAvailable = async (): Promise<LogEntry[]> => {
      const out: LogEntry[] = [];
      const size = (await fh.stat()).size;
      if (size < pos) { pos = 0; rest = ''; } // truncated or rotated in place
      while (pos < size) {
        const buf = Buffer.alloc(Math.min(1 << 20, size - pos));
        const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
        if (bytesRead === 0) break;
        pos += bytesRead;
        const lines = (rest + buf.subarray(0, bytesRead).toString('utf8')).split('\n');
        rest = lines.pop() ?? '';
        for (const l of lines) {
          const e = parser.push(l);
          if (e) out.push(e);
        }
      }
      return out;
    };
    let first = await readAvailable();
    if (opts.since) first = first.filter((e) => entryTime(e) >= opts.since!.getTime());
    if (opts.tail !== undefined) first = opts.tail <= 0 ? [] : first.slice(-opts.tail);
    for (const e of first) write(formatEntry(e, !!opts.timestamps));
    while (opts.follow && !opts.signal?.aborted) {
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 200));
      for (const e of await readAvailable()) write(formatEntry(e, !!opts.timestamps));
    }
  } finally {
    await fh.close();
  }
}
