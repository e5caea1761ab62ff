// What to do next for one pod: kubelet's computePodActions (and computeInitContainerActions,
// and SyncPod's crash back-off check) as a pure function of the spec and what the
// runtime shows. The worker carries the actions out in kubelet's order: kill the pod
// (or the listed containers), create the sandbox, start init containers, start app
// containers; then calls commitBackoff for the starts it made.
import type { Container, Pod } from './api-types.js';
import { crashBackoffKey, formatDuration, type Backoff } from './backoff.js';
import {
  isInitContainerFailed, isSidecar, latestByName, probesFor, sandboxChanged, shouldContainerBeRestarted,
  type ContainerObservation, type ProbeResults, type SandboxObservation,
} from './observations.js';

export type { ContainerObservation, ProbeResults, SandboxObservation };

export interface PodActionsInput {
  pod: Pod;
  /** every sandbox of the pod (any order) */
  sandboxes: readonly SandboxObservation[];
  /** latest instance per container (older instances may be included too) */
  containers: readonly ContainerObservation[];
  /** probe results by container name */
  probes?: ReadonlyMap<string, ProbeResults>;
  /** crash back-off state, only read here (see commitBackoff) */
  backoff?: Backoff;
}

export type KillReason = 'LivenessProbe' | 'StartupProbe' | 'Unknown' | 'SpecChanged';

export interface ContainerKill {
  containerId: string;
  name: string;
  reason: KillReason;
  message: string;
}

export interface ContainerStart {
  name: string;
  /** index in spec.initContainers or spec.containers */
  index: number;
  init: boolean;
  backoffKey: string;
  /** finishedAt of the exited instance this start replaces: commitBackoff records it */
  restartAfter?: number;
}

/** A start held back by the crash back-off: report it as waiting reason CrashLoopBackOff. */
export interface BackoffWait {
  name: string;
  init: boolean;
  reason: 'CrashLoopBackOff';
  message: string;
  /** ms until the back-off ends: sync again then */
  waitMs: number;
}

export interface PodActions {
  /** stop every container and the sandbox(es) first */
  killPod: boolean;
  createSandbox: boolean;
  /** the current (or, with createSandbox, the replaced) sandbox */
  sandboxId?: string;
  /** attempt number for a new sandbox */
  attempt: number;
  /** in order; at most one regular init container, plus sidecars */
  initContainersToStart: ContainerStart[];
  containersToStart: ContainerStart[];
  /** ignored when killPod is set (everything is killed) */
  containersToKill: ContainerKill[];
  backoff: BackoffWait[];
}

