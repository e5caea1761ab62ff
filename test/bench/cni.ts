// npm run bench -- cni [PODS] [SANDBOXES]
// kna-cni against Debian's reference chain, in the same run, on the same kind of
// set-up: a "node" netns holding the bridge (and this benchmark, re-run inside it
// with nsenter so the plugins are exec'd exactly as containerd would, each its own
// process, without a wrapper), pods as netns, one hostPort per pod.
//   ours:      kna-cni (bridge + IPAM + portmap + masquerade + lo in one process)
//   reference: loopback, bridge (which execs host-local), portmap: four Go processes
// Then pod sandboxes through a private containerd configured with each conflist.
// Prints one JSON object per line; the last is the summary.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';
import { execa } from 'execa';
import type { PodSandboxConfig } from '../../agent/cri/types.js';
import { buildConflist } from '../../cni/conflist.js';
import { startContainerd, type Containerd } from '../harness/containerd.js';
import { NetnsLab, type Netns } from '../harness/netns.js';

const OURS = resolve('dist/cni/kna-cni');
const REF = '/usr/lib/cni';
const PODS = Number(process.argv[2] ?? 40);
const SANDBOXES = Number(process.argv[3] ?? 10);

const print = (o: object): void => { process.stdout.write(`${JSON.stringify(o)}\n`); };
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return Number((s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN).toFixed(1));
};
const stats = (xs: number[]) => ({ n: xs.length, p50: pct(xs, 50), p99: pct(xs, 99), mean: Number((xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(1)) });

/** One plugin process, as a runtime runs it; resolves with its wall time and stdout. */
function exec(bin: string, env: Record<string, string>, config: object): Promise<{ ms: number; stdout: string }> {
  return new Promise((res, rej) => {
    const t0 = performance.now();
    const child = spawn(bin, [], { env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', CNI_PATH: REF, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', rej);
    child.on('close', (code) => {
      const ms = performance.now() - t0;
      if (code !== 0) rej(new Error(`${bin} ${env.CNI_COMMAND}: exit ${code}: ${out} ${err}`));
      else res({ ms, stdout: out });
    });
    child.stdin.end(JSON.stringify(config));
  });
}

async function outer(): Promise<void> {
  const lab = new NetnsLab('cnib');
  try {
    const node = await lab.netns('node');
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_TEST_CONTEXT')) as Record<string, string>;
    // nsenter (not ip netns exec, which remounts /sys and hides the cgroups runc needs).
    const r = execa('nsenter', [`--net=${node.path}`, '--', process.execPath, fileURLToPath(import.meta.url), String(PODS), String(SANDBOXES)], {
      env: { ...env, KNA_BENCH_CNI_INNER: node.name }, extendEnv: false, stdout: 'inherit', stderr: 'inherit', reject: false,
    });
    const res = await r;
    process.exitCode = res.exitCode ?? 1;
  } finally {
    await lab.dispose();
  }
}

interface Impl { name: 'ours' | 'reference'; add(i: number, ns: Netns): Promise<number>; del(i: number, ns: Netns): Promise<number> }

async function inner(): Promise<void> {
  const lab = new NetnsLab('cnibp');
  const tmp = mkdtempSync('/tmp/kna-t-cnibench-');
  try {
    const ids = (i: number, who: string) => `kna-t-bench-${who}-${i}-${lab.suffix}`;
    const base = { isGateway: true, isDefaultGateway: true, ipMasq: true, hairpinMode: true };
    const portMappings = (i: number, off: number) => [{ hostPort: off + i, containerPort: 80, protocol: 'tcp' }];
    const attach = (id: string, ns: Netns, ifname = 'eth0') => ({ CNI_CONTAINERID: id, CNI_NETNS: ns.path, CNI_IFNAME: ifname });

    const oursConf = (i: number) => ({
      cniVersion: '1.0.0', name: 'kna-t-bo', type: 'kna-cni', bridge: 'kna-tbo', ...base,
      ipam: { type: 'host-local', ranges: [[{ subnet: '10.201.0.0/24' }]], dataDir: join(tmp, 'ours') },
      runtimeConfig: { portMappings: portMappings(i, 20000) },
    });
    const refBridge = { cniVersion: '1.0.0', name: 'kna-t-br', type: 'bridge', bridge: 'kna-tbr', ...base,
      ipam: { type: 'host-local', ranges: [[{ subnet: '10.202.0.0/24' }]], dataDir: join(tmp, 'ref') } };
    const loopback = { cniVersion: '1.0.0', name: 'cni-loopback', type: 'loopback' };
    const refPortmap = (i: number) => ({ cniVersion: '1.0.0', name: 'kna-t-br', type: 'portmap', capabilities: { portMappings: true }, runtimeConfig: { portMappings: portMappings(i, 21000) } });
    const results = new Map<number, object>();

    const ours: Impl = {
      name: 'ours',
      add: async (i, ns) => (await exec(OURS, { CNI_COMMAND: 'ADD', ...attach(ids(i, 'o'), ns) }, oursConf(i))).ms,
      del: async (i, ns) => (await exec(OURS, { CNI_COMMAND: 'DEL', ...attach(ids(i, 'o'), ns) }, oursConf(i))).ms,
    };
    // The reference chain as libcni runs it: loopback, then each plugin with the previous result.
    const reference: Impl = {
      name: 'reference',
      add: async (i, ns) => {
        const id = ids(i, 'r');
        const lo = await exec(join(REF, 'loopback'), { CNI_COMMAND: 'ADD', ...attach(id, ns, 'lo') }, loopback);
        const br = await exec(join(REF, 'bridge'), { CNI_COMMAND: 'ADD', ...attach(id, ns) }, refBridge);
        const prevResult = JSON.parse(br.stdout) as object;
        const pm = await exec(join(REF, 'portmap'), { CNI_COMMAND: 'ADD', ...attach(id, ns) }, { ...refPortmap(i), prevResult });
        results.set(i, JSON.parse(pm.stdout) as object);
        return lo.ms + br.ms + pm.ms;
      },
      del: async (i, ns) => {
        const id = ids(i, 'r');
        const prevResult = results.get(i);
        const pm = await exec(join(REF, 'portmap'), { CNI_COMMAND: 'DEL', ...attach(id, ns) }, { ...refPortmap(i), prevResult });
        const br = await exec(join(REF, 'bridge'), { CNI_COMMAND: 'DEL', ...attach(id, ns) }, { ...refBridge, prevResult });
        const lo = await exec(join(REF, 'loopback'), { CNI_COMMAND: 'DEL', ...attach(id, ns, 'lo') }, loopback);
        return pm.ms + br.ms + lo.ms;
      },
    };

    const pods = new Map<string, Netns[]>([['ours', []], ['reference', []]]);
    for (let i = 0; i < PODS; i++) for (const who of ['ours', 'reference']) pods.get(who)!.push(await lab.netns(`${who[0]}${i}`));
    const times: Record<string, number[]> = { 'ours ADD': [], 'ours DEL': [], 'reference ADD': [], 'reference DEL': [], 'loopback ADD': [] };
    const impls = [ours, reference];
    // Interleaved, in a random order per pod, so machine noise hits both alike.
    for (let i = 0; i < PODS; i++) {
      for (const impl of Math.random() < 0.5 ? impls : [...impls].reverse()) times[`${impl.name} ADD`]!.push(await impl.add(i, pods.get(impl.name)![i]!));
      // What containerd adds to ours: it always runs the loopback plugin too.
      times['loopback ADD']!.push((await exec(join(REF, 'loopback'), { CNI_COMMAND: 'ADD', ...attach(ids(i, 'o'), pods.get('ours')![i]!, 'lo') }, loopback)).ms);
    }
    for (let i = 0; i < PODS; i++) {
      for (const impl of Math.random() < 0.5 ? impls : [...impls].reverse()) times[`${impl.name} DEL`]!.push(await impl.del(i, pods.get(impl.name)![i]!));
    }
    for (const [k, v] of Object.entries(times)) print({ phase: k, unit: 'ms', ...stats(v) });

    const sandbox = await sandboxes();
    const add = { ours: stats(times['ours ADD']!), reference: stats(times['reference ADD']!) };
    const del = { ours: stats(times['ours DEL']!), reference: stats(times['reference DEL']!) };
    print({
      summary: 'cni',
      units: 'ms, p50 of a pod network ADD (full set-up: interfaces, IPAM, hostPort, masquerade, lo)',
      ours: add.ours.p50,
      reference: add.reference.p50,
      ratio: Number((add.ours.p50 / add.reference.p50).toFixed(2)),
      add, del,
      delRatio: Number((del.ours.p50 / del.reference.p50).toFixed(2)),
      oursWithGoLoopback: Number((add.ours.p50 + stats(times['loopback ADD']!).p50).toFixed(1)),
      sandbox,
      pods: PODS,
    });
  } finally {
    await lab.dispose();
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** RunPodSandbox and Stop+Remove through a private containerd with each conflist, interleaved. */
async function sandboxes(): Promise<object | undefined> {
  if (SANDBOXES <= 0) return undefined;
  const make = (plugin: 'kna-cni' | 'reference') => startContainerd({
    name: plugin === 'kna-cni' ? 'bo' : 'br',
    cniPlugins: { 'kna-cni': OURS },
    cniConflist: (ctx) => buildConflist({ name: ctx.bridge, bridge: ctx.bridge, podCidrs: [ctx.podCidr], dataDir: ctx.ipamDataDir, plugin }),
  });
  const ctds: Record<string, Containerd> = {};
  try {
    ctds.ours = await make('kna-cni');
    ctds.reference = await make('reference');
    const t: Record<string, { run: number[]; teardown: number[] }> = { ours: { run: [], teardown: [] }, reference: { run: [], teardown: [] } };
    for (let i = 0; i < SANDBOXES; i++) {
      for (const who of Math.random() < 0.5 ? ['ours', 'reference'] : ['reference', 'ours']) {
        const ctd = ctds[who]!;
        const uid = randomUUID();
        const config: PodSandboxConfig = {
          metadata: { name: `kna-t-bench-${i}`, namespace: 'default', uid, attempt: 0 },
          hostname: `kna-t-bench-${i}`,
          logDirectory: join(dirname(ctd.root), 'pods', uid),
          portMappings: [{ protocol: 'TCP', containerPort: 80, hostPort: (who === 'ours' ? 22000 : 23000) + i }],
          linux: { cgroupParent: `/kubepods/besteffort/pod${uid}`, securityContext: { namespaceOptions: { pid: 'CONTAINER' } } },
        };
        ctd.ownCgroup(config.linux!.cgroupParent!);
        let t0 = performance.now();
        const id = await ctd.cri.runPodSandbox(config);
        t[who]!.run.push(performance.now() - t0);
        t0 = performance.now();
        await ctd.cri.stopPodSandbox(id);
        await ctd.cri.removePodSandbox(id);
        t[who]!.teardown.push(performance.now() - t0);
      }
    }
    const out = {
      ours: { runPodSandbox: stats(t.ours!.run), teardown: stats(t.ours!.teardown) },
      reference: { runPodSandbox: stats(t.reference!.run), teardown: stats(t.reference!.teardown) },
      runRatio: 0,
    };
    out.runRatio = Number((out.ours.runPodSandbox.p50 / out.reference.runPodSandbox.p50).toFixed(2));
    print({ phase: 'sandbox', unit: 'ms', ...out });
    return out;
  } finally {
    for (const c of Object.values(ctds)) await c.stop();
  }
}

await (process.env.KNA_BENCH_CNI_INNER ? inner() : outer());
