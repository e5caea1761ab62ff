// Runs one probe attempt with its handler (exec, httpGet, tcpSocket, grpc).
import { execProbe } from './exec.js';
import { grpcProbe } from './grpc.js';
import { httpGetProbe, PROBE_USER_AGENT } from './http.js';
import { tcpProbe } from './tcp.js';
import type { ContainerPortLike, ExecSyncFn, ProbeHandler, ProbeOutcome } from './types.js';

export interface ProbeTarget {
  containerId: string;
  podIP?: string | undefined;
  container: { ports?: ContainerPortLike[] };
}

export interface RunOptions {
  execSync: ExecSyncFn;
  timeoutMs: number;
  /** Fires at the timeout; every handler gives up (as Failure) when it does. */
  signal: AbortSignal;
}

export type ProbeRunner = (handler: ProbeHandler, target: ProbeTarget, opts: RunOptions) => Promise<ProbeOutcome>;

export const runProbe: ProbeRunner = async (handler, target, opts) => {
  const set = (['exec', 'httpGet', 'tcpSocket', 'grpc'] as const).filter((k) => handler[k] != null);
  if (set.length !== 1) return { result: 'Unknown', output: `probe must have exactly one handler, found ${set.length ? set.join(', ') : 'none'}` };
  try {
    if (handler.exec) return await execProbe(handler.exec, { execSync: opts.execSync, containerId: target.containerId, timeoutSec: Math.ceil(opts.timeoutMs / 1000), signal: opts.signal });
    if (handler.httpGet) return await httpGetProbe(handler.httpGet, { podIP: target.podIP, container: target.container, userAgent: PROBE_USER_AGENT, signal: opts.signal });
    if (handler.tcpSocket) return await tcpProbe(handler.tcpSocket, { podIP: target.podIP, container: target.container, signal: opts.signal });
    return await grpcProbe(handler.grpc!, { podIP: target.podIP, timeoutMs: opts.timeoutMs, signal: opts.signal });
  } catch (e) {
    // Spec problems (unknown port name, bad host): the probe cannot run at all.
    return { result: 'Unknown', output: (e as Error).message };
  }
};
