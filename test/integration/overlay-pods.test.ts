// Pods on two nodes through the real agent's overlay: two node namespaces on one
// underlay bridge, each running its own containerd and `kna run --overlay vxlan` with
// kna-cni, one busybox pod per node, a shared peers file. Real packets pod to pod by
// pod IP (ICMP both ways, a TCP request that reports its source address), the pod MTU
// left room for the VXLAN headers, a ping loop survives a kill -9 and restart of the
// remote node's agent, a node removed from the file loses its route, and `kna cleanup`
// takes the overlay away. The tests run in order and build on each other.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildConflist } from '../../cni/conflist.js';
import { CONFLIST_NAME } from '../../agent/network/cni-config.js';
import { DEFAULT_DEVICE } from '../../agent/network/overlay.js';
import { RTPROT_KNA, vtepIP, vtepMacFor } from '../../agent/network/overlay/desired.js';
import { writePeersFile, type PeerInfo } from '../../agent/network/peers.js';
import { TestAgent, type PodJson } from '../harness/agent.js';
import { startContainerd, type Containerd } from '../harness/containerd.js';
import { createNodes, nsExec, type Cluster, type TestNode } from '../harness/nodes.js';

const CLUSTER_CIDR = '10.240.0.0/16'; // createNodes gives node i 10.240.<i>.0/24
const IMAGE = 'localhost/kna/busybox:latest';

/** A pod manifest (JSON is YAML). */
const pod = (name: string, command: string[]) => JSON.stringify({
  apiVersion: 'v1', kind: 'Pod', metadata: { name },
  spec: { terminationGracePeriodSeconds: 0, containers: [{ name: 'main', image: IMAGE, imagePullPolicy: 'IfNotPresent', command }] },
});

// busybox httpd with a CGI script that answers with the client address it saw.
const CGI = '#!/bin/sh\\necho "Content-Type: text/plain"\\necho\\necho "from=$REMOTE_ADDR"\\n';
const WEB = ['sh', '-c', `mkdir -p /w/cgi-bin && printf '${CGI}' > /w/cgi-bin/ip && chmod +x /w/cgi-bin/ip && exec httpd -f -p 8080 -h /w`];

/** The routes our overlay made in a node (`ip`'s view, not ours). */
async function overlayRoutes(node: TestNode): Promise<{ dst: string; gateway?: string; dev?: string }[]> {
  return JSON.parse((await nsExec(node.netns, ['ip', '-j', '-4', 'route', 'show', 'proto', String(RTPROT_KNA)])).stdout || '[]') as { dst: string }[];
}

async function eventually<T>(what: string, check: () => Promise<T>, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try { return await check(); } catch (err) {
      if (Date.now() > end) throw new Error(`${what}: ${(err as Error).message}`);
      await sleep(100);
    }
  }
}

const running = (p: PodJson) => p.status.phase === 'Running' && !!p.status.podIP && (p.status.containerStatuses?.every((c) => c.ready) ?? false);

