// `npm run bench -- overlay`: pod ↔ pod across two test nodes (netns on one underlay
// bridge) through our overlay against the floor: the same namespaces wired by hand
// with `ip link add ... type vxlan`, `ip route/neigh` and `bridge fdb`.
//
// Both datapaths exist at once, so samples can alternate every few seconds and the
// machine's changing load hits both alike: ours is kna.1 (VNI 1, port 8472, run by an
// Overlay process per node from a peers file) carrying the pods at .2; the floor is
// kna-tfloor (VNI 2, port 4789; two devices cannot share VNI+port) carrying the pods
// at .130 through more specific /25 routes on the same pod bridges. Throughput is
// iperf3 TCP (one stream), RTT busybox `ping -A`; medians of ABBA-ordered samples.
//
// Then convergence: a third node appears in the peers file → the first UDP probe
// (one every ms) from a pod on node 0 to that node's pod is answered; median of samples.
// Summary: throughput_ratio = ours/floor, latency_ratio = floor RTT/ours RTT (higher is
// better for both). Needs iperf3 (Debian package).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { vtepMacFor } from '../../agent/network/overlay/desired.js';
import { writePeersFile, type PeerInfo } from '../../agent/network/peers.js';
import { createNodes, nsExec, type Cluster, type TestNode, type TestPod } from '../harness/nodes.js';
import { startOverlayAgent, type OverlayAgent } from '../harness/overlay-agent.js';

const SAMPLES = Number(process.env.KNA_BENCH_SAMPLES ?? 8);
const SECONDS = Number(process.env.KNA_BENCH_SECONDS ?? 2);
const PINGS = Number(process.env.KNA_BENCH_PINGS ?? 500);
const CONVERGE = Number(process.env.KNA_BENCH_CONVERGE ?? 10);
const MTU = 1450;
const FLOOR_DEV = 'kna-tfloor';
const NET_TOOL = join(process.cwd(), 'dist/test/harness/net-tool.js');
const emit = (o: object) => console.log(JSON.stringify(o));
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2; };
const round = (x: number, d = 3) => +x.toFixed(d);

const peer = (n: TestNode): PeerInfo => ({ name: n.name, nodeIP: n.ip, podCIDR: n.podCIDR, vtepMAC: vtepMacFor(n.ip) });
/** 10.240.N.0/24 → 10.240.N.<host> */
const inPodNet = (n: TestNode, host: number) => n.podCIDR.replace(/\.0\/\d+$/, `.${host}`);
const floorMac = (n: TestNode) => vtepMacFor(n.ip).replace(/^0e:6b/, '0e:66');

function background(netns: string, argv: string[]): { kill(): Promise<void> } {
  const child = execa('ip', ['netns', 'exec', netns, ...argv], { reject: false, buffer: false, stdio: ['ignore', 'ignore', 'ignore'] });
  return { kill: async () => { child.kill('SIGKILL'); await child; } };
}

async function iperf(from: TestPod | TestNode, to: string): Promise<number> {
  const r = await nsExec(from.netns, ['iperf3', '-c', to, '-t', String(SECONDS), '-J'], { timeout: (SECONDS + 20) * 1000 });
  const j = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } };
  return j.end.sum_received.bits_per_second / 1e9;
}

async function rtt(from: TestPod, to: string): Promise<number> {
  const r = await nsExec(from.netns, ['busybox', 'ping', '-A', '-q', '-c', String(PINGS), to]);
  const m = /min\/avg\/max = [\d.]+\/([\d.]+)\//.exec(r.stdout);
  if (!m) throw new Error(`ping output: ${r.stdout}`);
  return Number(m[1]);
}

/** The floor on `node` towards `other`: a vxlan device and its entries, by iproute2. */
async function wireFloor(node: TestNode, other: TestNode): Promise<void> {
  const gw = inPodNet(other, 128);
  const lines = [
    `link add ${FLOOR_DEV} type vxlan id 2 dstport 4789 local ${node.ip} dev eth0 nolearning`,
    `link set ${FLOOR_DEV} mtu ${MTU} address ${floorMac(node)}`,
    `addr add ${inPodNet(node, 128)}/32 dev ${FLOOR_DEV}`,
    `link set ${FLOOR_DEV} up`,
    `neigh add ${gw} lladdr ${floorMac(other)} dev ${FLOOR_DEV} nud permanent`,
    `route add ${gw}/25 via ${gw} dev ${FLOOR_DEV} onlink`,
  ];
  await nsExec(node.netns, ['ip', '-batch', '-'], { input: lines.join('\n') + '\n' });
  await nsExec(node.netns, ['bridge', 'fdb', 'append', floorMac(other), 'dev', FLOOR_DEV, 'dst', other.ip, 'self', 'permanent']);
}

/** One convergence sample: probe running, new peer written, first echo back. */
async function convergeOnce(peersFile: string, base: TestNode[], added: TestNode, from: TestPod, to: TestPod): Promise<number> {
  const probe = execa('ip', ['netns', 'exec', from.netns, process.execPath, NET_TOOL, 'probe', to.ip, '7070', '1', '10000'], { reject: false });
  await sleep(300); // the probe is sending (node start-up done) before the peer appears
  const t0 = performance.timeOrigin + performance.now();
  await writePeersFile(peersFile, [...base, added].map(peer));
  const r = await probe;
  const out = JSON.parse(String(r.stdout)) as { ok: boolean; at: number; sent: number };
  if (!out.ok) throw new Error(`convergence probe: ${String(r.stdout)}`);
  if (out.sent > t0) throw new Error('convergence probe started after the peer was written; raise the delay');
  return out.at - t0;
}

