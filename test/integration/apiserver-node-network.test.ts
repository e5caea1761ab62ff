// The pod network from the API server when joined (agent/apiserver/node-network.ts).
//  1. The source alone against the test control plane, as a joined node, with a
//     stand-in for the node's network: it waits for spec.podCIDR (node IPAM off), then
//     brings the network up with the CIDR the double's node IPAM assigns (retrying a
//     failed start), publishes the overlay annotations on its Node (again after they
//     are removed), and turns other Nodes into peers: invalid ones are skipped with
//     one log line, a fixed one joins, a deleted one goes.
//  2. Two real agents (`kna join --overlay vxlan`, no --pod-cidr, no peers file) in
//     node netns on one underlay, each with its own containerd, the API server inside
//     the underlay's netns (the file re-runs itself there): the Nodes report the
//     network not ready until node IPAM assigns their pod CIDRs; both publish their
//     annotations; an API pod on node A reaches an API pod on node B over TCP with its
//     pod IP kept; an invalid Node never reaches the kernel; deleting node B's Node
//     removes its route, neighbour and FDB entry on node A.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { pino, type Logger } from 'pino';
import { resourcePath, type ApiClient, type KubeObject } from '../../agent/apiserver/client.js';
import { ControlPlane } from '../../agent/apiserver/control-plane.js';
import { credentialPaths, joinCluster } from '../../agent/apiserver/join.js';
import { ApiNodeNetwork, type NetworkHandle } from '../../agent/apiserver/node-network.js';
import { CONFLIST_NAME } from '../../agent/network/cni-config.js';
import { BACKEND_DATA_ANNOTATION, BACKEND_TYPE_ANNOTATION, backendAnnotations, PUBLIC_IP_ANNOTATION } from '../../agent/network/node-annotations.js';
import { DEFAULT_DEVICE } from '../../agent/network/overlay.js';
import { RTPROT_KNA, vtepIP, vtepMacFor } from '../../agent/network/overlay/desired.js';
import type { PeerInfo } from '../../agent/network/peers.js';
import { buildConflist } from '../../cni/conflist.js';
import { TestApiServer } from '../apiserver/server.js';
import { TestAgent } from '../harness/agent.js';
import { adminClient, defer, eventually, startTestApiServer, tempDir } from '../harness/apiserver.js';
import { startContainerd } from '../harness/containerd.js';
import { createNodes, nsExec, type TestNode } from '../harness/nodes.js';

const INNER = process.env.KNA_T_APINET;
const CLUSTER_CIDR = '10.240.0.0/16';
const nodePath = (name: string) => resourcePath({ resource: 'nodes', name });

interface NodeObj extends KubeObject {
  spec?: { podCIDR?: string };
  status?: { conditions?: { type: string; status: string; message?: string }[] };
}

/** A Node as another agent would leave it: annotations and a pod CIDR. */
function peerNode(name: string, ip: string, podCIDR: string, mac = vtepMacFor(ip)) {
  return {
    apiVersion: 'v1', kind: 'Node',
    metadata: { name, annotations: { [BACKEND_TYPE_ANNOTATION]: 'vxlan', [BACKEND_DATA_ANNOTATION]: JSON.stringify({ vni: 1, vtepMAC: mac }), [PUBLIC_IP_ANNOTATION]: ip } },
    spec: { podCIDR, podCIDRs: [podCIDR] },
  };
}

const removeAnnotations = (admin: ApiClient, name: string) =>
  admin.patch(nodePath(name), { metadata: { annotations: { [BACKEND_TYPE_ANNOTATION]: null, [BACKEND_DATA_ANNOTATION]: null, [PUBLIC_IP_ANNOTATION]: null } } }, 'merge');