export function computePodActions(input: PodActionsInput): PodActions {
  const { pod } = input;
  const spec = pod.spec;
  const obs = latestByName(input.containers);
  const sb = sandboxChanged(spec, input.sandboxes);
  const actions: PodActions = {
    killPod: sb.changed,
    createSandbox: sb.changed,
    ...(sb.sandboxId !== undefined ? { sandboxId: sb.sandboxId } : {}),
    attempt: sb.attempt,
    initContainersToStart: [],
    containersToStart: [],
    containersToKill: [],
    backoff: [],
  };
  const kills = new Map<string, ContainerKill>();
  const kill = (o: ContainerObservation, reason: KillReason, message: string) => {
    if (o.containerId) kills.set(o.containerId, { containerId: o.containerId, name: o.name, reason, message });
  };
  let initStarts: number[] = [];
  const appStarts: number[] = [];
  // Init containers count only in the current sandbox: a new sandbox initializes again
  // (kubelet gets the same effect by purging the old ones when it replaces the sandbox).
  const initObs = sb.changed ? new Map<string, ContainerObservation>() : currentSandboxOnly(obs, spec.initContainers, sb.sandboxId);
  const finish = () => finishActions(input, obs, initObs, actions, kills, initStarts, appStarts);

  if (sb.changed) {
    // A pod that must not restart and already ran is only torn down.
    if (spec.restartPolicy === 'Never' && sb.attempt !== 0 && obs.size !== 0) {
      actions.createSandbox = false;
      return finish();
    }
    const toStart = spec.containers.flatMap((c, i) => (spec.restartPolicy === 'OnFailure' && succeeded(obs.get(c.name)) ? [] : [i]));
    if (toStart.length === 0 && spec.containers.some((c) => ['created', 'running', 'exited'].includes(obs.get(c.name)?.state ?? ''))) {
      actions.createSandbox = false;
      return finish();
    }
    // A new sandbox starts from scratch: init containers again if any.
    if (spec.initContainers.length > 0) initStarts = [0];
    else appStarts.push(...toStart);
    return finish();
  }

  const initialized = computeInitActions(input, obs, initObs, actions, kill, initStarts);
  if (actions.killPod || !initialized) return finish();

  let keep = 0;
  spec.containers.forEach((c, idx) => {
    const o = obs.get(c.name);
    if (!o || o.state !== 'running') {
      if (shouldContainerBeRestarted(c, spec, o)) {
        appStarts.push(idx);
        if (o?.state === 'unknown') kill(o, 'Unknown', 'Container is in "unknown" state, try killing it before restart');
      }
      return;
    }
    const probe = probesFor(input.probes, c.name, o.containerId);
    let restart = spec.restartPolicy !== 'Never';
    let reason: KillReason;
    let message: string;
    if (hashChanged(c, o)) {
      reason = 'SpecChanged';
      message = `Container ${c.name} definition changed`;
      restart = true; // whatever the policy: the new definition must run
    } else if (probe.liveness === 'failure') {
      reason = 'LivenessProbe';
      message = `Container ${c.name} failed liveness probe`;
    } else if (probe.startup === 'failure') {
      reason = 'StartupProbe';
      message = `Container ${c.name} failed startup probe`;
    } else {
      keep++;
      return;
    }
    if (restart) {
      message += ', will be restarted';
      appStarts.push(idx);
    }
    kill(o, reason, message);
  });
  // Nothing left running and nothing to start: the pod is done.
  if (keep === 0 && appStarts.length === 0) {
    actions.killPod = true;
    initStarts = [];
  }
  return finish();
}

/** kubelet's computeInitContainerActions; returns whether the pod is initialized. */
function computeInitActions(
  input: PodActionsInput,
  obs: Map<string, ContainerObservation>,
  initObs: Map<string, ContainerObservation>,
  actions: PodActions,
  kill: (o: ContainerObservation, reason: KillReason, message: string) => void,
  starts: number[],
): boolean {
  const spec = input.pod.spec;
  const inits = spec.initContainers;
  if (inits.length === 0) return true;
  // A created or running app container means initialization finished at some point,
  // even if the runtime has since forgotten the init containers.
  let initialized = spec.containers.some((c) => ['created', 'running'].includes(obs.get(c.name)?.state ?? ''));
  let previouslyInitialized = initialized;
  const restartOnFailure = spec.restartPolicy !== 'Never';
  const last = inits.length - 1;

  // Backwards: the last init container with a status tells how far initialization got.
  for (let i = last; i >= 0; i--) {
    const c = inits[i]!;
    const o = initObs.get(c.name);
    if (!o) {
      if (previouslyInitialized && isSidecar(c)) starts.push(i);
      continue;
    }
    if (previouslyInitialized && !isSidecar(c)) continue;
    switch (o.state) {
      case 'created':
        starts.push(i); // created but never started: start it again
        break;
      case 'running':
        if (isSidecar(c)) sidecarRunning(c, i);
        break;
      case 'exited':
        if (isSidecar(c)) starts.push(i);
        else if (isInitContainerFailed(o)) {
          if (!restartOnFailure) {
            actions.killPod = true;
            starts.length = 0;
            return false;
          }
          starts.push(i);
        } else if (i === last) initialized = true;
        else starts.push(i + 1);
        break;
      default:
        if (!isSidecar(c) && !restartOnFailure) {
          actions.killPod = true;
          starts.length = 0;
          return false;
        }
        kill(o, 'Unknown', 'Init container is in "unknown" state, try killing it before restart');
        starts.push(i);
    }
    previouslyInitialized = true;
  }
  if (!previouslyInitialized) starts.push(0);
  starts.reverse();
  return initialized;

  function sidecarRunning(c: Container, i: number): void {
    const o = initObs.get(c.name)!;
    const probe = probesFor(input.probes, c.name, o.containerId);
    if (c.startupProbe) {
      if (probe.startup === undefined) return; // wait for the startup probe
      if (probe.startup !== 'success') {
        kill(o, 'StartupProbe', `Init container ${c.name} failed startup probe`);
        starts.push(i);
        return;
      }
    }
    if (i === last) initialized = true;
    else if (!previouslyInitialized) starts.push(i + 1); // started for the first time: run the next one
    if (hashChanged(c, o)) {
      kill(o, 'SpecChanged', `Init container ${c.name} definition changed`);
      starts.push(i);
      return;
    }
    if (c.livenessProbe && probe.liveness === 'failure') {
      kill(o, 'LivenessProbe', `Init container ${c.name} failed liveness probe`);
      starts.push(i);
    }
  }
}

