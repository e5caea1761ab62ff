// A client SPDY/3.1 session to a Kubernetes streaming endpoint (a CRI streaming server,
// or the kubelet API relaying to one), as kubectl opens them: an HTTP upgrade naming
// the subprotocol, then streams the client creates, told apart by their headers.
// The SPDY engine is spdy-transport; what it needs to talk to Go's spdystream (the
// server side everywhere in Kubernetes) is done here.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { Socket } from 'node:net';
import transport from 'spdy-transport';

export type SpdyStream = transport.Stream;

export interface ConnectOptions {
  /** For https URLs (the kubelet API): trust and client identity. */
  readonly tls?: Pick<RequestOptions, 'ca' | 'cert' | 'key'>;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface SpdySession {
  /** Opens a stream carrying these headers (streamType, port, requestID...). */
  open(headers: Record<string, string>): Promise<SpdyStream>;
  /** Resolves once the server has hung up and what it sent is delivered. */
  readonly closed: Promise<void>;
  close(): void;
}

export class StreamUpgradeError extends Error {
  override readonly name = 'StreamUpgradeError';
  constructor(readonly url: string, readonly status: number, readonly body: string) {
    super(`${url}: the server answered ${status} instead of switching to SPDY/3.1${body ? `: ${body.trim()}` : ''}`);
  }
}

/**
 * spdystream does no SPDY/3.1 flow control: it never grants window (spdy-transport would
 * stop after 64 KiB sent) and does not read WINDOW_UPDATEs once it is done (its kernel
 * then resets the connection, and the reset drops output we had not read yet). So both
 * windows start as large as SPDY allows: ours by option, theirs by these two frames,
 * read as if the server had sent them first. A session can send 2 GiB.
 */
const MAX_WINDOW = 2 ** 31 - 1;
const UNLIMITED_WINDOW = Buffer.from([
  // SETTINGS (type 4), one entry: INITIAL_WINDOW_SIZE (id 7) = 2^31-1
  0x80, 0x03, 0x00, 0x04, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x07, 0x7f, 0xff, 0xff, 0xff,
  // WINDOW_UPDATE (type 9) of the session (stream 0): 2^31-1 minus the initial 64 KiB
  0x80, 0x03, 0x00, 0x09, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x7f, 0xfe, 0xff, 0xff,
]);

/** Upgrades a POST to `url` to SPDY/3.1 with `protocol` and returns the raw socket. */
function upgrade(url: string, protocol: string, o: ConnectOptions): Promise<Socket> {
  const u = new URL(url);
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request({
      host: u.hostname, port: u.port, path: `${u.pathname}${u.search}`, method: 'POST', ...o.tls,
      headers: { ...o.headers, connection: 'Upgrade', upgrade: 'SPDY/3.1', 'x-stream-protocol-version': protocol },
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

export async function connectSpdy(url: string, protocol: string, o: ConnectOptions = {}): Promise<SpdySession> {
  const socket = await upgrade(url, protocol, o);
  socket.unshift(UNLIMITED_WINDOW);
  const conn = transport.connection.create(socket, { protocol: 'spdy', isServer: false, windowSize: MAX_WINDOW });
  // spdystream answers a new stream with an empty SYN_REPLY; spdy-transport expects
  // HTTP's ":status" there and resets the stream without one. Its 'frame' event comes
  // before a frame is handled, so the missing status is added.
  conn.on('frame', (frame: transport.Frame) => {
    if (frame.type === 'HEADERS' && frame.headers && frame.headers[':status'] === undefined) frame.headers[':status'] = '200';
  });
  // Socket errors end the session; `closed` reports that.
  conn.on('error', () => undefined);
  conn.start(3.1);
  const closed = new Promise<void>((resolve) => socket.once('close', () => setImmediate(resolve)));
  return {
    open: (headers) => new Promise((resolve, reject) => {
      conn.request({ method: 'POST', path: '/', host: 'kna', headers }, (err, stream) => {
        if (err || !stream) { reject(err ?? new Error('no stream')); return; }
        // A session ending resets the streams it leaves open: not an error of ours.
        stream.on('error', () => undefined);
        resolve(stream);
      });
    }),
    closed,
    close: () => socket.destroy(),
  };
}
