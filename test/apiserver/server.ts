// A kube-apiserver test double: HTTPS, the real wire protocol (discovery, CRUD,
// list/watch with resourceVersions, bookmarks, 410, selectors, three patch types,
// Status errors), authentication and authorization as a kubeadm cluster has them,
// and the controllers a joining node needs. Test-only: it never ships.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { caCertHash } from '../../agent/apiserver/x509.js';
import { admitCreate, admitUpdate, nodeRestriction, now, validateName, type AdmissionOptions, type Request } from './admission.js';
import { Authenticator, Authorizer, nodeNameOf, type Attributes, type Grant, type UserInfo } from './auth.js';
import { CertificateAuthority } from './ca.js';
import { Controllers, newMeta } from './controllers.js';
import { jsonPatch, mergePatch, PatchError, strategicMergePatch } from './patch.js';
import { apiGroup, apiGroupList, apiResourceList, apiVersionOf, findResource, GROUPS, keyOf, supportedFields, type ResourceType } from './resources.js';
import { matchFields, matchLabels, parseFieldSelector, parseLabelSelector, SelectorError } from './selectors.js';
import {
  alreadyExists, badRequest, conflict, expired, forbidden, HttpError, invalid, methodNotAllowed, notFound, successStatus, unauthorized, unsupportedMediaType,
} from './status.js';
import { ResourceExpiredError, Store, type Obj } from './store.js';
import type { Loose as Any } from './store.js';


export const KUBERNETES_VERSION = { major: '1', minor: '31', gitVersion: 'v1.31.0', gitCommit: 'kna-test-double', gitTreeState: 'clean', buildDate: '2024-08-13T00:00:00Z', goVersion: 'go1.22.5', compiler: 'gc', platform: 'linux/amd64' };

export interface TestApiServerOptions {
  /** state directory (CA, keys, objects); reused across restarts. Default: in memory. */
  dir?: string;
  host?: string;
  /** 0 = a random free port */
  port?: number;
  /** approve kubelet client CSRs of bootstrappers and of nodes renewing, as kubeadm's csrapprover */
  autoApproveCsrs?: boolean;
  /** lifetime of certificates the signer issues (kube-controller-manager: 1 year) */
  certificateDurationSeconds?: number;
  /** how often an idle watch gets a BOOKMARK (real servers: about a minute) */
  bookmarkIntervalMs?: number;
  /** events kept for watches to resume from; older resourceVersions get 410 */
  historyLimit?: number;
  /** shortest TokenRequest expiration allowed (real servers: 600) */
  minTokenExpirationSeconds?: number;
  /** longest token lifetime issued; longer requests are cut to it (--service-account-max-token-expiration) */
  maxTokenExpirationSeconds?: number;
  serviceCIDR?: string;
  serviceAccountAdmission?: boolean;
  /** node IPAM (kube-controller-manager --allocate-node-cidrs --cluster-cidr): Nodes get a /24 of it as spec.podCIDR; off when absent */
  clusterCIDR?: string;
}

interface Route {
  rt: ResourceType;
  namespace: string;
  name: string;
  subresource: string;
}

const withKind = (rt: ResourceType, o: Obj): Record<string, unknown> => ({ kind: rt.kind, apiVersion: apiVersionOf(rt), ...o });
const MAX_BODY = 3 * 1024 * 1024;

export class TestApiServer {
  readonly store: Store;
  readonly ca: CertificateAuthority;
  readonly authorizer: Authorizer;
  readonly adminToken: string;
  readonly admin: { certPem: string; keyPem: string };
  private readonly authn: Authenticator;
  private readonly staticTokens = new Map<string, UserInfo>();
  private readonly controllers: Controllers;
  private readonly admission: AdmissionOptions;
  private server: Server | undefined;
  private _port = 0;
  private readonly watches = new Set<ServerResponse>();

