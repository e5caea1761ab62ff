// The node's heartbeat: Lease kube-node-lease/<node>, renewed every 10 s with a
// 40 s duration, holder = node name, owned by the Node (so it goes with it).
// Like kubelet's lease controller: get or create, then update with the copy we
// hold; on conflict read it again; a few quick retries, then wait for the next turn.
import type { Logger } from 'pino';
import { resourcePath, type ApiClient, type KubeObject } from './client.js';
import { ApiError } from './errors.js';
import { Backoff, sleep } from './retry.js';

export interface LeaseOptions {
  nodeName: string;
  leaseDurationSeconds?: number;
  renewIntervalMs?: number;
  /** the Node's uid, once known, for the ownerReference */
  nodeUid: () => string | undefined;
  log?: Logger;
}

export interface Lease extends KubeObject {
  spec: { holderIdentity?: string; leaseDurationSeconds?: number; renewTime?: string; acquireTime?: string };
}

/** metav1.MicroTime: RFC 3339 with microseconds. */
export const microTime = (d = new Date()): string => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

export class LeaseRenewer {
  lease: Lease | undefined;
  renewals = 0;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(private readonly client: ApiClient, private readonly o: LeaseOptions) {}

  private get path(): string {
    return resourcePath({ group: 'coordination.k8s.io', resource: 'leases', namespace: 'kube-node-lease', name: this.o.nodeName });
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      const backoff = new Backoff(200, 7000);
      for (let attempt = 0; attempt < 5 && !signal.aborted; attempt++) {
        try {
          await this.renew();
          this.renewals++;
          break;
        } catch (err) {
          if (signal.aborted) break;
          if (err instanceof ApiError && err.isConflict) this.lease = undefined; // read it again
          this.o.log?.warn({ node: this.o.nodeName, err: (err as Error).message }, 'lease renewal failed');
          await sleep(backoff.next(), signal);
        }
      }
      await sleep(this.o.renewIntervalMs ?? 10_000, signal);
    }
  }

  private ownerReferences(): unknown[] | undefined {
    const uid = this.o.nodeUid();
    return uid ? [{ apiVersion: 'v1', kind: 'Node', name: this.o.nodeName, uid }] : undefined;
  }

  private async renew(): Promise<void> {
    if (!this.lease) {
      try {
        this.lease = await this.client.get<Lease>(this.path);
      } catch (err) {
        if (!(err instanceof ApiError && err.isNotFound)) throw err;
        const owners = this.ownerReferences();
        this.lease = await this.client.create<Lease>(resourcePath({ group: 'coordination.k8s.io', resource: 'leases', namespace: 'kube-node-lease' }), {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.o.nodeName, namespace: 'kube-node-lease', ...(owners ? { ownerReferences: owners } : {}) },
          spec: { holderIdentity: this.o.nodeName, leaseDurationSeconds: this.o.leaseDurationSeconds ?? 40, renewTime: microTime() },
        });
        return;
      }
    }
    const next: Lease = structuredClone(this.lease);
    next.spec = { ...next.spec, holderIdentity: this.o.nodeName, leaseDurationSeconds: this.o.leaseDurationSeconds ?? 40, renewTime: microTime() };
    const owners = this.ownerReferences();
    if (owners && !(next.metadata.ownerReferences as unknown[] | undefined)?.length) next.metadata.ownerReferences = owners;
    try {
      this.lease = await this.client.update<Lease>(this.path, next);
    } catch (err) {
      if (err instanceof ApiError && err.isNotFound) this.lease = undefined; // deleted: create it next time
      throw err;
    }
  }
}
