// Mirror pods, as kubelet's mirror client and pod manager keep them: each static
// pod (manifest folder) shows in the API server as a pod named <name>-<node>,
// bound to this node, owned by its Node, carrying kubernetes.io/config.mirror =
// the static pod's config hash. The API's copy is only a mirror: deleting it, or a
// changed static pod (new hash), gives a new mirror while the static pod itself
// runs on untouched; a mirror whose static pod is gone is deleted once that pod
// has finished terminating. planMirrors() decides, pure; MirrorPods does the
// calls with back-off, never touching running pods. The status of a mirror is
// the static pod's, written by ApiPods (pods.ts) under the mirror's uid.
import type { Logger } from 'pino';
import type { Pod } from '../pods/api-types.js';
import { CONFIG_HASH_ANNOTATION, CONFIG_SOURCE_ANNOTATION, mirrorPodName } from '../pods/manifest/schema.js';
import { errorMessage } from '../util/errors.js';
import { resourcePath, type ApiClient, type KubeObject } from './client.js';
import { ApiError } from './errors.js';
import { Backoff } from './retry.js';

export const MIRROR_ANNOTATION = 'kubernetes.io/config.mirror';
export const CONFIG_SEEN_ANNOTATION = 'kubernetes.io/config.seen';

/** kubelet's IsMirrorPod: the annotation's presence, whatever its value. */
export const isMirrorPod = (o: { metadata: { annotations?: Record<string, string> } }): boolean =>
  o.metadata.annotations?.[MIRROR_ANNOTATION] !== undefined;

/** The mirror a static pod should have. */
export interface DesiredMirror {
  namespace: string;
  name: string;
  hash: string;
}

/** A pod in the API with the name of a mirror (a mirror, or an ordinary pod in the way). */
export interface ExistingPod {
  namespace: string;
  name: string;
  uid: string;
  /** the config.mirror annotation; undefined: not a mirror pod */
  hash: string | undefined;
  deleting: boolean;
}

export interface MirrorPlan {
  /** stale, deleted or orphaned mirrors: deleted with grace 0 under their uid, before the creates */
  delete: { namespace: string; name: string; uid: string; reason: 'deleted' | 'changed' | 'orphaned' }[];
  create: DesiredMirror[];
  /** desired mirrors whose name an ordinary (non-mirror) pod holds: left alone */
  blocked: DesiredMirror[];
}

const key = (o: { namespace: string; name: string }) => `${o.namespace}/${o.name}`;

/** The desired mirror of a static pod. */
export function desiredMirror(pod: Pod, nodeName: string): DesiredMirror {
  return { namespace: pod.metadata.namespace, name: mirrorPodName(pod.metadata.name, nodeName), hash: pod.metadata.annotations?.[CONFIG_HASH_ANNOTATION] ?? pod.metadata.uid };
}

/**
 * Desired mirrors vs the pods in the API (bound to this node) → what to delete and
 * create, as kubelet's syncPod and orphan clean-up do. `terminating` names mirrors
 * (namespace/name) whose static pod is gone from the folder but still stopping:
 * their mirror stays until it has stopped.
 */
export function planMirrors(desired: DesiredMirror[], existing: ExistingPod[], terminating: ReadonlySet<string> = new Set()): MirrorPlan {
  const plan: MirrorPlan = { delete: [], create: [], blocked: [] };
  const have = new Map(existing.map((e) => [key(e), e]));
  const wanted = new Set<string>();
  for (const d of desired) {
    wanted.add(key(d));
    const e = have.get(key(d));
    if (!e) {
      plan.create.push(d);
    } else if (e.hash === undefined) {
      plan.blocked.push(d);
    } else if (e.deleting || e.hash !== d.hash) {
      plan.delete.push({ namespace: e.namespace, name: e.name, uid: e.uid, reason: e.deleting ? 'deleted' : 'changed' });
      plan.create.push(d);
    }
  }
  for (const e of existing) {
    if (e.hash === undefined || wanted.has(key(e)) || terminating.has(key(e))) continue;
    plan.delete.push({ namespace: e.namespace, name: e.name, uid: e.uid, reason: 'orphaned' });
  }
  return plan;
}

/**
 * The mirror pod kubelet creates for a static pod: its labels, annotations (plus
 * config.mirror and config.seen) and spec, bound to this node, with the Node as
 * its one controller owner (what NodeRestriction requires of a node's pod).
 */
export function mirrorPodBody(pod: Pod, o: { nodeName: string; nodeUid: string; seen: string }): KubeObject {
  const d = desiredMirror(pod, o.nodeName);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: d.name,
      namespace: d.namespace,
      labels: { ...pod.metadata.labels },
      annotations: {
        ...pod.metadata.annotations,
        [CONFIG_HASH_ANNOTATION]: d.hash,
        [CONFIG_SOURCE_ANNOTATION]: 'file',
        [CONFIG_SEEN_ANNOTATION]: o.seen,
        [MIRROR_ANNOTATION]: d.hash,
      },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: o.nodeName, uid: o.nodeUid, controller: true }],
    },
    spec: { ...pod.spec, nodeName: o.nodeName },
  };
}

/** What ExistingPod a pod of the API is. */
export function existingPod(o: KubeObject): ExistingPod {
  const m = o.metadata;
  return { namespace: m.namespace ?? '', name: m.name, uid: m.uid ?? '', hash: m.annotations?.[MIRROR_ANNOTATION], deleting: typeof m.deletionTimestamp === 'string' && m.deletionTimestamp !== '' };
}

