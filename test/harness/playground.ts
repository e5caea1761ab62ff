// The `harness up/down` playground: N standalone nodes (netns + containerd + agent each,
// vxlan overlay, iptables proxy) that know each other as peers, left running after the
// command exits. DIR/nodes.json says where everything is, for people and for `down`,
// which stops the recorded processes by pid and removes the namespaces and folders.
import { existsSync, readFileSync, readdirSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { TestAgent } from './agent.js';
import { startAgentCluster } from './agent-cluster.js';
import { adoptContainerd, type ContainerdRecord } from './containerd.js';
import { removeNamespaces } from './nodes.js';

export interface PlaygroundNode {
  name: string;
  netns: string;
  nodeIP: string;
  podCIDR: string;
  rootDir: string;
  manifests: string;
  log: string;
  agentPid: number;
  containerd: ContainerdRecord;
}

export interface PlaygroundState {
  peersFile: string;
  nodes: PlaygroundNode[];
  /** Every namespace made (underlay first), deleted by `down`. */
  namespaces: string[];
}

export class PlaygroundError extends Error {
  override name = 'PlaygroundError';
}

export const stateFile = (dir: string) => join(resolve(dir), 'nodes.json');

export async function up(opts: { nodes: number; dir: string; proxyMode?: string }): Promise<PlaygroundState> {
  if (!Number.isInteger(opts.nodes) || opts.nodes < 1 || opts.nodes > 50) throw new PlaygroundError(`--nodes ${opts.nodes}: a whole number from 1 to 50`);
  if (existsSync(stateFile(opts.dir))) throw new PlaygroundError(`${stateFile(opts.dir)} exists: run \`harness down --dir ${opts.dir}\` first`);
  const c = await startAgentCluster({
    count: opts.nodes, name: 'pg', dir: opts.dir, detached: true,
    agentArgs: ['--proxy-mode', opts.proxyMode ?? 'iptables', '--log-format', 'text'],
  });
  const state: PlaygroundState = {
    peersFile: c.peersFile,
    namespaces: c.cluster.namespaces(),
    nodes: c.nodes.map(({ node, containerd, agent }) => ({
      name: node.name, netns: node.netns, nodeIP: node.ip, podCIDR: node.podCIDR, rootDir: agent.rootDir, manifests: agent.manifests,
      log: join(agent.base, 'kna.log'), agentPid: agent.pid ?? 0, containerd: containerd.record(),
    })),
  };
  writeFileSync(stateFile(opts.dir), JSON.stringify(state, null, 2) + '\n');
  for (const n of c.nodes) n.containerd.cri.close();
  return state;
}

export async function down(dir: string): Promise<void> {
  const path = stateFile(dir);
  let state: PlaygroundState;
  try {
    state = JSON.parse(readFileSync(path, 'utf8')) as PlaygroundState;
  } catch (err) {
    throw new PlaygroundError(`reading ${path}: ${(err as Error).message}`);
  }
  const problems: string[] = [];
  for (const n of state.nodes) {
    const containerd = adoptContainerd(n.containerd);
    const agent = new TestAgent(containerd, [], { netns: n.netns, base: resolve(n.rootDir, '..'), pid: n.agentPid });
    // Agent first (its `kna cleanup` removes the pods through containerd), then containerd.
    await agent.stop().catch((err: Error) => problems.push(`${n.name} agent: ${err.message}`));
    await containerd.stop().catch((err: Error) => problems.push(`${n.name} containerd: ${err.message}`));
  }
  await removeNamespaces(state.namespaces).catch((err: Error) => problems.push(`namespaces: ${err.message}`));
  rmSync(state.peersFile, { force: true });
  rmSync(path, { force: true });
  if (readdirSync(resolve(dir)).length === 0) rmdirSync(resolve(dir));
  if (problems.length > 0) throw new PlaygroundError(`down left problems: ${problems.join('; ')}`);
}
