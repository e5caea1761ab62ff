// Container lifecycle hooks (postStart, preStop) with kubelet's semantics:
// - exec runs through the runtime's ExecSync; a non-zero exit fails the hook.
// - httpGet fails only when no HTTP response arrives (kubelet does not look at the
//   status code of hook responses); HTTPS that meets a plain-HTTP server is retried over HTTP.
// - sleep waits; it fails when cut short (timeout or signal).
// The caller owns the consequences: a failed postStart kills the container
// (reason FailedPostStartHook); preStop runs inside the termination grace period, so
// the caller passes the remaining grace as timeoutSec and subtracts the time spent
// (remainingGracePeriod).
import { execWithSignal, combinedOutput, isTimeoutError } from '../probes/exec.js';
import { buildHttpRequest, httpGetOnce, LIFECYCLE_USER_AGENT } from '../probes/http.js';
import type { ContainerPortLike, ExecAction, ExecSyncFn, HTTPGetAction, TCPSocketAction } from '../probes/types.js';

export interface SleepAction { seconds: number }

/** v1.LifecycleHandler. tcpSocket exists in the API only for compatibility and always fails. */
export interface LifecycleHandler {
  exec?: ExecAction;
  httpGet?: HTTPGetAction;
  sleep?: SleepAction;
  tcpSocket?: TCPSocketAction;
}

export type HookKind = 'PostStart' | 'PreStop';
export const FAILED_POST_START_HOOK = 'FailedPostStartHook';
export const FAILED_PRE_STOP_HOOK = 'FailedPreStopHook';
/** kubelet never gives a container less than this after its preStop hook. */
export const MIN_GRACE_PERIOD_SECONDS = 2;

export interface HookContext {
  execSync: ExecSyncFn;
  containerId: string;
  podIP?: string | undefined;
  container: { name: string; ports?: ContainerPortLike[] };
  /** Named in failure messages as kubelet does (`in Pod "name_namespace(uid)"`). */
  pod?: { metadata: { name?: string; namespace?: string; uid?: string } };
  /** PreStop: the remaining grace period. PostStart: an upper bound of your choice. */
  timeoutSec: number;
  /** Sets `reason` on failure (FailedPostStartHook / FailedPreStopHook). */
  kind?: HookKind;
  /** Cuts the hook short (e.g. the container died, the pod is force-deleted). */
  signal?: AbortSignal;
}

export interface HookResult {
  ok: boolean;
  /** Empty on success; on failure kubelet's event text. */
  message: string;
  reason?: typeof FAILED_POST_START_HOOK | typeof FAILED_PRE_STOP_HOOK;
  elapsedMs: number;
}

/** `for Container "c" in Pod "name_namespace(uid)"` (kubelet's format.Pod), without the pod part when unknown. */
function subject(ctx: HookContext): string {
  const md = ctx.pod?.metadata;
  const pod = md ? ` in Pod "${md.name ?? ''}_${md.namespace ?? ''}(${md.uid ?? ''})"` : '';
  return `for Container "${ctx.container.name}"${pod}`;
}

/** Grace left for the container's stop after a preStop hook took elapsedMs (never below 2 s). Pure. */
export function remainingGracePeriod(graceSec: number, elapsedMs: number): number {
  return Math.max(MIN_GRACE_PERIOD_SECONDS, graceSec - Math.floor(elapsedMs / 1000));
}

function timeoutSignal(ctx: HookContext): { signal: AbortSignal; timedOut: () => boolean; done: () => void } {
  const ac = new AbortController();
  let timedOut = false;
  const t = setTimeout(() => {
    timedOut = true;
    ac.abort();
  }, Math.max(0, ctx.timeoutSec) * 1000);
  const onOuter = () => ac.abort();
  ctx.signal?.addEventListener('abort', onOuter, { once: true });
  if (ctx.signal?.aborted) ac.abort();
  return {
    signal: ac.signal,
    timedOut: () => timedOut,
    done: () => {
      clearTimeout(t);
      ctx.signal?.removeEventListener('abort', onOuter);
    },
  };
}

