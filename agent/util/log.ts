// One pino logger for the agent: JSON to stderr by default (what log shippers
// expect), a short human format with --log-format text.
import { pino, type Logger } from 'pino';

export type LogFormat = 'json' | 'text';

function textStream(): pino.DestinationStream {
  return {
    write(line: string) {
      const { level, time, msg, name: _n, pid: _p, hostname: _h, ...rest } = JSON.parse(line) as Record<string, unknown>;
      const label = pino.levels.labels[Number(level)] ?? String(level);
      const extra = Object.keys(rest).length ? ' ' + JSON.stringify(rest) : '';
      process.stderr.write(`${new Date(Number(time)).toISOString()} ${label.toUpperCase().padEnd(5)} ${String(msg ?? '')}${extra}\n`);
    },
  };
}

export function createLogger(format: LogFormat = 'json', level = 'info'): Logger {
  return format === 'text' ? pino({ level, base: undefined }, textStream()) : pino({ level, base: undefined }, pino.destination(2));
}

/** The process-wide logger; `kna run` replaces it once flags are parsed. */
export let logger: Logger = createLogger('json', process.env.KNA_LOG_LEVEL ?? 'info');
export function setLogger(l: Logger): void {
  logger = l;
}
export type { Logger };
