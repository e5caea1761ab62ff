import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { V1Service } from '../../agent/proxy/api.js';
import { ClusterIPAllocator, ClusterIPError, CLUSTER_IPS_FILE } from '../../agent/proxy/cluster-ip.js';

const svc = (name: string, clusterIP?: string): V1Service =>
  ({ metadata: { name, namespace: 'default' }, spec: { ports: [{ port: 80 }], ...(clusterIP ? { clusterIP } : {}) } });
const ipOf = (l: V1Service[], name: string): string | undefined => l.find((s) => s.metadata?.name === name)?.spec?.clusterIP;

test('cluster IPs are allocated from the range, stay stable across restarts, and are released', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kna-t-cip-'));
  t.after(() => rm(dir, { recursive: true, force: true }));

  const a = await ClusterIPAllocator.open(dir, '10.96.0.0/24');
  const first = await a.assign([svc('web'), svc('db'), svc('dns', '10.96.0.10'), svc('headless', 'None')]);
  const web = ipOf(first, 'web')!;
  const db = ipOf(first, 'db')!;
  assert.notEqual(web, db);
  for (const ip of [web, db]) {
    const last = Number(ip.split('.')[3]);
    // Dynamic allocations stay above the low band (16 addresses of a /24) kept for chosen IPs.
    assert.ok(ip.startsWith('10.96.0.') && last > 16 && last < 255, ip);
  }
  assert.equal(ipOf(first, 'dns'), '10.96.0.10');
  assert.equal(ipOf(first, 'headless'), 'None');
  assert.deepEqual(first.find((s) => s.metadata?.name === 'web')!.spec!.clusterIPs, [web]);

  // A restart reads the file: same answers, whatever the order.
  const b = await ClusterIPAllocator.open(dir, '10.96.0.0/24');
  const again = await b.assign([svc('db'), svc('web')]);
  assert.deepEqual([ipOf(again, 'web'), ipOf(again, 'db')], [web, db]);
  assert.deepEqual(await readdir(dir), [CLUSTER_IPS_FILE], 'no temporary file left behind');

  // An explicit claim wins over an earlier allocation; released entries leave the file.
  const c = await ClusterIPAllocator.open(dir, '10.96.0.0/24');
  const claimed = await c.assign([svc('web'), svc('mine', db)]);
  assert.equal(ipOf(claimed, 'mine'), db);
  assert.equal(ipOf(claimed, 'web'), web);
  const stored = JSON.parse(await readFile(join(dir, CLUSTER_IPS_FILE), 'utf8')) as { allocations: Record<string, string> };
  assert.deepEqual(stored.allocations, { 'default/web': web });
});

test('a full range is an error naming the Service; a bad range is refused', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kna-t-cip-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const a = await ClusterIPAllocator.open(dir, '10.96.0.0/30');
  await assert.rejects(a.assign([svc('a'), svc('b'), svc('c')]), (err: Error) => err instanceof ClusterIPError && /Service default\/c: no free cluster IP in 10\.96\.0\.0\/30/.test(err.message));
  await assert.rejects(ClusterIPAllocator.open(dir, '10.96.0.0'), ClusterIPError);
});

test('IPv6 service ranges work too', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kna-t-cip-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const a = await ClusterIPAllocator.open(dir, 'fd00:96::/112');
  const [s] = await a.assign([svc('web')]);
  assert.match(s!.spec!.clusterIP!, /^fd00:96::[0-9a-f]+$/);
});
