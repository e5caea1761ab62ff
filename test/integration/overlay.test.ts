// The overlay between three test nodes (netns on one underlay bridge), each running
// the Overlay in its own process on a shared peers file, with a stand-in pod per node.
// Real packets: ICMP, TCP (1 MB) and UDP (one full-MTU datagram with DF) pod to pod
// across nodes; a removed peer disappears from the others' kernels; a restarted
// process converges over stale entries without duplicates, and traffic keeps flowing
// while it is down; host-gw mode on the same nodes replaces the VXLAN device.
// The tests in a describe run in order and build on each other.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import { writePeersFile, type PeerInfo } from '../../agent/network/peers.js';
import { RTPROT_KNA, vtepIP } from '../../agent/network/overlay/desired.js';
import { createNodes, nsExec, type Cluster, type TestNode, type TestPod } from '../harness/nodes.js';
import { removeOverlay, startOverlayAgent, type OverlayAgent } from '../harness/overlay-agent.js';

const NET_TOOL = join(process.cwd(), 'dist/test/harness/net-tool.js');
const PORT = 7070;
const DEV = 'kna.1';

interface KernelView {
  routes: { dst: string; gateway?: string; dev?: string; flags?: string[] }[];
  neigh: { dst: string; lladdr?: string; state?: string[] }[];
  fdb: { mac: string; dst?: string; state?: string }[];
  device?: { mtu: number; address: string; linkinfo?: { info_kind?: string; info_data?: { id?: number; port?: number; local?: string; learning?: boolean } } };
}

/** What `ip`/`bridge` (not our code) see in a node, for our device and our route protocol. */
async function kernel(node: TestNode): Promise<KernelView> {
  const j = async (argv: string[]) => JSON.parse((await nsExec(node.netns, argv)).stdout || '[]') as unknown;
  const routes = (await j(['ip', '-j', '-4', 'route', 'show', 'proto', String(RTPROT_KNA)])) as KernelView['routes'];
  const dev = ((await nsExec(node.netns, ['ip', '-j', '-d', 'link', 'show', DEV], { reject: false })).stdout || '[]');
  const device = (JSON.parse(dev) as KernelView['device'][])[0];
  if (!device) return { routes, neigh: [], fdb: [] };
  const neigh = (await j(['ip', '-j', '-4', 'neigh', 'show', 'dev', DEV])) as KernelView['neigh'];
  const fdb = (await j(['bridge', '-j', 'fdb', 'show', 'dev', DEV])) as KernelView['fdb'];
  return { routes, neigh, fdb, device };
}

const toolIn = (netns: string, args: string[]) => nsExec(netns, [process.execPath, NET_TOOL, ...args], { reject: false, timeout: 30_000 });

/** Starts net-tool's TCP/UDP server in a pod; resolves once it listens. */
async function serve(pod: TestPod): Promise<{ kill(): void }> {
  const child: ResultPromise = execa('ip', ['netns', 'exec', pod.netns, process.execPath, NET_TOOL, 'serve', String(PORT)], { reject: false, buffer: false });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => { if (d.toString().includes('"ready"')) resolve(); });
    void child.then(() => reject(new Error(`server in ${pod.netns} exited`)));
  });
  return { kill: () => child.kill('SIGKILL') };
}

/** IP fragments created and reassembly requests seen in a namespace (/proc/net/snmp is per netns). */
async function fragCounters(netns: string): Promise<{ FragCreates: number; ReasmReqds: number }> {
  const lines = (await nsExec(netns, ['cat', '/proc/net/snmp'])).stdout.split('\n').filter((l) => l.startsWith('Ip:'));
  const [names, values] = lines.map((l) => l.split(/\s+/).slice(1));
  const get = (k: string) => Number(values![names!.indexOf(k)]);
  return { FragCreates: get('FragCreates'), ReasmReqds: get('ReasmReqds') };
}

/** busybox ping: returns received count (the image has no iputils ping). */
async function ping(from: TestPod, to: string, count: number, intervalS = 0.2, size?: number): Promise<{ sent: number; received: number; out: string }> {
  const args = ['busybox', 'ping', '-c', String(count), '-i', String(intervalS), '-W', '2', '-q', ...(size !== undefined ? ['-s', String(size)] : []), to];
  const r = await nsExec(from.netns, args, { reject: false });
  const m = /(\d+) packets transmitted, (\d+) packets received/.exec(r.stdout);
  return { sent: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0), out: r.stdout + r.stderr };
}

/** Waits until `check` passes (the overlays react to file changes asynchronously). */
async function eventually(what: string, check: () => Promise<void>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try { return await check(); } catch (err) {
      if (Date.now() > end) throw new Error(`${what}: ${(err as Error).message}`);
      await sleep(50);
    }
  }
}

