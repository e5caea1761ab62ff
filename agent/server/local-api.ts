// The agent's local API: HTTP over a root-only unix socket under the root dir, used by
// `kna get/logs/exec/port-forward`. Paths follow the kubelet API (/pods, /containerLogs/NS/POD/C)
// so the kubelet HTTPS API (kubelet-api.ts) serves the same handlers.
import { chmod, mkdir, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { dirname } from 'node:path';
import { errorMessage } from '../util/errors.js';

/** What the pod part offers to API handlers. */
export interface NodeApi {
  /** v1 Pod objects with status, as kubelet's /pods returns them. */
  listPods(): unknown[];
  /** Streams a container's log; rejects with NotFoundError when there is no such pod/container. */
  containerLogs(ns: string, pod: string, container: string | undefined, opts: LogQuery, write: (s: string) => void, signal: AbortSignal): Promise<void>;
  /** A CRI streaming URL (SPDY or WebSocket, v4.channel.k8s.io) for an exec in the container. */
  execUrl(ns: string, pod: string, container: string | undefined, cmd: string[], opts: { stdin: boolean; tty: boolean }): Promise<string>;
  /** A CRI streaming URL for port-forwarding into the pod's network namespace. */
  portForwardUrl(ns: string, pod: string, ports: number[]): Promise<string>;
}

/** What other parts offer: the proxy explains a Service's rules. */
export interface ExtraApi {
  explainService?(ns: string, name: string): string | undefined;
}

export interface LogQuery {
  follow: boolean;
  previous: boolean;
  tail?: number;
  /** sinceSeconds / sinceTime */
  since?: Date;
  timestamps: boolean;
}

export class NotFoundError extends Error {
  override name = 'NotFoundError';
}

export function localSocketPath(rootDir: string): string {
  return `${rootDir}/kna.sock`;
}

const bool = (v: string | null) => v === 'true' || v === '1';

export async function handleNodeApi(api: NodeApi, extra: ExtraApi, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://local');
  const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const q = url.searchParams;
  try {
    if (req.method === 'GET' && url.pathname === '/pods') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: {}, items: api.listPods() }));
      return;
    }
    if (req.method === 'GET' && parts[0] === 'containerLogs' && (parts.length === 3 || parts.length === 4)) {
      const ac = new AbortController();
      res.on('close', () => ac.abort());
      const tail = q.get('tailLines');
      const since = logSince(q);
      const opts: LogQuery = { follow: bool(q.get('follow')), previous: bool(q.get('previous')), timestamps: bool(q.get('timestamps')), ...(tail ? { tail: Number(tail) } : {}), ...(since ? { since } : {}) };
      let started = false;
      await api.containerLogs(parts[1]!, parts[2]!, parts[3], opts, (s) => {
        if (!started) { res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }); started = true; }
        res.write(s);
      }, ac.signal);
      if (!started) res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end();
      return;
    }
    if (req.method === 'POST' && parts[0] === 'exec' && (parts.length === 3 || parts.length === 4)) {
      const cmd = q.getAll('command');
      if (cmd.length === 0) throw new BadRequest('command is required');
      const target = await api.execUrl(parts[1]!, parts[2]!, parts[3], cmd, { stdin: bool(q.get('stdin')), tty: bool(q.get('tty')) });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ url: target }));
      return;
    }
    if (req.method === 'POST' && parts[0] === 'portForward' && parts.length === 3) {
      const ports = q.getAll('port').map(Number);
      if (ports.length === 0 || ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) throw new BadRequest('port: one or more ports from 1 to 65535 are required');
      const target = await api.portForwardUrl(parts[1]!, parts[2]!, ports);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ url: target }));
      return;
    }
    if (req.method === 'GET' && parts[0] === 'explain' && parts[1] === 'service' && parts.length === 4) {
      if (!extra.explainService) throw new NotFoundError('the Service proxy is not running (--proxy-mode none)');
      const text = extra.explainService(parts[2]!, parts[3]!);
      if (text === undefined) throw new NotFoundError(`service "${parts[3]}" not found in namespace "${parts[2]}"`);
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(text.endsWith('\n') ? text : text + '\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end(`no such path: ${url.pathname}\n`);
  } catch (err) {
    const code = err instanceof NotFoundError ? 404 : err instanceof BadRequest ? 400 : 500;
    if (!res.headersSent) res.writeHead(code, { 'content-type': 'text/plain' });
    res.end(errorMessage(err) + '\n');
  }
}

class BadRequest extends Error {}

/** sinceSeconds (relative) or sinceTime (RFC 3339), as kubelet's log options take them. */
export function logSince(q: URLSearchParams, now = Date.now()): Date | undefined {
  const secs = q.get('sinceSeconds');
  const time = q.get('sinceTime');
  if (secs !== null) {
    const n = Number(secs);
    if (!Number.isInteger(n) || n < 1) throw new BadRequest(`sinceSeconds must be a positive integer (got "${secs}")`);
    return new Date(now - n * 1000);
  }
  if (time !== null) {
    const t = Date.parse(time);
    if (Number.isNaN(t)) throw new BadRequest(`sinceTime must be an RFC 3339 time (got "${time}")`);
    return new Date(t);
  }
  return undefined;
}

/** Listens on the unix socket with mode 0600 in a 0700 directory. */
export async function serveLocalApi(api: NodeApi, rootDir: string, extra: ExtraApi = {}): Promise<Server> {
  const path = localSocketPath(rootDir);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await chmod(dirname(path), 0o700);
  await rm(path, { force: true });
  const server = createServer((req, res) => void handleNodeApi(api, extra, req, res));
  const old = process.umask(0o177); // the socket is created 0600, never briefly wider
  try {
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(path, () => resolve()));
  } finally {
    process.umask(old);
  }
  return server;
}
