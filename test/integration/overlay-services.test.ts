// Three nodes (netns + containerd + `kna run --overlay vxlan --proxy-mode iptables`
// each), one pod per node. Real packets through the agents' overlay: ping, TCP (a 4 MB
// transfer, so the pod MTU must leave room for the VXLAN headers), UDP, between the pod
// on A and the pods on B and C both ways; Services whose endpoints live on other nodes
// (hand-written EndpointSlices in the folder, as standalone mode has no controller):
// a ClusterIP on A reaching the pod on C, a NodePort on B forwarding to the pod on A;
// and node C leaving the peers file takes its route, neighbour and FDB entry away on A
// and B. Traffic tools run in the pods' own network namespaces (net-tool.js, busybox ping).
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import { PodSandboxState } from '../../agent/cri/types.js';
import { DEFAULT_DEVICE } from '../../agent/network/overlay.js';
import { RTPROT_KNA, vtepIP, vtepMacFor } from '../../agent/network/overlay/desired.js';
import { writePeersFile } from '../../agent/network/peers.js';
import type { PodJson } from '../harness/agent.js';
import { startAgentCluster, type AgentCluster, type AgentNode } from '../harness/agent-cluster.js';
import { nsExec, type TestNode } from '../harness/nodes.js';

const NET_TOOL = resolve('dist/test/harness/net-tool.js');
const DIR = `/var/lib/kna-t/ovsvc-${process.pid}`;
const PORT = 9000;
const CLUSTER_IP = '10.97.0.10';
const NODE_PORT = 30080;
const BIG = 4 * 1024 * 1024;

interface Pod { name: string; ip: string; netns: string; on: AgentNode }

const podManifest = (name: string) => JSON.stringify({
  apiVersion: 'v1', kind: 'Pod', metadata: { name },
  spec: { terminationGracePeriodSeconds: 0, containers: [{ name: 'main', image: 'localhost/kna/busybox:latest', imagePullPolicy: 'IfNotPresent', command: ['sleep', '3600'] }] },
});

/** A Service without a selector plus the EndpointSlice that a controller would have made, naming a pod on another node. */
const serviceTo = (name: string, spec: object, pod: Pod) => [
  { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { ...spec, ports: [{ name: 'tcp', port: 80, targetPort: PORT, ...('nodePort' in spec ? { nodePort: NODE_PORT } : {}) }] } },
  {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: `${name}-1`, labels: { 'kubernetes.io/service-name': name } },
    addressType: 'IPv4', ports: [{ name: 'tcp', port: PORT, protocol: 'TCP' }],
    endpoints: [{ addresses: [pod.ip], conditions: { ready: true }, nodeName: pod.on.node.name }],
  },
].map((o) => JSON.stringify(o)).join('\n---\n');

/** The pod's network namespace, from containerd's verbose sandbox status. */
async function podNetns(n: AgentNode, name: string): Promise<string> {
  const sb = (await n.containerd.cri.listPodSandbox()).find((s) => s.metadata?.name === name && s.state === PodSandboxState.READY);
  assert.ok(sb, `sandbox of ${name}`);
  const { info } = await n.containerd.cri.podSandboxStatus(sb.id, true);
  const spec = JSON.parse(info?.info ?? '{}') as { runtimeSpec?: { linux?: { namespaces?: { type?: string; path?: string }[] } } };
  const path = spec.runtimeSpec?.linux?.namespaces?.find((x) => x.type === 'network')?.path;
  assert.ok(path, `netns path of ${name}`);
  return path;
}

/** argv run in a network namespace given by path (pods) or by node. */
const inNs = (netnsPath: string, argv: string[]) => execa('nsenter', [`--net=${netnsPath}`, '--', ...argv], { reject: false, timeout: 30_000 });
const tool = (netnsPath: string, args: string[]) => inNs(netnsPath, [process.execPath, NET_TOOL, ...args]);
const nodePath = (n: TestNode) => `/run/netns/${n.netns}`;

