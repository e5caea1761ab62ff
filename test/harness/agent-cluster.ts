// N test nodes that each run the real agent: a node netns on a shared underlay (nodes.ts),
// its own containerd with kna-cni, and `kna run --overlay ...` with a peers file listing
// every node (VTEP MACs derived from node IPs, as the agent does). Used by multi-node
// tests and by the `harness up` playground (detached: the processes outlive us).
//
//   const c = await startAgentCluster({ count: 3, name: 'svc', dir, agentArgs: ['--proxy-mode', 'iptables'] });
//   c.nodes[0].agent.writeManifest('p.yaml', ...);
//   await c.stop();
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildConflist } from '../../cni/conflist.js';
import { CONFLIST_NAME } from '../../agent/network/cni-config.js';
import { vtepMacFor } from '../../agent/network/overlay/desired.js';
import { writePeersFile, type PeerInfo } from '../../agent/network/peers.js';
import { TestAgent } from './agent.js';
import { startContainerd, type Containerd } from './containerd.js';
import { createNodes, type Cluster, type TestNode } from './nodes.js';

/** createNodes gives node i the pod CIDR 10.240.<i>.0/24. */
export const CLUSTER_CIDR = '10.240.0.0/16';

export interface AgentNode { node: TestNode; containerd: Containerd; agent: TestAgent }

export interface AgentClusterOptions {
  count: number;
  /** A few [a-z0-9] characters naming the run (namespaces, containerd ids). */
  name: string;
  /** Holds peers.json and, per node, <node name>/{root,manifests,kna.log}. */
  dir: string;
  /** More `kna run` flags for every agent (e.g. --proxy-mode iptables). */
  agentArgs?: string[];
  overlay?: 'vxlan' | 'host-gw';
  /** Processes and namespaces outlive this process (the playground). */
  detached?: boolean;
}

export interface AgentCluster {
  cluster: Cluster;
  peersFile: string;
  peers: PeerInfo[];
  nodes: AgentNode[];
  /** Stops agents (with `kna cleanup`), containerds, then deletes the namespaces. Idempotent. */
  stop(): Promise<void>;
}

export const peerOf = (n: TestNode): PeerInfo => ({ name: n.name, nodeIP: n.ip, podCIDR: n.podCIDR, vtepMAC: vtepMacFor(n.ip) });

export async function startAgentCluster(opts: AgentClusterOptions): Promise<AgentCluster> {
  const dir = resolve(opts.dir);
  mkdirSync(dir, { recursive: true });
  const cluster = await createNodes({ count: opts.count, name: opts.name, defaultRoute: true, persistent: opts.detached ?? false });
  const peersFile = join(dir, 'peers.json');
  const peers = cluster.nodes.map(peerOf);
  const nodes: AgentNode[] = [];
  const ctds: Containerd[] = [];
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    const problems: unknown[] = [];
    const step = (fn: () => Promise<unknown>) => fn().catch((err: unknown) => problems.push(err));
    for (const n of nodes.filter(Boolean)) await step(() => n.agent.stop());
    for (const c of ctds) await step(() => c.stop());
    await step(() => cluster.remove());
    if (problems.length > 0) throw new AggregateError(problems, `stopping agent cluster ${cluster.id}`);
  };
  try {
    await writePeersFile(peersFile, peers);
    await Promise.all(cluster.nodes.map(async (node, i) => {
      const containerd = await startContainerd({
        name: `${opts.name}${i}`, netns: node.netns, podCidr: node.podCIDR, detached: opts.detached ?? false,
        cniPlugins: { 'kna-cni': resolve('dist/cni/kna-cni') },
        // Under the agent's file name, so the agent's own conflist (pod MTU, cluster CIDR) replaces it in place.
        cniConfName: CONFLIST_NAME,
        cniConflist: (ctx) => buildConflist({ name: ctx.bridge, bridge: ctx.bridge, podCidrs: [ctx.podCidr], dataDir: ctx.ipamDataDir }),
      });
      ctds.push(containerd);
      const base = join(dir, node.name);
      mkdirSync(base, { recursive: true });
      const agent = new TestAgent(containerd, ['--node-name', node.name, '--overlay', opts.overlay ?? 'vxlan', '--peers', peersFile,
        '--cluster-cidr', CLUSTER_CIDR, '--node-ip', node.ip, ...(opts.agentArgs ?? [])], { netns: node.netns, base, detached: opts.detached ?? false });
      nodes[i] = { node, containerd, agent };
      agent.start();
      // containerd reads the conflist once at start: restart it when the agent wrote its own, so every pod gets the overlay MTU.
      await agent.waitFor('the agent\'s conflist', async () => readFileSync(join(containerd.cniConfDir, CONFLIST_NAME), 'utf8').includes('"mtu"'), 30_000);
      await containerd.restart();
      await agent.waitFor('the agent serving `kna get pods`', async () => (await agent.kna(['get', 'pods'], { reject: false })).exitCode === 0, 30_000);
    }));
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }
  return { cluster, peersFile, peers, nodes, stop };
}
