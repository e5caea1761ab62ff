// Client side of the Kubernetes remote-command protocol (v4.channel.k8s.io) over SPDY
// (spdy.ts): one stream per channel, so stdin can be half-closed and the command sees
// end-of-input, which the v4 WebSocket framing (all containerd 1.6/1.7 offer besides
// SPDY) cannot say.
import { connectSpdy, type ConnectOptions, type SpdyStream } from './spdy.js';

export { StreamUpgradeError } from './spdy.js';

export type Channel = 'stdin' | 'stdout' | 'stderr' | 'resize';

export interface SessionOptions extends ConnectOptions {
  readonly stdin: boolean;
  readonly stdout: boolean;
  /** Ignored with tty (the terminal merges stderr into stdout). */
  readonly stderr: boolean;
  readonly tty: boolean;
}

export interface RemoteCommandSession {
  /** Write to stdin (end() is end-of-input) and resize; read stdout and stderr. */
  readonly streams: Readonly<Partial<Record<Channel, SpdyStream>>>;
  /** Resolves when the server ends the session, with what it wrote on the error stream ('' = success). */
  readonly done: Promise<string>;
  /** Ends the session from our side. */
  close(): void;
}

export async function openRemoteCommand(url: string, o: SessionOptions): Promise<RemoteCommandSession> {
  const session = await connectSpdy(url, 'v4.channel.k8s.io', o);
  try {
    // kubectl's order: the error stream first, then the data channels.
    let errorText = '';
    const error = await session.open({ streamtype: 'error' });
    error.setEncoding('utf8').on('data', (d: string) => { errorText += d; });
    const streams: Partial<Record<Channel, SpdyStream>> = {};
    const wanted: Channel[] = [
      ...(o.stdin ? ['stdin' as const] : []), ...(o.stdout ? ['stdout' as const] : []),
      ...(o.stderr && !o.tty ? ['stderr' as const] : []), ...(o.tty ? ['resize' as const] : []),
    ];
    for (const type of wanted) streams[type] = await session.open({ streamtype: type });
    // The server hangs up after the error stream's last word.
    return { streams, done: session.closed.then(() => errorText), close: session.close };
  } catch (err) {
    session.close();
    throw err;
  }
}
