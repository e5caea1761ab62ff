// A small process run inside a test netns (`ip netns exec NS node proxy-probe.js ...`).
//   serve NAME TCPPORTS UDPPORTS : answers every TCP connection / UDP datagram with
//                                  "NAME <peer address>" (so tests see who answered and
//                                  which source address it saw); prints "ready".
//   client                       : reads JSON requests on stdin, one per line, and
//                                  answers each with one JSON line on stdout.
import { createSocket } from 'node:dgram';
import { createConnection, createServer } from 'node:net';
import { createInterface } from 'node:readline';

export type ProbeRequest =
  | { id: number; op: 'tcp'; host: string; port: number; timeoutMs: number; localAddress?: string }
  | { id: number; op: 'udp'; host: string; port: number; timeoutMs: number; localPort: number; payload: string; localAddress?: string };

export type ProbeReply = { id: number; ok: true; data: string } | { id: number; ok: false; code: string };

const [mode, ...args] = process.argv.slice(2);

const ports = (s: string | undefined): number[] => (s ? s.split(',').filter(Boolean).map(Number) : []);
const bare = (a: string | undefined): string => (a ?? '').replace(/^::ffff:/, '');

if (mode === 'serve') {
  const [name, tcp, udp] = args;
  let pending = 0;
  const ready = (): void => { if (--pending === 0) process.stdout.write('ready\n'); };
  for (const port of ports(tcp)) {
    pending++;
    createServer((sock) => {
      sock.on('error', () => undefined);
      sock.end(`${name} ${bare(sock.remoteAddress)}\n`);
    }).listen(port, '0.0.0.0', ready);
  }
  for (const port of ports(udp)) {
    pending++;
    const s = createSocket('udp4');
    s.on('message', (_msg, rinfo) => s.send(`${name} ${rinfo.address}`, rinfo.port, rinfo.address));
    s.bind(port, '0.0.0.0', ready);
  }
  if (pending === 0) process.stdout.write('ready\n');
} else if (mode === 'client') {
  const reply = (r: ProbeReply): void => { process.stdout.write(`${JSON.stringify(r)}\n`); };
  createInterface({ input: process.stdin }).on('line', (line) => {
    const req = JSON.parse(line) as ProbeRequest;
    if (req.op === 'tcp') {
      let data = '';
      let done = false;
      const finish = (r: ProbeReply): void => { if (!done) { done = true; sock.destroy(); reply(r); } };
      const sock = createConnection({ host: req.host, port: req.port, ...(req.localAddress ? { localAddress: req.localAddress } : {}) });
      sock.setTimeout(req.timeoutMs, () => finish({ id: req.id, ok: false, code: 'ETIMEDOUT' }));
      sock.on('data', (d) => { data += d.toString(); });
      sock.on('end', () => finish({ id: req.id, ok: true, data: data.trim() }));
      sock.on('error', (err: NodeJS.ErrnoException) => finish({ id: req.id, ok: false, code: err.code ?? err.message }));
    } else {
      const s = createSocket({ type: 'udp4', reuseAddr: true });
      const timer = setTimeout(() => { s.close(); reply({ id: req.id, ok: false, code: 'ETIMEDOUT' }); }, req.timeoutMs);
      s.on('message', (msg) => { clearTimeout(timer); s.close(); reply({ id: req.id, ok: true, data: msg.toString() }); });
      s.on('error', (err: NodeJS.ErrnoException) => { clearTimeout(timer); s.close(); reply({ id: req.id, ok: false, code: err.code ?? err.message }); });
      s.bind(req.localPort, req.localAddress ?? '0.0.0.0', () => s.send(req.payload, req.port, req.host));
    }
  });
}
