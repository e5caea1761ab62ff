// ConfigMaps and Secrets of API pods, from the API server: kubelet's "Cache"
// change-detection strategy. Each object is read with a GET and kept for a TTL,
// the node's node.alpha.kubernetes.io/ttl annotation (the TTL controller sizes it
// by cluster size: 0 s up to 100 nodes) or 1 min without it; a pod seen for the
// first time never gets an object read before it appeared, so a ConfigMap created
// just before its pod is found. Chosen over kubelet's default (a watch per
// referenced object) because it needs no reference counting of what pods use and
// no stream per object (our HTTP/1.1 client would hold one socket each, where
// kubelet multiplexes them over HTTP/2); updates still reach mounted files within
// TTL + the worker's volume refresh period.
import type { Logger } from 'pino';
import type { ConfigMapLike, ObjectLookup, SecretLike } from '../pods/volumes/types.js';
import { errorMessage } from '../util/errors.js';
import { resourcePath, type ApiClient, type KubeObject } from './client.js';
import { ApiConnectionError, ApiError } from './errors.js';

export const NODE_TTL_ANNOTATION = 'node.alpha.kubernetes.io/ttl';
/** kubelet's TTL when the node has no annotation */
export const DEFAULT_OBJECT_TTL_MS = 60_000;

/** The TTL the node's annotation asks for, or undefined when it has none (or a bad one). */
export function objectTTLFromNode(node: KubeObject | undefined): number | undefined {
  const v = node?.metadata.annotations?.[NODE_TTL_ANNOTATION];
  if (v === undefined || !/^\d+$/.test(v)) return undefined;
  return Number(v) * 1000;
}

/** A ConfigMap or Secret could not be read and nothing usable is cached. */
export class ObjectFetchError extends Error {
  override readonly name = 'ObjectFetchError';
}

type Kind = 'configmaps' | 'secrets';

interface Entry {
  value: KubeObject | undefined;
  fetchedAt: number;
  usedAt: number;
}

export interface ApiObjectCacheOptions {
  client: Pick<ApiClient, 'get'>;
  /** the current TTL (it follows the node's annotation) */
  ttlMs?: () => number;
  log?: Logger;
  now?: () => number;
}

/** Entries and pods not used for this long are forgotten. */
const FORGET_MS = 10 * 60_000;

export class ApiObjectCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<KubeObject | undefined>>();
  /** pod uid -> when it was first seen, and last used */
  private readonly pods = new Map<string, { since: number; usedAt: number }>();
  private lastPrune = 0;
  /** GETs sent, for tests and metrics */
  fetches = 0;

  constructor(private readonly o: ApiObjectCacheOptions) {}

  private now(): number {
    return this.o.now?.() ?? Date.now();
  }

  /** The lookups of one pod: nothing older than the pod's first sight is used for it. */
  forPod(uid: string): ObjectLookup {
    const t = this.now();
    const p = this.pods.get(uid);
    if (p) p.usedAt = t;
    else this.pods.set(uid, { since: t, usedAt: t });
    const since = this.pods.get(uid)!.since;
    this.prune(t);
    return {
      configMap: (ns, name) => this.get('configmaps', ns, name, since) as Promise<ConfigMapLike | undefined>,
      secret: (ns, name) => this.get('secrets', ns, name, since) as Promise<SecretLike | undefined>,
    };
  }

  private async get(kind: Kind, ns: string, name: string, since: number): Promise<KubeObject | undefined> {
    const key = `${kind}/${ns}/${name}`;
    const t = this.now();
    const e = this.entries.get(key);
    if (e) e.usedAt = t;
    const ttl = this.o.ttlMs?.() ?? DEFAULT_OBJECT_TTL_MS;
    if (e && e.fetchedAt >= since && t - e.fetchedAt < Math.max(ttl, 1)) return e.value;
    let p = this.inflight.get(key);
    if (!p) {
      p = this.fetch(kind, ns, name, key).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private async fetch(kind: Kind, ns: string, name: string, key: string): Promise<KubeObject | undefined> {
    const singular = kind === 'configmaps' ? 'configmap' : 'secret';
    this.fetches++;
    let value: KubeObject | undefined;
    try {
      value = await this.o.client.get<KubeObject>(resourcePath({ resource: kind, namespace: ns, name }));
    } catch (err) {
      if (err instanceof ApiError && err.isNotFound) {
        value = undefined;
      } else {
        // The API server unreachable: what we had still serves (containers restart with the env they had).
        const stale = this.entries.get(key);
        if (stale && (err instanceof ApiConnectionError || (err instanceof ApiError && err.code >= 500))) {
          this.o.log?.warn({ object: `${ns}/${name}`, kind: singular, err: errorMessage(err) }, 'cannot refresh from the API server; using the cached copy');
          return stale.value;
        }
        throw new ObjectFetchError(`cannot get ${singular} "${name}" in namespace "${ns}" from the API server: ${errorMessage(err)}`);
      }
    }
    const t = this.now();
    this.entries.set(key, { value, fetchedAt: t, usedAt: t });
    return value;
  }

  private prune(t: number): void {
    if (t - this.lastPrune < 60_000) return;
    this.lastPrune = t;
    for (const [k, e] of this.entries) if (t - e.usedAt > FORGET_MS) this.entries.delete(k);
    for (const [k, p] of this.pods) if (t - p.usedAt > FORGET_MS) this.pods.delete(k);
  }
}
