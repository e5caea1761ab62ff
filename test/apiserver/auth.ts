// Who is calling, and may they: the authenticators of a kubeadm cluster (client
// certificates against the CA, bootstrap tokens from kube-system Secrets, static
// tokens, service account JWTs from TokenRequest, anonymous) and an authorizer
// modelled on its defaults: RBAC's bootstrap roles plus the Node authorizer.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, sign, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { parseBootstrapToken } from '../../agent/apiserver/jws.js';
import type { Obj, Store } from './store.js';

export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

export const ANONYMOUS: UserInfo = { username: 'system:anonymous', groups: ['system:unauthenticated'] };

export interface Attributes {
  verb: string;
  apiGroup: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  /** set for non-resource requests (/healthz, /api) */
  path?: string;
}

/** An extra permission, like a RoleBinding to a ClusterRole. Empty/absent lists mean "any". */
export interface Grant {
  users?: string[];
  groups?: string[];
  verbs: string[];
  apiGroups?: string[];
  /** "pods", "nodes/proxy", "*" */
  resources?: string[];
  namespaces?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

// ------------------------------------------------------------------ bootstrap tokens

const b64 = (s: unknown): string => (typeof s === 'string' ? Buffer.from(s, 'base64').toString('utf8') : '');

export interface BootstrapTokenSecret {
  id: string;
  secret: string;
  expiration?: Date;
  usages: Set<string>;
  extraGroups: string[];
}

export function readBootstrapSecret(o: Obj): BootstrapTokenSecret | undefined {
  if (o.type !== 'bootstrap.kubernetes.io/token' || !o.metadata.name.startsWith('bootstrap-token-')) return undefined;
  const d = (o.data ?? {}) as Record<string, string>;
  const id = b64(d['token-id']);
  if (`bootstrap-token-${id}` !== o.metadata.name) return undefined;
  const exp = b64(d.expiration);
  return {
    id,
    secret: b64(d['token-secret']),
    ...(exp ? { expiration: new Date(exp) } : {}),
    usages: new Set(Object.keys(d).filter((k) => k.startsWith('usage-bootstrap-') && b64(d[k]) === 'true').map((k) => k.slice('usage-bootstrap-'.length))),
    extraGroups: b64(d['auth-extra-groups']).split(',').filter(Boolean),
  };
}

export const isExpired = (t: BootstrapTokenSecret, now = new Date()): boolean => t.expiration !== undefined && t.expiration <= now;

// ------------------------------------------------------------------ service account JWTs

const ISSUER = 'https://kubernetes.default.svc.cluster.local';

export interface ServiceAccountTokenRequest {
  namespace: string;
  name: string;
  uid: string;
  audiences: string[];
  expirationSeconds: number;
  boundPod?: { name: string; uid: string };
}

// ------------------------------------------------------------------ authenticator

export class Authenticator {
  readonly saKey: KeyObject;

  constructor(
    private readonly store: Store,
    private readonly staticTokens: Map<string, UserInfo>,
    saKeyPem?: string,
  ) {
    this.saKey = saKeyPem ? createPrivateKey(saKeyPem) : generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
  }

  get saKeyPem(): string {
    return this.saKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  }

  /** The user of a request, ANONYMOUS when it carries no credentials, undefined when they are bad (→ 401). */
  authenticate(req: IncomingMessage): UserInfo | undefined {
    const auth = req.headers.authorization;
    if (auth !== undefined) {
      const m = /^Bearer\s+(\S+)$/i.exec(auth);
      return m ? this.authenticateToken(m[1]!)?.user : undefined;
    }
    const socket = req.socket as TLSSocket;
    const cert = socket.getPeerCertificate?.();
    if (cert && Object.keys(cert).length > 0) {
      if (!socket.authorized) return undefined;
      const o = cert.subject.O;
      const cn = cert.subject.CN;
      if (typeof cn !== 'string') return undefined;
      return withAuthenticated({ username: cn, groups: o === undefined ? [] : Array.isArray(o) ? o : [o] });
    }
    return ANONYMOUS;
  }

  /** Bearer token → user (and, for service account tokens, their audiences). */
  authenticateToken(token: string, audiences?: string[]): { user: UserInfo; audiences?: string[] } | undefined {
    const s = this.staticTokens.get(token);
    if (s) return { user: withAuthenticated(s) };
    const bt = parseBootstrapToken(token);
    if (bt) {
      const secret = this.store.get('secrets', 'kube-system', `bootstrap-token-${bt.id}`);
      const t = secret && readBootstrapSecret(secret);
      if (!t || !t.usages.has('authentication') || isExpired(t)) return undefined;
      const a = Buffer.from(t.secret);
      const b = Buffer.from(bt.secret);
      if (a.length !== b.length || !timingSafeEqual(a, b)) return undefined;
      return { user: withAuthenticated({ username: `system:bootstrap:${bt.id}`, groups: ['system:bootstrappers', ...t.extraGroups] }) };
    }
    return this.verifyServiceAccountToken(token, audiences);
  }

