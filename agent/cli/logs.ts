import { callAgent, expectOk, podRef } from './local-client.js';

export interface LogsOptions {
  container?: string;
  namespace?: string;
  follow?: boolean;
  previous?: boolean;
  tail?: number;
  timestamps?: boolean;
  rootDir: string;
}

export async function logs(pod: string, o: LogsOptions): Promise<void> {
  const { ns, name } = podRef(pod, o.namespace);
  const q = new URLSearchParams();
  if (o.follow) q.set('follow', 'true');
  if (o.previous) q.set('previous', 'true');
  if (o.timestamps) q.set('timestamps', 'true');
  if (o.tail !== undefined) q.set('tailLines', String(o.tail));
  const path = ['containerLogs', ns, name, ...(o.container ? [o.container] : [])].map(encodeURIComponent).join('/');
  const res = await expectOk(await callAgent(o.rootDir, 'GET', `/${path}?${q}`));
  for await (const chunk of res) process.stdout.write(chunk as Buffer);
}
