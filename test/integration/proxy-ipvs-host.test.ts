// IPVS mode on this host, whose kernel has no IPVS: `kna run --proxy-mode ipvs` must stop
// at start with the kernel option named, and IPVS mode's cleanup (also run by
// `kna cleanup`) must work here anyway, removing only what is ours. The mode itself is
// tested in a VM (proxy-ipvs-vm.test.ts).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { execa } from 'execa';
import { IpvsBackend } from '../../agent/proxy/ipvs/backend.js';
import { kernelHasIpvs } from '../../agent/proxy/ipvs/io.js';
import { netnsRunner } from '../../agent/proxy/runner.js';
import { proxyLeftovers } from '../harness/proxy-modes.js';

const KNA = join(process.cwd(), 'dist/agent/cli/main.js');

async function withNetns(tag: string, fn: (ns: string) => Promise<void>): Promise<void> {
  const ns = `kna-t-${tag}-${process.pid}`;
  await execa('ip', ['netns', 'add', ns]);
  try {
    await fn(ns);
  } finally {
    await execa('ip', ['netns', 'del', ns], { reject: false });
  }
}

test('kna run --proxy-mode ipvs stops at start, naming the kernel option it lacks', { skip: kernelHasIpvs() && 'this kernel has IPVS' }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kna-t-ipvs-'));
  try {
    await withNetns('ipvsrun', async (ns) => {
      const r = await execa('ip', ['netns', 'exec', ns, process.execPath, KNA, 'run', '--proxy-mode', 'ipvs', '--log-format', 'text',
        '--root-dir', join(dir, 'root'), '--cni-bin-dir', join(dir, 'bin'), '--cni-conf-dir', join(dir, 'conf'),
        '--container-runtime-endpoint', `unix://${join(dir, 'none.sock')}`, '--healthz-bind-address', '127.0.0.1:0', '--metrics-bind-address', '127.0.0.1:0',
      ], { reject: false, timeout: 60_000 });
      assert.notEqual(r.exitCode, 0, 'the agent must not run without IPVS');
      assert.equal(r.timedOut, false, 'the agent must stop at start, not keep running');
      assert.match(r.stderr, /--proxy-mode ipvs: this kernel has no IPVS support .*CONFIG_IP_VS\b.*CONFIG_IP_VS_RR/);
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('--ipvs-scheduler accepts the IPVS schedulers only', async () => {
  const r = await execa(process.execPath, [KNA, 'run', '--proxy-mode', 'ipvs', '--ipvs-scheduler', 'fastest'], { reject: false, timeout: 30_000 });
  assert.notEqual(r.exitCode, 0);
  assert.match(r.stderr, /--ipvs-scheduler.*fastest.*rr, wrr, lc, wlc, lblc, lblcr, sh, dh, sed, nq, mh/s);
});

test('IPVS cleanup without any state removes our ipsets and chains (both modes\' names), and nothing else', async () => {
  await withNetns('ipvsclean', async (ns) => {
    const inNs = (argv: string[], input?: string) => execa('ip', ['netns', 'exec', ns, ...argv], input === undefined ? {} : { input });
    // What an IPVS-mode agent leaves, plus a foreign set and chain that must survive.
    await inNs(['ipset', 'restore'], [
      'create KUBE-CLUSTER-IP hash:ip,port family inet', 'add KUBE-CLUSTER-IP 10.96.0.10,tcp:80',
      'create KUBE-NODE-PORT-TCP bitmap:port range 0-65535', 'add KUBE-NODE-PORT-TCP 30080',
      'create KUBE-6-IPVS-IPS hash:ip family inet6', 'create kna-t-foreign hash:ip', '',
    ].join('\n'));
    await inNs(['iptables-restore', '--noflush'], [
      '*nat', ':KUBE-SERVICES - [0:0]', ':KUBE-MARK-MASQ - [0:0]', ':KUBE-SVC-LEFTOVER - [0:0]',
      '-A PREROUTING -j KUBE-SERVICES', '-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ',
      '-A KUBE-SVC-LEFTOVER -j KUBE-MARK-MASQ', 'COMMIT',
      '*filter', ':KUBE-IPVS-FILTER - [0:0]', ':kna-t-keep - [0:0]',
      '-A INPUT -m conntrack --ctstate NEW -j KUBE-IPVS-FILTER', '-A INPUT -j kna-t-keep', 'COMMIT', '',
    ].join('\n'));
    assert.ok((await proxyLeftovers(ns)).length > 0);

    await new IpvsBackend(netnsRunner(ns), 4).cleanup();
    assert.deepEqual(await proxyLeftovers(ns), []);
    assert.match((await inNs(['ipset', 'list', '-n'])).stdout, /^kna-t-foreign$/m, 'a foreign set must stay');
    assert.match((await inNs(['iptables', '-S', 'INPUT'])).stdout, /-A INPUT -j kna-t-keep/, 'a foreign chain must stay hooked');
    // Idempotent: nothing left to remove is no error.
    await new IpvsBackend(netnsRunner(ns), 4).cleanup();
  });
});