  issueServiceAccountToken(r: ServiceAccountTokenRequest): { token: string; expiration: Date } {
    const now = Math.floor(Date.now() / 1000);
    const exp = now + r.expirationSeconds;
    const header = { alg: 'ES256', kid: createHash('sha256').update(createPublicKey(this.saKey).export({ type: 'spki', format: 'der' })).digest('base64url') };
    const claims = {
      aud: r.audiences, exp, iat: now, nbf: now, iss: ISSUER, jti: randomUUID(),
      sub: `system:serviceaccount:${r.namespace}:${r.name}`,
      'kubernetes.io': {
        namespace: r.namespace,
        serviceaccount: { name: r.name, uid: r.uid },
        ...(r.boundPod ? { pod: r.boundPod } : {}),
      },
    };
    const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    const sig = sign('sha256', Buffer.from(input), { key: this.saKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    return { token: `${input}.${sig}`, expiration: new Date(exp * 1000) };
  }

  private verifyServiceAccountToken(token: string, audiences?: string[]): { user: UserInfo; audiences: string[] } | undefined {
    const parts = token.split('.');
    if (parts.length !== 3) return undefined;
    const ok = verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), { key: createPublicKey(this.saKey), dsaEncoding: 'ieee-p1363' }, Buffer.from(parts[2]!, 'base64url'));
    if (!ok) return undefined;
    const c = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as {
      aud: string[]; exp: number; 'kubernetes.io': { namespace: string; serviceaccount: { name: string; uid: string }; pod?: { name: string; uid: string } };
    };
    if (c.exp * 1000 <= Date.now()) return undefined;
    const want = audiences?.length ? audiences : [ISSUER];
    const matched = c.aud.filter((a) => want.includes(a));
    if (audiences?.length && matched.length === 0) return undefined;
    const k = c['kubernetes.io'];
    const sa = this.store.get('serviceaccounts', k.namespace, k.serviceaccount.name);
    if (!sa || sa.metadata.uid !== k.serviceaccount.uid) return undefined;
    if (k.pod) {
      const pod = this.store.get('pods', k.namespace, k.pod.name);
      if (!pod || pod.metadata.uid !== k.pod.uid) return undefined;
    }
    const user: UserInfo = withAuthenticated({
      username: `system:serviceaccount:${k.namespace}:${k.serviceaccount.name}`,
      uid: k.serviceaccount.uid,
      groups: ['system:serviceaccounts', `system:serviceaccounts:${k.namespace}`],
      ...(k.pod ? { extra: { 'authentication.kubernetes.io/pod-name': [k.pod.name], 'authentication.kubernetes.io/pod-uid': [k.pod.uid] } } : {}),
    });
    return { user, audiences: matched.length ? matched : c.aud };
  }
}

function withAuthenticated(u: UserInfo): UserInfo {
  return u.groups.includes('system:authenticated') ? u : { ...u, groups: [...u.groups, 'system:authenticated'] };
}

// ------------------------------------------------------------------ authorizer

const READ = ['get', 'list', 'watch'];
const has = (list: string[] | undefined, v: string): boolean => !list || list.length === 0 || list.includes('*') || list.includes(v);

function grantAllows(g: Grant, u: UserInfo, a: Attributes): boolean {
  const subject = (g.users ?? []).includes(u.username) || (g.groups ?? []).some((x) => u.groups.includes(x));
  if (!subject || !has(g.verbs, a.verb)) return false;
  if (a.path !== undefined) return (g.nonResourceURLs ?? []).some((p) => p === '*' || p === a.path || (p.endsWith('*') && a.path!.startsWith(p.slice(0, -1))));
  if (g.nonResourceURLs?.length) return false;
  const res = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  return has(g.apiGroups, a.apiGroup) && has(g.resources, res) && has(g.namespaces, a.namespace) && has(g.resourceNames, a.name);
}

/** Default permissions, as kubeadm's RBAC bindings and the Node authorizer give them. */
const DEFAULT_GRANTS: Grant[] = [
  { groups: ['system:masters'], verbs: ['*'], nonResourceURLs: ['*'] },
  { groups: ['system:authenticated', 'system:unauthenticated'], verbs: ['get'], nonResourceURLs: ['/healthz', '/livez', '/readyz', '/version', '/version/'] },
  { groups: ['system:authenticated'], verbs: ['get'], nonResourceURLs: ['/api', '/api/*', '/apis', '/apis/*', '/openapi', '/openapi/*'] },
  { groups: ['system:authenticated'], verbs: ['create'], apiGroups: ['authorization.k8s.io', 'authentication.k8s.io'], resources: ['selfsubjectaccessreviews', 'selfsubjectreviews'] },
  // kubeadm:bootstrap-signer-clusterinfo
  { users: ['system:anonymous'], groups: ['system:unauthenticated'], verbs: ['get'], apiGroups: [''], resources: ['configmaps'], namespaces: ['kube-public'], resourceNames: ['cluster-info'] },
  // system:node-bootstrapper and kubeadm's nodeclient auto-approval
  { groups: ['system:bootstrappers'], verbs: ['create', 'get', 'list', 'watch'], apiGroups: ['certificates.k8s.io'], resources: ['certificatesigningrequests'] },
  { groups: ['system:bootstrappers'], verbs: ['create'], apiGroups: ['certificates.k8s.io'], resources: ['certificatesigningrequests/nodeclient'] },
];

export class Authorizer {
  readonly grants: Grant[] = [];

