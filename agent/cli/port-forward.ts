// `kna port-forward POD [LOCAL:]REMOTE...`: listens on local ports and carries each
// connection to a port in the pod's network namespace, as kubectl port-forward does:
// one SPDY session (portforward.k8s.io) to the runtime's streaming server, and per
// connection an error stream and a data stream naming the port and a request id.
import { createServer, type Server, type Socket } from 'node:net';
import { ConfigError } from '../util/errors.js';
import { podRef, streamingUrl } from './local-client.js';
import { connectSpdy, type SpdySession } from './spdy.js';

export interface PortForwardOptions {
  namespace?: string;
  address: string;
  rootDir: string;
  /** Called once every listener is up (tests). */
  onListening?: (bound: ForwardedPort[]) => void;
}

export interface PortPair { readonly local: number; readonly remote: number }
export interface ForwardedPort extends PortPair { readonly address: string }

const port = (text: string, what: string, min: number): number => {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > 65535) throw new ConfigError(`${what} port "${text}"`, `must be a number from ${min} to 65535`);
  return n;
};

/** kubectl's forms: "8080:80", "80" (same local port) and ":80" (any free local port: 0). */
export function parsePortSpec(spec: string): PortPair {
  const parts = spec.split(':');
  if (parts.length === 1) { const p = port(parts[0]!, 'remote', 1); return { local: p, remote: p }; }
  if (parts.length !== 2) throw new ConfigError(`port "${spec}"`, 'must be REMOTE, LOCAL:REMOTE or :REMOTE');
  return { local: parts[0] === '' ? 0 : port(parts[0]!, 'local', 0), remote: port(parts[1]!, 'remote', 1) };
}

/** Forwards until the session ends (the pod or the agent went away): resolves with the reason. */
export async function portForward(pod: string, specs: string[], o: PortForwardOptions): Promise<string> {
  const pairs = specs.map(parsePortSpec);
  const { ns, name } = podRef(pod, o.namespace);
  const q = new URLSearchParams();
  for (const p of pairs) q.append('port', String(p.remote));
  const path = ['portForward', ns, name].map(encodeURIComponent).join('/');
  const url = await streamingUrl(o.rootDir, `/${path}?${q}`);
  const session = await connectSpdy(url, 'portforward.k8s.io');
  const servers: Server[] = [];
  try {
    const bound: ForwardedPort[] = [];
    let requestId = 0;
    for (const pair of pairs) {
      const server = createServer((socket) => void forward(session, socket, pair.remote, String(requestId++)));
      servers.push(server);
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(pair.local, o.address, () => resolve()));
      const addr = server.address();
      const local = typeof addr === 'object' && addr ? addr.port : pair.local;
      bound.push({ address: o.address, local, remote: pair.remote });
      process.stdout.write(`Forwarding from ${o.address.includes(':') ? `[${o.address}]` : o.address}:${local} -> ${pair.remote}\n`);
    }
    o.onListening?.(bound);
    await session.closed;
    return `lost connection to pod ${ns}/${name}`;
  } finally {
    for (const s of servers) s.close();
    session.close();
  }
}

/** One local connection: its error stream reports a failed dial, its data stream carries the bytes. */
async function forward(session: SpdySession, socket: Socket, remote: number, requestId: string): Promise<void> {
  socket.on('error', () => undefined);
  try {
    const headers = { port: String(remote), requestid: requestId };
    const error = await session.open({ ...headers, streamtype: 'error' });
    error.end(); // nothing to say on it; the server writes there only
    let failure = '';
    error.setEncoding('utf8').on('data', (d: string) => { failure += d; });
    error.on('end', () => {
      if (!failure) return;
      process.stderr.write(`an error occurred forwarding ${remote}: ${failure.trim()}\n`);
      socket.destroy();
    });
    const data = await session.open({ ...headers, streamtype: 'data' });
    socket.pipe(data);
    data.pipe(socket);
    data.on('close', () => socket.end());
    socket.on('close', () => data.destroy());
  } catch (err) {
    process.stderr.write(`port ${remote}: ${err instanceof Error ? err.message : String(err)}\n`);
    socket.destroy();
  }
}
