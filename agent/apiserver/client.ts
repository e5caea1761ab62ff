// A small REST client for the kube-apiserver over node:https: mTLS or bearer
// token, JSON bodies, the three patch types, typed errors, and watch streams
// (newline-delimited JSON events).
import { Agent, request } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { ApiConnectionError, ApiError } from './errors.js';
import type { ClusterAccess } from './kubeconfig.js';

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [k: string]: unknown;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [k: string]: unknown;
}

export interface ObjectList<T> {
  metadata: { resourceVersion: string; continue?: string };
  items: T[];
}

export type WatchEvent<T = KubeObject> =
  | { type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK'; object: T }
  | { type: 'ERROR'; object: { code?: number; reason?: string; message?: string } };

export type PatchType = 'merge' | 'strategic' | 'json';
const PATCH_CONTENT_TYPE: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  json: 'application/json-patch+json',
};

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
  /** per request; watches have none */
  timeoutMs?: number;
}

/** URL path of a resource: ("", "v1", "pods", "ns", "name", "status") → /api/v1/namespaces/ns/pods/name/status */
export function resourcePath(r: { group?: string; version?: string; resource: string; namespace?: string; name?: string; subresource?: string }): string {
  const base = r.group ? `/apis/${r.group}/${r.version ?? 'v1'}` : `/api/${r.version ?? 'v1'}`;
  const ns = r.namespace ? `/namespaces/${encodeURIComponent(r.namespace)}` : '';
  const name = r.name ? `/${encodeURIComponent(r.name)}` : '';
  const sub = r.subresource && r.name ? `/${r.subresource}` : '';
  return `${base}${ns}/${r.resource}${name}${sub}`;
}

function withQuery(path: string, q: Query | undefined): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(q ?? {})) if (v !== undefined && v !== '') params.set(k, String(v));
  const s = params.toString();
  return s ? `${path}?${s}` : path;
}

export class ApiClient {
  private agent: Agent;
  private url: URL;

  constructor(
    private access: ClusterAccess,
    private readonly opts: { userAgent?: string; timeoutMs?: number } = {},
  ) {
    this.url = new URL(access.server);
    this.agent = this.makeAgent(access);
  }

  get server(): string {
    return this.access.server;
  }

  get credentials(): ClusterAccess {
    return this.access;
  }

  private makeAgent(a: ClusterAccess): Agent {
    return new Agent({
      keepAlive: true,
      ...(a.caPem ? { ca: a.caPem } : {}),
      ...(a.certPem && a.keyPem ? { cert: a.certPem, key: a.keyPem } : {}),
      rejectUnauthorized: !a.insecureSkipTLSVerify,
    });
  }

  /**
   * New credentials (a rotated certificate). Open connections are closed so every
   * request, watches included, re-authenticates with them, as kubelet does.
   */
  setAccess(a: ClusterAccess): void {
    const old = this.agent;
    this.access = a;
    this.url = new URL(a.server);
    this.agent = this.makeAgent(a);
    old.destroy();
  }

  close(): void {
    this.agent.destroy();
  }

