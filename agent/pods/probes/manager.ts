// ProbeManager: one prober per (pod, container, probe kind), kubelet semantics.
//
// The pod worker calls addContainer once a container runs (with its id and the pod
// IP), removeContainer when it exits, removePod when the pod is gone. It listens to
// 'result' events: liveness/startup Failure means "restart the container" (probing
// of that container then holds until it is added again with a new id); readiness
// changes feed the Ready condition. 'probe' events report every single attempt
// (kubelet's per-attempt "Unhealthy" events, metrics).
//
// Rules: a probe first runs initialDelaySeconds after the container started, then
// every periodSeconds; each attempt is cut at timeoutSeconds. Liveness starts as
// Success, readiness as Failure, startup as Unknown; while a startup probe has not
// succeeded, liveness and readiness do not run (and the container is not ready).
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { realClock, type Clock } from './clock.js';
import { runProbe, type ProbeRunner } from './run.js';
import { holdsAfter, probeTiming, ThresholdTracker, type ProbeTiming } from './state.js';
import type { ExecSyncFn, ProbeKind, ProbeResult, ProbeSpec, ProbedContainer, ProbedPod } from './types.js';

export interface ProbeEvent {
  podUid: string;
  podName: string;
  namespace: string;
  container: string;
  containerId: string;
  kind: ProbeKind;
  result: ProbeResult;
  output: string;
}

export interface ProbeManagerEvents {
  /** The published result of a probe changed (thresholds reached). */
  result: [ProbeEvent];
  /** One probe attempt finished (before thresholds). */
  probe: [ProbeEvent];
}

export interface ProbeManagerOptions {
  /** CRI ExecSync, for exec probes. */
  execSync: ExecSyncFn;
  clock?: Clock;
  /** Replaces the real handlers (unit tests). */
  runner?: ProbeRunner;
  log?: Logger;
}

export interface AddContainerOptions {
  /** When the container started (ms since epoch, the clock's time base); default now. */
  startedAt?: number;
}

const KINDS: ProbeKind[] = ['startup', 'liveness', 'readiness'];

interface Entry {
  pod: { uid: string; name: string; namespace: string };
  container: ProbedContainer;
  containerId: string;
  podIP: string | undefined;
  startedAt: number;
  /** The startup probe succeeded, or there is none. */
  started: boolean;
  workers: Map<ProbeKind, Worker>;
}

function specOf(c: ProbedContainer, kind: ProbeKind): ProbeSpec | undefined {
  return kind === 'liveness' ? c.livenessProbe : kind === 'readiness' ? c.readinessProbe : c.startupProbe;
}

class Worker {
  readonly tracker: ThresholdTracker;
  private timer: unknown;
  private stopped = false;
  private running = false;

  constructor(
    private readonly mgr: ProbeManager,
    private readonly entry: Entry,
    readonly kind: ProbeKind,
    private readonly spec: ProbeSpec,
    private readonly timing: ProbeTiming,
    private readonly deps: { clock: Clock; runner: ProbeRunner; execSync: ExecSyncFn },
  ) {
    this.tracker = new ThresholdTracker(kind, timing);
  }

  /** Schedules the next attempt (no earlier than initialDelaySeconds after container start). */
  start(): void {
    const { clock } = this.deps;
    this.schedule(Math.max(0, this.entry.startedAt + this.timing.initialDelayMs - clock.now()));
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.deps.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(ms: number): void {
    if (this.stopped || this.running) return;
    if (this.timer !== undefined) this.deps.clock.clearTimeout(this.timer);
    this.timer = this.deps.clock.setTimeout(() => void this.tick(), ms);
  }

  private async tick(): Promise<void> {
    this.timer = undefined;
    if (this.stopped) return;
    const e = this.entry;
    // Gated until startup succeeds; the manager calls start() again then.
    if (this.kind !== 'startup' && !e.started) return;
    const { clock, runner, execSync } = this.deps;
    const began = clock.now();
    const ac = new AbortController();
    const t = clock.setTimeout(() => ac.abort(), this.timing.timeoutMs);
    this.running = true;
    let outcome;
    try {
      outcome = await runner(this.spec, { containerId: e.containerId, podIP: e.podIP, container: e.container }, { execSync, timeoutMs: this.timing.timeoutMs, signal: ac.signal });
    } catch (err) {
      outcome = { result: 'Unknown' as const, output: `probe failed to run: ${(err as Error).message}` };
    } finally {
      clock.clearTimeout(t);
      this.running = false;
    }
    if (this.stopped) return;
    const changed = this.tracker.observe(outcome.result);
    this.mgr.attempted(e, this.kind, outcome.result, outcome.output);
    if (changed) {
      this.mgr.changed(e, this, changed, outcome.output);
      if (holdsAfter(this.kind, changed)) return this.stop(); // restart pending: hold until a new container
    }
    if (!this.stopped) this.schedule(Math.max(0, began + this.timing.periodMs - clock.now()));
  }
}

export class ProbeManager extends EventEmitter<ProbeManagerEvents> {
  private readonly entries = new Map<string, Entry>();
  private readonly clock: Clock;
  private readonly runner: ProbeRunner;
  private readonly execSync: ExecSyncFn;
  private readonly log: Logger | undefined;

