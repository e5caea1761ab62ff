// Pods from the API server: watches the pods bound to this node, merges them with
// the static pods into the pod manager's desired set, writes their status back
// (patches of only what changed) and finishes graceful deletions: a pod with a
// deletionTimestamp is stopped within its grace period, then deleted for good
// (grace 0), as kubelet does. A pod that cannot run here is logged and skipped.
import type { Logger } from 'pino';
import type { Pod } from '../pods/api-types.js';
import { ApiPodError, isApiPod, podFromApi, type ApiPod } from '../pods/api-pod.js';
import type { PodManager } from '../pods/manager.js';
import { CONFIG_HASH_ANNOTATION, mirrorPodName } from '../pods/manifest/schema.js';
import { errorMessage } from '../util/errors.js';
import { resourcePath, type ApiClient, type KubeObject } from './client.js';
import { ApiError } from './errors.js';
import { isMirrorPod, MIRROR_ANNOTATION } from './mirror-pods.js';
import { podStatusPatch } from './pod-status.js';
import { Backoff, sleep } from './retry.js';
import type { Informer, InformerEvent, WatchListOptions } from './watch.js';

export interface PodObject extends KubeObject {
  status?: Record<string, unknown>;
}

/** What this needs of the control plane (ControlPlane has it). */
export interface PodApi {
  client: ApiClient;
  watchList<T extends KubeObject>(path: string, onEvent: (ev: InformerEvent<T>) => void | Promise<void>, opts?: WatchListOptions): Informer<T>;
}

export interface ApiPodsOptions {
  nodeName: string;
  manager: Pick<PodManager, 'setDesired' | 'terminatePod' | 'listPods'>;
  /** status is compared with the server's and patched at least this often (kubelet: 10 s) */
  statusResyncMs?: number;
  /** the pods bound to this node changed (after the first list): mirror pods follow them */
  onPodsEvent?: () => void;
  log: Logger;
}

interface Entry {
  /** the pod as the server last returned it */
  obj: PodObject;
  /** undefined when it cannot run here */
  parsed: ApiPod | undefined;
}

const CONFLICT_RETRIES = 3;
const keyOf = (o: { metadata: { namespace?: string; name: string } }) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
const rvNumber = (o: KubeObject) => Number(o.metadata.resourceVersion ?? 0);

export class ApiPods {
  private readonly entries = new Map<string, Entry>();
  private staticPods: Pod[] | undefined;
  private informer: Informer<PodObject> | undefined;
  private synced = false;
  /** uids whose termination and final delete are in flight */
  private readonly finishing = new Set<string>();
  private statusDirty = false;
  private statusLoop: Promise<void> | undefined;
  private resync: NodeJS.Timeout | undefined;
  private readonly abort = new AbortController();

  constructor(private readonly api: PodApi, private readonly o: ApiPodsOptions) {}

  start(): void {
    this.informer = this.api.watchList<PodObject>(resourcePath({ resource: 'pods' }), (ev) => this.onEvent(ev), { fieldSelector: `spec.nodeName=${this.o.nodeName}`, log: this.o.log });
    void this.informer.synced().then(() => {
      this.synced = true;
      this.o.log.info({ pods: this.entries.size }, 'pods from the API server listed');
      this.apply();
      this.o.onPodsEvent?.();
    });
    this.resync = setInterval(() => this.podsChanged(), this.o.statusResyncMs ?? 10_000);
    this.resync.unref();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    clearInterval(this.resync);
    await this.informer?.stop();
    await this.statusLoop;
  }

  /** The static pods (manifest folder) changed: they join the desired set. */
  setStaticPods(pods: Pod[]): void {
    this.staticPods = pods;
    this.apply();
  }

  /** The pods bound to this node as the API has them (mirror pods too); undefined until listed. */
  apiPods(): PodObject[] | undefined {
    return this.synced ? [...this.entries.values()].map((e) => e.obj) : undefined;
  }

  /** The pod manager's statuses changed: write them back soon. */
  podsChanged(): void {
    this.statusDirty = true;
    this.statusLoop ??= this.writeStatuses().finally(() => (this.statusLoop = undefined));
  }

  private onEvent(ev: InformerEvent<PodObject>): void {
    const key = keyOf(ev.object);
    if (ev.type === 'DELETED') {
      this.entries.delete(key);
    } else if (isMirrorPod(ev.object)) {
      // A static pod's mirror (mirror-pods.ts): never run as an API pod; a new one gets the static pod's status.
      const before = this.entries.get(key);
      this.entries.set(key, { obj: ev.object, parsed: undefined });
      if (before?.obj.metadata.uid !== ev.object.metadata.uid) this.podsChanged();
    } else {
      const before = this.entries.get(key);
      let parsed: ApiPod | undefined;
      try {
        parsed = podFromApi(ev.object, this.o.nodeName);
      } catch (err) {
        // Say it once per version of the pod, not at every resync.
        if (!before || before.obj.metadata.resourceVersion !== ev.object.metadata.resourceVersion || before.parsed) {
          this.o.log.error({ pod: key, err: errorMessage(err), ...(err instanceof ApiPodError ? { details: err.details } : {}) }, 'skipping API pod: it cannot run on this node');
        }
      }
      this.entries.set(key, { obj: ev.object, parsed });
    }
    if (this.synced) {
      this.apply();
      this.o.onPodsEvent?.();
    }
  }

