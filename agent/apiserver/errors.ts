// Typed errors of the control-plane client. ApiError is an answer from the API
// server (a metav1.Status); ApiConnectionError means no answer came.

/** The API server answered with an error Status. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly method: string,
    readonly path: string,
    /** HTTP status code: 404, 409, 410... */
    readonly code: number,
    /** Status.reason: NotFound, AlreadyExists, Conflict, Expired, Gone, Forbidden, Unauthorized... */
    readonly reason: string,
    readonly serverMessage: string,
  ) {
    super(`${method} ${path}: ${code} ${reason}: ${serverMessage}`);
  }

  get isNotFound(): boolean { return this.code === 404; }
  get isConflict(): boolean { return this.code === 409 && this.reason !== 'AlreadyExists'; }
  get isAlreadyExists(): boolean { return this.code === 409 && this.reason === 'AlreadyExists'; }
  /** 410: the resourceVersion is too old for a watch, or a continue token expired; relist. */
  get isGone(): boolean { return this.code === 410; }
}

/** No answer: refused, unreachable, timed out, or the TLS handshake failed. */
export class ApiConnectionError extends Error {
  override readonly name = 'ApiConnectionError';
  constructor(
    readonly server: string,
    /** the system or TLS error code, e.g. ECONNREFUSED, ETIMEDOUT, UNABLE_TO_VERIFY_LEAF_SIGNATURE */
    readonly code: string,
    message: string,
  ) {
    super(`cannot reach the API server at ${server}: ${message}`);
  }

  get isTls(): boolean {
    return /CERT|SIGNATURE|TLS|SSL|ALTNAME|ISSUER/.test(this.code);
  }
}

/** `kna join` could not complete; the message says which credential or step failed. */
export class JoinError extends Error {
  override readonly name = 'JoinError';
}

/** A kubeconfig that cannot be used; names the file and field. */
export class KubeconfigError extends Error {
  override readonly name = 'KubeconfigError';
}
