// The kubelet HTTPS API (:10250) for a node in a cluster: the API server (kubectl
// logs/exec/port-forward, metrics-server, Prometheus) calls it with a client
// certificate or a bearer token. Every request is authenticated and authorized
// (kubelet-auth.ts) before it reaches a handler. Plain requests share the local
// API's handlers (and /runningPods, the runtime's view); exec/attach/portForward upgrades (WebSocket or SPDY) are proxied
// to the container runtime's streaming server, which speaks those protocols itself.
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { errorMessage } from '../util/errors.js';
import { forbiddenMessage, nodeAttributes, type KubeletAuth, type KubeletUser } from './kubelet-auth.js';
import { handleNodeApi, NotFoundError, type NodeApi } from './local-api.js';
import type { KeyPair } from './serving-cert.js';
import { resourceMetrics, type Summary } from './stats.js';

/** The streaming side of the pod part (PodManager). */
export interface StreamingApi extends NodeApi {
  attachUrl(ns: string, pod: string, container: string | undefined, opts: { stdin: boolean; tty: boolean }): Promise<string>;
  portForwardUrl(ns: string, pod: string, ports: number[]): Promise<string>;
  /** /runningPods: a PodList of what the runtime runs */
  runningPods(): unknown;
}

export interface KubeletApiOptions {
  host: string;
  port: number;
  nodeName: string;
  pods: StreamingApi;
  auth: KubeletAuth;
  /** the cluster CA: client certificates are verified against it */
  caPem: string;
  /** the serving certificate now; `onCertificate` swaps in later ones */
  certificate: KeyPair;
  onCertificate?: (listen: (p: KeyPair) => void) => void;
  stats: () => Promise<Summary>;
  registry: Registry;
  healthz: () => { healthy: boolean; message: string };
  log: Logger;
}

class HttpError extends Error {
  constructor(readonly code: number, message: string) { super(message); }
}

const flag = (q: URLSearchParams, ...names: string[]) => names.some((n) => ['1', 'true'].includes(q.get(n) ?? ''));

/** Ports of a port-forward: WebSocket clients name them in the query; SPDY clients per stream, later. */
function parsePorts(q: URLSearchParams, required: boolean): number[] {
  const raw = [...q.getAll('port'), ...q.getAll('ports')].flatMap((p) => p.split(','));
  const ports = raw.map((p) => Number(p));
  if ((required && !ports.length) || ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) throw new HttpError(400, `port-forward: query parameter "port" must name ports 1-65535 (got "${raw.join(',')}")`);
  return ports;
}

export class KubeletApiServer {
  private readonly server: Server;
  private readonly streams = new Set<Socket>();

