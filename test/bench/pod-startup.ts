// `npm run bench -- pod-startup`: 30 one-container busybox pods started through the
// agent (manifest seen → Running), sequentially and all at once, against the same
// sandboxes and containers made by direct CRI calls (no agent), in the same run on the
// same private containerd. Also reports the agent's RSS.
//
// Ours is timed by the agent's own log: "pod added" (the manifest seen) and "observed
// pod startup duration" (its status turned Running, which its API serves from then
// on; each pod is checked there too, untimed). KNA_BENCH_OBSERVE=api times by polling
// the API every 10 ms instead, as earlier versions did: that doubles the agent's CPU
// while it starts pods (11% → 22% of a core here), a load the reference's phase does
// not carry, and rounds each time up by 0-10 ms.
import { closeSync, copyFileSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PodSandboxConfig } from '../../agent/cri/types.js';
import { startContainerd } from '../harness/containerd.js';
import { TestAgent, type PodJson } from '../harness/agent.js';
import { freePort } from '../harness/proxy-lab.js';

const N = Number(process.env.KNA_BENCH_PODS ?? 30);
/** all-at-once rounds of each side (KNA_BENCH_BURSTS), in turns */
const BURSTS = Number(process.env.KNA_BENCH_BURSTS ?? 4);
const OBSERVE = process.env.KNA_BENCH_OBSERVE === 'api' ? 'api' : 'log';
const IMAGE = 'localhost/kna/busybox:latest';
const emit = (o: object) => console.log(JSON.stringify(o));
const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!; };

function listPods(rootDir: string): Promise<PodJson[]> {
  return new Promise((resolve) => {
    const req = request({ socketPath: `${rootDir}/kna.sock`, path: '/pods' }, (res) => {
      let s = '';
      res.on('data', (d) => (s += d));
      res.on('end', () => { try { resolve((JSON.parse(s) as { items: PodJson[] }).items); } catch { resolve([]); } });
    });
    req.on('error', () => resolve([]));
    req.end();
  });
}

const manifest = (name: string) => `apiVersion: v1
kind: Pod
metadata: { name: ${name} }
spec:
  terminationGracePeriodSeconds: 0
  containers:
    - { name: app, image: ${IMAGE}, imagePullPolicy: IfNotPresent, command: [sleep, '100000'] }
`;

interface Timings {
  /** manifest written → Running */
  written: number[];
  /** the agent seeing the manifest ("pod added" in its log) → Running: the measure */
  seen: number[];
}

const isRunning = (p: PodJson) => p.status.phase === 'Running' && !!p.status.containerStatuses?.[0]?.state.running;

/** The agent's log, read on from where the last read stopped: first "pod added" and first Running per pod (epoch ms). */
class AgentLog {
  private offset = 0;
  private rest = '';
  readonly added = new Map<string, number>();
  readonly running = new Map<string, number>();
  constructor(private readonly file: string) {}

  read(): void {
    const fd = openSync(this.file, 'r');
    try {
      const buf = Buffer.alloc(1 << 16);
      for (let n; (n = readSync(fd, buf, 0, buf.length, this.offset)) > 0;) {
        this.offset += n;
        const lines = (this.rest + buf.toString('utf8', 0, n)).split('\n');
        this.rest = lines.pop()!;
        for (const line of lines) this.take(line);
      }
    } finally {
      closeSync(fd);
    }
  }

  private take(line: string): void {
    const at = line.includes('"msg":"pod added"') ? this.added : line.includes('"msg":"observed pod startup duration"') ? this.running : undefined;
    if (!at) return;
    const { pod, time } = JSON.parse(line) as { pod: string; time: number };
    const name = pod.split('/')[1]!;
    if (!at.has(name)) at.set(name, time);
  }
}

