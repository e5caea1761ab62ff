// TCP socket probe: Success when a connection can be opened (then closed at once).
import { connect } from 'node:net';
import { joinHostPort, resolveHost, resolvePort } from './target.js';
import type { ContainerPortLike, ProbeOutcome, TCPSocketAction } from './types.js';

export interface TcpOptions {
  podIP?: string | undefined;
  container: { ports?: ContainerPortLike[] };
  signal: AbortSignal;
}

export function tcpProbe(action: TCPSocketAction, opts: TcpOptions): Promise<ProbeOutcome> {
  const host = resolveHost(action.host, opts.podIP, 'tcpSocket');
  const port = resolvePort(action.port, opts.container, 'tcpSocket');
  const addr = joinHostPort(host, port);
  return new Promise((resolve) => {
    let settled = false;
    const finish = (o: ProbeOutcome) => {
      if (settled) return;
      settled = true;
      opts.signal.removeEventListener('abort', onAbort);
      sock.destroy();
      resolve(o);
    };
    const onAbort = () => finish({ result: 'Failure', output: `dial tcp ${addr}: i/o timeout` });
    const sock = connect({ host, port });
    sock.on('connect', () => finish({ result: 'Success', output: '' }));
    sock.on('error', (e: NodeJS.ErrnoException) => {
      const why = e.code === 'ECONNREFUSED' ? 'connection refused' : e.code === 'EHOSTUNREACH' ? 'no route to host' : e.message;
      finish({ result: 'Failure', output: `dial tcp ${addr}: connect: ${why}` });
    });
    if (opts.signal.aborted) onAbort();
    else opts.signal.addEventListener('abort', onAbort, { once: true });
  });
}