describe('pods on two nodes through the agent\'s vxlan overlay', { timeout: 85_000 }, () => {
  let cluster: Cluster | undefined;
  let dir = '';
  let peersFile = '';
  const ctds: Containerd[] = [];
  const agents: TestAgent[] = [];
  let entries: PeerInfo[] = [];
  let client: PodJson, web: PodJson;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kna-t-ovlpods-'));
    peersFile = join(dir, 'peers.json');
    cluster = await createNodes({ count: 2, name: 'opod' });
    // Both entries up front, the VTEP MAC derived from the node IP as the agent does.
    entries = cluster.nodes.map((n) => ({ name: n.name, nodeIP: n.ip, podCIDR: n.podCIDR, vtepMAC: vtepMacFor(n.ip) }));
    await writePeersFile(peersFile, entries);
    for (const [i, node] of cluster.nodes.entries()) {
      const ctd = await startContainerd({
        name: `opod${i}`, netns: node.netns, podCidr: node.podCIDR,
        cniPlugins: { 'kna-cni': resolve('dist/cni/kna-cni') },
        // Under the agent's file name, so the agent's own conflist (pod MTU, cluster CIDR) replaces it.
        cniConfName: CONFLIST_NAME,
        cniConflist: (ctx) => buildConflist({ name: ctx.bridge, bridge: ctx.bridge, podCidrs: [ctx.podCidr], dataDir: ctx.ipamDataDir }),
      });
      ctds.push(ctd);
      // Node 0 finds its address from the interface, node 1 is told.
      const agent = new TestAgent(ctd, ['--node-name', node.name, '--overlay', 'vxlan', '--peers', peersFile, '--cluster-cidr', CLUSTER_CIDR,
        ...(i === 0 ? ['--overlay-iface', node.iface] : ['--node-ip', node.ip])], { netns: node.netns });
      agents.push(agent);
      agent.start();
    }
    for (const [i, ctd] of ctds.entries()) {
      // containerd reads the conflist at start; restart it once the agent wrote its own, so every pod gets it.
      await agents[i]!.waitFor('the agent\'s conflist with the pod MTU', async () => readFileSync(join(ctd.cniConfDir, CONFLIST_NAME), 'utf8').includes('"mtu": 1450'), 20_000);
      await ctd.restart();
    }
    agents[0]!.writeManifest('client.yaml', pod('client', ['sleep', '3600']));
    agents[1]!.writeManifest('web.yaml', pod('web', WEB));
    client = await agents[0]!.waitPod('client', running, 'Running with an IP', 40_000);
    web = await agents[1]!.waitPod('web', running, 'Running with an IP', 40_000);
  });

  after(async () => {
    const step = (fn: () => Promise<unknown>) => fn().catch((err: unknown) => console.error('cleanup:', err));
    for (const a of agents) await step(() => a.stop());
    for (const c of ctds) await step(() => c.stop());
    await step(async () => cluster?.remove());
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('each agent routes the other node\'s pod CIDR through its vxlan device; pods got the overlay MTU', async () => {
    const [a, b] = cluster!.nodes as [TestNode, TestNode];
    for (const [n, other] of [[a, b], [b, a]] as const) {
      const routes = await eventually(`${n.name} route`, async () => {
        const r = await overlayRoutes(n);
        assert.equal(r.length, 1, JSON.stringify(r));
        return r;
      });
      assert.deepEqual([routes[0]!.dst, routes[0]!.gateway, routes[0]!.dev], [other.podCIDR, vtepIP(other.podCIDR), DEFAULT_DEVICE]);
    }
    assert.ok(client.status.podIP!.startsWith('10.240.0.'), client.status.podIP);
    assert.ok(web.status.podIP!.startsWith('10.240.1.'), web.status.podIP);
    for (const [agent, name] of [[agents[0]!, 'client'], [agents[1]!, 'web']] as const) {
      const mtu = await agent.kna(['exec', name, '--', 'cat', '/sys/class/net/eth0/mtu']);
      assert.equal(String(mtu.stdout).trim(), '1450', `${name}: underlay 1500 - 50`);
    }
  });

  test('pod to pod across nodes: ping both ways, TCP keeps the pod source IP', async () => {
    const ping = await agents[0]!.kna(['exec', 'client', '--', 'ping', '-c', '3', '-W', '2', web.status.podIP!], { reject: false });
    assert.equal(ping.exitCode, 0, `client -> web ping\n${String(ping.stdout)}${String(ping.stderr)}`);
    assert.match(String(ping.stdout), /3 packets received/);
    const back = await agents[1]!.kna(['exec', 'web', '--', 'ping', '-c', '2', '-W', '2', client.status.podIP!], { reject: false });
    assert.equal(back.exitCode, 0, `web -> client ping\n${String(back.stdout)}${String(back.stderr)}`);

    const http = await agents[0]!.kna(['exec', 'client', '--', 'sh', '-c', `printf 'GET /cgi-bin/ip HTTP/1.0\\r\\n\\r\\n' | nc ${web.status.podIP!} 8080`], { reject: false });
    const seen = /from=\[?(?:::ffff:)?([0-9.]+)\]?/.exec(String(http.stdout))?.[1];
    assert.equal(seen, client.status.podIP, `the web pod saw the client's pod IP (no masquerade between pods)\n${String(http.stdout)}${String(http.stderr)}`);
  });

  test('killing and restarting node B\'s agent loses no packet across nodes', async () => {
    const [a, b] = cluster!.nodes as [TestNode, TestNode];
    const before = await overlayRoutes(a);
    // A ping loop over kill -9 → agent down → restart → kernel reconciled.
    const loop = agents[0]!.kna(['exec', 'client', '--', 'ping', '-c', '40', '-i', '0.1', '-W', '2', '-q', web.status.podIP!], { reject: false });
    await sleep(500);
    await agents[1]!.kill9();
    await sleep(1000);
    agents[1]!.start();
    await agents[1]!.waitFor('node B\'s agent serving again', async () => (await agents[1]!.pod('web')) !== undefined, 20_000);
    const r = await loop;
    const m = /(\d+) packets transmitted, (\d+) packets received/.exec(String(r.stdout));
    assert.ok(m && Number(m[1]) === 40 && m[2] === m[1], `ping loop across the restart lost packets\n${String(r.stdout)}${String(r.stderr)}`);
    assert.deepEqual((await overlayRoutes(b)).map((x) => x.dst), [a.podCIDR], 'B reconciled: one route, not doubled');
    assert.deepEqual(await overlayRoutes(a), before);
    assert.doesNotMatch(agents[1]!.log(), /re-creating/, 'the vxlan device was kept, not rebuilt');
  });

  test('removing node B from the peers file removes its route on node A; cleanup removes the overlay', async () => {
    const [a] = cluster!.nodes as [TestNode, TestNode];
    await writePeersFile(peersFile, entries.filter((e) => e.name === a.name));
    await eventually('node A forgets node B', async () => assert.deepEqual(await overlayRoutes(a), []));
    const ping = await agents[0]!.kna(['exec', 'client', '--', 'ping', '-c', '1', '-W', '1', web.status.podIP!], { reject: false });
    assert.notEqual(ping.exitCode, 0, 'no path to the removed node');

    // Stop + `kna cleanup` (inside node A): the vxlan device and our routes go.
    await agents[0]!.stop();
    const dev = await nsExec(a.netns, ['ip', 'link', 'show', DEFAULT_DEVICE], { reject: false });
    assert.notEqual(dev.exitCode, 0, 'vxlan device removed by kna cleanup');
  });
});