async function waitForgotten(node: TestNode, cidr: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (!(await nsExec(node.netns, ['ip', '-4', 'route', 'show', cidr])).stdout.trim()) return;
    await sleep(10);
  }
  throw new Error(`${node.name} still routes ${cidr}`);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kna-t-bench-overlay-'));
  const peersFile = join(dir, 'peers.json');
  let cluster: Cluster | undefined;
  const agents: OverlayAgent[] = [];
  const bg: { kill(): Promise<void> }[] = [];
  try {
    cluster = await createNodes({ count: 3, name: 'bnch' });
    const [n0, n1, n2] = cluster.nodes as [TestNode, TestNode, TestNode];
    const a = await cluster.addPod(n0, { mtu: MTU }), b = await cluster.addPod(n1, { mtu: MTU }), c = await cluster.addPod(n2, { mtu: MTU });
    const a2 = await cluster.addPod(n0, { mtu: MTU, host: 130 }), b2 = await cluster.addPod(n1, { mtu: MTU, host: 130 });

    await writePeersFile(peersFile, [n0, n1].map(peer));
    const startMs: number[] = [];
    for (const n of [n0, n1]) {
      const t = performance.now();
      agents.push(await startOverlayAgent(n, { mode: 'vxlan', peers: peersFile, logLevel: 'warn' }));
      startMs.push(performance.now() - t);
    }
    if (agents[0]!.podMtu !== MTU) throw new Error(`podMtu ${agents[0]!.podMtu}, expected ${MTU}`);
    await wireFloor(n0, n1);
    await wireFloor(n1, n0);
    for (const ns of [b.netns, b2.netns, n1.netns]) bg.push(background(ns, ['iperf3', '-s']));
    await sleep(300);

    const underlay = await iperf(n0, n1.ip);
    emit({ underlay_throughput_gbps: round(underlay) });
    await iperf(a, b.ip); // warm-up
    await iperf(a2, b2.ip);
    const ours = { gbps: [] as number[], rtt: [] as number[] };
    const floor = { gbps: [] as number[], rtt: [] as number[] };
    const sample = async (which: 'ours' | 'floor', i: number) => {
      const [from, to, into] = which === 'ours' ? [a, b, ours] : [a2, b2, floor];
      const gbps = await iperf(from, to.ip);
      const ms = await rtt(from, to.ip);
      into.gbps.push(gbps);
      into.rtt.push(ms);
      emit({ sample: i, path: which, throughput_gbps: round(gbps), rtt_ms: round(ms) });
    };
    // ABBA, so load drift on this shared machine does not favour either side.
    for (let i = 0; i < SAMPLES; i++) {
      const order = i % 2 === 0 ? (['ours', 'floor'] as const) : (['floor', 'ours'] as const);
      for (const w of order) await sample(w, i);
    }
    emit({ agent_start_ms_p50: round(median(startMs), 1), note: 'ip netns exec + node start + first sync, per node' });

    // Convergence: nodes 0 and 1 know each other; node 2's agent knows both (so replies
    // can come back); then node 2 appears in the file that node 0 watches.
    agents.push(await startOverlayAgent(n2, { mode: 'vxlan', peers: peersFile, logLevel: 'warn' }));
    bg.push(background(c.netns, [process.execPath, NET_TOOL, 'serve', '7070']));
    await sleep(300);
    const conv: number[] = [];
    for (let i = 0; i < CONVERGE; i++) {
      const ms = await convergeOnce(peersFile, [n0, n1], n2, a, c);
      conv.push(ms);
      emit({ convergence_sample: i, ms: round(ms, 1) });
      await writePeersFile(peersFile, [n0, n1].map(peer));
      await waitForgotten(n0, n2.podCIDR);
    }

    const oursGbps = median(ours.gbps), floorGbps = median(floor.gbps);
    const oursRtt = median(ours.rtt), floorRtt = median(floor.rtt);
    emit({
      summary: 'overlay',
      units: 'Gbit/s (iperf3 TCP pod to pod across nodes, median; reference: kernel vxlan wired by hand in the same netns)',
      ours: round(oursGbps), reference: round(floorGbps), ratio: round(oursGbps / floorGbps),
      throughput_ratio: round(oursGbps / floorGbps),
      latency_ratio: round(floorRtt / oursRtt),
      ours_rtt_ms: round(oursRtt), reference_rtt_ms: round(floorRtt),
      convergence_ms: round(median(conv), 1), convergence_max_ms: round(Math.max(...conv), 1),
      underlay_throughput_gbps: round(underlay),
      agent_start_ms: round(median(startMs), 1),
      samples: SAMPLES,
    });
  } finally {
    for (const ag of agents) await ag.kill().catch(() => {});
    for (const p of bg) await p.kill().catch(() => {});
    await cluster?.remove();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
