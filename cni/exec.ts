// Child processes for the plugin: argv arrays and stdin only, never a shell.
// node:child_process directly rather than execa: execa adds ~10 ms to the start
// of every plugin run, and the plugin needs nothing beyond spawn.
import { spawn } from 'node:child_process';
import { SystemError } from './spec/errors.js';

export interface RunResult { code: number; stdout: string; stderr: string }

/** Absolute-path lookup happens in spawn via PATH; give the plugin a sane one (runtimes pass a bare env). */
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function run(argv: readonly string[], input?: string, timeoutMs = 30_000): Promise<RunResult> {
  if (input === undefined) return spawnProcess(argv, false, timeoutMs).result;
  const p = spawnProcess(argv, true, timeoutMs);
  p.stdin!.end(input);
  return p.result;
}

/**
 * A process started now and given its stdin later. Forking costs the plugin a few
 * ms of main thread, and the program's own start-up a few more: starting helpers
 * (ip, iptables-restore) before their input is known takes both off the critical path.
 */
export interface Started {
  /** Writes `input` and closes stdin (first call only); resolves when the process exits. */
  feed(input: string): Promise<RunResult>;
}

export function start(argv: readonly string[], timeoutMs = 30_000): Started {
  // Helpers fed this way report through their exit status and stderr only.
  const p = spawnProcess(argv, true, timeoutMs, false);
  p.result.catch(() => { /* reported through feed() */ });
  let fed: Promise<RunResult> | undefined;
  return {
    feed(input: string): Promise<RunResult> {
      if (!fed) {
        p.stdin?.end(input);
        fed = p.result;
      }
      return fed;
    },
  };
}

function spawnProcess(argv: readonly string[], withStdin: boolean, timeoutMs: number, withStdout = true): { stdin?: NodeJS.WritableStream; result: Promise<RunResult> } {
  let stdin: NodeJS.WritableStream | undefined;
  const result = new Promise<RunResult>((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: [withStdin ? 'pipe' : 'ignore', withStdout ? 'pipe' : 'ignore', 'pipe'],
      env: { PATH: process.env.PATH ? `${process.env.PATH}:${PATH}` : PATH, LC_ALL: 'C' },
      timeout: timeoutMs,
      killSignal: 'SIGKILL',
    });
    let stdout = '', stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', (e) => reject(new SystemError(argv[0]!, e.message)));
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
    if (withStdin) {
      child.stdin!.on('error', () => { /* the child exited early; its status tells */ });
      stdin = child.stdin!;
    }
  });
  return { ...(stdin ? { stdin } : {}), result };
}

/** Like run, but a non-zero exit is an I/O failure naming the program and its stderr. */
export async function runOk(argv: readonly string[], input?: string): Promise<string> {
  const r = await run(argv, input);
  if (r.code !== 0) throw new SystemError(argv.join(' '), `exit status ${r.code}`, r.stderr.trim() || undefined);
  return r.stdout;
}
