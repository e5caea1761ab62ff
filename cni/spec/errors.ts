// CNI errors: the spec's well-known codes plus our plugin-specific ones (>= 100).
// main.ts prints them as the spec's error JSON on stdout and exits non-zero.

export const Code = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironment: 4,
  IoFailure: 5,
  DecodingFailure: 6,
  InvalidNetworkConfig: 7,
  TryAgainLater: 11,
  // STATUS (spec 1.1)
  PluginNotAvailable: 50,
  LimitedConnectivity: 51,
  // plugin-specific
  NoAddressAvailable: 100,
  CheckFailed: 101,
  Internal: 999,
} as const;
export type Code = (typeof Code)[keyof typeof Code];

export class CniError extends Error {
  constructor(readonly code: Code, message: string, readonly details?: string) {
    super(message);
    this.name = 'CniError';
  }

  toJSON(cniVersion: string): { cniVersion: string; code: number; msg: string; details?: string } {
    return { cniVersion, code: this.code, msg: this.message, ...(this.details ? { details: this.details } : {}) };
  }
}

/** Failure of a kernel call or helper program: the spec's "I/O failure". */
export class SystemError extends CniError {
  constructor(readonly call: string, message: string, details?: string) {
    super(Code.IoFailure, `${call}: ${message}`, details);
    this.name = 'SystemError';
  }
}

export function asCniError(e: unknown): CniError {
  if (e instanceof CniError) return e;
  const err = e instanceof Error ? e : new Error(String(e));
  return new CniError(Code.Internal, err.message, err.stack);
}
