// Parallel ADD and DEL with random kill -9 of plugin processes, then the runtime's
// repeated DELs: no address may be handed out twice, and at the end nothing may be
// left: reservations, temp files, veths or tagged rules.
// 200 pods, as the issue asks (about 30 s here); KNA_CNI_STRESS=N for another count.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { execa } from 'execa';
import { execPlugin, NetnsLab, type Netns } from '../harness/netns.js';

const BIN = 'dist/cni/kna-cni';
const PODS = Number(process.env.KNA_CNI_STRESS ?? 200);
const NETWORK = 'kna-t-stress';

interface Outcome { code: number | 'killed'; stdout: string }

test(`${PODS} parallel ADD/DEL with random kill -9 leave nothing behind`, { timeout: PODS > 50 ? 900_000 : 60_000 }, async () => {
  const lab = new NetnsLab('cnist');
  const dataDir = `/tmp/kna-t-cnist-${lab.suffix}`;
  after(async () => {
    await lab.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const conf = {
    cniVersion: '1.0.0', name: NETWORK, type: 'kna-cni', bridge: 'kna-tbr9',
    isGateway: true, isDefaultGateway: true, ipMasq: true, hairpinMode: true,
    ipam: { type: 'host-local', ranges: [[{ subnet: '10.66.0.0/22' }]], dataDir },
    runtimeConfig: { portMappings: [{ hostPort: 30080, containerPort: 80, protocol: 'tcp' }] },
  };
  const node = await lab.netns('node');
  const pods: Array<{ ns: Netns; id: string }> = [];
  for (let i = 0; i < PODS; i++) pods.push({ ns: await lab.netns(`p${i}`), id: `kna-t-st-${i}-${lab.suffix}` });

  /** Runs the plugin in the node netns; with `killAfterMs`, SIGKILLs it then (ip netns exec execs, so the pid is the plugin's). */
  const run = async (command: 'ADD' | 'DEL', p: { ns: Netns; id: string }, killAfterMs?: number): Promise<Outcome> => {
    const child = execa('ip', ['netns', 'exec', node.name, BIN], {
      input: JSON.stringify(conf), reject: false, extendEnv: false,
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin', CNI_COMMAND: command, CNI_CONTAINERID: p.id, CNI_NETNS: p.ns.path, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' },
    });
    let killed = false;
    const timer = killAfterMs === undefined ? undefined : setTimeout(() => { killed = child.kill('SIGKILL'); }, killAfterMs);
    const r = await child;
    clearTimeout(timer);
    return { code: killed && r.signal === 'SIGKILL' ? 'killed' : r.exitCode ?? 1, stdout: r.stdout };
  };
  // About a third of the processes die somewhere in their run (which takes 50-1000 ms under this load).
  const maybeKill = (): number | undefined => (Math.random() < 0.33 ? Math.random() * 600 : undefined);

  let t0 = performance.now();
  const adds = await Promise.all(pods.map((p) => run('ADD', p, maybeKill())));
  const addPhaseMs = Math.round(performance.now() - t0);
  const ok = adds.filter((o) => o.code === 0);
  const failed = adds.filter((o) => o.code !== 0 && o.code !== 'killed');
  assert.deepEqual(failed.map((o) => o.stdout), [], 'ADDs that were not killed succeed');
  const ips = ok.map((o) => (JSON.parse(o.stdout) as { ips: Array<{ address: string }> }).ips[0]!.address);
  assert.equal(new Set(ips).size, ips.length, 'no address handed out twice');
  // Reservations on disk agree: one file per live attachment at most, each owned once.
  const owners = reservations(join(dataDir, NETWORK));
  assert.equal(new Set(owners.map((o) => o.ip)).size, owners.length);

  // The runtime DELs everything (some DELs die too), then repeats the DEL, which must succeed.
  t0 = performance.now();
  await Promise.all(pods.map((p) => run('DEL', p, Math.random() < 0.2 ? Math.random() * 300 : undefined)));
  const delPhaseMs = Math.round(performance.now() - t0);
  t0 = performance.now();
  const dels = await Promise.all(pods.map((p) => run('DEL', p)));
  const redelPhaseMs = Math.round(performance.now() - t0);
  assert.deepEqual(dels.filter((d) => d.code !== 0).map((d) => d.stdout), [], 'repeated DELs succeed');

  const left = reservations(join(dataDir, NETWORK));
  assert.deepEqual(left, [], 'no reserved address left');
  const tmp = existsSync(join(dataDir, NETWORK)) ? readdirSync(join(dataDir, NETWORK)).filter((f) => f.startsWith('.')) : [];
  assert.deepEqual(tmp, [], 'no temp files left');
  const veths = (await execa('ip', ['-n', node.name, '-o', 'link', 'show', 'type', 'veth'])).stdout.trim();
  assert.equal(veths, '', 'no veth left');
  const nat = (await lab.exec(node, ['iptables-save', '-t', 'nat'])).stdout.split('\n').filter((l) => l.includes('kna-cni/'));
  assert.deepEqual(nat, [], 'no pod rule left');
  console.log(JSON.stringify({ pods: PODS, addsOk: ok.length, addsKilled: adds.length - ok.length, addPhaseMs, delPhaseMs, redelPhaseMs }));
});

function reservations(dir: string): Array<{ ip: string; owner: string }> {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => /^[0-9a-f.:]+$/.test(f) && f.includes('.') !== f.includes(':') && !f.startsWith('last_'))
    .map((f) => ({ ip: f, owner: readFileSync(join(dir, f), 'utf8') }));
}
