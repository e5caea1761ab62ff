// The host-local-layout store on a temp dir (plain files, no kernel).
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Ipam } from '../../cni/ipam/ipam.js';
import { DiskStore } from '../../cni/ipam/store.js';
import { IP } from '../../cni/net/ip.js';

const withDir = (fn: (dir: string) => Promise<void> | void) => async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kna-t-store-'));
  try { await fn(dir); } finally { rmSync(dir, { recursive: true, force: true }); }
};

test('reservations: one owner per address, host-local file format, cursor', withDir((dir) => {
  const s = new DiskStore(join(dir, 'net'));
  s.ensureDir();
  assert.equal(s.reserve(IP.parse('10.0.0.2'), 'a', 'eth0', 0), true);
  assert.equal(s.reserve(IP.parse('10.0.0.2'), 'b', 'eth0', 0), false);
  assert.equal(readFileSync(join(dir, 'net', '10.0.0.2'), 'utf8'), 'a\r\neth0');
  assert.equal(s.lastReserved(0)!.toString(), '10.0.0.2');
  assert.deepEqual(readdirSync(join(dir, 'net')).sort(), ['10.0.0.2', 'last_reserved_ip.0'], 'no temp file left');
}));

test('release by container id and ifname; legacy id-only files; leftover temp files', withDir((dir) => {
  const s = new DiskStore(join(dir, 'net'));
  s.ensureDir();
  s.reserve(IP.parse('10.0.0.2'), 'a', 'eth0', 0);
  s.reserve(IP.parse('10.0.0.3'), 'a', 'net1', 0);
  s.reserve(IP.parse('fd00::2'), 'a', 'eth0', 1);
  writeFileSync(join(dir, 'net', '10.0.0.4'), 'a'); // written by host-local < 0.8
  writeFileSync(join(dir, 'net', '.kna-tmp-1-x'), 'a\r\neth0'); // a kill -9 between link and unlink
  assert.deepEqual(s.getById('a', 'eth0').map(String).sort(), ['10.0.0.2', '10.0.0.4', 'fd00::2']);
  assert.deepEqual(s.releaseById('a', 'eth0').map(String).sort(), ['10.0.0.2', '10.0.0.4', 'fd00::2']);
  assert.deepEqual(readdirSync(join(dir, 'net')).filter((f) => !f.startsWith('last_')), ['10.0.0.3']);
  assert.deepEqual(s.releaseById('a', 'eth0'), [], 'idempotent');
}));

test('Ipam: one address per range set, reused by a retried ADD, round robin, exhaustion, GC', withDir((dir) => {
  const ipam = new Ipam({ type: 'host-local', rangeSets: [[{ subnet: '10.0.0.0/29' }], [{ subnet: 'fd00::/125' }]], routes: [], dataDir: dir }, 'net');
  const a = ipam.allocate('a', 'eth0');
  assert.deepEqual(a.map((x) => x.address.toString()), ['10.0.0.2/29', 'fd00::2/125']);
  assert.deepEqual(a.map((x) => x.gateway.toString()), ['10.0.0.1', 'fd00::1']);
  assert.deepEqual((ipam.allocate('a', 'eth0')).map((x) => x.address.toString()), ['10.0.0.2/29', 'fd00::2/125']);
  const b = ipam.allocate('b', 'eth0');
  assert.equal(b[0]!.address.ip.toString(), '10.0.0.3');
  ipam.release('b', 'eth0');
  assert.equal((ipam.allocate('c', 'eth0'))[0]!.address.ip.toString(), '10.0.0.4', 'after the last reserved, not the freed one');
  assert.deepEqual(ipam.free(), [3n, 4n]);
  for (const id of ['d', 'e', 'f']) ipam.allocate(id, 'eth0');
  assert.throws(() => ipam.allocate('g', 'eth0'), (e: Error & { code?: number }) => e.code === 100);
  assert.deepEqual(ipam.lookup('g', 'eth0'), [], 'a failed allocation keeps nothing');
  const freed = ipam.gc([{ containerId: 'a', ifname: 'eth0' }]);
  assert.deepEqual([...new Set(freed.map((f) => f.containerId))].sort(), ['c', 'd', 'e', 'f']);
  assert.equal(ipam.lookup('a', 'eth0').length, 2);
}));