  /** Desired set = static pods + API pods not being deleted; deleted ones are finished. */
  private apply(): void {
    const desired: Pod[] = [...(this.staticPods ?? [])];
    // Pods the API has as Failed or Succeeded (rejected, or done before a restart) are not started again, as kubelet.
    const finished = new Set<string>();
    for (const e of this.entries.values()) {
      if (!e.parsed) continue;
      if (e.parsed.deletionGraceSeconds !== undefined) this.finish(e.parsed.pod);
      else desired.push(e.parsed.pod);
      if (e.obj.status?.phase === 'Failed' || e.obj.status?.phase === 'Succeeded') finished.add(e.parsed.pod.metadata.uid);
    }
    // Until both sources spoke, pods found only in the runtime may still be wanted.
    this.o.manager.setDesired(desired, { complete: this.synced && this.staticPods !== undefined, finished });
  }

  /** Graceful deletion: stop the pod within its grace period, then delete it with grace 0. */
  private finish(pod: Pod): void {
    const { uid, namespace, name } = pod.metadata;
    if (this.finishing.has(uid)) return;
    this.finishing.add(uid);
    this.o.log.info({ pod: `${namespace}/${name}`, gracePeriodSeconds: pod.spec.terminationGracePeriodSeconds }, 'pod deleted in the API server: stopping it');
    void (async () => {
      await this.o.manager.terminatePod(pod);
      const path = resourcePath({ resource: 'pods', namespace, name });
      const backoff = new Backoff(500, 30_000);
      while (!this.abort.signal.aborted) {
        try {
          await this.api.client.delete(path, { gracePeriodSeconds: 0, preconditions: { uid } });
          this.o.log.info({ pod: `${namespace}/${name}` }, 'pod terminated; deleted from the API server');
          return;
        } catch (err) {
          // Gone already, or replaced by a pod of the same name: nothing of ours to delete.
          if (err instanceof ApiError && (err.isNotFound || err.code === 409)) return;
          const delay = backoff.next();
          this.o.log.warn({ pod: `${namespace}/${name}`, err: errorMessage(err), retryInMs: delay }, 'final delete of the pod failed');
          await sleep(delay, this.abort.signal);
        }
      }
    })()
      .catch((err: unknown) => this.o.log.error({ pod: `${namespace}/${name}`, err: errorMessage(err) }, 'finishing pod deletion failed'))
      .finally(() => this.finishing.delete(uid));
  }

  private async writeStatuses(): Promise<void> {
    while (this.statusDirty && !this.abort.signal.aborted) {
      this.statusDirty = false;
      for (const p of this.o.manager.listPods() as Pod[]) {
        if (!p.status) continue;
        const e = isApiPod(p) ? this.entries.get(keyOf(p)) : this.mirrorOf(p);
        if (!e || (isApiPod(p) && e.obj.metadata.uid !== p.metadata.uid)) continue;
        try {
          await this.patchStatus(e, p.status as unknown as Record<string, unknown>);
        } catch (err) {
          this.o.log.warn({ pod: keyOf(p), err: errorMessage(err) }, 'pod status update failed; will retry');
        }
      }
    }
  }

  /** A static pod's mirror in the API, when it mirrors this version of the pod (same config hash). */
  private mirrorOf(p: Pod): Entry | undefined {
    const e = this.entries.get(`${p.metadata.namespace}/${mirrorPodName(p.metadata.name, this.o.nodeName)}`);
    const hash = p.metadata.annotations?.[CONFIG_HASH_ANNOTATION];
    return e && hash !== undefined && e.obj.metadata.annotations?.[MIRROR_ANNOTATION] === hash ? e : undefined;
  }

  /** PATCH pods/<name>/status with only what changed; on a conflict, read the pod again and retry. */
  private async patchStatus(e: Entry, ours: Record<string, unknown>): Promise<void> {
    const uid = e.obj.metadata.uid!;
    const path = `${resourcePath({ resource: 'pods', namespace: e.obj.metadata.namespace!, name: e.obj.metadata.name })}/status`;
    let current = e.obj;
    for (let attempt = 0; ; attempt++) {
      const patch = podStatusPatch(uid, current.status, ours);
      if (!patch) return;
      try {
        const updated = await this.api.client.patch<PodObject>(path, patch, 'strategic');
        // The watch brings the same object soon; keep the newer one meanwhile, so the next diff is right.
        if (rvNumber(updated) >= rvNumber(e.obj)) e.obj = updated;
        return;
      } catch (err) {
        if (err instanceof ApiError && err.isNotFound) return;
        if (!(err instanceof ApiError && err.isConflict) || attempt >= CONFLICT_RETRIES) throw err;
        current = await this.api.client.get<PodObject>(path.replace(/\/status$/, ''));
        if (current.metadata.uid !== uid) return; // a new pod of the same name: not ours to write
      }
    }
  }
}
