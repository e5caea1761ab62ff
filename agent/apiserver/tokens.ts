// Service-account tokens for projected serviceAccountToken volumes, through the
// TokenRequest API (POST .../serviceaccounts/NAME/token) and bound to the pod, as
// kubelet's token manager does: one token per (pod, service account, audience,
// lifetime), kept and handed out again until 80% of its lifetime has passed (or it
// is 24 h old), then requested anew; the volume refresh writes the new one in place.
import type { Logger } from 'pino';
import type { TokenProvider, TokenRequest } from '../pods/volumes/types.js';
import { errorMessage } from '../util/errors.js';
import { resourcePath, type ApiClient } from './client.js';

interface TokenRequestObject {
  spec?: { expirationSeconds?: number };
  status?: { token?: string; expirationTimestamp?: string };
}

interface Entry {
  token: string;
  refreshAt: number;
  expiresAt: number;
}

export interface ServiceAccountTokensOptions {
  client: Pick<ApiClient, 'create'>;
  log?: Logger;
  now?: () => number;
}

const MAX_AGE_MS = 24 * 3600_000;

/** When a token of `lifetimeMs` issued at `issuedAt` is due for renewal: 80% of its life, at most 24 h. */
export function refreshTime(issuedAt: number, lifetimeMs: number): number {
  return issuedAt + Math.min(0.8 * lifetimeMs, MAX_AGE_MS);
}

/** A token could not be requested and no valid one is cached. */
export class TokenRequestError extends Error {
  override readonly name = 'TokenRequestError';
}

export class ServiceAccountTokens {
  private readonly cache = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<string>>();
  /** TokenRequests sent */
  requests = 0;

  constructor(private readonly o: ServiceAccountTokensOptions) {}

  private now(): number {
    return this.o.now?.() ?? Date.now();
  }

  readonly provider: TokenProvider = (req) => this.get(req);

  async get(req: TokenRequest): Promise<string> {
    const key = JSON.stringify([req.namespace, req.serviceAccountName, req.podName, req.podUid, req.audience ?? '', req.expirationSeconds]);
    const t = this.now();
    this.prune(t);
    const e = this.cache.get(key);
    if (e && t < e.refreshAt) return e.token;
    let p = this.inflight.get(key);
    if (!p) {
      p = this.request(req, key, e).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private async request(req: TokenRequest, key: string, old: Entry | undefined): Promise<string> {
    const path = `${resourcePath({ resource: 'serviceaccounts', namespace: req.namespace, name: req.serviceAccountName })}/token`;
    const body = {
      apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest',
      spec: {
        // No audience: the API server's own (kubelet leaves the list empty too).
        audiences: req.audience ? [req.audience] : [],
        expirationSeconds: req.expirationSeconds,
        boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: req.podName, uid: req.podUid },
      },
    };
    this.requests++;
    const issuedAt = this.now();
    let tr: TokenRequestObject;
    try {
      tr = await this.o.client.create<TokenRequestObject>(path, body);
    } catch (err) {
      // Renewal failed while the old token is still valid: keep using it and retry on the next refresh.
      if (old && issuedAt < old.expiresAt) {
        this.o.log?.warn({ pod: `${req.namespace}/${req.podName}`, serviceAccount: req.serviceAccountName, err: errorMessage(err) }, 'service account token renewal failed; the current token stays until it expires');
        return old.token;
      }
      throw new TokenRequestError(`failed to fetch token for service account "${req.namespace}/${req.serviceAccountName}": ${errorMessage(err)}`);
    }
    const token = tr.status?.token;
    if (!token) throw new TokenRequestError(`TokenRequest for service account "${req.namespace}/${req.serviceAccountName}" returned no token`);
    // The server may shorten (or extend) the lifetime; the answer says which.
    const lifetimeMs = (tr.spec?.expirationSeconds ?? req.expirationSeconds) * 1000;
    const exp = tr.status?.expirationTimestamp ? Date.parse(tr.status.expirationTimestamp) : NaN;
    const expiresAt = Number.isFinite(exp) ? Math.min(exp, issuedAt + lifetimeMs) : issuedAt + lifetimeMs;
    this.cache.set(key, { token, refreshAt: refreshTime(issuedAt, lifetimeMs), expiresAt });
    this.o.log?.debug({ pod: `${req.namespace}/${req.podName}`, serviceAccount: req.serviceAccountName, lifetimeSeconds: lifetimeMs / 1000 }, 'service account token issued');
    return token;
  }

  /** Expired tokens are of no use to anyone (their pods are gone or will get new ones). */
  private prune(t: number): void {
    for (const [k, e] of this.cache) if (t >= e.expiresAt) this.cache.delete(k);
  }
}
