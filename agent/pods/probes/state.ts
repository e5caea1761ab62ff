// The probe result state machine (kubelet semantics), free of timers and I/O.
import { ProbeSpecError, type ProbeKind, type ProbeResult, type ProbeSpec } from './types.js';

export interface ProbeTiming {
  initialDelayMs: number;
  periodMs: number;
  timeoutMs: number;
  successThreshold: number;
  failureThreshold: number;
}

function int(v: number | undefined, def: number, min: number, field: string): number {
  const x = v ?? def;
  if (!Number.isInteger(x) || x < min) throw new ProbeSpecError(`${field} must be an integer >= ${min}, got ${v}`);
  return x;
}

/** Applies the v1 defaults (0/1/10/1/3) and validates them. */
export function probeTiming(kind: ProbeKind, spec: ProbeSpec): ProbeTiming {
  const successThreshold = int(spec.successThreshold, 1, 1, `${kind}Probe.successThreshold`);
  if (kind !== 'readiness' && successThreshold !== 1) throw new ProbeSpecError(`${kind}Probe.successThreshold must be 1, got ${successThreshold}`);
  return {
    initialDelayMs: int(spec.initialDelaySeconds, 0, 0, `${kind}Probe.initialDelaySeconds`) * 1000,
    timeoutMs: int(spec.timeoutSeconds, 1, 1, `${kind}Probe.timeoutSeconds`) * 1000,
    periodMs: int(spec.periodSeconds, 10, 1, `${kind}Probe.periodSeconds`) * 1000,
    successThreshold,
    failureThreshold: int(spec.failureThreshold, 3, 1, `${kind}Probe.failureThreshold`),
  };
}

/** Before any probe ran: not ready, alive, startup unknown (not started). */
export function initialResult(kind: ProbeKind): ProbeResult {
  return kind === 'readiness' ? 'Failure' : kind === 'liveness' ? 'Success' : 'Unknown';
}

/**
 * Consecutive-result counting: the published result flips only after
 * successThreshold successes or failureThreshold failures in a row. Unknown
 * (the probe could not run) is discarded, as kubelet throws away prober errors.
 */
export class ThresholdTracker {
  result: ProbeResult;
  private last: ProbeResult | undefined;
  private run = 0;

  constructor(readonly kind: ProbeKind, private readonly timing: Pick<ProbeTiming, 'successThreshold' | 'failureThreshold'>) {
    this.result = initialResult(kind);
  }

  /** Feeds one probe result; returns the published result when it changed. */
  observe(r: ProbeResult): ProbeResult | undefined {
    if (r === 'Unknown') return undefined;
    if (r === this.last) this.run++;
    else {
      this.last = r;
      this.run = 1;
    }
    const needed = r === 'Success' ? this.timing.successThreshold : this.timing.failureThreshold;
    if (this.run < needed || this.result === r) return undefined;
    this.result = r;
    return r;
  }
}

/** Liveness and startup failures mean "restart the container": probing holds until a new container. */
export function holdsAfter(kind: ProbeKind, published: ProbeResult): boolean {
  return kind !== 'readiness' && published === 'Failure';
}
