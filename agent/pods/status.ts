// The v1 PodStatus kubelet would report (generateAPIPodStatus, convertToAPIContainerStatuses,
// getPhase, the probe manager's ready/started, the status manager's condition times),
// computed from plain observations. Pure: the clock comes in as `now`.
//
// Departures, on purpose: static pods get terminal phases like any pod (kubelet
// skips that for static pods, see kubernetes#116484); a pod whose sandbox is gone
// keeps its previous IPs once it is Succeeded/Failed.
import type { Container, ContainerState, ContainerStatus, Pod, PodCondition, PodPhase, PodStatus } from './api-types.js';
import {
  isSidecar, latestByName, probesFor, shouldContainerBeRestarted, sandboxChanged, sortSandboxes,
  type ContainerObservation, type ProbeResults, type SandboxObservation, type Waiting,
} from './observations.js';
import { qosClass } from './qos.js';

export type { Waiting };

export interface PodStatusInput {
  pod: Pod;
  /** every sandbox of the pod (any order) */
  sandboxes: readonly SandboxObservation[];
  /** latest instance per container (older instances may be included too) */
  containers: readonly ContainerObservation[];
  /** why the last sync could not start a container, by container name */
  waiting?: ReadonlyMap<string, Waiting>;
  /** probe results by container name */
  probes?: ReadonlyMap<string, ProbeResults>;
  /** the node's IPs, primary first */
  hostIPs: readonly string[];
  /** the status computed last time (keeps transition times, lastState, startTime) */
  previous?: PodStatus | undefined;
  now: number;
  /** the worker is terminating the pod for good: containers will not be restarted */
  terminal?: boolean;
}

export const CONTAINER_CREATING = 'ContainerCreating';
export const POD_INITIALIZING = 'PodInitializing';
export const DEADLINE_EXCEEDED = 'DeadlineExceeded';
const KUBELET_CONDITIONS = new Set(['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled']);

