// Registers this host as a Node and keeps its status current, as kubelet does:
// create (or adopt an existing Node and reconcile our labels), then every
// `updateIntervalMs` recompute the status and PATCH nodes/<name>/status when it
// changed or when `reportIntervalMs` passed since the last report. A deleted
// Node is registered again.
import type { Logger } from 'pino';
import { resourcePath, type ApiClient, type KubeObject } from './client.js';
import { ApiError } from './errors.js';
import { readHostFacts, type HostFacts } from './host.js';
import { nodeLabels, nodeObject, nodeStatusOf, statusDiffers, type NodeCondition, type NodeConfig, type NodeHealth } from './node-status.js';
import { Backoff, sleep } from './retry.js';
import { NODE_STATUS_KEYS, twoWayMergePatch } from './strategic-patch.js';

export interface NodeReporterOptions extends NodeConfig {
  rootDir: string;
  health: () => NodeHealth | Promise<NodeHealth>;
  /** how often status is recomputed (kubelet: nodeStatusUpdateFrequency, 10 s) */
  updateIntervalMs?: number;
  /** post at least this often even without change (kubelet: nodeStatusReportFrequency, 5 min) */
  reportIntervalMs?: number;
  readFacts?: (rootDir: string) => Promise<HostFacts>;
  log?: Logger;
}

export interface NodeObject extends KubeObject {
  status?: Record<string, unknown> & { conditions?: NodeCondition[] };
}

const rfc3339 = (d = new Date()): string => d.toISOString().replace(/\.\d+Z$/, 'Z');

export class NodeStatusReporter {
  /** the Node as the API server last returned it */
  node: NodeObject | undefined;
  /** status posts so far (for tests and metrics) */
  posts = 0;
  private lastReport = 0;
  private readonly abort = new AbortController();
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private registeredResolve!: () => void;
  /** resolves once the Node exists in the API */
  readonly registered = new Promise<void>((r) => (this.registeredResolve = r));

  constructor(private readonly client: ApiClient, private readonly o: NodeReporterOptions) {}

  private get path(): string {
    return resourcePath({ resource: 'nodes', name: this.o.nodeName });
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.wake?.();
    await this.loop;
  }

  /** Recompute now (e.g. the agent's health changed) instead of at the next tick. */
  poke(): void {
    this.wake?.();
  }

  private facts(): Promise<HostFacts> {
    return (this.o.readFacts ?? readHostFacts)(this.o.rootDir);
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    const backoff = new Backoff(100, 7000);
    while (!signal.aborted) {
      let delay = this.o.updateIntervalMs ?? 10_000;
      try {
        if (!this.node) {
          await this.register();
          backoff.reset();
        } else {
          await this.update();
        }
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof ApiError && err.isNotFound) {
          this.o.log?.warn({ node: this.o.nodeName }, 'Node object is gone; registering again');
          this.node = undefined;
          delay = 0;
        } else {
          if (!this.node) delay = backoff.next();
          this.o.log?.warn({ node: this.o.nodeName, err: (err as Error).message }, this.node ? 'node status update failed' : 'node registration failed');
        }
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        void sleep(delay, signal).then(resolve);
      });
      this.wake = undefined;
    }
  }

  private async register(): Promise<void> {
    const facts = await this.facts();
    const body = nodeObject(facts, this.o, await this.o.health(), rfc3339());
    try {
      this.node = await this.client.create<NodeObject>(resourcePath({ resource: 'nodes' }), body);
      this.o.log?.info({ node: this.o.nodeName }, 'node registered');
    } catch (err) {
      if (!(err instanceof ApiError && err.isAlreadyExists)) throw err;
      // The Node exists (a restart, or registered before): adopt it and make our labels right.
      const existing = await this.client.get<NodeObject>(this.path);
      const want = nodeLabels(facts, this.o);
      const have = existing.metadata.labels ?? {};
      const labels = Object.fromEntries(Object.entries(want).filter(([k, v]) => have[k] !== v));
      this.node = Object.keys(labels).length ? await this.client.patch<NodeObject>(this.path, { metadata: { labels } }, 'strategic') : existing;
      this.o.log?.info({ node: this.o.nodeName }, 'node already registered; adopted it');
      this.lastReport = 0; // post our status now
      await this.update(facts);
    }
    this.lastReport ||= Date.now();
    this.registeredResolve();
  }

  private async update(facts?: HostFacts): Promise<void> {
    const f = facts ?? (await this.facts());
    const current = this.node!.status ?? {};
    const status = nodeStatusOf(f, this.o, await this.o.health(), current.conditions, rfc3339());
    const due = Date.now() - this.lastReport >= (this.o.reportIntervalMs ?? 300_000);
    if (!due && !statusDiffers(pick(current, Object.keys(status)), status)) return;
    // Patch only the fields we own, from what the server holds now.
    const patch = twoWayMergePatch({ status: pick(current, Object.keys(status)) }, { status }, NODE_STATUS_KEYS);
    if (!patch) return;
    this.node = await this.client.patch<NodeObject>(`${this.path}/status`, patch, 'strategic');
    this.lastReport = Date.now();
    this.posts++;
  }
}

function pick(o: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => k in o).map((k) => [k, o[k]]));
}
