// A tiny traffic tool run inside test namespaces (`ip netns exec NS node net-tool.js ...`),
// so tests exchange real TCP and UDP without relying on busybox applets:
//   serve PORT                      TCP: reply sha256, length and the client address it saw; UDP: echo
//   tcp HOST PORT BYTES             send BYTES random bytes, check the server's hash
//   udp HOST PORT SIZE [TIMEOUT_MS] one datagram of SIZE bytes (DF: Linux default PMTU "want"), expect the echo
//   probe HOST PORT EVERY_MS TIMEOUT_MS  a datagram every EVERY_MS until the first echo;
//                                   prints the wall-clock ms (fractional) it arrived
// Each client prints one JSON line and exits 0 on success, 1 on failure.
import { createHash, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect, createServer } from 'node:net';

const [cmd, ...args] = process.argv.slice(2);
const print = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');
const now = () => performance.timeOrigin + performance.now();

function serve(port: number): void {
  let up = 0;
  const ready = () => { if (++up === 2) print({ ready: true, port }); };
  createServer((sock) => {
    const h = createHash('sha256');
    let n = 0;
    sock.on('data', (d) => { h.update(d); n += d.length; });
    sock.on('end', () => sock.end(`${h.digest('hex')} ${n} ${sock.remoteAddress ?? ''}\n`));
    sock.on('error', () => {});
  }).listen(port, '0.0.0.0', ready);
  const udp = createSocket('udp4');
  udp.on('message', (msg, r) => udp.send(msg, r.port, r.address));
  udp.bind(port, '0.0.0.0', ready);
}

function tcp(host: string, port: number, bytes: number): void {
  const data = randomBytes(bytes);
  const want = createHash('sha256').update(data).digest('hex');
  const t0 = now();
  let reply = '';
  const sock = connect({ host, port }, () => sock.end(data));
  sock.setTimeout(20_000, () => sock.destroy(new Error('timeout')));
  sock.on('data', (d) => (reply += d.toString()));
  sock.on('error', (err) => { print({ ok: false, error: err.message }); process.exit(1); });
  sock.on('close', () => {
    const [hash, n, seenFrom] = reply.trim().split(' ');
    const ok = hash === want && Number(n) === bytes;
    print({ ok, bytes, ms: now() - t0, seenFrom });
    process.exit(ok ? 0 : 1);
  });
}

function udp(host: string, port: number, size: number, timeoutMs: number): void {
  const sock = createSocket('udp4');
  const data = randomBytes(size);
  const t0 = now();
  const timer = setTimeout(() => { print({ ok: false, error: 'timeout', size }); process.exit(1); }, timeoutMs);
  sock.on('message', (msg) => {
    clearTimeout(timer);
    const ok = msg.equals(data);
    print({ ok, size, ms: now() - t0 });
    process.exit(ok ? 0 : 1);
  });
  sock.on('error', (err) => { print({ ok: false, error: err.message, size }); process.exit(1); });
  sock.send(data, port, host);
}

function probe(host: string, port: number, everyMs: number, timeoutMs: number): void {
  const sock = createSocket('udp4');
  const t0 = now();
  // Unreachable-network errors before convergence are expected: keep sending.
  sock.on('error', () => {});
  sock.on('message', () => { print({ ok: true, at: now(), sent: t0 }); process.exit(0); });
  const send = () => sock.send('probe', port, host, () => {});
  send();
  setInterval(send, everyMs);
  setTimeout(() => { print({ ok: false, error: 'timeout' }); process.exit(1); }, timeoutMs);
}

const num = (i: number, dflt?: number) => {
  const v = args[i] === undefined ? dflt : Number(args[i]);
  if (v === undefined || !Number.isFinite(v)) { print({ ok: false, error: `argument ${i + 2}: a number is needed` }); process.exit(2); }
  return v;
};

switch (cmd) {
  case 'serve': serve(num(0)); break;
  case 'tcp': tcp(args[0]!, num(1), num(2)); break;
  case 'udp': udp(args[0]!, num(1), num(2), num(3, 5000)); break;
  case 'probe': probe(args[0]!, num(1), num(2), num(3)); break;
  default: print({ ok: false, error: `unknown command ${String(cmd)}` }); process.exit(2);
}