if (!INNER) {
  /** Stands in for the agent's NodeNetwork: records what it is asked to do. */
  class RecordingNetwork implements NetworkHandle {
    overlay: NetworkHandle['overlay'];
    podCIDR: string | undefined;
    readonly starts: string[] = [];
    readonly peers: PeerInfo[][] = [];
    failNext = true;
    async start(cidr: string): Promise<void> {
      this.starts.push(cidr);
      if (this.failNext) {
        this.failNext = false;
        throw new Error('kna-t: a failed start, to be retried');
      }
      this.podCIDR = cidr;
      this.overlay = { mode: 'vxlan', vni: 1, self: { name: 'self', nodeIP: '192.0.2.10', podCIDR: cidr, vtepMAC: vtepMacFor('192.0.2.10') }, setNodePeers: (p) => this.peers.push(p) };
    }
    ready(): boolean {
      return this.podCIDR !== undefined;
    }
    lastPeers(): string[] | undefined {
      return this.peers.at(-1)?.map((p) => p.name).sort();
    }
  }

  async function joinedControlPlane(t: TestContext, server: TestApiServer, nodeName: string, log: Logger): Promise<ControlPlane> {
    const rootDir = tempDir(t, 'nnnode');
    await joinCluster({ server: server.url, token: server.createBootstrapToken(), caCertHashes: [server.caHash], nodeName, rootDir });
    const cp = await ControlPlane.connect({ kubeconfig: credentialPaths(rootDir).kubeconfig, node: { nodeName, rootDir, health: () => ({ runtimeReady: true, networkReady: true }), containerRuntimeVersion: 'containerd://1.7.0' }, log });
    defer(t, () => cp.stop());
    return cp;
  }

  test('the Node\'s pod CIDR, the overlay annotations and peers from the other Nodes (the source alone)', async (t) => {
    const nodeName = `kna-t-nn-${process.pid}`;
    const { server, admin } = await startTestApiServer(t, { autoApproveCsrs: true });
    const lines: string[] = [];
    const log = pino({ level: 'info' }, new Writable({ write(chunk: Buffer, _enc, done) { lines.push(chunk.toString()); done(); } }));
    const logged = (msg: string, node?: string) => lines.filter((l) => l.includes(msg) && (!node || l.includes(`"node":"${node}"`)));
    await admin.create(nodePath(''), peerNode('kna-t-peer', '192.0.2.11', '10.240.5.0/24'));
    await admin.create(nodePath(''), peerNode('kna-t-bad', '192.0.2.12', '10.240.6.0/24', '01:00:5e:00:00:01'));
    await admin.create(nodePath(''), { apiVersion: 'v1', kind: 'Node', metadata: { name: 'kna-t-bare' }, spec: { podCIDR: '10.240.7.0/24' } });

    const cp = await joinedControlPlane(t, server, nodeName, log);
    const net = new RecordingNetwork();
    const source = new ApiNodeNetwork(cp, net, { nodeName, overlay: true, clusterCIDR: CLUSTER_CIDR, log, retryMs: 200 });
    defer(t, () => source.stop());
    source.start();
    cp.start();
    await cp.nodeStatus.registered;
    await sleep(500);
    assert.deepEqual(net.starts, [], 'no pod CIDR, no network');
    assert.match(source.problem() ?? '', /waiting for the Node's spec\.podCIDR/);
    assert.equal(logged('waiting for the Node\'s spec.podCIDR').length, 1);

    // The controller manager's node IPAM comes on: the first free /24 (the others hold .5, .6 and .7).
    server.nodeIpam(CLUSTER_CIDR);
    await eventually('the network up with the Node\'s pod CIDR', () => net.ready() || undefined);
    assert.deepEqual(net.starts, ['10.240.0.0/24', '10.240.0.0/24'], 'a failed start is retried');
    assert.equal(logged('pod network: start failed').length, 1);
    assert.equal(source.problem(), undefined);

    const want = backendAnnotations('vxlan', net.overlay!.self, 1);
    const annotated = async () => {
      const n = await admin.get<NodeObj>(nodePath(nodeName));
      return Object.entries(want).every(([k, v]) => n.metadata.annotations?.[k] === v) || undefined;
    };
    await eventually('the overlay annotations on our Node', annotated);
    await eventually('peers from the Nodes', () => JSON.stringify(net.lastPeers()) === '["kna-t-peer"]' || undefined);
    assert.deepEqual(net.peers.at(-1), [{ name: 'kna-t-peer', nodeIP: '192.0.2.11', podCIDR: '10.240.5.0/24', vtepMAC: vtepMacFor('192.0.2.11') }]);
    await eventually('the skips logged', () => (logged('Node skipped as a peer', 'kna-t-bad').length === 1 && logged('Node skipped as a peer', 'kna-t-bare').length === 1) || undefined);
    assert.match(logged('Node skipped as a peer', 'kna-t-bad')[0]!, /"level":40.*not a unicast MAC/, 'an invalid value is a warning');
    assert.match(logged('Node skipped as a peer', 'kna-t-bare')[0]!, /"level":30.*no kna\.io\/backend-type annotation/, 'no data yet is not');

    // Someone removes our annotations: they come back. Another change to the bad Node logs nothing new.
    await removeAnnotations(admin, nodeName);
    await eventually('the annotations published again', annotated);
    const bad = await admin.get(nodePath('kna-t-bad'));
    await admin.update(nodePath('kna-t-bad'), { ...bad, metadata: { ...bad.metadata, labels: { 'kna-t': 'touched' } } });
    await sleep(300);
    assert.equal(logged('Node skipped as a peer', 'kna-t-bad').length, 1, 'skips are logged once per reason');

    // The good Node loses its annotations (someone removed them; its agent will put them back): its peer stays.
    const peerSets = net.peers.length;
    await removeAnnotations(admin, 'kna-t-peer');
    await eventually('the loss noticed', () => logged('keeping its last peer entry', 'kna-t-peer').length === 1 || undefined);
    assert.ok(net.peers.slice(peerSets).every((p) => p.some((x) => x.name === 'kna-t-peer')), 'never dropped');
    await admin.patch(nodePath('kna-t-peer'), peerNode('kna-t-peer', '192.0.2.11', '10.240.5.0/24'), 'merge');

    // The bad Node fixed: a peer. The good one deleted: gone.
    await admin.patch(nodePath('kna-t-bad'), { metadata: { annotations: { [BACKEND_DATA_ANNOTATION]: JSON.stringify({ vni: 1, vtepMAC: vtepMacFor('192.0.2.12') }) } } }, 'merge');
    await eventually('the fixed Node a peer', () => JSON.stringify(net.lastPeers()) === '["kna-t-bad","kna-t-peer"]' || undefined);
    await admin.delete(nodePath('kna-t-peer'));
    await eventually('the deleted Node\'s peer gone', () => JSON.stringify(net.lastPeers()) === '["kna-t-bad"]' || undefined);
    assert.equal(logged('Node deleted; removing its peer', 'kna-t-peer').length, 1);

    // The Node's pod CIDR changes under a running network: warned, not applied.
    const self = await admin.get<NodeObj>(nodePath(nodeName));
    await admin.update(nodePath(nodeName), { ...self, spec: { ...self.spec, podCIDR: '10.240.9.0/24', podCIDRs: ['10.240.9.0/24'] } });
    await eventually('the warning', () => logged('spec.podCIDR changed').length === 1 || undefined);
    assert.equal(net.starts.length, 2);
  });

  test('two joined agents: pod CIDRs from node IPAM, annotations, pod to pod across nodes, a deleted Node loses its route', { timeout: 300_000 }, async (t) => {
    const cluster = await createNodes({ count: 2, name: 'apin', defaultRoute: true });
    t.after(() => cluster.remove());
    // The API server lives in the underlay's namespace, on the address the nodes' default route points at.
    const serverIP = `${cluster.underlay.cidr.split('.').slice(0, 3).join('.')}.1`;
    await execa('ip', ['-n', cluster.underlay.netns, 'addr', 'add', `${serverIP}/24`, 'dev', cluster.underlay.bridge]);
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_TEST_CONTEXT')) as Record<string, string>;
    const r = await execa('nsenter', [`--net=/run/netns/${cluster.underlay.netns}`, '--', process.execPath, fileURLToPath(import.meta.url)], {
      env: { ...env, KNA_T_APINET: JSON.stringify({ serverIP, nodes: cluster.nodes }) }, extendEnv: false, reject: false, all: true,
    });
    assert.equal(r.exitCode, 0, r.all);
    for (const m of r.all.matchAll(/# (IPAM on -> .*? ms)/g)) t.diagnostic(m[1]!);
  });
} else {
  const { serverIP, nodes } = JSON.parse(INNER) as { serverIP: string; nodes: TestNode[] };
  const [nodeA, nodeB] = nodes as [TestNode, TestNode];
  const IMAGE = 'localhost/kna/busybox:latest';
  // busybox httpd with a CGI script that answers with the client address it saw.
  const CGI = '#!/bin/sh\\necho "Content-Type: text/plain"\\necho\\necho "from=$REMOTE_ADDR"\\n';
  const WEB = ['sh', '-c', `mkdir -p /w/cgi-bin && printf '${CGI}' > /w/cgi-bin/ip && chmod +x /w/cgi-bin/ip && exec httpd -f -p 8080 -h /w`];

  const kernel = async (node: TestNode) => {
    const j = async (argv: string[]) => JSON.parse((await nsExec(node.netns, argv)).stdout || '[]') as { dst?: string; gateway?: string; dev?: string; lladdr?: string; mac?: string }[];
    return {
      routes: await j(['ip', '-j', '-4', 'route', 'show', 'proto', String(RTPROT_KNA)]),
      neigh: await j(['ip', '-j', '-4', 'neigh', 'show', 'dev', DEFAULT_DEVICE]),
      fdb: await j(['bridge', '-j', 'fdb', 'show', 'dev', DEFAULT_DEVICE]),
    };
  };

  test(`inside the underlay: two agents joined to ${serverIP}`, { timeout: 280_000 }, async (t) => {
    const server = await TestApiServer.start({ host: serverIP, autoApproveCsrs: true });
    const admin = adminClient(server);
    defer(t, async () => { admin.close(); await server.stop(); });
    const agents: TestAgent[] = [];
    for (const [i, node] of nodes.entries()) {
      const ctd = await startContainerd({
        // A stand-in conflist under the agent's file name: the agent rewrites it in place once its pod CIDR is known.
        name: `apin${i}`, netns: node.netns, podCidr: `10.239.${i}.0/24`,
        cniPlugins: { 'kna-cni': resolve('dist/cni/kna-cni') }, cniConfName: CONFLIST_NAME,
        cniConflist: (ctx) => buildConflist({ name: ctx.bridge, bridge: ctx.bridge, podCidrs: [ctx.podCidr], dataDir: ctx.ipamDataDir }),
      });
      defer(t, () => ctd.stop());
      const agent = new TestAgent(ctd, ['--server', server.url, '--token', server.createBootstrapToken(), '--discovery-token-ca-cert-hash', server.caHash,
        '--node-name', node.name, '--node-ip', node.ip, '--overlay', 'vxlan', '--cluster-cidr', CLUSTER_CIDR], { command: 'join', netns: node.netns, podCidr: false });
      defer(t, () => agent.stop());
      agents.push(agent);
      agent.start();
    }
    const [agentA, agentB] = agents as [TestAgent, TestAgent];
    const withLogs = (err: unknown): never => {
      throw new Error(`${(err as Error).message}\n${agents.map((a, i) => `--- agent ${nodes[i]!.name} log:\n${a.log().split('\n').slice(-40).join('\n')}`).join('\n')}`);
    };
    const conflist = (i: number) => readFileSync(join(agents[i]!.containerd.cniConfDir, CONFLIST_NAME), 'utf8');

    // No node IPAM yet: registered, but not Ready, and the network waits.
    for (const node of nodes) {
      const n = await eventually(`Node ${node.name} registered and reporting`, async () => {
        const o = await admin.get<NodeObj>(nodePath(node.name));
        return o.status?.conditions?.some((c) => c.type === 'Ready') ? o : undefined;
      }, 60_000).catch(withLogs);
      const cond = (type: string) => n.status!.conditions!.find((c) => c.type === type)!;
      assert.equal(cond('Ready').status, 'False');
      assert.match(cond('Ready').message ?? '', /waiting for the Node's spec\.podCIDR/);
      assert.equal(cond('NetworkUnavailable').status, 'True');
    }
    for (const [i, a] of agents.entries()) {
      assert.match(a.log(), /waiting for the Node's spec\.podCIDR/);
      assert.doesNotMatch(conflist(i), /"mtu"/, 'no conflist of the agent\'s before the pod CIDR is known');
    }

    const t0 = Date.now();
    server.nodeIpam(CLUSTER_CIDR);
    const podCIDRs = new Map<string, string>();
    for (const node of nodes) {
      const n = await eventually(`Node ${node.name} annotated, with a pod CIDR`, async () => {
        const o = await admin.get<NodeObj>(nodePath(node.name));
        return o.metadata.annotations?.[PUBLIC_IP_ANNOTATION] && o.spec?.podCIDR ? o : undefined;
      }, 30_000).catch(withLogs);
      assert.deepEqual([n.metadata.annotations?.[BACKEND_TYPE_ANNOTATION], JSON.parse(n.metadata.annotations![BACKEND_DATA_ANNOTATION]!), n.metadata.annotations?.[PUBLIC_IP_ANNOTATION]],
        ['vxlan', { vni: 1, vtepMAC: vtepMacFor(node.ip) }, node.ip]);
      assert.match(n.spec!.podCIDR!, /^10\.240\.[01]\.0\/24$/);
      podCIDRs.set(node.name, n.spec!.podCIDR!);
    }
    for (const [i, node] of nodes.entries()) {
      await eventually(`${node.name}: the agent's conflist for its pod CIDR`, async () => (conflist(i).includes('"mtu": 1450') && conflist(i).includes(podCIDRs.get(node.name)!)) || undefined, 30_000).catch(withLogs);
      // containerd read the stand-in at start: restart it so every pod gets the agent's.
      await agents[i]!.containerd.restart();
    }
    for (const node of nodes) {
      await eventually(`Node ${node.name} Ready`, async () => (await admin.get<NodeObj>(nodePath(node.name))).status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' || undefined, 45_000).catch(withLogs);
    }
    const routeTo = async (from: TestNode, to: TestNode) => (await kernel(from)).routes.find((x) => x.dst === podCIDRs.get(to.name));
    await eventually('each node routes the other\'s pod CIDR through the vxlan device', async () => ((await routeTo(nodeA, nodeB)) && (await routeTo(nodeB, nodeA))) || undefined, 30_000).catch(withLogs);
    console.log(`# IPAM on -> both nodes Ready and routed: ${Date.now() - t0} ms`);
    const rA = await routeTo(nodeA, nodeB);
    assert.deepEqual([rA?.gateway, rA?.dev], [vtepIP(podCIDRs.get(nodeB.name)!), DEFAULT_DEVICE]);

    // A pod on each node, through the API.
    const pod = (name: string, node: TestNode, command: string[]) => admin.create(resourcePath({ resource: 'pods', namespace: 'default' }), {
      apiVersion: 'v1', kind: 'Pod', metadata: { name },
      spec: { nodeName: node.name, automountServiceAccountToken: false, terminationGracePeriodSeconds: 0, containers: [{ name: 'main', image: IMAGE, imagePullPolicy: 'IfNotPresent', command }] },
    });
    await pod('kna-t-client', nodeA, ['sleep', '3600']);
    await pod('kna-t-web', nodeB, WEB);
    const podIP = (name: string) => eventually(`${name} Running with an IP`, async () => {
      const p = await admin.get<KubeObject & { status?: { phase?: string; podIP?: string } }>(resourcePath({ resource: 'pods', namespace: 'default', name }));
      return p.status?.phase === 'Running' ? p.status.podIP : undefined;
    }, 90_000).catch(withLogs);
    const clientIP = await podIP('kna-t-client');
    const webIP = await podIP('kna-t-web');
    assert.ok(clientIP.startsWith(podCIDRs.get(nodeA.name)!.replace(/0\/24$/, '')), `${clientIP} in ${podCIDRs.get(nodeA.name)}`);
    assert.ok(webIP.startsWith(podCIDRs.get(nodeB.name)!.replace(/0\/24$/, '')), `${webIP} in ${podCIDRs.get(nodeB.name)}`);

    const http = await eventually('the web pod answers across nodes', async () => {
      const r = await agentA.kna(['exec', 'kna-t-client', '--', 'sh', '-c', `printf 'GET /cgi-bin/ip HTTP/1.0\\r\\n\\r\\n' | nc ${webIP} 8080`], { reject: false });
      return String(r.stdout).includes('from=') ? String(r.stdout) : undefined;
    }, 30_000).catch(withLogs);
    const seen = /from=\[?(?:::ffff:)?([0-9.]+)\]?/.exec(http)?.[1];
    assert.equal(seen, clientIP, `the web pod saw the client's pod IP (no masquerade between pods)\n${http}`);

    // An invalid Node (a group MAC) is skipped by both agents and never reaches the kernel.
    await admin.create(nodePath(''), peerNode('kna-t-bogus', '172.30.0.99', '10.240.200.0/24', 'ff:ff:ff:ff:ff:ff'));
    await eventually('the bogus Node skipped', async () => /Node skipped as a peer.*kna-t-bogus|kna-t-bogus.*Node skipped as a peer/.test(agentA.log()) || undefined, 20_000).catch(withLogs);
    const k = await kernel(nodeA);
    assert.deepEqual(k.routes.map((x) => x.dst), [podCIDRs.get(nodeB.name)]);
    assert.ok(!k.fdb.some((x) => x.mac === 'ff:ff:ff:ff:ff:ff') && !k.neigh.some((x) => x.dst === '10.240.200.0'), JSON.stringify(k));

    // Annotations removed by someone: B publishes them again, and A keeps B's entries meanwhile.
    await removeAnnotations(admin, nodeB.name);
    await eventually('node B\'s annotations back', async () => (await admin.get(nodePath(nodeB.name))).metadata.annotations?.[PUBLIC_IP_ANNOTATION] === nodeB.ip || undefined, 20_000).catch(withLogs);
    assert.doesNotMatch(agentA.log(), /overlay: route delete/, 'A never dropped B\'s route');

    // Node B goes away: its agent stops (its kernel state stays), its Node is deleted. A forgets it.
    const bMac = vtepMacFor(nodeB.ip);
    assert.ok(k.neigh.some((x) => x.lladdr === bMac) && k.fdb.some((x) => x.mac === bMac), `A has B's neighbour and fdb entries before\n${JSON.stringify(k)}`);
    await agentB.stopProcess();
    await admin.delete(nodePath(nodeB.name));
    await eventually('node B\'s route, neighbour and fdb entry gone from node A', async () => {
      const now = await kernel(nodeA);
      return (now.routes.length === 0 && !now.neigh.some((x) => x.lladdr === bMac) && !now.fdb.some((x) => x.mac === bMac)) || undefined;
    }, 20_000).catch(withLogs);
    const ping = await agentA.kna(['exec', 'kna-t-client', '--', 'ping', '-c', '1', '-W', '1', webIP], { reject: false });
    assert.notEqual(ping.exitCode, 0, 'no path to the removed node');
  });
}