  private constructor(private readonly opts: Required<Omit<TestApiServerOptions, 'dir' | 'clusterCIDR'>> & { dir?: string; clusterCIDR?: string }) {
    const dir = opts.dir;
    if (dir) mkdirSync(join(dir, 'pki'), { recursive: true, mode: 0o700 });
    const read = (f: string) => { try { return dir ? readFileSync(join(dir, f), 'utf8') : undefined; } catch { return undefined; } };
    const save = (f: string, text: string) => dir && writeFileSync(join(dir, f), text, { mode: 0o600 });
    const caCrt = read('pki/ca.crt');
    const caKey = read('pki/ca.key');
    this.ca = caCrt && caKey ? CertificateAuthority.load(caCrt, caKey) : CertificateAuthority.create();
    save('pki/ca.crt', this.ca.certPem);
    save('pki/ca.key', this.ca.keyPem);
    this.adminToken = read('admin-token')?.trim() ?? randomBytes(16).toString('hex');
    save('admin-token', this.adminToken);
    this.admin = this.ca.issueKeyPair({ subject: { commonName: 'kubernetes-admin', organizations: ['system:masters'] }, notAfter: new Date(Date.now() + 365 * 86400_000), usages: ['digital signature', 'key encipherment', 'client auth'] });
    this.staticTokens.set(this.adminToken, { username: 'kubernetes-admin', groups: ['system:masters'] });
    this.store = new Store(dir ? join(dir, 'state.json') : undefined, opts.historyLimit);
    this.authn = new Authenticator(this.store, this.staticTokens, read('pki/sa.key'));
    save('pki/sa.key', this.authn.saKeyPem);
    this.authorizer = new Authorizer(this.store);
    this.admission = { serviceCIDR: opts.serviceCIDR, serviceAccountAdmission: opts.serviceAccountAdmission };
    this.controllers = new Controllers(this.store, this.ca, { autoApproveCsrs: opts.autoApproveCsrs, certificateDurationSeconds: opts.certificateDurationSeconds, ...(opts.clusterCIDR ? { clusterCIDR: opts.clusterCIDR } : {}) });
  }

  static async start(o: TestApiServerOptions = {}): Promise<TestApiServer> {
    const s = new TestApiServer({
      host: '127.0.0.1', port: 0, autoApproveCsrs: false, certificateDurationSeconds: 365 * 86400, bookmarkIntervalMs: 60_000,
      historyLimit: 5000, minTokenExpirationSeconds: 600, maxTokenExpirationSeconds: 2 ** 32, serviceCIDR: '10.96.0.0/12', serviceAccountAdmission: true, ...o,
    });
    await s.listen();
    return s;
  }

  get port(): number {
    return this._port;
  }

  get url(): string {
    return `https://${this.opts.host.includes(':') ? `[${this.opts.host}]` : this.opts.host}:${this._port}`;
  }

  get caHash(): string {
    return caCertHash(this.ca.certPem);
  }