/** Writes manifests and times each pod until it is Running. */
async function agentRound(agent: TestAgent, log: AgentLog, names: string[], together: boolean): Promise<Timings> {
  const writtenAt = new Map<string, number>();
  const runningAt = new Map<string, number>();
  const waitRunning = async (pending: Set<string>) => {
    const wanted = new Set(pending);
    const deadline = Date.now() + 120_000;
    while (pending.size) {
      if (Date.now() > deadline) throw new Error(`not Running within 120 s: ${[...pending].join(', ')}\n${agent.log().split('\n').slice(-20).join('\n')}`);
      if (OBSERVE === 'api') {
        for (const p of await listPods(agent.rootDir)) {
          if (pending.has(p.metadata.name) && isRunning(p)) { runningAt.set(p.metadata.name, Date.now()); pending.delete(p.metadata.name); }
        }
        await sleep(10);
        continue;
      }
      log.read();
      for (const n of pending) {
        const t = log.running.get(n);
        if (t !== undefined) { runningAt.set(n, t); pending.delete(n); }
      }
      if (pending.size) await sleep(5);
    }
    // What the log says, the API shows (checked once, untimed).
    const pods = await listPods(agent.rootDir);
    for (const n of wanted) if (!pods.some((p) => p.metadata.name === n && isRunning(p))) throw new Error(`pod ${n}: Running in the agent's log, not on its API`);
  };
  const write = (n: string) => { writtenAt.set(n, Date.now()); agent.writeManifest(`${n}.yaml`, manifest(n)); };
  if (together) {
    for (const n of names) write(n);
    await waitRunning(new Set(names));
  } else {
    for (const n of names) {
      write(n);
      await waitRunning(new Set([n]));
    }
  }
  log.read();
  return {
    written: names.map((n) => runningAt.get(n)! - writtenAt.get(n)!),
    seen: names.map((n) => runningAt.get(n)! - (log.added.get(n) ?? writtenAt.get(n)!)),
  };
}

async function removeAll(agent: TestAgent, names: string[]): Promise<void> {
  for (const n of names) agent.removeManifest(`${n}.yaml`);
  while ((await listPods(agent.rootDir)).length) await sleep(100);
}

/** The agent's CRI calls so far by operation (kubelet_runtime_operations_total). */
async function criCalls(metricsPort: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  return new Map([...text.matchAll(/^kubelet_runtime_operations_total\{operation_type="([a-z_]+)"\} (\d+)$/gm)].map((m) => [m[1]!, Number(m[2])]));
}

/** Readings added up, per operation. */
function sumCalls(a: Map<string, number>, b: Map<string, number>): Map<string, number> {
  const out = new Map(a);
  for (const [op, n] of b) out.set(op, (out.get(op) ?? 0) + n);
  return out;
}

/** Calls per pod between two (summed) readings, by operation, the busiest first. */
function callsPerPod(before: Map<string, number>, after: Map<string, number>, pods: number): Record<string, number> {
  const per = [...after].map(([op, n]) => [op, +((n - (before.get(op) ?? 0)) / pods).toFixed(1)] as const).filter(([, n]) => n > 0);
  return Object.fromEntries(per.sort((a, b) => b[1] - a[1]));
}

/** CPU time (user + system) the process has used, ms. */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