  private constructor(private readonly o: KubeletApiOptions) {
    const tls = (p: KeyPair) => ({ cert: p.certPem, key: p.keyPem, ca: o.caPem, requestCert: true, rejectUnauthorized: false });
    this.server = createServer(tls(o.certificate), (req, res) => void this.handle(req, res));
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => void this.upgrade(req, socket, head));
    this.server.on('tlsClientError', () => undefined); // scanners and aborted handshakes are not our problem
    o.onCertificate?.((p) => this.server.setSecureContext(tls(p)));
  }

  static async start(o: KubeletApiOptions): Promise<KubeletApiServer> {
    const s = new KubeletApiServer(o);
    await new Promise<void>((resolve, reject) => s.server.once('error', reject).listen(o.port, o.host, () => resolve()));
    return s;
  }

  get port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  async close(): Promise<void> {
    for (const s of this.streams) s.destroy();
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  /** 401/403 as kubelet answers them, or the user. */
  private async admit(req: IncomingMessage, path: string): Promise<KubeletUser> {
    let user: KubeletUser | undefined;
    try {
      user = await this.o.auth.authenticate(req);
    } catch (err) {
      this.o.log.warn({ err: errorMessage(err) }, 'kubelet API: TokenReview failed');
      throw new HttpError(401, 'Unauthorized');
    }
    if (!user) throw new HttpError(401, 'Unauthorized');
    const attrs = nodeAttributes(req.method ?? 'GET', path, this.o.nodeName);
    let allowed = false;
    try {
      allowed = (await this.o.auth.authorize(user, attrs)).allowed;
    } catch (err) {
      this.o.log.warn({ err: errorMessage(err) }, 'kubelet API: SubjectAccessReview failed');
      throw new HttpError(500, `Authorization error (user=${user.username}, verb=${attrs.verb}, resource=${attrs.resource}, subresource=${attrs.subresource})`);
    }
    if (!allowed) throw new HttpError(403, forbiddenMessage(user, attrs));
    return user;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://kubelet');
    const path = url.pathname;
    try {
      await this.admit(req, path);
      const first = path.split('/')[1];
      if (req.method === 'GET' && path === '/healthz') {
        const h = this.o.healthz();
        res.writeHead(h.healthy ? 200 : 500, { 'content-type': 'text/plain; charset=utf-8' }).end(h.healthy ? 'ok' : `[-]pods failed: ${h.message}\n`);
      } else if (req.method === 'GET' && (path === '/pods' || first === 'containerLogs')) {
        await handleNodeApi(this.o.pods, {}, req, res);
      } else if (req.method === 'GET' && path === '/runningPods') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(this.o.pods.runningPods()));
      } else if (req.method === 'GET' && path === '/stats/summary') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(await this.o.stats()));
      } else if (req.method === 'GET' && path === '/metrics') {
        res.writeHead(200, { 'content-type': this.o.registry.contentType }).end(await this.o.registry.metrics());
      } else if (req.method === 'GET' && path === '/metrics/resource') {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(resourceMetrics(await this.o.stats()));
      } else if (first === 'exec' || first === 'attach' || first === 'portForward') {
        throw new HttpError(400, `${first}: an upgrade to a streaming protocol (WebSocket or SPDY/3.1) is required`);
      } else {
        throw new HttpError(404, `404 page not found`);
      }
    } catch (err) {
      const code = err instanceof HttpError ? err.code : err instanceof NotFoundError ? 404 : 500;
      if (code === 500) this.o.log.warn({ path, err: errorMessage(err) }, 'kubelet API request failed');
      if (!res.headersSent) res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(err instanceof HttpError ? err.message : errorMessage(err));
    }
  }

  /** The runtime streaming URL a WebSocket request is for. */
  private async streamingUrl(url: URL, websocket: boolean): Promise<string> {
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const q = url.searchParams;
    const [kind, ns, pod, container] = parts;
    if (!ns || !pod) throw new HttpError(400, `${kind}: the path must be /${kind}/NAMESPACE/POD${kind === 'portForward' ? '' : '/CONTAINER'}`);
    const stdin = flag(q, 'stdin', 'input');
    const tty = flag(q, 'tty');
    if (kind === 'exec') {
      const cmd = q.getAll('command');
      if (!cmd.length) throw new HttpError(400, 'exec: query parameter "command" is required');
      return this.o.pods.execUrl(ns, pod, container, cmd, { stdin, tty });
    }
    if (kind === 'attach') return this.o.pods.attachUrl(ns, pod, container, { stdin, tty });
    const ports = parsePorts(q, websocket);
    const base = await this.o.pods.portForwardUrl(ns, pod, ports);
    // The runtime's WebSocket port-forward reads the ports from the query, as kubelet's does.
    const target = new URL(base);
    for (const p of ports) target.searchParams.append('port', String(p));
    return target.toString();
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://kubelet');
    const kind = url.pathname.split('/')[1] ?? '';
    const refuse = (code: number, text: string) => {
      const reason = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found' }[code] ?? 'Internal Server Error';
      socket.end(`HTTP/1.1 ${code} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`);
    };
    socket.on('error', () => undefined);
    try {
      if (!['exec', 'attach', 'portForward'].includes(kind)) throw new HttpError(404, `404 page not found`);
      await this.admit(req, url.pathname);
      await this.relay(req, socket, head, new URL(await this.streamingUrl(url, /^websocket$/i.test(String(req.headers.upgrade)))));
    } catch (err) {
      const code = err instanceof HttpError ? err.code : err instanceof NotFoundError ? 404 : 500;
      if (code === 500) this.o.log.warn({ path: url.pathname, err: errorMessage(err) }, 'kubelet API stream failed');
      refuse(code, err instanceof HttpError ? err.message : errorMessage(err));
    }
  }

  /**
   * Proxies the upgrade byte for byte to the runtime's streaming server, as kubelet's
   * upgrade-aware proxy does: the runtime answers the handshake itself, so WebSocket
   * (v4/v5.channel.k8s.io) and SPDY/3.1 both work and the subprotocol is its choice.
   */
  private async relay(req: IncomingMessage, socket: Duplex, head: Buffer, target: URL): Promise<void> {
    const upstream = connect(Number(target.port || 80), target.hostname);
    await new Promise<void>((resolve, reject) => {
      upstream.once('connect', resolve);
      upstream.once('error', (err) => reject(new Error(`runtime streaming server ${target.host}: ${err.message}`)));
    });
    const lines = [`${req.method ?? 'GET'} ${target.pathname}${target.search} HTTP/1.1`, `Host: ${target.host}`];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i]!;
      // The caller's credentials are for us, not for the runtime.
      if (!/^(host|authorization|content-length)$/i.test(name)) lines.push(`${name}: ${req.rawHeaders[i + 1]!}`);
    }
    upstream.write(lines.join('\r\n') + '\r\n\r\n');
    if (head.length) upstream.write(head);
    this.streams.add(upstream);
    const done = () => {
      this.streams.delete(upstream);
      upstream.destroy();
      socket.destroy();
    };
    upstream.on('error', done).on('close', done);
    socket.on('error', done).on('close', done);
    socket.pipe(upstream);
    upstream.pipe(socket);
  }
}
