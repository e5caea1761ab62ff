// The pod manager: desired pods in, one worker per pod, a relist loop that wakes the
// workers whose runtime state changed, garbage collection of dead containers and
// sandboxes, and the read side the CLI and API use (pods with status, logs, exec).
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { CriClient } from '../cri/client.js';
import { isNotFound } from '../cri/errors.js';
import { ContainerState, PodSandboxState } from '../cri/types.js';
import { NotFoundError, type LogQuery, type NodeApi } from '../server/local-api.js';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { admitPod, rejectedStatus, type AdmissionNode, type AdmittedPod } from './admission.js';
import type { Pod, PodStatus } from './api-types.js';
import { readCriLog } from './cri-log.js';
import { L } from './labels.js';
import type { Relister, RuntimePod } from './pleg.js';
import { PodWorker, pruneStatusCache, type WorkerDeps } from './worker.js';

export interface ManagerMetrics {
  podStart: Histogram;
  relist: Histogram;
  runningPods: Gauge;
  runningContainers: Gauge;
  syncErrors: Counter;
}

export function podMetrics(registry: Registry): ManagerMetrics {
  return {
    podStart: new Histogram({ name: 'kubelet_pod_start_duration_seconds', help: 'Duration in seconds from the agent seeing a pod for the first time to the pod running.', buckets: [0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 45, 60, 120, 180, 240, 300, 360, 480, 600, 900, 1200, 1800, 2700, 3600], registers: [registry] }),
    relist: new Histogram({ name: 'kubelet_pleg_relist_duration_seconds', help: 'Duration in seconds for relisting pods in PLEG.', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry] }),
    runningPods: new Gauge({ name: 'kubelet_running_pods', help: 'Number of pods that have a running pod sandbox.', registers: [registry] }),
    runningContainers: new Gauge({ name: 'kubelet_running_containers', help: 'Number of containers currently running.', labelNames: ['container_state'], registers: [registry] }),
    syncErrors: new Counter({ name: 'kna_relist_errors_total', help: 'Relists that failed (runtime unreachable).', registers: [registry] }),
  };
}

export interface ManagerOptions {
  relistMs?: number;
  gcMs?: number;
  /** Called when a pod's status changes or a pod goes away (the proxy recomputes endpoints). */
  onPodsChanged?: () => void;
  /** The node as admission sees it (allocatable, labels, taints); absent: every pod is admitted. */
  admission?: () => AdmissionNode;
}

export class PodManager implements NodeApi {
  private readonly workers = new Map<string, PodWorker>();
  private readonly statuses = new Map<string, { pod: Pod; status: PodStatus }>();
  /** Pods admission turned away, with their Failed status; never run. */
  private readonly rejected = new Map<string, { pod: Pod; status: PodStatus }>();
  /** The last desired set, by UID. */
  private wanted = new Map<string, Pod>();
  private desiredKnown = false;
  private relistTimer: NodeJS.Timeout | undefined;
  private gcTimer: NodeJS.Timeout | undefined;
  private relisting = false;
  private lastRelistOk = 0;

  constructor(
    private readonly cri: CriClient,
    private readonly relister: Relister,
    private readonly deps: Omit<WorkerDeps, 'onStatus' | 'onRunning' | 'relister' | 'cri'>,
    private readonly metrics: ManagerMetrics,
    private readonly log: Logger,
    private readonly opts: ManagerOptions = {},
  ) {}

  private workerDeps(): WorkerDeps {
    return {
      ...this.deps,
      cri: this.cri,
      relister: this.relister,
      onStatus: (pod, status) => {
        const before = this.statuses.get(pod.metadata.uid);
        this.statuses.set(pod.metadata.uid, { pod, status });
        if (!before || JSON.stringify(before.status) !== JSON.stringify(status) || before.pod !== pod) this.opts.onPodsChanged?.();
      },
      onRunning: (pod, firstSeen) => {
        const ms = Date.now() - firstSeen;
        this.metrics.podStart.observe(ms / 1000);
        // As kubelet's "Observed pod startup duration": from first seen to Running.
        this.log.info({ pod: `${pod.metadata.namespace}/${pod.metadata.name}`, podStartE2EDurationMs: ms }, 'observed pod startup duration');
      },
    };
  }