  constructor(private readonly store: Store) {}

  authorize(u: UserInfo, a: Attributes): { allowed: boolean; reason: string } {
    if (u.groups.includes('system:masters')) return { allowed: true, reason: '' };
    for (const g of [...DEFAULT_GRANTS, ...this.grants]) if (grantAllows(g, u, a)) return { allowed: true, reason: 'RBAC: allowed by a binding' };
    const node = nodeNameOf(u);
    if (node && a.path === undefined && this.nodeAllows(node, a)) return { allowed: true, reason: 'allowed by the Node authorizer' };
    return { allowed: false, reason: '' };
  }

  /** The Node authorizer plus the system:node role, for user system:node:<node>. */
  private nodeAllows(node: string, a: Attributes): boolean {
    const r = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
    const g = a.apiGroup;
    if (g === '') {
      switch (r) {
        case 'nodes': return READ.includes(a.verb) || (['create', 'update', 'patch', 'delete'].includes(a.verb) && (a.name === node || (a.verb === 'create' && a.name === '')));
        case 'nodes/status': return ['get', 'update', 'patch'].includes(a.verb) && a.name === node;
        case 'pods': return READ.includes(a.verb) || a.verb === 'create' || a.verb === 'delete';
        case 'pods/status': return ['update', 'patch'].includes(a.verb);
        case 'pods/eviction': return a.verb === 'create';
        case 'services': case 'endpoints': return READ.includes(a.verb);
        case 'events': return ['create', 'update', 'patch'].includes(a.verb);
        case 'configmaps': case 'secrets': case 'serviceaccounts': case 'persistentvolumeclaims':
          return READ.includes(a.verb) && a.name !== '' && this.podReferences(node, a.resource, a.namespace, a.name);
        case 'serviceaccounts/token': return a.verb === 'create' && this.podReferences(node, 'serviceaccounts', a.namespace, a.name);
      }
      return false;
    }
    if (g === 'discovery.k8s.io' && r === 'endpointslices') return READ.includes(a.verb);
    if (g === 'coordination.k8s.io' && r === 'leases') return a.namespace === 'kube-node-lease' && (a.name === node || (a.verb === 'create' && a.name === ''));
    if (g === 'certificates.k8s.io') return (r === 'certificatesigningrequests' && ['create', ...READ].includes(a.verb)) || (r === 'certificatesigningrequests/selfnodeclient' && a.verb === 'create');
    if (g === 'authentication.k8s.io' && r === 'tokenreviews') return a.verb === 'create';
    if (g === 'authorization.k8s.io' && r === 'subjectaccessreviews') return a.verb === 'create';
    return false;
  }

  /** The Node authorizer's graph: does a pod bound to `node` use this object? */
  private podReferences(node: string, resource: string, ns: string, name: string): boolean {
    return this.store.list('pods', ns).some((p) => (p.spec as { nodeName?: string } | undefined)?.nodeName === node && podRefs(p, resource).has(name));
  }
}

export function nodeNameOf(u: UserInfo): string | undefined {
  return u.groups.includes('system:nodes') && u.username.startsWith('system:node:') ? u.username.slice('system:node:'.length) : undefined;
}

/** Names of the objects of one resource a pod refers to. */
export function podRefs(pod: Obj, resource: string): Set<string> {
  type Any = Record<string, any>; // pod specs are read loosely: absent fields are simply not references
  const spec = (pod.spec ?? {}) as Any;
  const out = new Set<string>();
  const add = (v: unknown) => typeof v === 'string' && v && out.add(v);
  if (resource === 'serviceaccounts') add(spec.serviceAccountName ?? 'default');
  const containers: Any[] = [...(spec.containers ?? []), ...(spec.initContainers ?? []), ...(spec.ephemeralContainers ?? [])];
  for (const v of (spec.volumes ?? []) as Any[]) {
    if (resource === 'secrets') add(v.secret?.secretName);
    if (resource === 'configmaps') add(v.configMap?.name);
    if (resource === 'persistentvolumeclaims') add(v.persistentVolumeClaim?.claimName);
    for (const s of (v.projected?.sources ?? []) as Any[]) {
      if (resource === 'secrets') add(s.secret?.name);
      if (resource === 'configmaps') add(s.configMap?.name);
    }
  }
  for (const c of containers) {
    for (const e of (c.env ?? []) as Any[]) {
      if (resource === 'secrets') add(e.valueFrom?.secretKeyRef?.name);
      if (resource === 'configmaps') add(e.valueFrom?.configMapKeyRef?.name);
    }
    for (const e of (c.envFrom ?? []) as Any[]) {
      if (resource === 'secrets') add(e.secretRef?.name);
      if (resource === 'configmaps') add(e.configMapRef?.name);
    }
  }
  if (resource === 'secrets') for (const s of (spec.imagePullSecrets ?? []) as Any[]) add(s.name);
  return out;
}