export interface MirrorPodsOptions {
  nodeName: string;
  client: Pick<ApiClient, 'create' | 'delete' | 'get'>;
  /** the pods bound to this node in the API (the pod watch's store); undefined until listed */
  apiPods: () => KubeObject[] | undefined;
  /** this node's Node uid, once registered */
  nodeUid: () => string | undefined;
  /** the static pods the pod manager still runs (a removed one keeps its mirror until it has stopped) */
  running: () => Pod[];
  minBackoffMs?: number;
  maxBackoffMs?: number;
  log: Logger;
}

/** Keeps one mirror per static pod; poke changed() whenever an input changed. */
export class MirrorPods {
  private staticPods: Pod[] | undefined;
  /** first time each static pod (uid) was seen: its config.seen */
  private readonly seen = new Map<string, string>();
  private dirty = false;
  private loop: Promise<void> | undefined;
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly backoff: Backoff;
  /** last failure logged per mirror, so a lasting refusal is said once, not every retry */
  private readonly lastError = new Map<string, string>();

  constructor(private readonly o: MirrorPodsOptions) {
    this.backoff = new Backoff(o.minBackoffMs ?? 500, o.maxBackoffMs ?? 30_000);
  }

  setStaticPods(pods: Pod[]): void {
    this.staticPods = pods;
    const now = new Date().toISOString().replace('Z', '000000Z'); // RFC 3339 with nanoseconds, as kubelet writes it
    const uids = new Set(pods.map((p) => p.metadata.uid));
    for (const uid of uids) if (!this.seen.has(uid)) this.seen.set(uid, now);
    for (const uid of this.seen.keys()) if (!uids.has(uid)) this.seen.delete(uid);
    this.changed();
  }

  /** Something changed (static pods, the API's pods, the Node, a pod stopped): reconcile soon. */
  changed(): void {
    if (this.stopped) return;
    this.dirty = true;
    if (this.retry) return; // a back-off is pending: it will run with the newest state
    this.loop ??= this.run().finally(() => (this.loop = undefined));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.dirty && !this.stopped) {
      this.dirty = false;
      let ok: boolean;
      try {
        ok = await this.sync();
      } catch (err) {
        this.o.log.warn({ err: errorMessage(err) }, 'mirror pod sync failed; will retry');
        ok = false;
      }
      if (ok) {
        this.backoff.reset();
      } else if (!this.stopped) {
        const delay = this.backoff.next();
        this.retry = setTimeout(() => {
          this.retry = undefined;
          this.changed();
        }, delay);
        this.retry.unref();
        return;
      }
    }
  }

  /** One pass; false when something failed and the pass should be retried. */
  private async sync(): Promise<boolean> {
    const api = this.o.apiPods();
    const statics = this.staticPods;
    // Until both sources spoke, a mirror may look orphaned or missing when it is not.
    if (!api || !statics) return true;
    const { nodeName } = this.o;
    const desired = statics.map((p) => desiredMirror(p, nodeName));
    const names = new Set(desired.map(key));
    const existing = api.map(existingPod).filter((e) => e.hash !== undefined || names.has(key(e)));
    const terminating = new Set(this.o.running().map((p) => key(desiredMirror(p, nodeName))));
    const plan = planMirrors(desired, existing, terminating);
    let ok = true;
    for (const b of plan.blocked) this.fail(key(b), `pod ${key(b)} exists and is not a mirror pod`, 'mirror pod not created: its name is taken');
    for (const d of plan.delete) {
      try {
        await this.o.client.delete(resourcePath({ resource: 'pods', namespace: d.namespace, name: d.name }), { gracePeriodSeconds: 0, preconditions: { uid: d.uid } });
        this.o.log.info({ pod: key(d), uid: d.uid, reason: d.reason }, 'mirror pod deleted');
      } catch (err) {
        // Gone already, or replaced since: nothing of ours to delete.
        if (err instanceof ApiError && (err.isNotFound || err.isConflict)) continue;
        this.fail(key(d), errorMessage(err), 'mirror pod delete failed; will retry');
        ok = false;
      }
    }
    const byKey = new Map(statics.map((p) => [key(desiredMirror(p, nodeName)), p]));
    for (const d of plan.create) {
      const pod = byKey.get(key(d))!;
      if (!(await this.create(pod, d))) ok = false;
    }
    return ok;
  }

  private async create(pod: Pod, d: DesiredMirror): Promise<boolean> {
    const nodeUid = this.o.nodeUid();
    if (!nodeUid) return false; // not registered yet: the owner reference needs its uid
    const body = mirrorPodBody(pod, { nodeName: this.o.nodeName, nodeUid, seen: this.seen.get(pod.metadata.uid) ?? new Date().toISOString() });
    const path = resourcePath({ resource: 'pods', namespace: d.namespace });
    try {
      const made = await this.o.client.create(path, body);
      this.lastError.delete(key(d));
      this.o.log.info({ pod: key(d), uid: made.metadata.uid, hash: d.hash }, 'mirror pod created');
      return true;
    } catch (err) {
      // Made by an earlier pass whose watch event is still on its way: fine if it is the same mirror.
      if (err instanceof ApiError && err.isAlreadyExists) {
        const now = await this.o.client.get(resourcePath({ resource: 'pods', namespace: d.namespace, name: d.name })).catch(() => undefined);
        const e = now && existingPod(now);
        if (e && e.hash === d.hash && !e.deleting) return true;
      }
      this.fail(key(d), errorMessage(err), 'mirror pod create failed; will retry');
      return false;
    }
  }

  private fail(k: string, message: string, what: string): void {
    if (this.lastError.get(k) === message) {
      this.o.log.debug({ pod: k, err: message }, what);
      return;
    }
    this.lastError.set(k, message);
    this.o.log.warn({ pod: k, err: message }, what);
  }
}