  /**
   * The whole desired set (standalone: the manifest folder). Pods not in it are terminated.
   * `complete: false` while a source has not delivered its first state (the API server
   * before its first list): unknown pods found in the runtime are then left alone.
   * `finished`: UIDs the source knows finished (phase Failed or Succeeded in the API),
   * which are not started again.
   */
  setDesired(pods: Pod[], opts: { complete?: boolean; finished?: ReadonlySet<string> } = {}): void {
    const want = new Map(pods.map((p) => [p.metadata.uid, p]));
    this.wanted = want;
    for (const [uid, w] of this.workers) {
      if (!want.has(uid)) void this.terminateWorker(w);
    }
    for (const uid of this.rejected.keys()) if (!want.has(uid)) this.rejected.delete(uid);
    let admitted: AdmittedPod[] | undefined;
    for (const [uid, pod] of want) {
      const w = this.workers.get(uid);
      if (!w && !this.admit(pod, (admitted ??= this.admittedPods(want)), opts.finished)) continue;
      if (!w || w.terminated) this.startWorker(pod);
      else if (w.terminating) continue; // terminateWorker starts it again once the old one is gone
      else if (JSON.stringify(w.pod) !== JSON.stringify(pod)) w.update(pod); // unchanged pods are not woken
    }
    if (opts.complete !== false) this.desiredKnown = true;
  }

  /**
   * kubelet's admission, once per pod: a new pod that does not fit next to the admitted
   * ones is rejected (phase Failed, never run). Pods the runtime already runs (adopted
   * after a restart) were admitted before and are not judged again.
   */
  private admit(pod: Pod, admitted: AdmittedPod[], finished: ReadonlySet<string> | undefined): boolean {
    const uid = pod.metadata.uid;
    if (this.rejected.has(uid)) return false;
    if (this.relister.pod(uid)) return true;
    if (finished?.has(uid)) return false;
    const node = this.opts.admission?.();
    const r = node ? admitPod(pod, admitted, node) : { admit: true as const };
    if (r.admit) {
      admitted.push({ spec: pod.spec });
      return true;
    }
    this.rejected.set(uid, { pod, status: rejectedStatus(pod, r.reason, r.message) });
    this.log.warn({ pod: `${pod.metadata.namespace}/${pod.metadata.name}`, uid, reason: r.reason, message: r.message }, 'pod rejected: it does not fit on this node');
    this.deps.events.event(pod, 'Warning', r.reason, r.message); // as kubelet's rejectPod
    this.opts.onPodsChanged?.();
    return false;
  }

  /** What admission counts: the pods with a worker, and wanted ones the runtime already runs. */
  private admittedPods(want: Map<string, Pod>): AdmittedPod[] {
    const out: AdmittedPod[] = [];
    for (const w of this.workers.values()) {
      if (!w.terminated && !w.pod.metadata.annotations?.['kna.io/orphan']) out.push({ spec: w.pod.spec, status: this.statuses.get(w.uid)?.status });
    }
    for (const [uid, p] of want) if (!this.workers.has(uid) && this.relister.pod(uid)) out.push({ spec: p.spec });
    return out;
  }

  /**
   * Stops a pod being deleted (API graceful deletion) with its spec's grace period,
   * which the caller has set from deletionGracePeriodSeconds; resolves once nothing
   * of it is left in the runtime. Leave it out of later desired sets.
   */
  async terminatePod(pod: Pod): Promise<void> {
    this.wanted.delete(pod.metadata.uid);
    this.rejected.delete(pod.metadata.uid);
    let w = this.workers.get(pod.metadata.uid);
    if (!w || w.terminated) {
      // Never started here (or already gone): a worker that only cleans up.
      w = new PodWorker(pod, this.workerDeps());
      this.workers.set(pod.metadata.uid, w);
    } else {
      w.pod = pod; // no wake: the new grace period is all that matters now
    }
    await this.terminateWorker(w);
  }