  private async listen(): Promise<void> {
    const serving = this.ca.issueKeyPair({
      subject: { commonName: 'kube-apiserver' },
      notAfter: new Date(Date.now() + 365 * 86400_000),
      usages: ['digital signature', 'key encipherment', 'server auth'],
      altNames: { dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'], ipAddresses: ['127.0.0.1', '10.96.0.1', ...(this.opts.host === '127.0.0.1' || this.opts.host === '0.0.0.0' ? [] : [this.opts.host])] },
    });
    const server = createServer({ cert: serving.certPem, key: serving.keyPem, ca: this.ca.certPem, requestCert: true, rejectUnauthorized: false }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => this.fail(res, err));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => resolve());
    });
    this.server = server;
    this._port = (server.address() as AddressInfo).port;
    this.bootstrapObjects();
    this.controllers.start();
  }

  /** Stops serving; with a `dir`, a new start() picks up where this left off. */
  async stop(): Promise<void> {
    this.controllers.stop();
    this.store.closeWatchers();
    const server = this.server;
    this.server = undefined;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    this.store.save();
  }

  // ---------------------------------------------------------------- test helpers

  /** Adds a bootstrap token Secret (as `kubeadm token create`) and returns "id.secret". */
  createBootstrapToken(o: { id?: string; secret?: string; ttlSeconds?: number; expiration?: Date; usages?: string[]; groups?: string[] } = {}): string {
    const alnum = (n: number) => [...randomBytes(n)].map((b) => 'abcdefghijklmnopqrstuvwxyz0123456789'[b % 36]).join('');
    const id = o.id ?? alnum(6);
    const secret = o.secret ?? alnum(16);
    const expiration = o.expiration ?? new Date(Date.now() + (o.ttlSeconds ?? 86400) * 1000);
    const b = (s: string) => Buffer.from(s).toString('base64');
    const data: Record<string, string> = {
      'token-id': b(id), 'token-secret': b(secret), expiration: b(expiration.toISOString().replace(/\.\d+Z$/, 'Z')),
      description: b('bootstrap token for the test control plane'),
      'auth-extra-groups': b((o.groups ?? ['system:bootstrappers:kubeadm:default-node-token']).join(',')),
    };
    for (const u of o.usages ?? ['authentication', 'signing']) data[`usage-bootstrap-${u}`] = b('true');
    this.store.put('secrets', { metadata: newMeta(`bootstrap-token-${id}`, 'kube-system'), type: 'bootstrap.kubernetes.io/token', data });
    return `${id}.${secret}`;
  }

  /** A static bearer token for a user (e.g. to test authorization of others). */
  addUser(token: string, user: UserInfo): void {
    this.staticTokens.set(token, user);
  }

  grant(g: Grant): void {
    this.authorizer.grants.push(g);
  }

  /** Turns node IPAM on (or off with undefined), as restarting the controller manager with --allocate-node-cidrs would. */
  nodeIpam(clusterCIDR: string | undefined, nodeCIDRMaskSize = 24): void {
    this.controllers.nodeIpam(clusterCIDR, nodeCIDRMaskSize);
  }

  /** Approves or denies a CSR, as `kubectl certificate approve|deny`. */
  decideCsr(name: string, approve: boolean, reason = approve ? 'KubectlApprove' : 'KubectlDeny'): void {
    const key = 'certificatesigningrequests.certificates.k8s.io';
    const csr = this.store.get(key, undefined, name) as Any | undefined;
    if (!csr) throw new Error(`no CSR ${name}`);
    const t = now();
    csr.status = { ...(csr.status ?? {}), conditions: [...(csr.status?.conditions ?? []), { type: approve ? 'Approved' : 'Denied', status: 'True', reason, message: `This CSR was ${approve ? 'approved' : 'denied'} by the test`, lastUpdateTime: t, lastTransitionTime: t }] };
    this.store.put(key, csr);
  }

  /** How many watch streams are open now. */
  get openWatches(): number {
    return this.watches.size;
  }

  /** Breaks every open watch connection, as a network blip or a load balancer would. */
  closeWatches(): void {
    for (const res of this.watches) res.destroy();
    this.watches.clear();
  }

  /** Forgets watch history, as an etcd compaction: resuming older watches gets 410. */
  compact(): void {
    this.store.compact();
  }

  adminKubeconfig(): string {
    return toYaml({
      apiVersion: 'v1', kind: 'Config',
      clusters: [{ name: 'kna-test', cluster: { server: this.url, 'certificate-authority-data': Buffer.from(this.ca.certPem).toString('base64') } }],
      users: [{ name: 'kubernetes-admin', user: { 'client-certificate-data': Buffer.from(this.admin.certPem).toString('base64'), 'client-key-data': Buffer.from(this.admin.keyPem).toString('base64') } }],
      contexts: [{ name: 'kubernetes-admin@kna-test', context: { cluster: 'kna-test', user: 'kubernetes-admin' } }],
      'current-context': 'kubernetes-admin@kna-test',
      preferences: {},
    });
  }

  // ---------------------------------------------------------------- bootstrap objects

  private bootstrapObjects(): void {
    for (const ns of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
      if (!this.store.get('namespaces', undefined, ns)) this.store.put('namespaces', { metadata: { ...newMeta(ns), labels: { 'kubernetes.io/metadata.name': ns } }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } });
    }
    const kubeconfig = toYaml({
      apiVersion: 'v1', kind: 'Config',
      clusters: [{ name: '', cluster: { 'certificate-authority-data': Buffer.from(this.ca.certPem).toString('base64'), server: this.url } }],
      contexts: null, 'current-context': '', preferences: {}, users: null,
    });
    const info = this.store.get('configmaps', 'kube-public', 'cluster-info') as Any | undefined;
    if (info?.data?.kubeconfig !== kubeconfig) this.store.put('configmaps', { ...(info ?? { metadata: newMeta('cluster-info', 'kube-public') }), data: { ...(info?.data ?? {}), kubeconfig } });
    const svc = this.store.get('services', 'default', 'kubernetes') as Any | undefined;
    const ports = [{ name: 'https', port: 443, protocol: 'TCP', targetPort: this._port }];
    if (JSON.stringify(svc?.spec?.ports) !== JSON.stringify(ports)) {
      this.store.put('services', {
        metadata: svc?.metadata ?? { ...newMeta('kubernetes', 'default'), labels: { component: 'apiserver', provider: 'kubernetes' } },
        spec: { clusterIP: '10.96.0.1', clusterIPs: ['10.96.0.1'], ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack', internalTrafficPolicy: 'Cluster', ports, sessionAffinity: 'None', type: 'ClusterIP' },
        status: { loadBalancer: {} },
      });
      const slice = this.store.get('endpointslices.discovery.k8s.io', 'default', 'kubernetes');
      this.store.put('endpointslices.discovery.k8s.io', {
        metadata: slice?.metadata ?? { ...newMeta('kubernetes', 'default'), labels: { 'kubernetes.io/service-name': 'kubernetes', 'endpointslice.kubernetes.io/managed-by': 'endpointslicemirroring-controller.k8s.io' } },
        addressType: 'IPv4',
        endpoints: [{ addresses: [this.opts.host === '0.0.0.0' ? '127.0.0.1' : this.opts.host], conditions: { ready: true } }],
        ports: [{ name: 'https', port: this._port, protocol: 'TCP' }],
      });
    }
  }

  // ---------------------------------------------------------------- HTTP

  private fail(res: ServerResponse, err: unknown): void {
    const e = err instanceof HttpError ? err
      : err instanceof SelectorError ? badRequest(err.message)
      : new HttpError(500, 'InternalError', `Internal error occurred: ${err instanceof Error ? err.message : String(err)}`);
    if (res.headersSent) {
      res.end();
      return;
    }
    this.send(res, e.code, e.toStatus());
  }

  private send(res: ServerResponse, code: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-cache, private' });
    res.end(text);
  }

  private async body(req: IncomingMessage): Promise<unknown> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > MAX_BODY) throw new HttpError(413, 'RequestEntityTooLarge', 'Request entity too large');
      chunks.push(c);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    if (text.trim() === '') return undefined;
    try {
      return JSON.parse(text);
    } catch (err) {
      throw badRequest(`the body of the request could not be decoded as JSON: ${(err as Error).message}`);
    }
  }

  private authorize(user: UserInfo, a: Attributes): void {
    if (!this.authorizer.authorize(user, a).allowed) {
      if (a.path !== undefined) throw new HttpError(403, 'Forbidden', `forbidden: User "${user.username}" cannot ${a.verb} path "${a.path}"`, {});
      throw forbidden(user.username, a);
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const user = this.authn.authenticate(req);
    if (!user) throw unauthorized();
    const url = new URL(req.url ?? '/', 'https://localhost');
    const q = url.searchParams;
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const route = this.route(parts);
    if (!route) return this.nonResource(req, res, user, url.pathname, parts);
    const { rt, namespace, name, subresource } = route;
    const method = req.method ?? 'GET';
    const verb = method === 'GET' ? (name ? 'get' : q.get('watch') === 'true' || q.get('watch') === '1' ? 'watch' : 'list')
      : method === 'POST' ? 'create' : method === 'PUT' ? 'update' : method === 'PATCH' ? 'patch'
      : method === 'DELETE' ? (name ? 'delete' : 'deletecollection') : '';
    const allowed = subresource ? rt.subresources[subresource]!.verbs : rt.verbs;
    if (!verb || !allowed.includes(verb) || (verb === 'create' && name && !subresource)) throw methodNotAllowed();
    // For list/watch, a metadata.name field selector narrows the request to one object (as the Node authorizer sees it).
    const selectedName = /(?:^|,)metadata\.name==?([^,]*)/.exec(q.get('fieldSelector') ?? '')?.[1] ?? '';
    this.authorize(user, { verb, apiGroup: rt.group, resource: rt.resource, subresource, namespace, name: name || (verb === 'list' || verb === 'watch' ? selectedName : '') });
    const r: Request = { rt, subresource, user, store: this.store, opts: this.admission };
    switch (verb) {
      case 'get': return this.send(res, 200, withKind(rt, this.mustGet(rt, namespace, name)));
      case 'list': return this.list(res, rt, namespace, q);
      case 'watch': return this.watch(req, res, rt, namespace, q);
      case 'create': return this.create(res, r, namespace, name, (await this.body(req)) as Any | undefined, q);
      case 'update': return this.replace(res, r, namespace, name, (await this.body(req)) as Any | undefined);
      case 'patch': return this.patch(req, res, r, namespace, name);
      case 'delete': return this.delete(res, r, namespace, name, (await this.body(req)) as Any | undefined, q);
      default: throw methodNotAllowed();
    }
  }

  private route(parts: string[]): Route | undefined {
    let group = '';
    let version: string | undefined;
    let rest: string[];
    if (parts[0] === 'api' && parts.length >= 3) {
      version = parts[1];
      rest = parts.slice(2);
    } else if (parts[0] === 'apis' && parts.length >= 4) {
      group = parts[1]!;
      version = parts[2];
      rest = parts.slice(3);
    } else return undefined;
    let namespace = '';
    if (rest[0] === 'namespaces' && rest.length >= 3 && findResource(group, version!, rest[2]!)?.namespaced) {
      namespace = rest[1]!;
      rest = rest.slice(2);
    }
    const rt = findResource(group, version!, rest[0]!);
    const name = rest[1] ?? '';
    const subresource = rest[2] ?? '';
    if (!rt || rest.length > 3 || (subresource && !rt.subresources[subresource]) || (rt.namespaced && name && !namespace) || (!rt.namespaced && namespace)) {
      throw new HttpError(404, 'NotFound', 'the server could not find the requested resource', {});
    }
    return { rt, namespace, name, subresource };
  }

  private nonResource(req: IncomingMessage, res: ServerResponse, user: UserInfo, path: string, parts: string[]): void {
    const verb = (req.method ?? 'GET').toLowerCase();
    this.authorize(user, { verb, apiGroup: '', resource: '', subresource: '', namespace: '', name: '', path });
    if (verb !== 'get') throw methodNotAllowed();
    if (['healthz', 'livez', 'readyz'].includes(parts[0] ?? '') && parts.length === 1) {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('ok');
      return;
    }
    if (path === '/version') return this.send(res, 200, KUBERNETES_VERSION);
    if (path === '/api') return this.send(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `${this.opts.host}:${this._port}` }] });
    if (path === '/apis') return this.send(res, 200, apiGroupList());
    if (parts[0] === 'api' && parts.length === 2 && parts[1] === 'v1') return this.send(res, 200, apiResourceList('', 'v1'));
    if (parts[0] === 'apis' && parts.length === 2 && GROUPS.includes(parts[1]!)) return this.send(res, 200, apiGroup(parts[1]!));
    if (parts[0] === 'apis' && parts.length === 3 && GROUPS.includes(parts[1]!) && parts[2] === 'v1') return this.send(res, 200, apiResourceList(parts[1]!, 'v1'));
    throw new HttpError(404, 'NotFound', 'the server could not find the requested resource', {});
  }

  private mustGet(rt: ResourceType, ns: string, name: string): Obj {
    const o = this.store.get(keyOf(rt), ns || undefined, name);
    if (!o) throw notFound(rt, name);
    return o;
  }

  // ---------------------------------------------------------------- list / watch

  private filter(rt: ResourceType, q: URLSearchParams): (o: Obj) => boolean {
    const labels = parseLabelSelector(q.get('labelSelector') ?? '');
    const fields = parseFieldSelector(q.get('fieldSelector') ?? '');
    const supported = supportedFields(rt);
    for (const f of fields) if (!supported.has(f.field)) throw badRequest(`field label not supported: ${f.field}`);
    const paths = fields.map((f) => ({ ...f, field: rt.fieldPaths?.[f.field] ?? f.field }));
    return (o) => matchLabels(labels, o.metadata.labels) && matchFields(paths, o);
  }

  private list(res: ServerResponse, rt: ResourceType, ns: string, q: URLSearchParams): void {
    const matches = this.filter(rt, q);
    let items = this.store.list(keyOf(rt), ns || undefined).filter(matches);
    const rv = String(this.store.rv);
    const metadata: Record<string, unknown> = { resourceVersion: rv };
    // Pagination: the continue token names where the next page starts.
    const cont = q.get('continue');
    if (cont) {
      let start: string;
      try {
        start = (JSON.parse(Buffer.from(cont, 'base64url').toString('utf8')) as { start: string }).start;
      } catch {
        throw badRequest('continue key is not valid');
      }
      items = items.filter((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}` > start);
    }
    const limit = Number(q.get('limit') ?? 0);
    if (limit > 0 && items.length > limit) {
      const last = items[limit - 1]!;
      metadata.continue = Buffer.from(JSON.stringify({ rv, start: `${last.metadata.namespace ?? ''}/${last.metadata.name}` })).toString('base64url');
      metadata.remainingItemCount = items.length - limit;
      items = items.slice(0, limit);
    }
    this.send(res, 200, { kind: `${rt.kind}List`, apiVersion: apiVersionOf(rt), metadata, items });
  }

  private watch(req: IncomingMessage, res: ServerResponse, rt: ResourceType, ns: string, q: URLSearchParams): void {
    const matches = this.filter(rt, q);
    const rvParam = q.get('resourceVersion') ?? '';
    if (rvParam !== '' && !/^\d+$/.test(rvParam)) throw badRequest(`invalid resource version: ${rvParam}`);
    const initial = q.get('sendInitialEvents') === 'true';
    const from = rvParam === '' || rvParam === '0' || initial ? undefined : Number(rvParam);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    const write = (type: string, object: unknown) => res.write(JSON.stringify({ type, object }) + '\n');
    const bookmark = (annotations?: Record<string, string>) =>
      write('BOOKMARK', { kind: rt.kind, apiVersion: apiVersionOf(rt), metadata: { resourceVersion: String(this.store.rv), ...(annotations ? { annotations } : {}) } });
    let cancel: () => void;
    try {
      cancel = this.store.watch({ key: keyOf(rt), ...(ns ? { namespace: ns } : {}), matches, send: (type, o) => write(type, withKind(rt, o)) }, from);
    } catch (err) {
      if (!(err instanceof ResourceExpiredError)) throw err;
      write('ERROR', expired(err.message).toStatus());
      res.end();
      return;
    }
    const bookmarks = q.get('allowWatchBookmarks') === 'true';
    if (initial && bookmarks) bookmark({ 'k8s.io/initial-events-end': 'true' });
    const timers: NodeJS.Timeout[] = [];
    if (bookmarks) timers.push(setInterval(() => bookmark(), this.opts.bookmarkIntervalMs));
    const timeout = Number(q.get('timeoutSeconds') ?? 0) || 1800;
    this.watches.add(res);
    const done = () => {
      cancel();
      timers.forEach(clearInterval);
      this.watches.delete(res);
    };
    timers.push(setTimeout(() => {
      if (bookmarks) bookmark();
      done();
      res.end();
    }, timeout * 1000));
    req.on('close', done);
    res.on('close', done);
  }

  // ---------------------------------------------------------------- writes

  private create(res: ServerResponse, r: Request, ns: string, name: string, body: Any | undefined, q: URLSearchParams): void {
    const { rt } = r;
    if (!body || typeof body !== 'object') throw badRequest('the request body is empty or not a JSON object');
    if (r.subresource) return this.createSubresource(res, r, ns, name, body);
    if (rt.virtual) return this.review(res, r, body);
    if (body.kind !== undefined && body.kind !== rt.kind) throw badRequest(`the object provided is of kind "${String(body.kind)}", expected "${rt.kind}"`);
    const meta = (body.metadata ?? {}) as Any;
    if (rt.namespaced) {
      if (meta.namespace && meta.namespace !== ns) throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      if (!this.store.get('namespaces', undefined, ns)) throw notFound(findResource('', 'v1', 'namespaces')!, ns);
    }
    const objName: string = meta.name || (meta.generateName ? `${meta.generateName}${randomBytes(4).toString('hex').slice(0, 5)}` : '');
    if (!objName) throw invalid(rt, '', [{ field: 'metadata.name', message: 'Required value: name or generateName is required' }]);
    validateName(rt, objName);
    if (this.store.get(keyOf(rt), ns || undefined, objName)) throw alreadyExists(rt, objName);
    const { kind: _k, apiVersion: _a, ...rest } = body;
    const o = { ...rest, metadata: { ...meta, name: objName, ...(rt.namespaced ? { namespace: ns } : {}), uid: randomUUID(), resourceVersion: '', creationTimestamp: now() } } as Obj;
    delete o.metadata.deletionTimestamp;
    admitCreate(r, o);
    if (q.get('dryRun') === 'All') return this.send(res, 201, withKind(rt, o));
    this.send(res, 201, withKind(rt, this.store.put(keyOf(rt), o)));
  }

  private replace(res: ServerResponse, r: Request, ns: string, name: string, body: Any | undefined): void {
    if (!body || typeof body !== 'object') throw badRequest('the request body is empty or not a JSON object');
    if (body.metadata?.name !== undefined && body.metadata.name !== name) throw badRequest(`the name of the object (${String(body.metadata.name)}) does not match the name on the URL (${name})`);
    const old = this.mustGet(r.rt, ns, name);
    const { kind: _k, apiVersion: _a, ...next } = body;
    this.send(res, 200, withKind(r.rt, this.update(r, old, { ...next, metadata: { ...(next.metadata ?? {}), name } } as Obj)));
  }

  private async patch(req: IncomingMessage, res: ServerResponse, r: Request, ns: string, name: string): Promise<void> {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
    const patch = await this.body(req);
    const old = this.mustGet(r.rt, ns, name);
    let next: unknown;
    try {
      switch (type) {
        case 'application/merge-patch+json': next = mergePatch(old, patch); break;
        case 'application/strategic-merge-patch+json': next = strategicMergePatch(old, patch, r.rt.kind); break;
        case 'application/json-patch+json': next = jsonPatch(old, patch); break;
        default: throw unsupportedMediaType(type || 'none');
      }
    } catch (err) {
      if (err instanceof PatchError) throw new HttpError(422, 'Invalid', `${r.rt.kind} "${name}" is invalid: ${err.message}`);
      throw err;
    }
    const n = next as Any;
    if (n?.metadata?.name !== name || (r.rt.namespaced && n.metadata.namespace !== ns)) throw badRequest('a patch may not change metadata.name or metadata.namespace');
    if (n.metadata.uid !== old.metadata.uid) throw conflict(r.rt, name, `Precondition failed: UID in precondition: ${String(n.metadata.uid)}, UID in object meta: ${old.metadata.uid}`);
    const { kind: _k, apiVersion: _a, ...rest } = n;
    this.send(res, 200, withKind(r.rt, this.update(r, old, rest as Obj)));
  }

  /** Optimistic concurrency, admission, no-op detection, finalizer completion. */
  private update(r: Request, old: Obj, next: Obj): Obj {
    const rv = next.metadata.resourceVersion;
    if (rv !== undefined && rv !== '' && rv !== old.metadata.resourceVersion) throw conflict(r.rt, old.metadata.name);
    const out = admitUpdate(r, old, next);
    out.metadata.resourceVersion = old.metadata.resourceVersion;
    if (JSON.stringify(out) === JSON.stringify(old)) return old;
    const m = out.metadata as Any["metadata"];
    if (m.deletionTimestamp && !(m.finalizers?.length) && r.rt.resource !== 'pods') return this.store.remove(keyOf(r.rt), m.namespace, m.name)!;
    return this.store.put(keyOf(r.rt), out);
  }

  private delete(res: ServerResponse, r: Request, ns: string, name: string, body: Any | undefined, q: URLSearchParams): void {
    const { rt } = r;
    const old = this.mustGet(rt, ns, name) as Any;
    nodeRestriction(r, 'delete', old, undefined);
    const pre = body?.preconditions ?? {};
    if (pre.uid && pre.uid !== old.metadata.uid) throw conflict(rt, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${old.metadata.uid}`);
    if (pre.resourceVersion && pre.resourceVersion !== old.metadata.resourceVersion) throw conflict(rt, name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${old.metadata.resourceVersion}`);
    const key = keyOf(rt);
    const requested = body?.gracePeriodSeconds ?? (q.has('gracePeriodSeconds') ? Number(q.get('gracePeriodSeconds')) : undefined);
    if (rt.resource === 'pods') {
      // Graceful deletion: a pod on a node gets a deletionTimestamp and the kubelet
      // finishes with a grace-0 delete; unscheduled or finished pods go at once.
      let grace: number = requested ?? old.spec?.terminationGracePeriodSeconds ?? 30;
      if (!old.spec?.nodeName || ['Succeeded', 'Failed'].includes(old.status?.phase)) grace = 0;
      if (grace > 0 || old.metadata.finalizers?.length) {
        const current = old.metadata.deletionGracePeriodSeconds as number | undefined;
        if (old.metadata.deletionTimestamp && current !== undefined && current <= grace) return this.send(res, 200, withKind(rt, old));
        old.metadata.deletionTimestamp = new Date(Date.now() + grace * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
        old.metadata.deletionGracePeriodSeconds = grace;
        return this.send(res, 200, withKind(rt, this.store.put(key, old)));
      }
      return this.send(res, 200, withKind(rt, this.store.remove(key, ns, name)!));
    }
    if (old.metadata.finalizers?.length) {
      if (!old.metadata.deletionTimestamp) {
        old.metadata.deletionTimestamp = now();
        old.metadata.deletionGracePeriodSeconds = 0;
        return this.send(res, 200, withKind(rt, this.store.put(key, old)));
      }
      return this.send(res, 200, withKind(rt, old));
    }
    if (rt.resource === 'namespaces') {
      // Simplified namespace lifecycle: everything in it goes at once.
      for (const other of ['pods', 'configmaps', 'secrets', 'services', 'endpoints', 'events', 'serviceaccounts', 'leases.coordination.k8s.io', 'endpointslices.discovery.k8s.io']) {
        for (const o of this.store.list(other, name)) this.store.remove(other, name, o.metadata.name);
      }
    }
    const gone = this.store.remove(key, ns || undefined, name)!;
    this.send(res, 200, successStatus(rt, name, gone.metadata.uid));
  }

  // ---------------------------------------------------------------- subresources and reviews

  private createSubresource(res: ServerResponse, r: Request, ns: string, name: string, body: Any): void {
    const { rt, subresource } = r;
    if (rt.resource === 'serviceaccounts' && subresource === 'token') return this.tokenRequest(res, r, ns, name, body);
    const pod = this.mustGet(rt, ns, name) as Any;
    if (subresource === 'binding') {
      const target = body.target?.name;
      if (!target) throw invalid(rt, name, [{ field: 'target.name', message: 'Required value' }]);
      if (pod.spec?.nodeName) throw conflict(rt, name, `pod ${name} is already assigned to node "${pod.spec.nodeName}"`);
      pod.spec.nodeName = target;
      this.store.put(keyOf(rt), pod);
      return this.send(res, 201, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 });
    }
    if (subresource === 'eviction') {
      const grace = body.deleteOptions?.gracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
      if (!pod.spec?.nodeName || grace === 0) this.store.remove(keyOf(rt), ns, name);
      else if (!pod.metadata.deletionTimestamp) {
        pod.metadata.deletionTimestamp = new Date(Date.now() + grace * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
        pod.metadata.deletionGracePeriodSeconds = grace;
        this.store.put(keyOf(rt), pod);
      }
      return this.send(res, 201, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 });
    }
    throw methodNotAllowed();
  }

  private tokenRequest(res: ServerResponse, r: Request, ns: string, name: string, body: Any): void {
    const saType = findResource('', 'v1', 'serviceaccounts')!;
    const sa = this.mustGet(saType, ns, name);
    const spec = body.spec ?? {};
    const requested: number = spec.expirationSeconds ?? 3600;
    if (requested < this.opts.minTokenExpirationSeconds) throw invalid(saType, name, [{ field: 'spec.expirationSeconds', message: `Invalid value: ${requested}: may not specify a duration less than ${this.opts.minTokenExpirationSeconds} seconds` }]);
    const expirationSeconds = Math.min(requested, this.opts.maxTokenExpirationSeconds);
    const audiences: string[] = spec.audiences?.length ? spec.audiences : ['https://kubernetes.default.svc.cluster.local'];
    let boundPod: { name: string; uid: string } | undefined;
    const ref = spec.boundObjectRef;
    if (ref) {
      if (ref.kind !== 'Pod') throw invalid(saType, name, [{ field: 'spec.boundObjectRef.kind', message: `Unsupported value: "${String(ref.kind)}"` }]);
      const pod = this.store.get('pods', ns, ref.name) as Any | undefined;
      if (!pod) throw notFound(findResource('', 'v1', 'pods')!, ref.name);
      if (ref.uid && ref.uid !== pod.metadata.uid) throw conflict(findResource('', 'v1', 'pods')!, ref.name, `the UID in the bound object reference (${ref.uid}) does not match the UID in record. The object might have been deleted and then recreated`);
      boundPod = { name: pod.metadata.name, uid: pod.metadata.uid };
      const node = nodeNameOf(r.user);
      if (node && pod.spec?.nodeName !== node) throw forbidden(r.user.username, { verb: 'create', apiGroup: '', resource: 'serviceaccounts', subresource: 'token', namespace: ns, name }, `node "${node}" can only get tokens for pods bound to itself`);
    } else if (nodeNameOf(r.user)) {
      throw forbidden(r.user.username, { verb: 'create', apiGroup: '', resource: 'serviceaccounts', subresource: 'token', namespace: ns, name }, 'node requested token not bound to a pod');
    }
    const { token, expiration } = this.authn.issueServiceAccountToken({ namespace: ns, name, uid: sa.metadata.uid, audiences, expirationSeconds, ...(boundPod ? { boundPod } : {}) });
    this.send(res, 201, {
      kind: 'TokenRequest', apiVersion: 'authentication.k8s.io/v1',
      metadata: { name, namespace: ns, creationTimestamp: now() },
      spec: { audiences, expirationSeconds, boundObjectRef: ref ?? null },
      status: { token, expirationTimestamp: expiration.toISOString().replace(/\.\d+Z$/, 'Z') },
    });
  }

  private review(res: ServerResponse, r: Request, body: Any): void {
    const { rt } = r;
    const spec = body.spec ?? {};
    const reply = (status: unknown) => this.send(res, 201, { kind: rt.kind, apiVersion: apiVersionOf(rt), metadata: { creationTimestamp: null }, spec, status });
    switch (rt.resource) {
      case 'tokenreviews': {
        const got = typeof spec.token === 'string' ? this.authn.authenticateToken(spec.token, spec.audiences) : undefined;
        return reply(got
          ? { authenticated: true, user: { username: got.user.username, ...(got.user.uid ? { uid: got.user.uid } : {}), groups: got.user.groups, ...(got.user.extra ? { extra: got.user.extra } : {}) }, audiences: got.audiences ?? spec.audiences ?? [] }
          : { user: {}, error: 'invalid bearer token' });
      }
      case 'selfsubjectreviews':
        return reply({ userInfo: { username: r.user.username, groups: r.user.groups, ...(r.user.uid ? { uid: r.user.uid } : {}) } });
      case 'subjectaccessreviews':
      case 'selfsubjectaccessreviews': {
        const who: UserInfo = rt.resource === 'selfsubjectaccessreviews' ? r.user : { username: spec.user ?? '', groups: spec.groups ?? [], ...(spec.uid ? { uid: spec.uid } : {}), ...(spec.extra ? { extra: spec.extra } : {}) };
        const ra = spec.resourceAttributes;
        const na = spec.nonResourceAttributes;
        if (!ra && !na) throw invalid(rt, '', [{ field: 'spec.resourceAttributes', message: 'Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified' }]);
        const attrs: Attributes = ra
          ? { verb: ra.verb ?? '', apiGroup: ra.group ?? '', resource: ra.resource ?? '', subresource: ra.subresource ?? '', namespace: ra.namespace ?? '', name: ra.name ?? '' }
          : { verb: na.verb ?? '', apiGroup: '', resource: '', subresource: '', namespace: '', name: '', path: na.path ?? '' };
        const d = this.authorizer.authorize(who, attrs);
        return reply({ allowed: d.allowed, ...(d.reason ? { reason: d.reason } : {}) });
      }
    }
    throw methodNotAllowed();
  }
}
