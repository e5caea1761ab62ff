// `kna exec`: asks the agent for a CRI streaming URL, then speaks the Kubernetes
// remote-command WebSocket protocol (v4.channel.k8s.io) to containerd's streaming server.
import WebSocket from 'ws';
import { callAgent, expectOk, podRef, readAll } from './local-client.js';

export interface ExecOptions {
  container?: string;
  namespace?: string;
  stdin?: boolean;
  tty?: boolean;
  rootDir: string;
}

const STDIN = 0, STDOUT = 1, STDERR = 2, ERROR = 3, RESIZE = 4;

/** Exit code from the v4 status object on channel 3. */
export function exitCodeFromStatus(text: string): number {
  try {
    const st = JSON.parse(text) as { status?: string; reason?: string; details?: { causes?: { reason?: string; message?: string }[] } };
    if (st.status === 'Success') return 0;
    const cause = st.details?.causes?.find((c) => c.reason === 'ExitCode');
    if (cause?.message) return Number(cause.message);
  } catch {
    // not JSON: an error text from an older protocol
  }
  process.stderr.write(`kna exec: ${text}\n`);
  return 126;
}

export async function exec(pod: string, command: string[], o: ExecOptions): Promise<number> {
  const { ns, name } = podRef(pod, o.namespace);
  const q = new URLSearchParams();
  for (const c of command) q.append('command', c);
  if (o.stdin) q.set('stdin', 'true');
  if (o.tty) q.set('tty', 'true');
  const path = ['exec', ns, name, ...(o.container ? [o.container] : [])].map(encodeURIComponent).join('/');
  const { url } = JSON.parse(await readAll(await expectOk(await callAgent(o.rootDir, 'POST', `/${path}?${q}`)))) as { url: string };
  const ws = new WebSocket(url.replace(/^http/, 'ws'), ['v4.channel.k8s.io']);
  return await new Promise<number>((resolve, reject) => {
    let code = 0;
    ws.on('open', () => {
      if (o.tty && process.stdout.isTTY) {
        const resize = () => ws.send(Buffer.concat([Buffer.from([RESIZE]), Buffer.from(JSON.stringify({ Width: process.stdout.columns, Height: process.stdout.rows }))]));
        resize();
        process.stdout.on('resize', resize);
      }
      if (o.stdin) {
        if (o.tty && process.stdin.isTTY) process.stdin.setRawMode(true);
        process.stdin.on('data', (d: Buffer) => ws.send(Buffer.concat([Buffer.from([STDIN]), d])));
      }
    });
    ws.on('message', (data: Buffer) => {
      if (data.length === 0) return;
      const body = data.subarray(1);
      if (data[0] === STDOUT) process.stdout.write(body);
      else if (data[0] === STDERR) process.stderr.write(body);
      else if (data[0] === ERROR && body.length) code = exitCodeFromStatus(body.toString());
    });
    ws.on('close', () => {
      if (o.stdin) {
        if (o.tty && process.stdin.isTTY) process.stdin.setRawMode(false);
        process.stdin.pause();
      }
      resolve(code);
    });
    ws.on('error', (err) => reject(new Error(`exec stream to ${url}: ${err.message}`)));
  });
}