describe('overlay vxlan + host-gw across three nodes', () => {
  let cluster: Cluster;
  let dir: string;
  let peersFile: string;
  const agents = new Map<TestNode, OverlayAgent>();
  let pods: TestPod[] = [];
  const servers: { kill(): void }[] = [];
  let podMtu = 0;

  const startAll = async (mode: 'vxlan' | 'host-gw') => {
    for (const n of cluster.nodes) {
      // One node names its underlay explicitly, the others find it from the node IP.
      agents.set(n, await startOverlayAgent(n, { mode, peers: peersFile, resyncMs: 0, ...(n === cluster.nodes[2] ? { iface: 'eth0' } : {}) }));
    }
  };
  const stopAll = async () => { for (const a of agents.values()) await a.stop(); agents.clear(); };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kna-t-overlay-'));
    peersFile = join(dir, 'peers.yaml');
    cluster = await createNodes({ count: 3, name: 'ovl' });
  });

  after(async () => {
    for (const s of servers) s.kill();
    for (const a of agents.values()) await a.kill().catch(() => {});
    await cluster?.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  test('each node publishes itself; the file lists all; the kernel gets one route+neigh+fdb per peer', async () => {
    // The peers file needs each node's VTEP MAC, which self() gives before any kernel work.
    const selfs: PeerInfo[] = cluster.nodes.map((n) => ({ name: n.name, nodeIP: n.ip, podCIDR: n.podCIDR }));
    await writePeersFile(peersFile, selfs); // no MACs yet: vxlan peers are skipped, nothing breaks
    await startAll('vxlan');
    await writePeersFile(peersFile, [...agents.values()].map((a) => a.self));
    podMtu = agents.get(cluster.nodes[0]!)!.podMtu;
    assert.equal(podMtu, 1450, 'underlay 1500 - 50');
    for (const n of cluster.nodes) {
      await eventually(`${n.name} kernel`, async () => {
        const k = await kernel(n);
        const others = cluster.nodes.filter((o) => o !== n);
        assert.deepEqual(k.routes.map((r) => [r.dst, r.gateway, r.dev, r.flags?.includes('onlink')]).sort(),
          others.map((o) => [o.podCIDR, vtepIP(o.podCIDR), DEV, true]).sort());
        assert.deepEqual(k.neigh.map((x) => [x.dst, x.lladdr, x.state?.includes('PERMANENT')]).sort(),
          others.map((o) => [vtepIP(o.podCIDR), agents.get(o)!.self.vtepMAC, true]).sort());
        assert.deepEqual(k.fdb.map((x) => [x.mac, x.dst, x.state]).sort(), others.map((o) => [agents.get(o)!.self.vtepMAC, o.ip, 'permanent']).sort());
        assert.equal(k.device?.mtu, 1450);
        assert.equal(k.device?.address, agents.get(n)!.self.vtepMAC);
        const info = k.device?.linkinfo?.info_data;
        assert.deepEqual([info?.id, info?.port, info?.local, info?.learning], [1, 8472, n.ip, false]);
      });
    }
    pods = [];
    for (const n of cluster.nodes) pods.push(await cluster.addPod(n, { mtu: podMtu }));
    for (const p of pods) servers.push(await serve(p));
  });

  test('pod to pod across nodes: ICMP, TCP 1 MB, UDP at full pod MTU with DF', async () => {
    const [a, b, c] = pods as [TestPod, TestPod, TestPod];
    for (const [from, to] of [[a, b], [a, c], [b, c], [c, a]] as const) {
      const p = await ping(from, to.ip, 3, 0.1);
      assert.equal(p.received, 3, `ping ${from.ip} -> ${to.ip}\n${p.out}`);
      const t = await toolIn(from.netns, ['tcp', to.ip, String(PORT), String(1 << 20)]);
      assert.equal(t.exitCode, 0, `tcp 1 MB ${from.ip} -> ${to.ip}: ${t.stdout}${t.stderr}`);
      // podMtu - 28 bytes of payload fill a podMtu IP packet; Linux sets DF on it.
      const u = await toolIn(from.netns, ['udp', to.ip, String(PORT), String(podMtu - 28)]);
      assert.equal(u.exitCode, 0, `udp ${podMtu - 28} B ${from.ip} -> ${to.ip}: ${u.stdout}${u.stderr}`);
    }
    const big = await ping(a, c.ip, 2, 0.1, podMtu - 28);
    assert.equal(big.received, 2, `ping -s ${podMtu - 28}\n${big.out}`);
    // No fragmentation anywhere: the pod MTU leaves room for the VXLAN headers.
    for (const ns of [...cluster.nodes.map((n) => n.netns), ...pods.map((p) => p.netns)]) {
      assert.deepEqual(await fragCounters(ns), { FragCreates: 0, ReasmReqds: 0 }, `fragments in ${ns}`);
    }
  });

  test('the pod source IP survives the trip (no NAT in the overlay)', async () => {
    const [a, , c] = pods as [TestPod, TestPod, TestPod];
    const r = await toolIn(a.netns, ['tcp', c.ip, String(PORT), '1000']);
    assert.equal(r.exitCode, 0, r.stdout);
    assert.equal((JSON.parse(r.stdout) as { seenFrom: string }).seenFrom, a.ip);
  });

  test('removing a node from the file removes its route, neighbour and fdb entry on the others', async () => {
    const gone = cluster.nodes[2]!;
    const gonePeer = agents.get(gone)!.self;
    await writePeersFile(peersFile, [...agents.values()].filter((a) => a.node !== gone).map((a) => a.self));
    for (const n of cluster.nodes.slice(0, 2)) {
      await eventually(`${n.name} forgets ${gone.name}`, async () => {
        const k = await kernel(n);
        assert.equal(k.routes.length, 1);
        assert.ok(!k.routes.some((r) => r.dst === gone.podCIDR));
        assert.ok(!k.neigh.some((x) => x.dst === vtepIP(gone.podCIDR)));
        assert.ok(!k.fdb.some((x) => x.mac === gonePeer.vtepMAC));
      });
    }
    const p = await ping(pods[0]!, pods[2]!.ip, 1, 0.1);
    assert.equal(p.received, 0, 'no path to the removed node');
    await writePeersFile(peersFile, [...agents.values()].map((a) => a.self));
    await eventually('node-2 back', async () => assert.equal((await ping(pods[0]!, pods[2]!.ip, 1, 0.1)).received, 1));
  });

  test('traffic flows while the overlay process is down; a new process prunes stale entries and duplicates nothing', async () => {
    const a = cluster.nodes[0]!;
    const [podA, podB] = pods as [TestPod, TestPod];
    const before = await kernel(a);
    // A ping loop over the whole stop → tamper → restart window.
    const loop = ping(podA, podB.ip, 60, 0.05);
    await sleep(300);
    await agents.get(a)!.stop();
    agents.delete(a);
    // Stale state a crashed or older agent could leave: a route to a vanished node,
    // its neighbour and fdb entry, and a second remote for a live peer's MAC.
    const bMac = agents.get(cluster.nodes[1]!)!.self.vtepMAC!;
    await nsExec(a.netns, ['ip', 'route', 'add', '10.240.99.0/24', 'via', '10.240.99.0', 'dev', DEV, 'onlink', 'proto', String(RTPROT_KNA)]);
    await nsExec(a.netns, ['ip', 'neigh', 'add', '10.240.99.0', 'lladdr', '0e:6b:ac:1e:00:63', 'dev', DEV, 'nud', 'permanent']);
    await nsExec(a.netns, ['bridge', 'fdb', 'append', '0e:6b:ac:1e:00:63', 'dev', DEV, 'dst', '172.30.0.99', 'self', 'permanent']);
    await nsExec(a.netns, ['bridge', 'fdb', 'append', bMac, 'dev', DEV, 'dst', '172.30.0.98', 'self', 'permanent']);
    await sleep(500);
    agents.set(a, await startOverlayAgent(a, { mode: 'vxlan', peers: peersFile, resyncMs: 0 }));
    const after = await kernel(a);
    const norm = (k: KernelView) => JSON.stringify([
      k.routes.map((r) => [r.dst, r.gateway]).sort(), k.neigh.map((x) => [x.dst, x.lladdr]).sort(), k.fdb.map((x) => [x.mac, x.dst]).sort(),
    ]);
    assert.equal(norm(after), norm(before), 'converged to exactly the state before (stale gone, nothing doubled)');
    const p = await loop;
    assert.equal(p.received, p.sent, `ping loop across stop/restart lost packets\n${p.out}`);
    assert.ok(!agents.get(a)!.logs().includes('re-creating'), 'the device was kept, not rebuilt');
  });

  test('host-gw on the same nodes: the vxlan device goes, routes point at node IPs, traffic flows', async () => {
    await stopAll();
    await startAll('host-gw');
    for (const n of cluster.nodes) {
      const k = await kernel(n);
      assert.equal(k.device, undefined, `${n.name}: vxlan device removed`);
      const others = cluster.nodes.filter((o) => o !== n);
      assert.deepEqual(k.routes.map((r) => [r.dst, r.gateway, r.dev]).sort(), others.map((o) => [o.podCIDR, o.ip, 'eth0']).sort());
      assert.equal(agents.get(n)!.podMtu, 1500);
    }
    const [a, b, c] = pods as [TestPod, TestPod, TestPod];
    for (const [from, to] of [[a, b], [b, c], [c, a]] as const) {
      assert.equal((await ping(from, to.ip, 2, 0.1)).received, 2, `host-gw ping ${from.ip} -> ${to.ip}`);
      const t = await toolIn(from.netns, ['tcp', to.ip, String(PORT), String(1 << 20)]);
      assert.equal(t.exitCode, 0, `host-gw tcp ${from.ip} -> ${to.ip}: ${t.stdout}`);
      const u = await toolIn(from.netns, ['udp', to.ip, String(PORT), '1000']);
      assert.equal(u.exitCode, 0, `host-gw udp: ${u.stdout}`);
    }
  });

  test('remove() takes out every route the overlay made (and the device)', async () => {
    await stopAll();
    const n = cluster.nodes[0]!;
    await removeOverlay(n, { mode: 'vxlan', peers: peersFile });
    const k = await kernel(n);
    assert.deepEqual(k.routes, []);
    assert.equal(k.device, undefined);
  });
});