async function tcp(from: string, ip: string, port: number, bytes: number): Promise<{ ok: boolean; seenFrom?: string }> {
  const r = await tool(from, ['tcp', ip, String(port), String(bytes)]);
  const out = JSON.parse(String(r.stdout).trim().split('\n').pop() || '{}') as { ok: boolean; seenFrom?: string; error?: string };
  assert.ok(out.ok, `tcp ${bytes} B to ${ip}:${port}: ${String(r.stdout)}${String(r.stderr)}`);
  return out;
}

/** The overlay's kernel objects for `peer` inside `node`: route, neighbour, FDB entry (iproute2's view). */
async function overlayObjects(node: TestNode, peer: TestNode): Promise<{ route: boolean; neigh: boolean; fdb: boolean }> {
  const routes = JSON.parse((await nsExec(node.netns, ['ip', '-j', '-4', 'route', 'show', 'proto', String(RTPROT_KNA)])).stdout || '[]') as { dst: string }[];
  const neigh = JSON.parse((await nsExec(node.netns, ['ip', '-j', '-4', 'neigh', 'show', 'dev', DEFAULT_DEVICE])).stdout || '[]') as { dst: string; lladdr?: string }[];
  const fdb = JSON.parse((await nsExec(node.netns, ['bridge', '-j', 'fdb', 'show', 'dev', DEFAULT_DEVICE])).stdout || '[]') as { mac: string; dst?: string }[];
  return {
    route: routes.some((r) => r.dst === peer.podCIDR),
    neigh: neigh.some((x) => x.dst === vtepIP(peer.podCIDR) && x.lladdr === vtepMacFor(peer.ip)),
    fdb: fdb.some((x) => x.mac === vtepMacFor(peer.ip) && x.dst === peer.ip),
  };
}

const running = (p: PodJson) => p.status.phase === 'Running' && !!p.status.podIP && (p.status.containerStatuses?.every((c) => c.ready) ?? false);

