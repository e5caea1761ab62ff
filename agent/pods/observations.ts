// What the pod worker observed of one pod in the runtime, as plain data (times are ms
// since the epoch, 0 or absent = unset), and the kubelet predicates over it that both
// status.ts and restart.ts need. No CRI types here: the worker converts.
import type { Container, PodSpec } from './api-types.js';

export type ContainerRuntimeState = 'created' | 'running' | 'exited' | 'unknown';

/** An earlier, exited instance of the container: it becomes lastState. */
export interface PreviousInstance {
  containerId?: string;
  exitCode: number;
  reason?: string;
  message?: string;
  startedAt?: number;
  finishedAt?: number;
}

/** The latest runtime instance of one container of the pod. */
export interface ContainerObservation {
  name: string;
  /** runtime id, without the "containerd://" scheme */
  containerId?: string;
  /** the sandbox this instance runs in */
  sandboxId?: string;
  /** image as the runtime reports it */
  image: string;
  /** resolved image id/digest (status imageID) */
  imageRef?: string;
  state: ContainerRuntimeState;
  exitCode?: number;
  /** runtime reason for an exit: Completed, Error, OOMKilled... */
  reason?: string;
  /** runtime message plus the termination message */
  message?: string;
  createdAt?: number;
  startedAt?: number;
  finishedAt?: number;
  /** from the io.kubernetes.container.restartCount annotation */
  restartCount: number;
  /** containerHash() recorded when the container was made; absent = unknown, never "changed" */
  hash?: string;
  previous?: PreviousInstance;
}

export interface SandboxObservation {
  id: string;
  ready: boolean;
  attempt: number;
  podIPs: string[];
  createdAt?: number;
  /** network mode the sandbox was made with; absent = assume it matches the spec */
  hostNetwork?: boolean;
}

export type ProbeResult = 'success' | 'failure';

/** Latest probe results of a container (absent = no result yet). */
export interface ProbeResults {
  /** the instance the results are about; results for another instance are ignored */
  containerId?: string;
  readiness?: ProbeResult;
  liveness?: ProbeResult;
  startup?: ProbeResult;
}

/** A reason the last sync could not start a container (kubelet's reason cache). */
export interface Waiting {
  reason: string;
  message?: string;
}

/** Probe results for the observed instance only (kubelet keys them by container id). */
export function probesFor(probes: ReadonlyMap<string, ProbeResults> | undefined, name: string, containerId: string | undefined): ProbeResults {
  const r = probes?.get(name);
  if (!r) return {};
  if (r.containerId !== undefined && containerId !== undefined && r.containerId !== containerId) return {};
  return r;
}

export const isSidecar = (c: Pick<Container, 'restartPolicy'>): boolean => c.restartPolicy === 'Always';

/** One observation per name: the newest by createdAt; an older exited one fills `previous`. */
export function latestByName(observations: readonly ContainerObservation[]): Map<string, ContainerObservation> {
  const groups = new Map<string, ContainerObservation[]>();
  for (const o of observations) groups.set(o.name, [...(groups.get(o.name) ?? []), o]);
  const out = new Map<string, ContainerObservation>();
  for (const [name, list] of groups) {
    const sorted = [...list].sort((a, b) => (b.createdAt ?? 0) - (a.createdAt ?? 0));
    const [latest, older] = sorted as [ContainerObservation, ContainerObservation | undefined];
    if (!latest.previous && older && older.state === 'exited') {
      out.set(name, {
        ...latest,
        previous: {
          exitCode: older.exitCode ?? 0,
          ...(older.containerId !== undefined ? { containerId: older.containerId } : {}),
          ...(older.reason !== undefined ? { reason: older.reason } : {}),
          ...(older.message !== undefined ? { message: older.message } : {}),
          ...(older.startedAt !== undefined ? { startedAt: older.startedAt } : {}),
          ...(older.finishedAt !== undefined ? { finishedAt: older.finishedAt } : {}),
        },
      });
    } else {
      out.set(name, latest);
    }
  }
  return out;
}

/** Sandboxes newest first (by createdAt when known, else as given). */
export function sortSandboxes(sandboxes: readonly SandboxObservation[]): SandboxObservation[] {
  return [...sandboxes].sort((a, b) => (b.createdAt ?? 0) - (a.createdAt ?? 0));
}

/**
 * kubelet's PodSandboxChanged: a new sandbox is needed when there is none, more than
 * one is ready, the newest is not ready, its network mode differs from the spec, or
 * it has no IP on the pod network. attempt is the next attempt number.
 */
export function sandboxChanged(spec: Pick<PodSpec, 'hostNetwork'>, sandboxes: readonly SandboxObservation[]): { changed: boolean; attempt: number; sandboxId?: string } {
  if (sandboxes.length === 0) return { changed: true, attempt: 0 };
  const sorted = sortSandboxes(sandboxes);
  const latest = sorted[0]!;
  const maxAttempt = Math.max(...sorted.map((s) => s.attempt));
  const ready = sorted.filter((s) => s.ready).length;
  if (ready > 1 || !latest.ready) return { changed: true, attempt: maxAttempt + 1, sandboxId: latest.id };
  if (latest.hostNetwork !== undefined && latest.hostNetwork !== spec.hostNetwork) return { changed: true, attempt: maxAttempt + 1 };
  if (!spec.hostNetwork && latest.podIPs.length === 0) return { changed: true, attempt: maxAttempt + 1, sandboxId: latest.id };
  return { changed: false, attempt: maxAttempt, sandboxId: latest.id };
}

/** kubelet's ShouldContainerBeRestarted (for a pod not being deleted). */
export function shouldContainerBeRestarted(container: Pick<Container, 'restartPolicy'>, spec: Pick<PodSpec, 'restartPolicy'>, latest: ContainerObservation | undefined): boolean {
  if (!latest) return true;
  if (latest.state === 'running') return false;
  if (latest.state === 'unknown' || latest.state === 'created') return true;
  if (isSidecar(container)) return true;
  if (spec.restartPolicy === 'Never') return false;
  if (spec.restartPolicy === 'OnFailure' && (latest.exitCode ?? 0) === 0) return false;
  return true;
}

/** kubelet's isInitContainerFailed. */
export function isInitContainerFailed(o: ContainerObservation): boolean {
  if ((o.reason ?? '').includes('OOMKilled')) return true;
  if (o.state === 'exited' && (o.exitCode ?? 0) !== 0) return true;
  return o.state === 'unknown';
}
