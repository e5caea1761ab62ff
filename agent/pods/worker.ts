// One worker per pod, as kubelet's pod workers: syncs are serialised per pod, woken
// by spec changes, relist events, probe results and timers. A sync observes the
// runtime, asks the pure decision logic what to do, does it, and recomputes status.
import type { CriClient } from '../cri/client.js';
import { isNotFound } from '../cri/errors.js';
import { ContainerState, PodSandboxState, type Container, type ContainerStatus, type PodSandbox, type PodSandboxConfig } from '../cri/types.js';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import type { Container as ContainerSpec, Pod, PodStatus } from './api-types.js';
import type { Backoff } from './backoff.js';
import { containerConfig, type ContainerKind } from './container-config.js';
import { EnvError, envReferences, resolveCommand, resolveEnv } from './env.js';
import { containerFieldPath, formatPod, Reason, type EventType, type PodEvents } from './events.js';
import { ImagePullError, type ImageEventSink, type ImageManager, type PullPolicy } from './images.js';
import { A } from './labels.js';
import { removeCgroup } from './cgroups.js';
import { cgroupParent } from './qos.js';
import { runHook } from './lifecycle/index.js';
import type { Relister, RuntimePod } from './pleg.js';
import type { ProbeManager } from './probes/index.js';
import { containerResources } from './resources.js';
import { commitBackoff, computePodActions, containerHash, type ContainerObservation, type ContainerStart, type ProbeResults, type SandboxObservation } from './restart.js';
import type { NodeFacts } from './node-info.js';
import { sandboxConfig } from './sandbox-config.js';
import { computePodStatus, type Waiting } from './status.js';
import { containerMounts, prepareVolumes, teardownVolumes, updateVolumes, writeEtcHosts, type PreparedVolumes } from './volumes/index.js';
import type { ObjectLookup, TokenProvider } from './volumes/types.js';

/** Where a pod's ConfigMaps, Secrets and service-account tokens come from. */
export interface PodInputs {
  objects: ObjectLookup;
  tokenProvider?: TokenProvider;
}

export interface WorkerDeps {
  cri: CriClient;
  relister: Relister;
  images: ImageManager;
  node: NodeFacts;
  /** the manifest folder for static pods; the API server for API pods */
  inputs(pod: Pod): PodInputs;
  probes: ProbeManager;
  backoff: Backoff;
  /** kubelet's Events about the pod (the log; the API server's Events when joined) */
  events: PodEvents;
  log: Logger;
  onStatus(pod: Pod, status: PodStatus): void;
  onRunning(pod: Pod, firstSeen: number): void;
}

type Phase = 'syncing' | 'terminating' | 'terminated';

/** Container statuses of exited containers never change: cache them by id. */
const exitedStatusCache = new Map<string, ContainerStatus>();

/** Forgets cached statuses of containers the runtime no longer has. */
export function pruneStatusCache(live: ReadonlySet<string>): void {
  for (const id of exitedStatusCache.keys()) if (!live.has(id)) exitedStatusCache.delete(id);
}

export class PodWorker {
  private phase: Phase = 'syncing';
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private waiting = new Map<string, Waiting>();
  private synced = false;
  private volumes: PreparedVolumes | undefined;
  private volumesRefreshedAt = 0;
  private sandboxIPs = new Map<string, string[]>();
  private status: PodStatus | undefined;
  private readonly firstSeen = Date.now();
  private reportedRunning = false;
  /** What the sync in progress made in the runtime (see afterCreates). */
  private made: { sandboxes: PodSandbox[]; containers: { id: string; sandboxId: string }[] } = { sandboxes: [], containers: [] };
  private readonly log: Logger;

  constructor(public pod: Pod, private readonly d: WorkerDeps) {
    this.log = d.log.child({ pod: `${pod.metadata.namespace}/${pod.metadata.name}`, uid: pod.metadata.uid });
  }

  get uid(): string {
    return this.pod.metadata.uid;
  }

  get terminated(): boolean {
    return this.phase === 'terminated';
  }