async function runExec(action: ExecAction, ctx: HookContext, signal: AbortSignal, timedOut: () => boolean): Promise<string | undefined> {
  const cmd = action.command ?? [];
  const what = `Exec lifecycle hook ([${cmd.join(' ')}]) ${subject(ctx)} failed - error: `;
  if (cmd.length === 0) return `${what}no command given, message: ""`;
  try {
    const r = await execWithSignal({ execSync: ctx.execSync, containerId: ctx.containerId, timeoutSec: ctx.timeoutSec, signal }, cmd);
    if (r.exitCode === 0) return undefined;
    const stderr = typeof r.stderr === 'string' ? r.stderr : Buffer.from(r.stderr).toString('utf8');
    return `${what}command '${cmd.join(' ')}' exited with ${r.exitCode}: ${stderr}, message: ${JSON.stringify(combinedOutput(r))}`;
  } catch (e) {
    if (signal.aborted && !timedOut()) return `${what}cancelled, message: ""`;
    if (timedOut() || isTimeoutError(e)) return `${what}not completed within ${ctx.timeoutSec}s, message: ""`;
    return `${what}${(e as Error).message}, message: ""`;
  }
}

function isPlainHttpAnswer(e: unknown): boolean {
  const err = e as NodeJS.ErrnoException;
  return err?.code === 'EPROTO' || /wrong version number|packet length too long/i.test(err?.message ?? '');
}

async function runHttp(action: HTTPGetAction, ctx: HookContext, signal: AbortSignal, timedOut: () => boolean): Promise<string | undefined> {
  const what = `HTTP lifecycle hook (${action.path ?? ''}) ${subject(ctx)} failed - error: `;
  let req;
  try {
    req = buildHttpRequest(action, { podIP: ctx.podIP, container: ctx.container, userAgent: LIFECYCLE_USER_AGENT });
  } catch (e) {
    return what + (e as Error).message;
  }
  try {
    await httpGetOnce(req.url, req.headers, signal);
    return undefined; // any response counts, as in kubelet
  } catch (e) {
    if (!signal.aborted && req.url.protocol === 'https:' && isPlainHttpAnswer(e)) {
      const plain = new URL(req.url);
      plain.protocol = 'http:';
      try {
        await httpGetOnce(plain, req.headers, signal);
        return undefined;
      } catch (e2) {
        e = e2;
      }
    }
    if (timedOut()) return `${what}Get "${req.url.href}": not completed within ${ctx.timeoutSec}s`;
    return `${what}Get "${req.url.href}": ${(e as Error).message}`;
  }
}

function runSleep(action: SleepAction, ctx: HookContext, signal: AbortSignal): Promise<string | undefined> {
  const what = `Sleep lifecycle hook (${action.seconds}) ${subject(ctx)} failed - error: `;
  if (!Number.isInteger(action.seconds) || action.seconds < 0) return Promise.resolve(`${what}invalid seconds ${action.seconds}`);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(t);
      resolve(`${what}container terminated before sleep hook finished`);
    };
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(undefined);
    }, action.seconds * 1000);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Runs one postStart/preStop handler; never throws. */
export async function runHook(handler: LifecycleHandler, ctx: HookContext): Promise<HookResult> {
  const start = Date.now();
  const set = (['exec', 'httpGet', 'sleep', 'tcpSocket'] as const).filter((k) => handler[k] != null);
  const t = timeoutSignal(ctx);
  let failure: string | undefined;
  try {
    if (set.length !== 1 || handler.tcpSocket) {
      const why = handler.tcpSocket ? 'tcpSocket is not supported as a lifecycle handler' : `expected exactly one of exec, httpGet, sleep; found ${set.length ? set.join(', ') : 'none'}`;
      failure = `Cannot run handler: invalid handler: ${why}`;
    } else if (handler.exec) failure = await runExec(handler.exec, ctx, t.signal, t.timedOut);
    else if (handler.httpGet) failure = await runHttp(handler.httpGet, ctx, t.signal, t.timedOut);
    else failure = await runSleep(handler.sleep!, ctx, t.signal);
  } finally {
    t.done();
  }
  const elapsedMs = Date.now() - start;
  if (failure === undefined) return { ok: true, message: '', elapsedMs };
  const res: HookResult = { ok: false, message: failure, elapsedMs };
  if (ctx.kind) res.reason = ctx.kind === 'PostStart' ? FAILED_POST_START_HOOK : FAILED_PRE_STOP_HOOK;
  return res;
}
