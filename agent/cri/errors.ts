// Typed errors of the CRI client: which call failed, for which pod/container, and
// the gRPC status the runtime answered with.
import { status as GrpcStatus } from '@grpc/grpc-js';

export { GrpcStatus };

/** A failed CRI call: "CRI RunPodSandbox for pod default/web: UNAVAILABLE: ..." */
export class CriError extends Error {
  override readonly name = 'CriError';

  constructor(
    /** RPC name, e.g. 'RunPodSandbox' */
    readonly call: string,
    /** gRPC status code */
    readonly code: GrpcStatus,
    /** the runtime's message (or ours, for client-side failures) */
    readonly details: string,
    /** what the call was about, e.g. 'pod default/web' or 'container 3f2a…' */
    readonly context?: string,
    options?: ErrorOptions,
  ) {
    super(`CRI ${call}${context ? ` for ${context}` : ''}: ${GrpcStatus[code] ?? code}: ${details}`, options);
  }
}

const hasCode = (err: unknown, code: GrpcStatus): boolean => err instanceof CriError && err.code === code;

/** The object (sandbox, container, image) does not exist (any more). */
export const isNotFound = (err: unknown): boolean => hasCode(err, GrpcStatus.NOT_FOUND);

/** The runtime is down or unreachable; worth retrying later. */
export const isUnavailable = (err: unknown): boolean => hasCode(err, GrpcStatus.UNAVAILABLE);

/** The runtime does not implement the call (e.g. GetContainerEvents on containerd 1.6). */
export const isUnimplemented = (err: unknown): boolean => hasCode(err, GrpcStatus.UNIMPLEMENTED);

export const isDeadlineExceeded = (err: unknown): boolean => hasCode(err, GrpcStatus.DEADLINE_EXCEEDED);
