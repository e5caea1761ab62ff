// HTTP GET probe (also used by lifecycle hooks), with kubelet's rules: success on
// 200..399, redirects followed only to the same host (up to 10), body read up to
// 10 KiB, no certificate verification for HTTPS, a fresh connection per probe.
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { resolveHost, resolvePort, joinHostPort } from './target.js';
import { MAX_OUTPUT_BYTES, ProbeSpecError, type ContainerPortLike, type HTTPGetAction, type ProbeOutcome } from './types.js';

/** kubelet identifies its probes with its minor version; we mirror the one we track. */
export const PROBE_USER_AGENT = 'kube-probe/1.31';
export const LIFECYCLE_USER_AGENT = 'kube-lifecycle/1.31';
const MAX_REDIRECTS = 10;

export interface HttpGetOptions {
  podIP?: string | undefined;
  container: { ports?: ContainerPortLike[] };
  userAgent: string;
  /** Aborts the whole exchange (the probe's timeoutSeconds). */
  signal: AbortSignal;
}

export interface HttpResponse { status: number; location: string | undefined; body: string }

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Request URL and headers for an httpGet action (kubelet's defaults for User-Agent and Accept). Pure. */
export function buildHttpRequest(action: HTTPGetAction, opts: Omit<HttpGetOptions, 'signal'>): { url: URL; headers: Record<string, string | string[]> } {
  const scheme = (action.scheme || 'HTTP').toUpperCase();
  if (scheme !== 'HTTP' && scheme !== 'HTTPS') throw new ProbeSpecError(`httpGet.scheme must be HTTP or HTTPS, got ${JSON.stringify(action.scheme)}`);
  const host = resolveHost(action.host, opts.podIP, 'httpGet');
  const port = resolvePort(action.port, opts.container, 'httpGet');
  let path = action.path ?? '';
  if (!path.startsWith('/')) path = '/' + path;
  const url = new URL(`${scheme.toLowerCase()}://${joinHostPort(host, port)}${path}`);

  const headers: Record<string, string | string[]> = {};
  const names = new Map<string, string>(); // lower-case -> first spelling
  for (const h of action.httpHeaders ?? []) {
    if (!TOKEN.test(h.name)) throw new ProbeSpecError(`httpGet.httpHeaders: invalid header name ${JSON.stringify(h.name)}`);
    if (/[\r\n\0]/.test(h.value)) throw new ProbeSpecError(`httpGet.httpHeaders: invalid value for ${h.name}`);
    const key = names.get(h.name.toLowerCase()) ?? h.name;
    names.set(h.name.toLowerCase(), key);
    const prev = headers[key];
    headers[key] = prev === undefined ? h.value : ([] as string[]).concat(prev, h.value);
  }
  if (!names.has('user-agent')) headers['User-Agent'] = opts.userAgent;
  const accept = names.get('accept');
  if (accept === undefined) headers['Accept'] = '*/*';
  else if (headers[accept] === '') delete headers[accept]; // an explicit empty Accept means "send none"
  return { url, headers };
}

/** One GET without following redirects; reads at most MAX_OUTPUT_BYTES of the body. */
export function httpGetOnce(url: URL, headers: Record<string, string | string[]>, signal: AbortSignal): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const hostname = url.hostname.replace(/^\[|\]$/g, '');
    const common = {
      method: 'GET',
      hostname,
      port: url.port,
      path: url.pathname + url.search,
      headers,
      agent: false as const, // no keep-alive: one connection per probe, like kubelet
      signal,
    };
    const req = url.protocol === 'https:'
      ? https.request({ ...common, rejectUnauthorized: false, ...(isIP(hostname) ? {} : { servername: hostname }) })
      : http.request(common);
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const done = () => {
        res.destroy();
        resolve({ status: res.statusCode ?? 0, location: res.headers.location, body: Buffer.concat(chunks).subarray(0, MAX_OUTPUT_BYTES).toString('utf8') });
      };
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        size += c.length;
        if (size >= MAX_OUTPUT_BYTES) done();
      });
      res.on('end', done);
      res.on('error', reject);
    });
    req.end();
  });
}

function describeError(e: unknown, url: URL, signal: AbortSignal): string {
  if (signal.aborted) return `Get "${url.href}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`;
  const err = e as NodeJS.ErrnoException;
  const dial = `dial tcp ${url.host}`;
  const byCode: Record<string, string> = {
    ECONNREFUSED: `${dial}: connect: connection refused`,
    EHOSTUNREACH: `${dial}: connect: no route to host`,
    ENETUNREACH: `${dial}: connect: network is unreachable`,
    ECONNRESET: 'read: connection reset by peer',
  };
  return `Get "${url.href}": ${(err.code && byCode[err.code]) || err.message}`;
}

/** Runs an httpGet probe/hook: Success for 200..399, Failure otherwise or on network error. */
export async function httpGetProbe(action: HTTPGetAction, opts: HttpGetOptions): Promise<ProbeOutcome> {
  const { url: first, headers } = buildHttpRequest(action, opts);
  let url = first;
  for (let redirects = 0; ; redirects++) {
    let res: HttpResponse;
    try {
      res = await httpGetOnce(url, headers, opts.signal);
    } catch (e) {
      return { result: 'Failure', output: describeError(e, url, opts.signal) };
    }
    if (res.status >= 300 && res.status < 400 && res.location) {
      let next: URL;
      try {
        next = new URL(res.location, url);
      } catch {
        return { result: 'Failure', output: `Get "${url.href}": invalid redirect location ${JSON.stringify(res.location)}` };
      }
      if (next.protocol === 'http:' || next.protocol === 'https:') {
        if (next.hostname !== first.hostname) {
          // Another host: do not follow; the redirect itself counts as success (kubelet's "Warning").
          return { result: 'Success', output: `Probe terminated redirects, Response body: ${res.body}` };
        }
        if (redirects + 1 > MAX_REDIRECTS) return { result: 'Failure', output: `Get "${next.href}": stopped after ${MAX_REDIRECTS} redirects` };
        url = next;
        continue;
      }
    }
    if (res.status >= 200 && res.status < 400) {
      return { result: 'Success', output: res.status >= 300 ? `Probe terminated redirects, Response body: ${res.body}` : res.body };
    }
    return { result: 'Failure', output: `HTTP probe failed with statuscode: ${res.status}` };
  }
}