  private open(method: string, path: string, o: RequestOptions): Promise<IncomingMessage> {
    const headers: Record<string, string> = { Accept: 'application/json', 'User-Agent': this.opts.userAgent ?? 'kna' };
    if (this.access.token) headers.Authorization = `Bearer ${this.access.token}`;
    let payload: Buffer | undefined;
    if (o.body !== undefined) {
      payload = Buffer.from(JSON.stringify(o.body));
      headers['Content-Type'] = o.contentType ?? 'application/json';
      headers['Content-Length'] = String(payload.length);
    }
    const fullPath = withQuery(path, o.query);
    return new Promise((resolve, reject) => {
      const req = request({
        host: this.url.hostname.replace(/^\[|\]$/g, ''),
        port: this.url.port || 443,
        path: fullPath,
        method,
        headers,
        agent: this.agent,
        ...(o.signal ? { signal: o.signal } : {}),
      });
      const timeout = o.timeoutMs ?? this.opts.timeoutMs;
      if (timeout) req.setTimeout(timeout, () => req.destroy(Object.assign(new Error(`no answer within ${timeout} ms`), { code: 'ETIMEDOUT' })));
      req.on('response', resolve);
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.name === 'AbortError') return reject(err);
        reject(new ApiConnectionError(this.access.server, err.code ?? 'UNKNOWN', err.message));
      });
      req.end(payload);
    });
  }

  private async readAll(res: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const c of res as AsyncIterable<Buffer>) chunks.push(c);
    return Buffer.concat(chunks).toString('utf8');
  }

  private toError(method: string, path: string, code: number, text: string): ApiError {
    let reason = '';
    let message = text.trim();
    try {
      const s = JSON.parse(text) as { kind?: string; reason?: string; message?: string };
      if (s.kind === 'Status') {
        reason = s.reason ?? '';
        message = s.message ?? message;
      }
    } catch {
      // not a Status: keep the text
    }
    return new ApiError(method, path, code, reason || defaultReason(code), message);
  }

  async request<T>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    const res = await this.open(method, path, { timeoutMs: 30_000, ...o });
    let text: string;
    try {
      text = await this.readAll(res);
    } catch (err) {
      throw new ApiConnectionError(this.access.server, (err as NodeJS.ErrnoException).code ?? 'ECONNRESET', (err as Error).message);
    }
    const code = res.statusCode ?? 0;
    if (code < 200 || code > 299) throw this.toError(method, path, code, text);
    if ((res.headers['content-type'] ?? '').startsWith('application/json')) return JSON.parse(text) as T;
    return text as T;
  }

  get<T = KubeObject>(path: string, query?: Query): Promise<T> {
    return this.request<T>('GET', path, { ...(query ? { query } : {}) });
  }

  list<T = KubeObject>(path: string, query?: Query): Promise<ObjectList<T>> {
    return this.request<ObjectList<T>>('GET', path, { ...(query ? { query } : {}) });
  }

  create<T = KubeObject>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, { body });
  }

  update<T = KubeObject>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PUT', path, { body });
  }

  patch<T = KubeObject>(path: string, body: unknown, type: PatchType = 'strategic'): Promise<T> {
    return this.request<T>('PATCH', path, { body, contentType: PATCH_CONTENT_TYPE[type] });
  }

  delete<T = KubeObject>(path: string, options?: { gracePeriodSeconds?: number; preconditions?: { uid?: string; resourceVersion?: string } }): Promise<T> {
    return this.request<T>('DELETE', path, options ? { body: { kind: 'DeleteOptions', apiVersion: 'v1', ...options } } : {});
  }

  /**
   * Opens a watch and yields its events until the server ends it (timeoutSeconds)
   * or `signal` aborts. An HTTP error before the stream starts throws ApiError;
   * a broken stream throws ApiConnectionError. ERROR events are yielded as they come.
   */
  async *watch<T = KubeObject>(path: string, query: Query, signal?: AbortSignal): AsyncGenerator<WatchEvent<T>> {
    const res = await this.open('GET', path, { query: { ...query, watch: 'true' }, ...(signal ? { signal } : {}) });
    if (res.statusCode !== 200) throw this.toError('GET', path, res.statusCode ?? 0, await this.readAll(res));
    let buf = '';
    try {
      for await (const chunk of res as AsyncIterable<Buffer>) {
        buf += chunk.toString('utf8');
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line) yield JSON.parse(line) as WatchEvent<T>;
        }
      }
    } catch (err) {
      if ((err as Error).name === 'AbortError' || signal?.aborted) return;
      throw new ApiConnectionError(this.access.server, (err as NodeJS.ErrnoException).code ?? 'ECONNRESET', `watch ${path}: ${(err as Error).message}`);
    } finally {
      res.destroy();
    }
    if (buf.trim()) yield JSON.parse(buf) as WatchEvent<T>;
  }
}

function defaultReason(code: number): string {
  return ({ 400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 405: 'MethodNotAllowed', 409: 'Conflict', 410: 'Gone', 415: 'UnsupportedMediaType', 422: 'Invalid', 429: 'TooManyRequests', 500: 'InternalError', 503: 'ServiceUnavailable', 504: 'Timeout' } as Record<number, string>)[code] ?? 'Unknown';
}
