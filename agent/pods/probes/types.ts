// Minimal structural views of v1 probe/handler objects (camelCase JSON shape); the
// full Pod types from agent/pods/api-types.ts are assignable to them.

export type IntOrString = number | string;

export interface ExecAction { command?: string[] }
export interface HTTPHeader { name: string; value: string }
export interface HTTPGetAction { path?: string; port: IntOrString; host?: string; scheme?: string; httpHeaders?: HTTPHeader[] }
export interface TCPSocketAction { port: IntOrString; host?: string }
export interface GRPCAction { port: number; service?: string | null }

/** v1.ProbeHandler: exactly one of these is set. */
export interface ProbeHandler {
  exec?: ExecAction;
  httpGet?: HTTPGetAction;
  tcpSocket?: TCPSocketAction;
  grpc?: GRPCAction;
}

export interface ProbeSpec extends ProbeHandler {
  initialDelaySeconds?: number;
  timeoutSeconds?: number;
  periodSeconds?: number;
  successThreshold?: number;
  failureThreshold?: number;
  terminationGracePeriodSeconds?: number;
}

export interface ContainerPortLike { name?: string; containerPort: number; protocol?: string }

export interface ProbedContainer {
  name: string;
  ports?: ContainerPortLike[];
  livenessProbe?: ProbeSpec;
  readinessProbe?: ProbeSpec;
  startupProbe?: ProbeSpec;
}

export interface ProbedPod {
  metadata: { uid?: string; name?: string; namespace?: string };
}

export type ProbeKind = 'liveness' | 'readiness' | 'startup';
/** Unknown: the probe could not be run (e.g. runtime error); kubelet discards such results. */
export type ProbeResult = 'Success' | 'Failure' | 'Unknown';

export interface ProbeOutcome { result: ProbeResult; output: string }

export interface ExecSyncResult {
  exitCode: number;
  stdout: string | Uint8Array;
  stderr: string | Uint8Array;
}
/** Runs cmd in the container and waits (CRI ExecSync). Throw ExecTimeoutError (or a gRPC DEADLINE_EXCEEDED error) on timeout. */
export type ExecSyncFn = (containerId: string, cmd: string[], timeoutSec: number) => Promise<ExecSyncResult> | ExecSyncResult;

/** The container's exec did not finish within its timeout. */
export class ExecTimeoutError extends Error {
  override readonly name = 'ExecTimeoutError';
}

/** The probe/handler spec cannot be used (bad port name, no handler...). */
export class ProbeSpecError extends Error {
  override readonly name = 'ProbeSpecError';
}

/** Probes' output (HTTP bodies, exec output) is capped like kubelet's 10 KiB. */
export const MAX_OUTPUT_BYTES = 10 * 1024;