/** RFC 3339, UTC, whole seconds (what metav1.Time marshals to); null when unset. */
export function rfc3339(ms: number | undefined): string | null {
  if (!ms) return null;
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

export const containerIdUri = (id: string): string => `containerd://${id}`;

export function computePodStatus(input: PodStatusInput): PodStatus {
  const { pod, previous, now } = input;
  const spec = pod.spec;
  const obs = latestByName(input.containers);
  const sandboxes = sortSandboxes(input.sandboxes);
  const hasInit = spec.initContainers.length > 0;

  const containerStatuses = convertStatuses(input, spec.containers, false, obs, previous?.containerStatuses);
  const initContainerStatuses = convertStatuses(input, spec.initContainers, true, obs, previous?.initContainerStatuses);
  const all = [...containerStatuses, ...initContainerStatuses];

  // Any regular container in the current sandbox means initialization happened there.
  const activeSandbox = sandboxes[0]?.id;
  const initializedActive = spec.containers.some((c) => {
    const o = obs.get(c.name);
    return o !== undefined && (o.sandboxId === undefined || activeSandbox === undefined || o.sandboxId === activeSandbox);
  });
  let phase = getPhase(pod, all, input.terminal ?? false, initializedActive);
  let reason: string | undefined;
  let message: string | undefined;
  if (phase !== 'Failed' && phase !== 'Succeeded' && (previous?.phase === 'Failed' || previous?.phase === 'Succeeded')) phase = previous.phase;
  if (previous && phase === previous.phase) {
    reason = previous.reason;
    message = previous.message;
  }
  // First seen: kept from the last status, else (an adopted pod after an agent restart)
  // when its oldest sandbox was made, so the pod's age survives the restart.
  const oldestSandbox = Math.min(...input.sandboxes.map((s) => s.createdAt || Infinity));
  const startTime = previous?.startTime ?? rfc3339(Math.min(now, oldestSandbox));
  if (deadlineExceeded(pod, startTime, now)) {
    phase = 'Failed';
    reason = DEADLINE_EXCEEDED;
    message = 'Pod was active on the node longer than the specified deadline';
  }

  applyProbes(spec.containers, containerStatuses, input.probes, obs, false);
  applyProbes(spec.initContainers, initContainerStatuses, input.probes, obs, true);

  const conditions: PodCondition[] = (previous?.conditions ?? []).filter((c) => !KUBELET_CONDITIONS.has(c.type));
  const owned: Omit<PodCondition, 'lastProbeTime' | 'lastTransitionTime'>[] = [
    { type: 'PodReadyToStartContainers', status: sandboxChanged(spec, sandboxes).changed ? 'False' : 'True' },
    initializedCondition(pod, [...initContainerStatuses, ...containerStatuses], phase),
    readyCondition(pod, conditions, [...initContainerStatuses, ...containerStatuses], phase),
    containersReadyCondition(pod, [...initContainerStatuses, ...containerStatuses], phase),
    { type: 'PodScheduled', status: 'True' },
  ];
  for (const c of owned) {
    const old = previous?.conditions.find((p) => p.type === c.type);
    conditions.push({
      type: c.type,
      status: c.status,
      lastProbeTime: null,
      lastTransitionTime: old && old.status === c.status ? old.lastTransitionTime : rfc3339(now),
      ...(c.reason ? { reason: c.reason } : {}),
      ...(c.message ? { message: c.message } : {}),
    });
  }

  let podIPs = podIPsOf(sandboxes, input.hostIPs);
  if (spec.hostNetwork && podIPs.length === 0) podIPs = input.hostIPs.slice(0, 2);
  if (podIPs.length === 0 && (phase === 'Succeeded' || phase === 'Failed')) podIPs = (previous?.podIPs ?? []).map((p) => p.ip);

  const status: PodStatus = {
    phase,
    conditions,
    ...(message ? { message } : {}),
    ...(reason ? { reason } : {}),
    ...(input.hostIPs.length ? { hostIP: input.hostIPs[0]!, hostIPs: input.hostIPs.slice(0, 2).map((ip) => ({ ip })) } : {}),
    ...(podIPs.length ? { podIP: podIPs[0]!, podIPs: podIPs.map((ip) => ({ ip })) } : {}),
    startTime,
    ...(hasInit ? { initContainerStatuses } : {}),
    containerStatuses: [...containerStatuses].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    qosClass: qosClass(pod),
  };
  return status;
}

/** activeDeadlineSeconds elapsed since the pod started on this node. */
export function deadlineExceeded(pod: Pod, startTime: string | null | undefined, now: number): boolean {
  const limit = pod.spec.activeDeadlineSeconds;
  if (limit === undefined || !startTime) return false;
  return now - Date.parse(startTime) >= limit * 1000;
}

// ------------------------------------------------------------------ container statuses

function convertStatuses(
  input: PodStatusInput,
  specs: readonly Container[],
  isInit: boolean,
  obs: Map<string, ContainerObservation>,
  previous: readonly ContainerStatus[] | undefined,
): ContainerStatus[] {
  const { pod } = input;
  const hasInit = pod.spec.initContainers.length > 0;
  const old = new Map((previous ?? []).map((s) => [s.name, s]));
  const defaultWaiting = hasInit ? POD_INITIALIZING : CONTAINER_CREATING;

  return specs.map((spec) => {
    const prev = old.get(spec.name);
    const o = obs.get(spec.name);
    let status: ContainerStatus;
    if (!o) {
      // Nothing in the runtime: waiting by default, or what we said last time if it was final.
      status = prev?.state.terminated
        ? clone(prev)
        : { name: spec.name, state: { waiting: { reason: defaultWaiting } }, lastState: clone(prev?.lastState ?? {}), ready: false, restartCount: prev?.restartCount ?? 0, image: spec.image, imageID: '' };
      if (prev?.state.running && status.state.waiting?.reason === defaultWaiting && !status.lastState.terminated) {
        // It was running and vanished: it terminated even if we cannot say how.
        status.lastState = { terminated: { exitCode: 137, reason: 'ContainerStatusUnknown', message: 'The container could not be located when the pod was deleted.  The container used to be Running', startedAt: null, finishedAt: null } };
        status.restartCount += 1;
      }
    } else {
      status = convertObservation(o, prev);
    }

    if (isInit) {
      if (o?.state === 'exited' && (o.exitCode ?? 0) === 0) return status;
      // Runtime forgot a finished init container but app containers exist: it completed.
      const appCreated = pod.spec.containers.some((c) => ['created', 'running', 'exited'].includes(obs.get(c.name)?.state ?? ''));
      if (!o && appCreated && !isSidecar(spec) && status.state.waiting) {
        status.state = { terminated: { exitCode: 0, reason: 'Completed', message: 'Unable to get init container status from container runtime and pod has been initialized, treat it as exited normally', startedAt: null, finishedAt: null } };
        return status;
      }
    }
    if (!(input.terminal ?? false) && shouldContainerBeRestarted(spec, pod.spec, o)) {
      const w = input.waiting?.get(spec.name);
      if (w) {
        if (status.state.terminated) status.lastState = status.state;
        status.state = { waiting: { reason: w.reason, ...(w.message ? { message: w.message } : {}) } };
      }
    }
    return status;
  });
}

function convertObservation(o: ContainerObservation, prev: ContainerStatus | undefined): ContainerStatus {
  const id = o.containerId ? containerIdUri(o.containerId) : undefined;
  const status: ContainerStatus = {
    name: o.name,
    state: {},
    lastState: {},
    ready: false,
    restartCount: o.restartCount,
    image: o.image,
    imageID: o.imageRef ?? '',
    ...(id ? { containerID: id } : {}),
  };
  switch (o.state) {
    case 'running':
      status.state = { running: { startedAt: rfc3339(o.startedAt) } };
      // kubelet carries "started" over until the probe results are applied (getPhase sees it).
      if (prev?.started !== undefined) status.started = prev.started;
      break;
    case 'created':
      status.state = { waiting: {} };
      break;
    case 'exited':
      status.state = { terminated: terminated(o.exitCode ?? 0, o.reason, o.message, o.startedAt, o.finishedAt, id) };
      break;
    default:
      if (prev?.state.running) {
        status.state = { terminated: { exitCode: 137, reason: 'ContainerStatusUnknown', message: 'The container could not be located when the pod was terminated', startedAt: null, finishedAt: null } };
        status.restartCount = prev.restartCount + 1;
      } else {
        status.state = { waiting: {} };
      }
  }
  if (o.previous) {
    const p = o.previous;
    status.lastState = { terminated: terminated(p.exitCode, p.reason, p.message, p.startedAt, p.finishedAt, p.containerId ? containerIdUri(p.containerId) : undefined) };
  } else if (prev) {
    // The runtime no longer has the earlier instance: carry what we reported.
    if (prev.containerID !== id && prev.state.terminated) status.lastState = { terminated: clone(prev.state.terminated) };
    else if (prev.lastState.terminated) status.lastState = clone(prev.lastState);
  }
  return status;
}

function terminated(exitCode: number, reason: string | undefined, message: string | undefined, startedAt: number | undefined, finishedAt: number | undefined, containerID: string | undefined): NonNullable<ContainerState['terminated']> {
  return {
    exitCode,
    reason: reason || (exitCode === 0 ? 'Completed' : 'Error'),
    ...(message ? { message } : {}),
    startedAt: rfc3339(startedAt),
    finishedAt: rfc3339(finishedAt),
    ...(containerID ? { containerID } : {}),
  };
}

/** The probe manager's UpdatePodStatus: started, then ready. */
function applyProbes(specs: readonly Container[], statuses: ContainerStatus[], probes: ReadonlyMap<string, ProbeResults> | undefined, obs: Map<string, ContainerObservation>, isInit: boolean): void {
  statuses.forEach((st, i) => {
    const spec = specs[i]!;
    const r = probesFor(probes, st.name, obs.get(st.name)?.containerId);
    const running = st.state.running !== undefined;
    st.started = running && (r.startup !== undefined ? r.startup === 'success' : !spec.startupProbe);
    if (isInit && !isSidecar(spec)) {
      if (st.state.terminated && st.state.terminated.exitCode === 0) st.ready = true;
      return;
    }
    if (!st.started) return;
    st.ready = running && (r.readiness === 'success' || (r.readiness === undefined && !spec.readinessProbe));
  });
}

// ------------------------------------------------------------------ phase

/** kubelet's getPhase over the API container statuses (app and init). */
export function getPhase(pod: Pod, statuses: readonly ContainerStatus[], podIsTerminal: boolean, podHasInitialized: boolean): PodPhase {
  const spec = pod.spec;
  const find = (name: string) => statuses.find((s) => s.name === name);
  let pendingRestartableInit = 0;
  let pendingRegularInit = 0;
  let failedInit = 0;

  for (const c of spec.initContainers) {
    if (isSidecar(c)) continue;
    const s = find(c.name);
    if (!s) pendingRegularInit++;
    else if (s.state.running) pendingRegularInit++;
    else if (s.state.terminated) {
      if (s.state.terminated.exitCode !== 0) failedInit++;
    } else if (s.state.waiting) {
      if (s.lastState.terminated) {
        if (s.lastState.terminated.exitCode !== 0) failedInit++;
      } else pendingRegularInit++;
    } else pendingRegularInit++;
  }

  let unknown = 0;
  let running = 0;
  let waiting = 0;
  let stopped = 0;
  let succeeded = 0;
  for (const c of spec.initContainers) {
    if (!isSidecar(c)) continue;
    const s = find(c.name);
    if (!s) unknown++;
    else if (s.state.running) {
      if (!s.started) pendingRestartableInit++;
      running++;
    } else if (s.state.terminated) {
      // a stopped sidecar does not decide the phase
    } else if (s.state.waiting) {
      if (!s.lastState.terminated) {
        pendingRestartableInit++;
        waiting++;
      }
    } else {
      pendingRestartableInit++;
      unknown++;
    }
  }
  for (const c of spec.containers) {
    const s = find(c.name);
    if (!s) unknown++;
    else if (s.state.running) running++;
    else if (s.state.terminated) {
      stopped++;
      if (s.state.terminated.exitCode === 0) succeeded++;
    } else if (s.state.waiting) {
      if (s.lastState.terminated) stopped++;
      else waiting++;
    } else unknown++;
  }

  if (failedInit > 0 && spec.restartPolicy === 'Never') return 'Failed';
  if (pendingRegularInit > 0 || (pendingRestartableInit > 0 && !podHasInitialized) || waiting > 0) return 'Pending';
  if (running > 0 && unknown === 0) return 'Running';
  if (running === 0 && stopped > 0 && unknown === 0) {
    if (podIsTerminal) return stopped === succeeded ? 'Succeeded' : 'Failed';
    if (spec.restartPolicy === 'Always') return 'Running';
    if (stopped === succeeded) return 'Succeeded';
    if (spec.restartPolicy === 'Never') return 'Failed';
    return 'Running';
  }
  return 'Pending';
}

// ------------------------------------------------------------------ conditions

type Cond = Omit<PodCondition, 'lastProbeTime' | 'lastTransitionTime'>;
const list = (names: string[]) => `[${names.join(' ')}]`;

function containersReadyCondition(pod: Pod, statuses: readonly ContainerStatus[], phase: PodPhase): Cond {
  const unknown: string[] = [];
  const unready: string[] = [];
  for (const c of [...pod.spec.initContainers.filter(isSidecar), ...pod.spec.containers]) {
    const s = statuses.find((x) => x.name === c.name);
    if (!s) unknown.push(c.name);
    else if (!s.ready) unready.push(c.name);
  }
  if (phase === 'Succeeded' && unknown.length === 0) return { type: 'ContainersReady', status: 'False', reason: 'PodCompleted' };
  if (phase === 'Failed') return { type: 'ContainersReady', status: 'False', reason: 'PodFailed' };
  const msgs: string[] = [];
  if (unknown.length) msgs.push(`containers with unknown status: ${list(unknown)}`);
  if (unready.length) msgs.push(`containers with unready status: ${list(unready)}`);
  if (msgs.length) return { type: 'ContainersReady', status: 'False', reason: 'ContainersNotReady', message: msgs.join(', ') };
  return { type: 'ContainersReady', status: 'True' };
}

function readyCondition(pod: Pod, conditions: readonly PodCondition[], statuses: readonly ContainerStatus[], phase: PodPhase): Cond {
  const cr = containersReadyCondition(pod, statuses, phase);
  if (cr.status !== 'True') return { ...cr, type: 'Ready' };
  const msgs: string[] = [];
  for (const g of pod.spec.readinessGates ?? []) {
    const c = conditions.find((x) => x.type === g.conditionType);
    if (!c) msgs.push(`corresponding condition of pod readiness gate "${g.conditionType}" does not exist.`);
    else if (c.status !== 'True') msgs.push(`the status of pod readiness gate "${g.conditionType}" is not "True", but ${c.status}`);
  }
  if (msgs.length) return { type: 'Ready', status: 'False', reason: 'ReadinessGatesNotReady', message: msgs.join(', ') };
  return { type: 'Ready', status: 'True' };
}

function initializedCondition(pod: Pod, statuses: readonly ContainerStatus[], phase: PodPhase): Cond {
  const unknown: string[] = [];
  const incomplete: string[] = [];
  for (const c of pod.spec.initContainers) {
    const s = statuses.find((x) => x.name === c.name);
    if (!s) unknown.push(c.name);
    else if (isSidecar(c) ? !s.started : !s.ready) incomplete.push(c.name);
  }
  if (phase === 'Succeeded' && unknown.length === 0) return { type: 'Initialized', status: 'True', reason: 'PodCompleted' };
  // A regular container that ran means initialization finished before (sidecars may be restarting).
  const appNames = new Set(pod.spec.containers.map((c) => c.name));
  if (statuses.some((s) => appNames.has(s.name) && (s.state.running || s.state.terminated))) return { type: 'Initialized', status: 'True' };
  const msgs: string[] = [];
  if (unknown.length) msgs.push(`containers with unknown status: ${list(unknown)}`);
  if (incomplete.length) msgs.push(`containers with incomplete status: ${list(incomplete)}`);
  if (msgs.length) return { type: 'Initialized', status: 'False', reason: 'ContainersNotInitialized', message: msgs.join(', ') };
  return { type: 'Initialized', status: 'True' };
}

// ------------------------------------------------------------------ IPs

/** The newest ready sandbox's IPs: first of the node's family, then first of the other (kubelet's sortPodIPs). */
function podIPsOf(sandboxes: readonly SandboxObservation[], hostIPs: readonly string[]): string[] {
  const s = sandboxes[0];
  if (!s || !s.ready) return [];
  const v6 = (ip: string) => ip.includes(':');
  const primaryV6 = hostIPs.length > 0 && v6(hostIPs[0]!);
  const primary = s.podIPs.find((ip) => v6(ip) === primaryV6);
  const secondary = s.podIPs.find((ip) => v6(ip) !== primaryV6);
  return [primary, secondary].filter((ip): ip is string => ip !== undefined);
}

function clone<T>(v: T): T {
  return structuredClone(v);
}
