// TCP connections that stay open, for tests of what happens to established flows
// (IPVS graceful removal). Run inside a test netns (`ip netns exec NS node tcp-hold.js ...`).
//   serve NAME PORT : greets each connection with "NAME\n", then echoes every line; prints "ready".
//   client          : reads commands on stdin, one per line, for any number of connections:
//                       open ID HOST PORT   connect; each line received prints as "ID line",
//                                           the end as "ID closed", a failure as "ID error CODE"
//                       send ID TEXT        send one line
//                       reset ID            abort with RST (so no TIME_WAIT lingers)
import { createConnection, createServer, type Socket } from 'node:net';
import { createInterface } from 'node:readline';

const [mode, name, port] = process.argv.slice(2);
const out = (line: string): void => { process.stdout.write(`${line}\n`); };

if (mode === 'serve') {
  createServer((sock) => {
    sock.on('error', () => undefined);
    sock.write(`${name}\n`);
    createInterface({ input: sock }).on('line', (line) => sock.write(`${line}\n`)).on('error', () => undefined);
  }).listen(Number(port), '0.0.0.0', () => out('ready'));
} else if (mode === 'client') {
  const socks = new Map<string, Socket>();
  createInterface({ input: process.stdin }).on('line', (line) => {
    const [cmd, id = '', ...rest] = line.split(' ');
    if (cmd === 'open') {
      const sock = createConnection({ host: rest[0]!, port: Number(rest[1]) });
      socks.set(id, sock);
      sock.on('error', (err: NodeJS.ErrnoException) => out(`${id} error ${err.code ?? err.message}`));
      sock.on('close', () => out(`${id} closed`));
      createInterface({ input: sock }).on('line', (l) => out(`${id} ${l}`)).on('error', () => undefined);
    } else if (cmd === 'send') {
      socks.get(id)?.write(`${rest.join(' ')}\n`);
    } else if (cmd === 'reset') {
      socks.get(id)?.resetAndDestroy();
    }
  });
} else {
  process.stderr.write('usage: tcp-hold.js serve NAME PORT | client\n');
  process.exit(2);
}
