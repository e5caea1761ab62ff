import { stringify } from 'yaml';
import { callAgent, expectOk, readAll } from './local-client.js';
import { formatTable, podRows, type PodLike } from './pod-table.js';

export async function getPods(rootDir: string, output?: string): Promise<void> {
  const body = await readAll(await expectOk(await callAgent(rootDir, 'GET', '/pods')));
  const list = JSON.parse(body) as { items: PodLike[] };
  if (output === 'json') process.stdout.write(JSON.stringify(list, null, 2) + '\n');
  else if (output === 'yaml') process.stdout.write(stringify(list));
  else if (list.items.length === 0) process.stderr.write('No pods found.\n');
  else process.stdout.write(formatTable(podRows(list.items, output === 'wide')));
}