/** Splits starts held back by the crash back-off from the others (SyncPod's doBackOff). */
function finishActions(
  input: PodActionsInput,
  obs: Map<string, ContainerObservation>,
  initObs: Map<string, ContainerObservation>,
  actions: PodActions,
  kills: Map<string, ContainerKill>,
  initStarts: number[],
  appStarts: number[],
): PodActions {
  const { pod, backoff } = input;
  const { name: podName, namespace, uid } = pod.metadata;
  const plan = (idx: number, init: boolean): ContainerStart | undefined => {
    const c = (init ? pod.spec.initContainers : pod.spec.containers)[idx]!;
    const key = crashBackoffKey(uid, c.name);
    const o = (init ? initObs : obs).get(c.name);
    if (o?.state !== 'exited') return { name: c.name, index: idx, init, backoffKey: key };
    const finishedAt = o.finishedAt ?? 0;
    if (backoff?.isInBackOffSince(key, finishedAt)) {
      actions.backoff.push({
        name: c.name,
        init,
        reason: 'CrashLoopBackOff',
        message: `back-off ${formatDuration(backoff.get(key))} restarting failed container=${c.name} pod=${podName}_${namespace}(${uid})`,
        waitMs: backoff.remainingSince(key, finishedAt),
      });
      return undefined;
    }
    return { name: c.name, index: idx, init, backoffKey: key, restartAfter: finishedAt };
  };
  actions.initContainersToStart = [...new Set(initStarts)].flatMap((i) => plan(i, true) ?? []);
  actions.containersToStart = [...new Set(appStarts)].flatMap((i) => plan(i, false) ?? []);
  actions.containersToKill = [...kills.values()];
  return actions;
}

/** Records the restarts the worker made, as kubelet's doBackOff does (call after starting). */
export function commitBackoff(starts: readonly ContainerStart[], backoff: Backoff): void {
  for (const s of starts) if (s.restartAfter !== undefined) backoff.next(s.backoffKey, s.restartAfter);
}

/** Observations of `containers` in sandbox `id` (an instance of unknown sandbox counts as in it). */
function currentSandboxOnly(obs: Map<string, ContainerObservation>, containers: readonly Container[], id: string | undefined): Map<string, ContainerObservation> {
  const out = new Map<string, ContainerObservation>();
  for (const c of containers) {
    const o = obs.get(c.name);
    if (o && (o.sandboxId === undefined || id === undefined || o.sandboxId === id)) out.set(c.name, o);
  }
  return out;
}

function succeeded(o: ContainerObservation | undefined): boolean {
  return o?.state === 'exited' && (o.exitCode ?? 0) === 0;
}

function hashChanged(c: Container, o: ContainerObservation): boolean {
  return o.hash !== undefined && o.hash !== '' && o.hash !== containerHash(c);
}

/**
 * The container hash kept in the io.kubernetes.container.hash annotation. Like kubelet
 * since 1.31 it covers name and image only, the container fields that can change
 * within one pod UID (a static pod's other edits give a new UID, hence a new pod), so
 * an agent upgrade that defaults more fields does not restart every container.
 * FNV-1a 32-bit of the JSON {"image","name"}, hex.
 */
export function containerHash(c: Pick<Container, 'name' | 'image'>): string {
  const text = JSON.stringify({ image: c.image, name: c.name });
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16);
}
