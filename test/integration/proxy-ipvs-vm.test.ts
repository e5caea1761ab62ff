// IPVS mode for real: this host's kernel has no IPVS, so scripts/vm-test.sh boots
// Debian's kernel under qemu with this host's / shared read-only, and the guest runs
// the shared proxy scenarios, the partial-vs-full sync check and IPVS's own tests
// (test/vm/proxy-ipvs.test.ts) with KNA_PROXY_MODES=ipvs, real packets between netns
// made inside the guest. One VM boot for all of it (emulation is slow).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { execa } from 'execa';

const FILES = [
  'dist/test/integration/proxy-scenarios.test.js',
  'dist/test/integration/proxy-sync.test.js',
  'dist/test/vm/proxy-ipvs.test.js',
];

test('IPVS mode passes the proxy scenarios and its own tests in a VM with an IPVS kernel', { timeout: 1_200_000 }, async (t) => {
  const r = await execa('scripts/vm-test.sh', ['node', 'dist/test/vm/ipvs-guest.js', ...FILES], {
    reject: false, all: true, env: { KNA_VM_TIMEOUT: '1100' },
  });
  const out = r.all ?? '';
  const count = (name: string): number => Number((out.match(new RegExp(`ℹ ${name} (\\d+)`)) ?? [])[1] ?? 0);
  const summary = `pass ${count('pass')}, fail ${count('fail')}, skipped ${count('skipped')}`;
  for (const line of out.split('\n')) if (/^\s*[✔✖] /.test(line)) t.diagnostic(`guest: ${line.trim()}`);
  t.diagnostic(`guest: ${summary}`);
  const tail = out.split('\n').slice(-80).join('\n');
  assert.equal(r.exitCode, 0, `the guest run failed (exit ${r.exitCode}; ${summary}):\n${tail}`);
  assert.match(out, /kna-vm: IPVS preflight passed/);
  assert.equal(count('fail'), 0, tail);
  assert.ok(count('pass') >= 20, `too few tests ran in the guest (${summary}):\n${tail}`);
});