describe('Services and pods across three nodes through the agents\' vxlan overlay', { timeout: 120_000 }, () => {
  let c: AgentCluster | undefined;
  const servers: ResultPromise[] = [];
  let a: Pod, b: Pod, cc: Pod;

  before(async () => {
    rmSync(DIR, { recursive: true, force: true });
    c = await startAgentCluster({ count: 3, name: 'osvc', dir: DIR, agentArgs: ['--proxy-mode', 'iptables', '--service-cluster-ip-range', '10.97.0.0/24'] });
    const pods = await Promise.all(c.nodes.map(async (n, i) => {
      const name = `pod-${'abc'[i]}`;
      n.agent.writeManifest(`${name}.yaml`, podManifest(name));
      const p = await n.agent.waitPod(name, running, 'Running with an IP', 40_000);
      return { name, ip: p.status.podIP!, netns: await podNetns(n, name), on: n };
    }));
    [a, b, cc] = pods as [Pod, Pod, Pod];
    // A TCP/UDP server in every pod (in the pod's netns, so traffic uses its eth0).
    for (const p of pods) {
      const s = execa('nsenter', [`--net=${p.netns}`, '--', process.execPath, NET_TOOL, 'serve', String(PORT)], { reject: false, buffer: false });
      servers.push(s);
      await new Promise<void>((done, fail) => {
        s.stdout?.on('data', (d: Buffer) => { if (d.toString().includes('"ready"')) done(); });
        void s.then(() => fail(new Error(`server in ${p.name} exited`)));
      });
    }
  });

  after(async () => {
    for (const s of servers) s.kill('SIGKILL');
    await Promise.allSettled(servers);
    await c?.stop().catch((err: unknown) => console.error('cleanup:', err));
    rmSync(DIR, { recursive: true, force: true });
  });

  test('ping between the pod on A and the pods on B and C, both ways, full-MTU packets too', async () => {
    for (const [from, to] of [[a, b], [a, cc], [b, a], [cc, a]] as const) {
      // 1422 B of payload + 28 B of headers = the pod MTU (1450): the largest packet that must cross unfragmented.
      const r = await inNs(from.netns, ['busybox', 'ping', '-c', '2', '-W', '2', '-s', '1422', to.ip]);
      assert.equal(r.exitCode, 0, `${from.name} -> ${to.name}: ${String(r.stdout)}${String(r.stderr)}`);
    }
  });

  test('TCP (4 MB) and UDP between pods across nodes keep the pod source IP', async () => {
    for (const [from, to] of [[a, b], [a, cc], [b, a], [cc, a]] as const) {
      const r = await tcp(from.netns, to.ip, PORT, BIG);
      assert.equal(r.seenFrom?.replace(/^::ffff:/, ''), from.ip, `${to.name} saw ${from.name}'s pod IP`);
      const u = await tool(from.netns, ['udp', to.ip, String(PORT), '1422', '3000']);
      assert.equal(u.exitCode, 0, `udp ${from.name} -> ${to.name}: ${String(u.stdout)}`);
    }
  });

  test('a ClusterIP on node A reaches the pod on node C, from node A and from the pod on A', async () => {
    a.on.agent.writeManifest('to-c.yaml', serviceTo('to-c', { clusterIP: CLUSTER_IP }, cc));
    await a.on.agent.waitFor('the ClusterIP answering from node A', async () => (await tool(nodePath(a.on.node), ['tcp', CLUSTER_IP, '80', '1000'])).exitCode === 0, 20_000);
    await tcp(nodePath(a.on.node), CLUSTER_IP, 80, BIG);
    const fromPod = await tcp(a.netns, CLUSTER_IP, 80, 65536);
    assert.equal(fromPod.seenFrom?.replace(/^::ffff:/, ''), a.ip, 'pod -> ClusterIP -> remote pod keeps the pod source IP');
  });

  test('a NodePort on node B forwards to the pod on node A, from node B and from node C', async () => {
    b.on.agent.writeManifest('to-a.yaml', serviceTo('to-a', { type: 'NodePort', nodePort: NODE_PORT }, a));
    const nodeB = b.on.node.ip;
    await b.on.agent.waitFor('the NodePort answering on node B', async () => (await tool(nodePath(b.on.node), ['tcp', nodeB, String(NODE_PORT), '1000'])).exitCode === 0, 20_000);
    await tcp(nodePath(b.on.node), nodeB, NODE_PORT, 65536);
    await tcp(nodePath(cc.on.node), nodeB, NODE_PORT, BIG);
  });

  test('node C leaving the peers file removes its route, neighbour and FDB entry on A and B', async () => {
    const [na, nb, nc] = c!.nodes.map((n) => n.node) as [TestNode, TestNode, TestNode];
    for (const n of [na, nb]) assert.deepEqual(await overlayObjects(n, nc), { route: true, neigh: true, fdb: true }, `${n.name} knows ${nc.name}`);
    await writePeersFile(c!.peersFile, c!.peers.filter((p) => p.name !== nc.name));
    for (const n of [na, nb]) {
      let last;
      for (let i = 0; i < 100; i++) {
        last = await overlayObjects(n, nc);
        if (!last.route && !last.neigh && !last.fdb) break;
        await sleep(100);
      }
      assert.deepEqual(last, { route: false, neigh: false, fdb: false }, `${n.name} forgot ${nc.name}`);
      assert.deepEqual(await overlayObjects(n, n === na ? nb : na), { route: true, neigh: true, fdb: true }, `${n.name} still knows the other peer`);
    }
    const r = await tool(a.netns, ['udp', cc.ip, String(PORT), '100', '1000']);
    assert.notEqual(r.exitCode, 0, 'no path to the removed node');
  });
});
