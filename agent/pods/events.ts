// Kubernetes Events of the pod machinery: the worker, the image manager and the
// prober say what happened to a pod (kubelet's reasons and wording) through PodEvents.
// Standalone, the log is the only sink (at debug level: the info/warn lines the
// worker already writes stay the one human-facing line); joined, the API server's
// Events are recorded too (agent/apiserver/events.ts).
import type { Logger } from '../util/log.js';
import type { ProbeEvent } from './probes/index.js';

export type EventType = 'Normal' | 'Warning';

/** What an Event is about: the pod as this node knows it (a static pod by its own UID). */
export interface PodRef {
  metadata: { name: string; namespace: string; uid: string; resourceVersion?: unknown };
}

export interface PodEvents {
  /** Never throws, never blocks. fieldPath: `spec.containers{name}` for a container's events. */
  event(pod: PodRef, type: EventType, reason: string, message: string, fieldPath?: string): void;
}

/** kubelet's reason strings (pkg/kubelet/events). */
export const Reason = {
  created: 'Created',
  started: 'Started',
  failed: 'Failed',
  killing: 'Killing',
  backOff: 'BackOff',
  pulling: 'Pulling',
  pulled: 'Pulled',
  errImageNeverPull: 'ErrImageNeverPull',
  unhealthy: 'Unhealthy',
  probeWarning: 'ProbeWarning',
  failedMount: 'FailedMount',
  failedPostStartHook: 'FailedPostStartHook',
  failedPreStopHook: 'FailedPreStopHook',
  sandboxChanged: 'SandboxChanged',
  failedCreatePodSandBox: 'FailedCreatePodSandBox',
} as const;

/** kubelet's field path of a container reference. */
export function containerFieldPath(init: boolean, name: string): string {
  return `${init ? 'spec.initContainers' : 'spec.containers'}{${name}}`;
}

/** kubelet's format.Pod: `name_namespace(uid)`. */
export function formatPod(pod: PodRef): string {
  return `${pod.metadata.name}_${pod.metadata.namespace}(${pod.metadata.uid})`;
}

/** The prober's Unhealthy / ProbeWarning event for one attempt, undefined for a plain success. */
export function probeEventOf(ev: Pick<ProbeEvent, 'kind' | 'result' | 'output'>): { type: EventType; reason: string; message: string } | undefined {
  const kind = ev.kind[0]!.toUpperCase() + ev.kind.slice(1);
  if (ev.result === 'Failure') return { type: 'Warning', reason: Reason.unhealthy, message: `${kind} probe failed: ${ev.output}` };
  if (ev.result === 'Unknown') return { type: 'Warning', reason: Reason.unhealthy, message: `${kind} probe errored and resulted in unknown state: ${ev.output}` };
  // The HTTP prober's warning result: a redirect it did not follow counts as success.
  if (ev.output.startsWith('Probe terminated redirects')) return { type: 'Warning', reason: Reason.probeWarning, message: `${kind} probe warning: ${ev.output}` };
  return undefined;
}

/** Records a probe attempt's event against its pod (probes run for app containers only). */
export function recordProbeEvent(events: PodEvents, ev: ProbeEvent): void {
  const e = probeEventOf(ev);
  if (!e) return;
  events.event({ metadata: { name: ev.podName, namespace: ev.namespace, uid: ev.podUid } }, e.type, e.reason, e.message, containerFieldPath(false, ev.container));
}

/** Logs every event at debug level, then hands it to the sink of the moment (the API server's recorder when joined). */
export class LogEvents implements PodEvents {
  constructor(private readonly log: Logger, private readonly sink: () => PodEvents | undefined = () => undefined) {}

  event(pod: PodRef, type: EventType, reason: string, message: string, fieldPath?: string): void {
    this.log.debug({ pod: `${pod.metadata.namespace}/${pod.metadata.name}`, event: reason, type, ...(fieldPath ? { fieldPath } : {}) }, message);
    this.sink()?.event(pod, type, reason, message, fieldPath);
  }
}