  /** Stopping for good: a pod wanted again meanwhile needs a new worker afterwards. */
  get terminating(): boolean {
    return this.phase === 'terminating';
  }

  /** New spec for the same UID (labels, annotations: nothing that restarts containers by itself). */
  update(pod: Pod): void {
    this.pod = pod;
    this.wake();
  }

  /** A sync (or termination) is in flight. */
  get busy(): boolean {
    return this.running !== undefined;
  }

  /** Schedules a sync; several wakes during a sync coalesce into one more. */
  wake(): void {
    if (this.phase === 'terminated') return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          if (this.phase === 'terminating') await this.terminateNow();
          else await this.sync();
        } catch (err) {
          this.log.error({ err: errorMessage(err) }, 'pod sync failed; will retry');
          this.rearm(2_000);
        }
      } while (this.again && this.phase !== 'terminated');
    })().finally(() => { this.running = undefined; });
  }

  /** Stops and removes everything of the pod; resolves when done. */
  async terminate(): Promise<void> {
    this.phase = this.phase === 'terminated' ? 'terminated' : 'terminating';
    this.wake();
    while (this.running) await this.running;
  }

  /** Waits for the sync in flight (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private rearm(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.wake(), ms);
    this.timer.unref();
  }

  // ------------------------------------------------------------------ observe

  private async containerStatus(c: Container, known?: ReadonlyMap<string, ContainerStatus>): Promise<ContainerStatus | undefined> {
    const cached = exitedStatusCache.get(c.id) ?? known?.get(c.id);
    if (cached) return cached;
    try {
      const st = await this.d.cri.containerStatus(c.id);
      if (st.state === ContainerState.EXITED) exitedStatusCache.set(c.id, st);
      return st;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** `known`: container statuses just read, not to be asked for again. */
  private async observe(rt: RuntimePod | undefined, known?: ReadonlyMap<string, ContainerStatus>): Promise<{ sandboxes: SandboxObservation[]; containers: ContainerObservation[] }> {
    const sandboxes: SandboxObservation[] = [];
    for (const sb of rt?.sandboxes ?? []) {
      const ready = sb.state === PodSandboxState.READY;
      let ips = this.pod.spec.hostNetwork ? this.d.node.hostIPs : this.sandboxIPs.get(sb.id);
      if (!ips && ready) {
        const st = await this.d.cri.podSandboxStatus(sb.id);
        ips = [st.status.network?.ip, ...(st.status.network?.additionalIps ?? []).map((i) => i.ip)].filter((x): x is string => !!x);
        this.sandboxIPs.set(sb.id, ips);
      }
      sandboxes.push({ id: sb.id, ready, attempt: sb.metadata?.attempt ?? 0, podIPs: ips ?? [], createdAt: sb.createdAt });
    }
    const containers: ContainerObservation[] = [];
    for (const spec of [...(this.pod.spec.initContainers ?? []), ...this.pod.spec.containers]) {
      const instances = (rt?.containers ?? []).filter((c) => c.metadata?.name === spec.name);
      const latest = instances[0];
      if (!latest) continue;
      const st = await this.containerStatus(latest, known);
      if (!st) continue;
      const prevContainer = instances.slice(1).find((c) => c.state === ContainerState.EXITED);
      const prev = prevContainer ? await this.containerStatus(prevContainer, known) : undefined;
      containers.push({
        name: spec.name,
        containerId: st.id,
        sandboxId: latest.podSandboxId,
        image: spec.image,
        imageRef: st.imageRef,
        state: stateName(st.state),
        exitCode: st.exitCode,
        reason: st.reason,
        message: st.message,
        createdAt: st.createdAt,
        startedAt: st.startedAt,
        finishedAt: st.finishedAt,
        restartCount: Number(st.annotations[A.restartCount] ?? 0),
        ...(st.annotations[A.containerHash] ? { hash: st.annotations[A.containerHash] } : {}),
        ...(prev ? { previous: { containerId: prev.id, exitCode: prev.exitCode, reason: prev.reason, message: prev.message, startedAt: prev.startedAt, finishedAt: prev.finishedAt } } : {}),
      });
    }
    return { sandboxes, containers };
  }

  /** The prober's current results in the shape the decision logic reads. */
  private probeResults(): Map<string, ProbeResults> {
    const out = new Map<string, ProbeResults>();
    const conv = (r: string | undefined) => (r === 'Success' ? 'success' : r === 'Failure' ? 'failure' : undefined);
    for (const c of [...(this.pod.spec.initContainers ?? []), ...this.pod.spec.containers]) {
      const r: ProbeResults = {};
      for (const kind of ['readiness', 'liveness', 'startup'] as const) {
        const v = conv(this.d.probes.result(this.uid, c.name, kind));
        if (v) r[kind] = v;
      }
      out.set(c.name, r);
    }
    return out;
  }

  // ------------------------------------------------------------------ sync

  private async sync(): Promise<void> {
    // A pod first seen after the runtime was listed has nothing there yet (only this
    // worker makes its sandboxes): skip the re-list on that first sync.
    const fresh = !this.synced && this.d.relister.lastRelistAt > 0 && !this.d.relister.pod(this.uid);
    this.synced = true;
    const rt = fresh ? undefined : await this.d.relister.refresh(this.uid);
    this.made = { sandboxes: [], containers: [] };
    const obs = await this.observe(rt);
    this.probeRunningContainers(obs);
    const actions = computePodActions({ pod: this.pod, sandboxes: obs.sandboxes, containers: obs.containers, probes: this.probeResults(), backoff: this.d.backoff });
    let changed = false;
    let killed = false;
    if (actions.createSandbox && actions.sandboxId) this.event('Normal', Reason.sandboxChanged, 'Pod sandbox changed, it will be killed and re-created.');

    if (actions.killPod) {
      // A new pod's first sync "kills" nothing (kubelet sets KillPod whenever it creates a sandbox).
      killed = await this.killAll(rt, 'PodSandboxChanged');
      changed = true;
    } else {
      for (const k of actions.containersToKill) {
        this.log.info({ container: k.name, reason: k.reason }, k.message);
        await this.killContainer(k.containerId, k.name, this.gracePeriod(), k.reason, k.message);
        changed = true;
        killed = true;
      }
    }
    let sandbox = obs.sandboxes.find((s) => s.id === actions.sandboxId && s.ready);
    const starts = [...actions.initContainersToStart, ...actions.containersToStart];
    // Images are looked up (or pulled) while the sandbox starts.
    const images = new Map(starts.map((s) => [s.name, this.ensureImage(s.name)]));
    if (actions.createSandbox) {
      sandbox = await this.createSandbox(actions.attempt);
      changed = true;
    }
    const started: ContainerStart[] = [];
    if (sandbox?.ready) {
      const cfg = sandboxConfig(this.pod, sandbox.attempt, this.d.node);
      for (const start of starts) {
        if (await this.startContainer(sandbox, cfg, start.name, start.init ? 'init' : 'app', images.get(start.name)!)) started.push(start);
        changed = true;
      }
    }
    commitBackoff(started, this.d.backoff);
    for (const w of actions.backoff) {
      this.waiting.set(w.name, { reason: w.reason, message: w.message });
      this.event('Warning', Reason.backOff, `Back-off restarting failed container ${w.name} in pod ${formatPod(this.pod)}`, w.name);
    }

    const finalObs = !changed ? obs
      : killed ? await this.observe(await this.d.relister.refresh(this.uid))
      : await this.afterCreates(rt).catch(async () => this.observe(await this.d.relister.refresh(this.uid))); // e.g. removed meanwhile
    this.status = computePodStatus({
      pod: this.pod,
      sandboxes: finalObs.sandboxes,
      containers: finalObs.containers,
      waiting: this.waiting,
      probes: this.probeResults(),
      hostIPs: this.d.node.hostIPs,
      previous: this.status,
      now: Date.now(),
    });
    this.d.onStatus(this.pod, this.status);
    if (!this.reportedRunning && this.status.phase === 'Running') {
      this.reportedRunning = true;
      this.d.onRunning(this.pod, this.firstSeen);
    }
    // A finished pod (Succeeded/Failed) gives its sandbox and IP back, keeping its containers for logs.
    if (this.status.phase === 'Succeeded' || this.status.phase === 'Failed') {
      for (const sb of finalObs.sandboxes) if (sb.ready) await this.d.cri.stopPodSandbox(sb.id);
      this.d.probes.removePod(this.uid);
    }
    await this.refreshVolumes();
    // Come back when a back-off ends, and at least every 10 s.
    this.rearm(Math.min(10_000, ...actions.backoff.map((w) => Math.max(100, w.waitMs))));
  }

  /**
   * The pod as the runtime has it after a sync that only created things: what it had
   * plus the sandbox and containers made, as their status calls report them. Spares
   * re-listing the runtime (two list calls) on the way to Running.
   */
  private async afterCreates(rt: RuntimePod | undefined): Promise<{ sandboxes: SandboxObservation[]; containers: ContainerObservation[] }> {
    const statuses = new Map<string, ContainerStatus>();
    const containers: Container[] = [];
    for (const m of this.made.containers) {
      const st = await this.d.cri.containerStatus(m.id);
      statuses.set(st.id, st);
      containers.unshift({ id: st.id, podSandboxId: m.sandboxId, ...(st.metadata ? { metadata: st.metadata } : {}), ...(st.image ? { image: st.image } : {}),
        imageRef: st.imageRef, state: st.state, createdAt: st.createdAt, labels: st.labels, annotations: st.annotations, imageId: st.imageId });
    }
    const pod: RuntimePod = {
      uid: this.uid, name: this.pod.metadata.name, namespace: this.pod.metadata.namespace,
      sandboxes: [...this.made.sandboxes.toReversed(), ...(rt?.sandboxes ?? [])],
      containers: [...containers, ...(rt?.containers ?? [])],
    };
    this.d.relister.record(pod);
    return this.observe(pod, statuses);
  }

  /**
   * Running app containers get their probes even when this agent did not start them
   * (adopted after a restart), as kubelet does: readiness is false until the first
   * success. Known containers are left as they are.
   */
  private probeRunningContainers(obs: { sandboxes: SandboxObservation[]; containers: ContainerObservation[] }): void {
    for (const c of obs.containers) {
      const spec = this.pod.spec.containers.find((s) => s.name === c.name);
      if (c.state !== 'running' || !c.containerId || !spec) continue;
      const podIP = obs.sandboxes.find((s) => s.id === c.sandboxId)?.podIPs[0] ?? '';
      try {
        this.d.probes.addContainer(this.pod, spec, c.containerId, podIP, c.startedAt ? { startedAt: c.startedAt } : {});
      } catch (err) {
        this.log.warn({ container: c.name, err: errorMessage(err) }, 'cannot probe the container');
      }
    }
  }

  private volumeContext() {
    const { objects, tokenProvider } = this.d.inputs(this.pod);
    return { rootDir: this.d.node.rootDir, objects, ...(tokenProvider ? { tokenProvider } : {}), nodeAllocatable: this.d.node.allocatable, log: this.log };
  }

  /** The ConfigMaps and Secrets a container's env names, looked up by name; a failed lookup is a CreateContainerConfigError. */
  private async envObjects(spec: ContainerSpec) {
    const ns = this.pod.metadata.namespace;
    const { objects } = this.d.inputs(this.pod);
    const refs = envReferences(spec);
    const fetch = async <T>(names: string[], get: (name: string) => T | undefined | Promise<T | undefined>) => {
      const found = await Promise.all(names.map(async (n) => {
        try {
          return [n, await get(n)] as const;
        } catch (err) {
          throw new EnvError(errorMessage(err));
        }
      }));
      return new Map(found.filter((e): e is readonly [string, Awaited<T>] => e[1] !== undefined));
    };
    return {
      configMaps: await fetch(refs.configMaps, (n) => objects.configMap(ns, n)),
      secrets: await fetch(refs.secrets, (n) => objects.secret(ns, n)),
    };
  }

  /** Sets volumes up once per worker (idempotent, so an adopted pod gets its mounts back). */
  private async ensureVolumes(): Promise<PreparedVolumes> {
    this.volumes ??= await prepareVolumes(this.pod, this.volumeContext());
    return this.volumes;
  }

  /** Refreshes configMap/secret/downwardAPI content now and then, as kubelet's sync does. */
  private async refreshVolumes(): Promise<void> {
    if (!this.volumes || Date.now() - this.volumesRefreshedAt < 5_000) return;
    this.volumesRefreshedAt = Date.now();
    const r = await updateVolumes(this.pod, this.volumeContext());
    for (const e of r.errors) this.log.warn({ err: e.message }, 'volume refresh failed; keeping the previous content');
  }

  private backoffKey(name: string): string {
    return `${this.uid}/${name}`;
  }

  private gracePeriod(): number {
    return this.pod.spec.terminationGracePeriodSeconds ?? 30;
  }

  private async createSandbox(attempt: number): Promise<SandboxObservation | undefined> {
    const cfg = sandboxConfig(this.pod, attempt, this.d.node);
    try {
      await this.ensureVolumes();
    } catch (err) {
      for (const c of [...(this.pod.spec.initContainers ?? []), ...this.pod.spec.containers]) {
        this.waiting.set(c.name, { reason: 'ContainerCreating', message: errorMessage(err) });
      }
      this.log.warn({ err: errorMessage(err) }, 'FailedMount');
      this.event('Warning', Reason.failedMount, errorMessage(err));
      return undefined;
    }
    this.log.info({ attempt }, 'creating pod sandbox');
    const t0 = performance.now();
    const id = await this.d.cri.runPodSandbox(cfg).catch((err: unknown) => {
      this.event('Warning', Reason.failedCreatePodSandBox, `Failed to create pod sandbox: ${errorMessage(err)}`);
      throw err;
    });
    const st = await this.d.cri.podSandboxStatus(id);
    this.log.debug({ ms: Math.round(performance.now() - t0) }, 'sandbox running');
    const ips = this.pod.spec.hostNetwork
      ? this.d.node.hostIPs
      : [st.status.network?.ip, ...(st.status.network?.additionalIps ?? []).map((i) => i.ip)].filter((x): x is string => !!x);
    this.sandboxIPs.set(id, ips);
    const s = st.status;
    this.made.sandboxes.push({ id, ...(s.metadata ? { metadata: s.metadata } : {}), state: s.state, createdAt: s.createdAt, labels: s.labels, annotations: s.annotations, runtimeHandler: s.runtimeHandler });
    if (!this.pod.spec.hostNetwork) await writeEtcHosts(this.pod, ips, this.d.node.rootDir);
    return { id, ready: st.status.state === PodSandboxState.READY, attempt, podIPs: ips, createdAt: st.status.createdAt };
  }

  /** Creates and starts one container; records kubelet's waiting reason on failure. True when it started. */
  private specOf(name: string): ContainerSpec | undefined {
    return [...(this.pod.spec.initContainers ?? []), ...this.pod.spec.containers].find((c) => c.name === name);
  }

  /**
   * The image to run, or why not: never rejects, so a lookup left unused (no sandbox) is
   * harmless. Its events but Pulling wait for report(), when the container is started.
   */
  private ensureImage(name: string): Promise<{ ref: string | Error; report(): void }> {
    const spec = this.specOf(name)!;
    const later: (() => void)[] = [];
    const sink: ImageEventSink = (type, reason, message) => {
      const emit = () => this.event(type, reason, message, name);
      if (reason === Reason.pulling) emit();
      else later.push(emit);
    };
    return this.d.images.ensure(spec.image, (spec.imagePullPolicy ?? 'IfNotPresent') as PullPolicy, this.uid, sink)
      .catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))))
      .then((ref) => ({ ref, report: () => later.forEach((f) => f()) }));
  }

  /** Records a kubelet Event about the pod, or about one of its containers. */
  private event(type: EventType, reason: string, message: string, container?: string): void {
    if (this.pod.metadata.annotations?.['kna.io/orphan']) return; // nobody's pod any more
    const init = container !== undefined && (this.pod.spec.initContainers ?? []).some((c) => c.name === container);
    this.d.events.event(this.pod, type, reason, message, container === undefined ? undefined : containerFieldPath(init, container));
  }

  private async startContainer(sandbox: SandboxObservation, sandboxCfg: PodSandboxConfig, name: string, kind: ContainerKind, image: ReturnType<PodWorker['ensureImage']>): Promise<boolean> {
    const spec = this.specOf(name);
    if (!spec) return false;
    const key = this.backoffKey(name);
    const rt = this.d.relister.pod(this.uid);
    const previous = rt?.containers.find((c) => c.metadata?.name === name);
    const restartCount = previous ? Number(previous.annotations[A.restartCount] ?? 0) + 1 : 0;
    let imageRef: string;
    try {
      const { ref, report } = await image;
      report();
      if (ref instanceof Error) throw ref;
      imageRef = ref;
    } catch (err) {
      if (err instanceof ImagePullError) {
        this.waiting.set(name, { reason: err.reason, message: err.message });
        this.log.warn({ container: name, reason: err.reason }, err.message);
        this.event('Warning', Reason.failed, `Error: ${err.reason}`, name);
        return false;
      }
      throw err;
    }
    let id: string | undefined;
    try {
      const podIP = sandbox.podIPs[0] ?? '';
      const envs = resolveEnv(this.pod, spec, {
        podIPs: sandbox.podIPs, hostIPs: this.d.node.hostIPs, nodeAllocatable: this.d.node.allocatable,
        ...(await this.envObjects(spec)),
      });
      const { command, args } = resolveCommand(spec, envs);
      const cfg = containerConfig(this.pod, spec, kind, restartCount, {
        envs: envs.map(({ name: k, value }) => ({ key: k, value })),
        ...(command ? { command } : {}),
        ...(args ? { args } : {}),
        mounts: await containerMounts(this.pod, spec, await this.ensureVolumes(), { rootDir: this.d.node.rootDir, podIP }),
        resources: containerResources(this.pod, spec, this.d.node.memoryCapacity),
        hash: containerHash(spec),
      }, this.d.node.nodeName);
      cfg.image = { image: imageRef, userSpecifiedImage: spec.image };
      const t1 = performance.now();
      id = await this.d.cri.createContainer(sandbox.id, cfg, sandboxCfg);
      this.event('Normal', Reason.created, `Created container: ${name}`, name);
      const t2 = performance.now();
      await this.d.cri.startContainer(id);
      this.event('Normal', Reason.started, `Started container ${name}`, name);
      this.made.containers.push({ id, sandboxId: sandbox.id });
      this.log.debug({ container: name, createMs: Math.round(t2 - t1), startMs: Math.round(performance.now() - t2) }, 'container created and started');
    } catch (err) {
      const reason = err instanceof EnvError ? 'CreateContainerConfigError' : id ? 'RunContainerError' : 'CreateContainerError';
      this.waiting.set(name, { reason, message: errorMessage(err) });
      this.log.warn({ container: name, reason, err: errorMessage(err) }, 'cannot start container');
      this.event('Warning', Reason.failed, `Error: ${errorMessage(err)}`, name);
      if (id) await this.d.cri.removeContainer(id).catch(() => undefined);
      this.d.backoff.failed(key, Date.now());
      return false;
    }
    this.waiting.delete(name);
    this.log.info({ container: name, id, restartCount }, 'started container');
    if (spec.lifecycle?.postStart) {
      const r = await runHook(spec.lifecycle.postStart, { execSync: (cid, cmd, t) => this.d.cri.execSync(cid, cmd, t), containerId: id, podIP: sandbox.podIPs[0] ?? '', container: spec, timeoutSec: this.gracePeriod() });
      if (!r.ok) {
        this.log.warn({ container: name, message: r.message }, 'FailedPostStartHook');
        this.event('Warning', Reason.failedPostStartHook, r.message, name);
        this.event('Normal', Reason.killing, 'FailedPostStartHook', name);
        await this.d.cri.stopContainer(id, this.gracePeriod()).catch(() => undefined);
        this.waiting.set(name, { reason: 'PostStartHookError', message: r.message });
        return true;
      }
    }
    if (kind === 'app') this.d.probes.addContainer(this.pod, spec, id, sandbox.podIPs[0] ?? '');
    return true;
  }

  /** preStop (bounded by the grace period), then StopContainer with what is left of it. */
  private async killContainer(id: string, name: string, graceSec: number, reason: string, message = `Stopping container ${name}`): Promise<void> {
    const spec = [...(this.pod.spec.initContainers ?? []), ...this.pod.spec.containers].find((c) => c.name === name);
    const started = Date.now();
    this.d.probes.removeContainer(this.uid, name);
    if (spec?.lifecycle?.preStop) {
      const podIP = this.status?.podIP ?? '';
      const hook = runHook(spec.lifecycle.preStop, { execSync: (cid, cmd, t) => this.d.cri.execSync(cid, cmd, t), containerId: id, podIP, container: spec, timeoutSec: graceSec });
      const r = await Promise.race([hook, new Promise<undefined>((res) => setTimeout(() => res(undefined), graceSec * 1000).unref())]);
      if (r && !r.ok) {
        this.log.warn({ container: name, message: r.message }, 'FailedPreStopHook');
        this.event('Warning', Reason.failedPreStopHook, r.message, name);
      }
    }
    // kubelet grants at least 2 s after preStop, so SIGTERM always gets a chance.
    const left = Math.max(2, Math.ceil(graceSec - (Date.now() - started) / 1000));
    this.log.info({ container: name, reason, graceSec: left }, 'stopping container');
    this.event('Normal', Reason.killing, message, name);
    await this.d.cri.stopContainer(id, left).catch((err: unknown) => { if (!isNotFound(err)) throw err; });
  }

  /** Stops the pod's live containers and ready sandboxes; says whether there were any. */
  private async killAll(rt: RuntimePod | undefined, reason: string, graceSec = this.gracePeriod()): Promise<boolean> {
    const running = (rt?.containers ?? []).filter((c) => c.state === ContainerState.RUNNING || c.state === ContainerState.CREATED);
    const ready = (rt?.sandboxes ?? []).filter((s) => s.state === PodSandboxState.READY);
    await Promise.all(running.map((c) => this.killContainer(c.id, c.metadata?.name ?? '', graceSec, reason)));
    for (const s of ready) await this.d.cri.stopPodSandbox(s.id).catch((err: unknown) => { if (!isNotFound(err)) throw err; });
    return running.length + ready.length > 0;
  }

  private async terminateNow(): Promise<void> {
    const rt = await this.d.relister.refresh(this.uid);
    this.log.info('terminating pod');
    this.d.probes.podTerminating(this.uid);
    await this.killAll(rt, 'Killing');
    const gone = (err: unknown) => { if (!isNotFound(err)) throw err; };
    for (const c of rt?.containers ?? []) await this.d.cri.removeContainer(c.id).catch(gone);
    for (const s of rt?.sandboxes ?? []) await this.d.cri.removePodSandbox(s.id).catch(gone);
    await teardownVolumes(this.uid, { rootDir: this.d.node.rootDir });
    // The QoS class of an orphan is unknown: its cgroup may sit under any of the three.
    for (const q of ['Guaranteed', 'Burstable', 'BestEffort'] as const) await removeCgroup(cgroupParent(q, this.uid));
    this.d.probes.removePod(this.uid);
    for (const c of [...(this.pod.spec.initContainers ?? []), ...this.pod.spec.containers]) this.d.backoff.reset(this.backoffKey(c.name));
    await this.d.relister.refresh(this.uid);
    clearTimeout(this.timer);
    this.phase = 'terminated';
    this.log.info('pod terminated and removed');
  }
}

function stateName(s: string): ContainerObservation['state'] {
  switch (s) {
    case ContainerState.CREATED: return 'created';
    case ContainerState.RUNNING: return 'running';
    case ContainerState.EXITED: return 'exited';
    default: return 'unknown';
  }
}

