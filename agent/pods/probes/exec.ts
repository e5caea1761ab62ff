// Exec probe through the runtime's ExecSync: exit 0 is success, a timeout is a failure.
import { ExecTimeoutError, MAX_OUTPUT_BYTES, type ExecAction, type ExecSyncFn, type ExecSyncResult, type ProbeOutcome } from './types.js';

export interface ExecOptions {
  execSync: ExecSyncFn;
  containerId: string;
  timeoutSec: number;
  signal: AbortSignal;
}

const GRPC_DEADLINE_EXCEEDED = 4;

export function isTimeoutError(e: unknown): boolean {
  const err = e as { code?: unknown; name?: unknown };
  return e instanceof ExecTimeoutError || err?.code === GRPC_DEADLINE_EXCEEDED || err?.name === 'TimeoutError';
}

function text(b: string | Uint8Array): string {
  return typeof b === 'string' ? b : Buffer.from(b).toString('utf8');
}

/** Output like kubelet's: stdout then stderr, capped. */
export function combinedOutput(r: ExecSyncResult): string {
  const s = text(r.stdout) + text(r.stderr);
  return s.length > MAX_OUTPUT_BYTES ? s.slice(0, MAX_OUTPUT_BYTES) : s;
}

/** Runs execSync but gives up (with ExecTimeoutError) when signal aborts first. */
export function execWithSignal(opts: ExecOptions, cmd: string[]): Promise<ExecSyncResult> {
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(new ExecTimeoutError(`command ${JSON.stringify(cmd.join(' '))} timed out`));
    if (opts.signal.aborted) return onAbort();
    opts.signal.addEventListener('abort', onAbort, { once: true });
    Promise.resolve()
      .then(() => opts.execSync(opts.containerId, cmd, opts.timeoutSec))
      .then(resolve, reject)
      .finally(() => opts.signal.removeEventListener('abort', onAbort));
  });
}

export async function execProbe(action: ExecAction, opts: ExecOptions): Promise<ProbeOutcome> {
  const cmd = action.command ?? [];
  if (cmd.length === 0) return { result: 'Unknown', output: 'exec probe has no command' };
  try {
    const r = await execWithSignal(opts, cmd);
    const output = combinedOutput(r);
    if (r.exitCode === 0) return { result: 'Success', output };
    return { result: 'Failure', output: output || `command ${JSON.stringify(cmd.join(' '))} exited with ${r.exitCode}` };
  } catch (e) {
    if (isTimeoutError(e)) return { result: 'Failure', output: `command ${JSON.stringify(cmd.join(' '))} timed out` };
    return { result: 'Unknown', output: `exec probe failed to run: ${(e as Error).message}` };
  }
}
