// Who may use the kubelet API, decided as kubelet decides it: x509 client
// certificates verified against the cluster CA, bearer tokens through TokenReview,
// no anonymous access; then a SubjectAccessReview on the node object with a
// subresource chosen by the path (stats, metrics, log, else proxy) and a verb
// from the HTTP method. Answers are cached briefly so a busy scraper does not
// cost an API round trip per request.
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { ApiClient } from '../apiserver/client.js';

export interface KubeletUser {
  username: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

/** What a request asks for, as SubjectAccessReview resourceAttributes on the Node. */
export interface NodeAttributes {
  verb: string;
  resource: 'nodes';
  subresource: string;
  name: string;
}

const VERBS: Record<string, string> = { GET: 'get', HEAD: 'get', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };

const isSubpath = (path: string, prefix: string) => path === prefix || path.startsWith(prefix + '/');

/** kubelet's mapping of a path and method to Node subresource and verb. Pure. */
export function nodeAttributes(method: string, path: string, nodeName: string): NodeAttributes {
  let subresource = 'proxy';
  if (isSubpath(path, '/stats')) subresource = 'stats';
  else if (isSubpath(path, '/metrics')) subresource = 'metrics';
  else if (isSubpath(path, '/logs')) subresource = 'log';
  return { verb: VERBS[method.toUpperCase()] ?? method.toLowerCase(), resource: 'nodes', subresource, name: nodeName };
}

/** kubelet's 403 text. */
export function forbiddenMessage(u: KubeletUser, a: NodeAttributes): string {
  return `Forbidden (user=${u.username}, verb=${a.verb}, resource=${a.resource}, subresource=${a.subresource})`;
}

/** The user of a verified client certificate: CN is the name, O the groups. */
export function userFromCertificate(subject: { CN?: string | string[]; O?: string | string[] }): KubeletUser | undefined {
  const cn = Array.isArray(subject.CN) ? subject.CN[0] : subject.CN;
  if (!cn) return undefined;
  const o = subject.O === undefined ? [] : Array.isArray(subject.O) ? subject.O : [subject.O];
  return { username: cn, groups: [...o, 'system:authenticated'] };
}

class TtlCache<V> {
  private readonly m = new Map<string, { v: V; until: number }>();
  get(k: string): V | undefined {
    const e = this.m.get(k);
    if (e && e.until > Date.now()) return e.v;
    this.m.delete(k);
    return undefined;
  }
  set(k: string, v: V, ttlMs: number): void {
    if (this.m.size > 10_000) this.m.clear(); // bounded: a flood of bad tokens cannot grow it
    this.m.set(k, { v, until: Date.now() + ttlMs });
  }
}

/** kubelet's defaults: authentication cache 2 min, authorization 5 min allowed / 30 s denied. */
export interface AuthTtls { authnOkMs: number; authnFailMs: number; authzAllowedMs: number; authzDeniedMs: number }
const DEFAULT_TTLS: AuthTtls = { authnOkMs: 120_000, authnFailMs: 30_000, authzAllowedMs: 300_000, authzDeniedMs: 30_000 };

const TOKEN_REVIEWS = '/apis/authentication.k8s.io/v1/tokenreviews';
const ACCESS_REVIEWS = '/apis/authorization.k8s.io/v1/subjectaccessreviews';

export class KubeletAuth {
  private readonly tokens = new TtlCache<KubeletUser | null>();
  private readonly decisions = new TtlCache<{ allowed: boolean; reason: string }>();
  private readonly ttl: AuthTtls;

  constructor(private readonly client: ApiClient, ttl: Partial<AuthTtls> = {}) {
    this.ttl = { ...DEFAULT_TTLS, ...ttl };
  }

  /**
   * The user of a request: a client certificate the TLS layer verified against the
   * cluster CA, else a bearer token the API server vouches for. undefined = 401.
   */
  async authenticate(req: IncomingMessage): Promise<KubeletUser | undefined> {
    const auth = req.headers.authorization;
    const bearer = auth ? /^Bearer\s+(\S+)\s*$/i.exec(auth)?.[1] : undefined;
    if (bearer) return this.reviewToken(bearer);
    const socket = req.socket as TLSSocket;
    if (socket.authorized) {
      const cert = socket.getPeerCertificate();
      if (cert && Object.keys(cert).length > 0) return userFromCertificate(cert.subject as { CN?: string; O?: string | string[] });
    }
    return undefined;
  }

  private async reviewToken(token: string): Promise<KubeletUser | undefined> {
    const key = createHash('sha256').update(token).digest('hex');
    const cached = this.tokens.get(key);
    if (cached !== undefined) return cached ?? undefined;
    const r = await this.client.create<{ status?: { authenticated?: boolean; user?: KubeletUser } }>(TOKEN_REVIEWS, {
      apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token },
    });
    const u = r.status?.authenticated && r.status.user?.username ? { ...r.status.user, groups: r.status.user.groups ?? [] } : null;
    this.tokens.set(key, u, u ? this.ttl.authnOkMs : this.ttl.authnFailMs);
    return u ?? undefined;
  }

  async authorize(u: KubeletUser, a: NodeAttributes): Promise<{ allowed: boolean; reason: string }> {
    const key = JSON.stringify([u.username, u.uid, [...u.groups].sort(), u.extra, a]);
    const cached = this.decisions.get(key);
    if (cached) return cached;
    const r = await this.client.create<{ status?: { allowed?: boolean; reason?: string } }>(ACCESS_REVIEWS, {
      apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview',
      spec: {
        user: u.username, groups: u.groups, ...(u.uid ? { uid: u.uid } : {}), ...(u.extra ? { extra: u.extra } : {}),
        resourceAttributes: { verb: a.verb, group: '', version: 'v1', resource: a.resource, subresource: a.subresource, name: a.name },
      },
    });
    const d = { allowed: r.status?.allowed === true, reason: r.status?.reason ?? '' };
    this.decisions.set(key, d, d.allowed ? this.ttl.authzAllowedMs : this.ttl.authzDeniedMs);
    return d;
  }
}