  private startWorker(pod: Pod): PodWorker {
    const w = new PodWorker(pod, this.workerDeps());
    this.workers.set(pod.metadata.uid, w);
    this.log.info({ pod: `${pod.metadata.namespace}/${pod.metadata.name}`, uid: pod.metadata.uid }, 'pod added');
    w.wake();
    return w;
  }

  private async terminateWorker(w: PodWorker): Promise<void> {
    await w.terminate();
    if (this.workers.get(w.uid) !== w) return;
    this.workers.delete(w.uid);
    this.statuses.delete(w.uid);
    this.opts.onPodsChanged?.();
    // Wanted again while it terminated (a manifest removed and put back): start afresh.
    const again = this.wanted.get(w.uid);
    if (again && !this.rejected.has(w.uid)) this.startWorker(again);
  }

  wakePod(uid: string): void {
    this.workers.get(uid)?.wake();
  }

  /** Starts the relist and GC loops (after the first setDesired, so nothing is orphaned by mistake). */
  start(): void {
    const relistMs = this.opts.relistMs ?? 1000;
    this.relistTimer = setInterval(() => void this.relistOnce(), relistMs);
    this.gcTimer = setInterval(() => void this.gc().catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'garbage collection failed')), this.opts.gcMs ?? 30_000);
    void this.relistOnce();
  }

  /**
   * Resolves once every wanted pod has a status (or after timeoutMs), so the proxy's
   * first sync after a restart sees the adopted pods' endpoints instead of none.
   */
  async initialSync(timeoutMs = 10_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end && [...this.workers.values()].some((w) => !w.terminated && !this.statuses.has(w.uid))) {
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.relistTimer);
    clearInterval(this.gcTimer);
    await Promise.all([...this.workers.values()].map((w) => w.idle()));
  }

  /** Terminates every pod (standalone shutdown with --cleanup, tests). */
  async terminateAll(): Promise<void> {
    await Promise.all([...this.workers.values()].map((w) => this.terminateWorker(w)));
  }

  async relistOnce(): Promise<void> {
    if (this.relisting) return;
    this.relisting = true;
    const end = this.metrics.relist.startTimer();
    try {
      const changed = await this.relister.relist((uid) => this.workers.get(uid)?.busy === true);
      this.lastRelistOk = Date.now();
      for (const uid of changed) this.workers.get(uid)?.wake();
      if (this.desiredKnown) this.adoptOrphans();
      this.updateGauges();
      pruneStatusCache(new Set(this.relister.all().flatMap((p) => p.containers.map((c) => c.id))));
    } catch (err) {
      this.metrics.syncErrors.inc();
      this.log.warn({ err: errorMessage(err) }, 'relist failed (container runtime unreachable?)');
    } finally {
      end();
      this.relisting = false;
    }
  }

  /** Pods in the runtime that nobody wants (removed while the agent was down): terminate them. */
  private adoptOrphans(): void {
    for (const rt of this.relister.all()) {
      if (this.workers.has(rt.uid)) continue;
      const ghost = orphanPod(rt);
      this.log.info({ pod: `${rt.namespace}/${rt.name}`, uid: rt.uid }, 'removing pod that is no longer wanted');
      const w = new PodWorker(ghost, this.workerDeps());
      this.workers.set(rt.uid, w);
      void this.terminateWorker(w);
    }
  }

  private updateGauges(): void {
    const all = this.relister.all();
    this.metrics.runningPods.set(all.filter((p) => p.sandboxes.some((s) => s.state === PodSandboxState.READY)).length);
    const counts: Record<string, number> = { running: 0, exited: 0, created: 0, unknown: 0 };
    for (const p of all) for (const c of p.containers) counts[c.state.replace('CONTAINER_', '').toLowerCase()]! += 1;
    for (const [state, n] of Object.entries(counts)) this.metrics.runningContainers.set({ container_state: state }, n);
  }

  /**
   * Removes dead containers beyond the newest instance and the newest exited one per
   * container name (kept for `logs --previous`), and sandboxes that are neither the
   * newest nor ready.
   */
  async gc(): Promise<void> {
    const gone = (err: unknown) => { if (!isNotFound(err)) throw err; };
    for (const rt of this.relister.all()) {
      if (!this.workers.has(rt.uid)) continue;
      const byName = new Map<string, typeof rt.containers>();
      for (const c of rt.containers) {
        const n = c.labels[L.containerName] ?? '';
        byName.set(n, [...(byName.get(n) ?? []), c]);
      }
      const keep = new Set<string>();
      for (const list of byName.values()) {
        keep.add(list[0]!.id);
        const exited = list.slice(1).find((c) => c.state === ContainerState.EXITED);
        if (exited) keep.add(exited.id);
      }
      for (const c of rt.containers) {
        if (keep.has(c.id) || c.state === ContainerState.RUNNING) continue;
        await this.cri.removeContainer(c.id).catch(gone);
      }
      const inUse = new Set(rt.containers.filter((c) => keep.has(c.id)).map((c) => c.podSandboxId));
      for (const s of rt.sandboxes.slice(1)) {
        if (s.state === PodSandboxState.READY || inUse.has(s.id)) continue;
        await this.cri.removePodSandbox(s.id).catch(gone);
      }
    }
  }

  healthy(): { healthy: boolean; message: string } {
    const age = Date.now() - this.lastRelistOk;
    return age < 3 * 60_000 ? { healthy: true, message: 'ok' } : { healthy: false, message: `relist has not succeeded for ${Math.round(age / 1000)}s` };
  }

  // ------------------------------------------------------------------ NodeApi

  /** kubelet's /runningPods (the runtime's view, as of the last relist). */
  runningPods(): unknown {
    return runningPodList(this.relister.all());
  }

  listPods(): unknown[] {
    const out: unknown[] = [];
    for (const w of this.workers.values()) {
      if (w.terminated || w.pod.metadata.annotations?.['kna.io/orphan']) continue;
      const st = this.statuses.get(w.uid);
      out.push({ ...w.pod, status: st?.status ?? { phase: 'Pending' } });
    }
    for (const r of this.rejected.values()) out.push({ ...r.pod, status: r.status });
    // Code-unit order, as the API server lists: localeCompare would build an ICU collator.
    return out.sort((a, b) => { const x = podKey(a), y = podKey(b); return x < y ? -1 : x > y ? 1 : 0; });
  }

  private findPod(ns: string, name: string): PodWorker {
    for (const w of this.workers.values()) {
      if (w.pod.metadata.namespace === ns && w.pod.metadata.name === name && !w.terminated) return w;
    }
    throw new NotFoundError(`pod "${name}" not found in namespace "${ns}"`);
  }

  private containerName(w: PodWorker, name: string | undefined): string {
    const all = [...(w.pod.spec.initContainers ?? []), ...w.pod.spec.containers].map((c) => c.name);
    if (name === undefined) return w.pod.spec.containers[0]!.name;
    if (!all.includes(name)) throw new NotFoundError(`container "${name}" not found in pod "${w.pod.metadata.name}" (containers: ${all.join(', ')})`);
    return name;
  }

  async containerLogs(ns: string, pod: string, container: string | undefined, q: LogQuery, write: (s: string) => void, signal: AbortSignal): Promise<void> {
    const w = this.findPod(ns, pod);
    const name = this.containerName(w, container);
    const rt = await this.relister.refresh(w.uid);
    const instances = (rt?.containers ?? []).filter((c) => c.labels[L.containerName] === name);
    const target = q.previous ? instances[1] : instances[0];
    if (!target) {
      throw new NotFoundError(q.previous
        ? `previous terminated container "${name}" in pod "${pod}" not found`
        : `container "${name}" in pod "${pod}" is waiting to start`);
    }
    const st = await this.cri.containerStatus(target.id);
    await readCriLog(st.logPath, write, {
      follow: q.follow && st.state === ContainerState.RUNNING,
      timestamps: q.timestamps,
      signal,
      ...(q.tail !== undefined ? { tail: q.tail } : {}),
      ...(q.since ? { since: q.since } : {}),
    });
  }

  async execUrl(ns: string, pod: string, container: string | undefined, cmd: string[], o: { stdin: boolean; tty: boolean }): Promise<string> {
    const w = this.findPod(ns, pod);
    const name = this.containerName(w, container);
    const rt = await this.relister.refresh(w.uid);
    const c = (rt?.containers ?? []).find((x) => x.labels[L.containerName] === name && x.state === ContainerState.RUNNING);
    if (!c) throw new NotFoundError(`container "${name}" in pod "${pod}" is not running`);
    const { url } = await this.cri.exec({ containerId: c.id, cmd, stdin: o.stdin, tty: o.tty, stdout: true, stderr: !o.tty });
    return url;
  }

  /** A CRI streaming URL attaching to the container's main process. */
  async attachUrl(ns: string, pod: string, container: string | undefined, o: { stdin: boolean; tty: boolean }): Promise<string> {
    const w = this.findPod(ns, pod);
    const name = this.containerName(w, container);
    const rt = await this.relister.refresh(w.uid);
    const c = (rt?.containers ?? []).find((x) => x.labels[L.containerName] === name && x.state === ContainerState.RUNNING);
    if (!c) throw new NotFoundError(`container "${name}" in pod "${pod}" is not running`);
    const { url } = await this.cri.attach({ containerId: c.id, stdin: o.stdin, tty: o.tty, stdout: true, stderr: !o.tty });
    return url;
  }

  /** A CRI streaming URL forwarding to ports of the pod's network namespace. */
  async portForwardUrl(ns: string, pod: string, ports: number[]): Promise<string> {
    const w = this.findPod(ns, pod);
    const rt = await this.relister.refresh(w.uid);
    const sandbox = (rt?.sandboxes ?? []).find((s) => s.state === PodSandboxState.READY);
    if (!sandbox) throw new NotFoundError(`pod "${pod}" has no ready sandbox`);
    const { url } = await this.cri.portForward(sandbox.id, ports);
    return url;
  }
}