  constructor(opts: ProbeManagerOptions) {
    super();
    this.clock = opts.clock ?? realClock;
    this.runner = opts.runner ?? runProbe;
    this.execSync = opts.execSync;
    this.log = opts.log;
  }

  private static key(uid: string, container: string): string {
    return `${uid}/${container}`;
  }

  /**
   * Starts probing a running container. Adding the same container id again only
   * updates the pod IP; a new id (a restart) resets all its probes. Throws
   * ProbeSpecError for invalid probe settings.
   */
  addContainer(pod: ProbedPod, container: ProbedContainer, containerId: string, podIP: string | undefined, opts: AddContainerOptions = {}): void {
    const uid = pod.metadata.uid ?? '';
    const key = ProbeManager.key(uid, container.name);
    const old = this.entries.get(key);
    if (old && old.containerId === containerId) {
      old.podIP = podIP;
      return;
    }
    const specs = KINDS.map((k) => [k, specOf(container, k)] as const).filter((x): x is readonly [ProbeKind, ProbeSpec] => x[1] != null);
    const timings = specs.map(([k, s]) => probeTiming(k, s)); // validate before changing anything
    if (old) this.removeContainer(uid, container.name);
    const entry: Entry = {
      pod: { uid, name: pod.metadata.name ?? '', namespace: pod.metadata.namespace ?? '' },
      container,
      containerId,
      podIP,
      startedAt: opts.startedAt ?? this.clock.now(),
      started: !container.startupProbe,
      workers: new Map(),
    };
    specs.forEach(([kind, spec], i) => {
      entry.workers.set(kind, new Worker(this, entry, kind, spec, timings[i]!, { clock: this.clock, runner: this.runner, execSync: this.execSync }));
    });
    this.entries.set(key, entry);
    for (const w of entry.workers.values()) if (w.kind === 'startup' || entry.started) w.start();
  }

  removeContainer(podUid: string, containerName: string): void {
    const key = ProbeManager.key(podUid, containerName);
    const e = this.entries.get(key);
    if (!e) return;
    for (const w of e.workers.values()) w.stop();
    this.entries.delete(key);
  }

  removePod(podUid: string): void {
    for (const e of [...this.entries.values()]) if (e.pod.uid === podUid) this.removeContainer(podUid, e.container.name);
  }

  /** The pod is shutting down: like kubelet, stop liveness and startup probes (readiness keeps running). */
  podTerminating(podUid: string): void {
    for (const e of this.entries.values()) {
      if (e.pod.uid !== podUid) continue;
      e.workers.get('liveness')?.stop();
      e.workers.get('startup')?.stop();
    }
  }

  /** Ready: running, started, and readiness probe (if any) succeeded. Unknown containers are not ready. */
  readiness(podUid: string, containerName: string): boolean {
    const e = this.entries.get(ProbeManager.key(podUid, containerName));
    if (!e || !e.started) return false;
    const w = e.workers.get('readiness');
    return w ? w.tracker.result === 'Success' : true;
  }

  /** Same as readiness(). */
  ready(podUid: string, containerName: string): boolean {
    return this.readiness(podUid, containerName);
  }

  /** The liveness probe reached failureThreshold for the current container: restart it. */
  livenessFailed(podUid: string, containerName: string): boolean {
    return this.result(podUid, containerName, 'liveness') === 'Failure';
  }

  /** The startup probe reached failureThreshold for the current container: restart it. */
  startupFailed(podUid: string, containerName: string): boolean {
    return this.result(podUid, containerName, 'startup') === 'Failure';
  }

  /** Started: the startup probe succeeded (or there is none). Unknown containers are not started. */
  started(podUid: string, containerName: string): boolean {
    return this.entries.get(ProbeManager.key(podUid, containerName))?.started ?? false;
  }

  /** Current published result of one probe, undefined when the container has no such probe. */
  result(podUid: string, containerName: string, kind: ProbeKind): ProbeResult | undefined {
    return this.entries.get(ProbeManager.key(podUid, containerName))?.workers.get(kind)?.tracker.result;
  }

  /** Stops every prober (agent shutdown). */
  stop(): void {
    for (const e of [...this.entries.values()]) this.removeContainer(e.pod.uid, e.container.name);
  }

  private event(e: Entry, kind: ProbeKind, result: ProbeResult, output: string): ProbeEvent {
    return { podUid: e.pod.uid, podName: e.pod.name, namespace: e.pod.namespace, container: e.container.name, containerId: e.containerId, kind, result, output };
  }

  /** @internal called by workers after each attempt */
  attempted(e: Entry, kind: ProbeKind, result: ProbeResult, output: string): void {
    this.emit('probe', this.event(e, kind, result, output));
  }

  /** @internal called by workers when a published result changes */
  changed(e: Entry, w: Worker, result: ProbeResult, output: string): void {
    if (this.entries.get(ProbeManager.key(e.pod.uid, e.container.name)) !== e) return;
    this.log?.info({ pod: `${e.pod.namespace}/${e.pod.name}`, container: e.container.name, probe: w.kind, result, output: output.slice(0, 200) }, 'probe result changed');
    if (w.kind === 'startup' && result === 'Success') {
      e.started = true;
      w.stop(); // kubelet stops startup probing once the container started
      for (const other of e.workers.values()) if (other !== w) other.start();
    }
    this.emit('result', this.event(e, w.kind, result, output));
  }
}
