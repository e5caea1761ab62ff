// Client side of the Kubernetes remote-command protocol (v4.channel.k8s.io) over
// SPDY/3.1, as kubectl speaks it to kubelets and CRI streaming servers answer it: one
// stream per channel, so stdin can be half-closed and the command sees end-of-input,
// which the v4 WebSocket framing (all containerd 1.6/1.7 offer there) cannot say.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { Socket } from 'node:net';
import transport from 'spdy-transport';

export type Channel = 'error' | 'stdin' | 'stdout' | 'stderr' | 'resize';

export interface SessionOptions {
  readonly stdin: boolean;
  readonly stdout: boolean;
  /** Ignored with tty (the terminal merges stderr into stdout). */
  readonly stderr: boolean;
  readonly tty: boolean;
  /** For https URLs (the kubelet API): trust and client identity. */
  readonly tls?: Pick<RequestOptions, 'ca' | 'cert' | 'key'>;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface RemoteCommandSession {
  /** Write to stdin (end() is end-of-input) and resize; read stdout and stderr. */
  readonly streams: Readonly<Partial<Record<Exclude<Channel, 'error'>, transport.Stream>>>;
  /** Resolves when the server ends the session, with what it wrote on the error stream ('' = success). */
  readonly done: Promise<string>;
  /** Ends the session from our side. */
  close(): void;
}

/**
 * Go's spdystream, which serves these sessions (and is kubectl's client), does no
 * SPDY/3.1 flow control: it never grants window. spdy-transport does, and would stop
 * after 64 KiB of stdin. Read as if the server had sent them first, these two frames
 * grant the largest window SPDY has (so up to 2 GiB of stdin per session).
 */
const MAX_WINDOW = 2 ** 31 - 1;
const UNLIMITED_WINDOW = Buffer.from([
  // SETTINGS (type 4), one entry: INITIAL_WINDOW_SIZE (id 7) = 2^31-1
  0x80, 0x03, 0x00, 0x04, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x07, 0x7f, 0xff, 0xff, 0xff,
  // WINDOW_UPDATE (type 9) of the session (stream 0): 2^31-1 minus the initial 64 KiB
  0x80, 0x03, 0x00, 0x09, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x7f, 0xfe, 0xff, 0xff,
]);

export class StreamUpgradeError extends Error {
  override readonly name = 'StreamUpgradeError';
  constructor(readonly url: string, readonly status: number, readonly body: string) {
    super(`${url}: the server answered ${status} instead of switching to SPDY/3.1${body ? `: ${body.trim()}` : ''}`);
  }
}

/** Upgrades a POST to `url` to SPDY/3.1 and returns the raw socket. */
function upgrade(url: string, o: SessionOptions): Promise<Socket> {
  const u = new URL(url);
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request({
      host: u.hostname, port: u.port, path: `${u.pathname}${u.search}`, method: 'POST', ...o.tls,
      headers: { ...o.headers, connection: 'Upgrade', upgrade: 'SPDY/3.1', 'x-stream-protocol-version': 'v4.channel.k8s.io' },
    });
    req.on('upgrade', (_res: IncomingMessage, socket: Socket, head: Buffer) => {
      if (head.length > 0) socket.unshift(head);
      resolve(socket);
    });
    req.on('response', (res: IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => { body += d; }).on('end', () => reject(new StreamUpgradeError(url, res.statusCode ?? 0, body)));
    });
    req.on('error', reject).end();
  });
}

export async function openRemoteCommand(url: string, o: SessionOptions): Promise<RemoteCommandSession> {
  const socket = await upgrade(url, o);
  socket.unshift(UNLIMITED_WINDOW);
  // Our receive window is made as large as theirs, for the same reason and one more:
  // a WINDOW_UPDATE the server has not read when it hangs up makes its kernel reset
  // the connection, and a reset drops what we had not read yet (the command's last output).
  const conn = transport.connection.create(socket, { protocol: 'spdy', isServer: false, windowSize: MAX_WINDOW });
  // Streaming servers (Go's spdystream) answer SYN_STREAM with an empty SYN_REPLY;
  // spdy-transport expects HTTP's ":status" there and resets the stream without one.
  // Its 'frame' event comes before a frame is handled, so the missing status is added.
  conn.on('frame', (frame: transport.Frame) => {
    if (frame.type === 'HEADERS' && frame.headers && frame.headers[':status'] === undefined) frame.headers[':status'] = '200';
  });
  conn.on('error', () => undefined);
  conn.start(3.1);
  const open = (type: Channel): Promise<transport.Stream> => new Promise((resolve, reject) => {
    conn.request({ method: 'POST', path: '/', host: 'remote-command', headers: { streamtype: type } }, (err, stream) => {
      if (err || !stream) reject(err ?? new Error(`no ${type} stream`));
      else resolve(stream);
    });
  });

  let errorText = '';
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  try {
    // kubectl's order: the error stream first, then the data channels.
    const error = await open('error');
    error.setEncoding('utf8').on('data', (d: string) => { errorText += d; }).on('error', () => undefined);
    const streams: Partial<Record<Exclude<Channel, 'error'>, transport.Stream>> = {};
    const wanted: Array<Exclude<Channel, 'error'>> = [
      ...(o.stdin ? ['stdin' as const] : []), ...(o.stdout ? ['stdout' as const] : []),
      ...(o.stderr && !o.tty ? ['stderr' as const] : []), ...(o.tty ? ['resize' as const] : []),
    ];
    for (const type of wanted) {
      const s = await open(type);
      // A session ending resets the streams it leaves open: not an error of ours.
      s.on('error', () => undefined);
      streams[type] = s;
    }
    // The server closes the connection after the error stream's last word; what the
    // streams still hold is delivered within the same turn of the event loop.
    const done = closed.then(() => new Promise<string>((resolve) => setImmediate(() => resolve(errorText))));
    return { streams, done, close: () => socket.destroy() };
  } catch (err) {
    socket.destroy();
    throw err;
  }
}