const podKey = (p: unknown) => {
  const m = (p as { metadata: { namespace: string; name: string } }).metadata;
  return `${m.namespace}/${m.name}`;
};

/** A stand-in spec for a pod found only in the runtime, enough to terminate it. */
/**
 * kubelet's /runningPods: the pods as the runtime has them (not as wanted), each with
 * its running containers' names and images; pods with none are left out.
 */
export function runningPodList(pods: RuntimePod[]): { kind: 'PodList'; apiVersion: 'v1'; metadata: object; items: unknown[] } {
  const items = pods.flatMap((rt) => {
    const running = rt.containers.filter((c) => c.state === ContainerState.RUNNING);
    if (!running.length) return [];
    return [{
      metadata: { name: rt.name, namespace: rt.namespace, uid: rt.uid, creationTimestamp: null },
      spec: { containers: running.map((c) => ({ name: c.labels[L.containerName] ?? c.metadata?.name ?? '', image: c.image?.image ?? c.imageRef, resources: {} })) },
      status: {},
    }];
  });
  return { kind: 'PodList', apiVersion: 'v1', metadata: {}, items };
}

function orphanPod(rt: RuntimePod): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: rt.name, namespace: rt.namespace, uid: rt.uid, annotations: { 'kna.io/orphan': 'true' } },
    spec: { containers: [], terminationGracePeriodSeconds: Number(rt.containers[0]?.annotations['io.kubernetes.pod.terminationGracePeriod'] ?? 30) },
  } as unknown as Pod;
}