async function main(): Promise<void> {
  const containerd = await startContainerd({ name: 'bench' });
  const metricsPort = await freePort();
  // info logs time the pods (AgentLog); metrics count its CRI calls
  const agent = new TestAgent(containerd, ['--metrics-bind-address', `127.0.0.1:${metricsPort}`]);
  const log = new AgentLog(join(agent.base, 'kna.log'));
  try {
    const cri = containerd.cri;
    // Reference: the same pods by direct CRI calls.
    const refPod = async (i: number, tag: string): Promise<{ ms: number; id: string }> => {
      const uid = `kna-t-bench-ref-${tag}-${i}`;
      const cfg: PodSandboxConfig = {
        metadata: { name: `ref-${i}`, namespace: 'default', uid, attempt: 0 },
        hostname: `ref-${i}`, logDirectory: `/var/lib/kna-t/bench-ref/${uid}`,
        labels: { 'io.kubernetes.pod.uid': uid },
        linux: { cgroupParent: `/kubepods/besteffort/pod${uid}`, securityContext: { namespaceOptions: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
      };
      containerd.ownCgroup(cfg.linux!.cgroupParent!);
      const t0 = performance.now();
      const sb = await cri.runPodSandbox(cfg);
      await cri.podSandboxStatus(sb);
      const c = await cri.createContainer(sb, { metadata: { name: 'app' }, image: { image: IMAGE }, command: ['sleep', '100000'], logPath: 'app/0.log' }, cfg);
      await cri.startContainer(c);
      return { ms: performance.now() - t0, id: sb };
    };
    const refClean = async (ids: string[]) => { for (const id of ids) { await cri.stopPodSandbox(id); await cri.removePodSandbox(id); } };

    agent.start();
    await agent.waitFor('agent API', async () => (await agent.kna(['get', 'pods'], { reject: false })).exitCode === 0);
    // Sequential: reference and agent pods alternate, so load changes hit both alike.
    const seqRef: number[] = []; const ids: string[] = []; const seqOurs: Timings = { written: [], seen: [] };
    const seqNames = Array.from({ length: N }, (_, i) => `seq-${i}`);
    for (let i = 0; i < N; i++) {
      const r = await refPod(i, 's'); seqRef.push(r.ms); ids.push(r.id);
      const t = await agentRound(agent, log, [seqNames[i]!], false);
      seqOurs.written.push(...t.written);
      seqOurs.seen.push(...t.seen);
    }
    await refClean(ids.splice(0));
    await removeAll(agent, seqNames);
    // All at once: BURSTS rounds, reference and agent in turns (ABBA...), so what one
    // burst leaves containerd doing (removing the previous 30 pods) weighs on both alike.
    const parRef: number[] = [];
    const parOurs: Timings = { written: [], seen: [] };
    let cpu = 0;
    let calls = { before: new Map<string, number>(), after: new Map<string, number>() };
    const rssMb = () => +(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${agent.pid!}/status`, 'utf8'))?.[1] ?? 0) / 1024).toFixed(1);
    let rssBurst = 0;
    const oursBurst = async (round: number) => {
      const names = Array.from({ length: N }, (_, i) => `par${round}-${i}`);
      const [calls0, cpu0] = [await criCalls(metricsPort), cpuMs(agent.pid!)];
      const t = await agentRound(agent, log, names, true);
      const calls1 = await criCalls(metricsPort);
      cpu += cpuMs(agent.pid!) - cpu0;
      calls = { before: sumCalls(calls.before, calls0), after: sumCalls(calls.after, calls1) };
      rssBurst = Math.max(rssBurst, rssMb()); // right after the burst
      parOurs.written.push(...t.written);
      parOurs.seen.push(...t.seen);
      await removeAll(agent, names); // each side's bursts start from an empty node
    };
    const refBurst = async (round: number) => {
      const res = await Promise.all(Array.from({ length: N }, (_, i) => refPod(i, `p${round}`)));
      parRef.push(...res.map((r) => r.ms));
      await refClean(res.map((r) => r.id));
    };
    for (let round = 0; round < BURSTS; round++) {
      for (const run of round % 2 === 0 ? [refBurst, oursBurst] : [oursBurst, refBurst]) await run(round);
    }
    // RSS with 30 pods once they have run quietly for a while (started once more, untimed).
    const steadyNames = Array.from({ length: N }, (_, i) => `steady-${i}`);
    await agentRound(agent, log, steadyNames, true);
    await sleep(15_000);
    const rssSteady = rssMb();
    await removeAll(agent, steadyNames);

    const row = (mode: string, ours: Timings, ref: number[]) => {
      const o = {
        mode, pods: N,
        ours_p50_ms: +pct(ours.seen, 50).toFixed(1), ours_p99_ms: +pct(ours.seen, 99).toFixed(1),
        ours_from_write_p50_ms: +pct(ours.written, 50).toFixed(1), ours_from_write_p99_ms: +pct(ours.written, 99).toFixed(1),
        reference_p50_ms: +pct(ref, 50).toFixed(1), reference_p99_ms: +pct(ref, 99).toFixed(1),
      };
      emit(o);
      return o;
    };
    const seq = row('sequential', seqOurs, seqRef);
    const par = row('all-at-once', parOurs, parRef);
    emit({ agent_rss_mb: rssSteady, agent_rss_after_burst_mb: rssBurst, pods: N });
    // What the agent spent on the all-at-once round: its CRI calls (the reference makes 4 per pod) and its CPU.
    const perPod = callsPerPod(calls.before, calls.after, N * BURSTS);
    emit({ mode: 'all-at-once', bursts: BURSTS, agent_cri_calls_per_pod: +Object.values(perPod).reduce((a, b) => a + b, 0).toFixed(1), agent_cpu_ms_per_burst: Math.round(cpu / BURSTS), by_operation: perPod });
    emit({
      summary: 'pod-startup', units: `ms (p50, manifest seen → Running, observed by the agent's ${OBSERVE}; reference: direct CRI calls)`,
      ours: seq.ours_p50_ms, reference: seq.reference_p50_ms, ratio: +(seq.ours_p50_ms / seq.reference_p50_ms).toFixed(3),
      ratio_all_at_once_p50: +(par.ours_p50_ms / par.reference_p50_ms).toFixed(3),
      // Including the file watch (manifest written rather than seen):
      ratio_from_write: +(seq.ours_from_write_p50_ms / seq.reference_p50_ms).toFixed(3),
      agent_rss_mb: rssSteady,
      agent_rss_after_burst_mb: rssBurst,
    });
  } finally {
    // KNA_BENCH_LOG=FILE keeps the agent's log (per-pod timelines) beyond the clean-up.
    if (process.env.KNA_BENCH_LOG) copyFileSync(join(agent.base, 'kna.log'), process.env.KNA_BENCH_LOG);
    await agent.stop();
    await containerd.stop();
    rmSync('/var/lib/kna-t/bench-ref', { recursive: true, force: true });
  }
}

await main();
