// `kna exec`: asks the agent for a CRI streaming URL, then speaks the Kubernetes
// remote-command protocol over SPDY/3.1 to containerd's streaming server
// (remote-command.ts), as kubectl does to a kubelet: stdin's end reaches the command.
import { podRef, streamingUrl } from './local-client.js';
import { openRemoteCommand } from './remote-command.js';

export interface ExecOptions {
  container?: string;
  namespace?: string;
  stdin?: boolean;
  tty?: boolean;
  rootDir: string;
}

/** Exit code from the status object the server writes on the error stream ('' = success). */
export function exitCodeFromStatus(text: string): number {
  if (text === '') return 0;
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
  const stdin = o.stdin ?? false;
  const tty = o.tty ?? false;
  const q = new URLSearchParams();
  for (const c of command) q.append('command', c);
  if (stdin) q.set('stdin', 'true');
  if (tty) q.set('tty', 'true');
  const path = ['exec', ns, name, ...(o.container ? [o.container] : [])].map(encodeURIComponent).join('/');
  const url = await streamingUrl(o.rootDir, `/${path}?${q}`);

  const session = await openRemoteCommand(url, { stdin, stdout: true, stderr: true, tty });
  const { streams } = session;
  // Written as it comes, without back-pressure: the server does no flow control anyway,
  // and a stream still holding data when the server hangs up would lose it.
  streams.stdout?.on('data', (d: Buffer) => process.stdout.write(d));
  streams.stderr?.on('data', (d: Buffer) => process.stderr.write(d));
  const rawTerminal = stdin && tty && process.stdin.isTTY;
  const resize = (): void => { streams.resize?.write(`${JSON.stringify({ Width: process.stdout.columns, Height: process.stdout.rows })}\n`); };
  if (streams.resize && process.stdout.isTTY) {
    resize();
    process.stdout.on('resize', resize);
  }
  if (streams.stdin) {
    if (rawTerminal) process.stdin.setRawMode(true);
    // Our stdin's end ends the command's (pipe ends the SPDY stream: a FIN).
    process.stdin.pipe(streams.stdin);
  }
  try {
    return exitCodeFromStatus(await session.done);
  } finally {
    process.stdout.off('resize', resize);
    if (streams.stdin) {
      process.stdin.unpipe(streams.stdin);
      if (rawTerminal) process.stdin.setRawMode(false);
      process.stdin.pause();
    }
  }
}
