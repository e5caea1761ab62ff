// Client side of the agent's local unix-socket API.
import { request, type IncomingMessage } from 'node:http';
import { localSocketPath } from '../server/local-api.js';

export class AgentUnreachable extends Error {
  override name = 'AgentUnreachable';
}

export function callAgent(rootDir: string, method: string, path: string): Promise<IncomingMessage> {
  const socketPath = localSocketPath(rootDir);
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path }, resolve);
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') reject(new AgentUnreachable(`no agent is listening on ${socketPath} (is \`kna run\` running with --root-dir ${rootDir}?)`));
      else if (err.code === 'EACCES') reject(new AgentUnreachable(`${socketPath}: permission denied (the agent's socket is root-only)`));
      else reject(err);
    });
    req.end();
  });
}

export async function readAll(res: IncomingMessage): Promise<string> {
  let s = '';
  for await (const chunk of res) s += chunk;
  return s;
}

/** Rejects with the agent's error text when the status is not 2xx. */
export async function expectOk(res: IncomingMessage): Promise<IncomingMessage> {
  if ((res.statusCode ?? 500) >= 300) throw new Error((await readAll(res)).trim() || `agent answered ${res.statusCode}`);
  return res;
}

/** POSTs `path` (exec, portForward...) and returns the CRI streaming URL the agent answers with. */
export async function streamingUrl(rootDir: string, path: string): Promise<string> {
  return (JSON.parse(await readAll(await expectOk(await callAgent(rootDir, 'POST', path)))) as { url: string }).url;
}

/** "ns/name" or "name" with -n. */
export function podRef(arg: string, namespace = 'default'): { ns: string; name: string } {
  const i = arg.indexOf('/');
  return i >= 0 ? { ns: arg.slice(0, i), name: arg.slice(i + 1) } : { ns: namespace, name: arg };
}
