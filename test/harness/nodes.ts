// Test "nodes" on one host: each node is a network namespace with an `eth0` on a
// shared underlay bridge, which lives in its own namespace too, so nothing touches
// the host's network (and the host's iptables never see the bridged frames). Stand-in
// pods are namespaces with a veth on a bridge in their node, as the CNI bridge plugin
// would make them. remove() kills whatever still runs inside these namespaces (only
// processes the test started there) and deletes them, which deletes every link.
//
//   const c = await createNodes({ count: 3 });   // c.nodes[i].netns / ip / podCIDR
//   const pod = await c.addPod(c.nodes[0]!, { mtu: 1450 });
//   await nsExec(pod.netns, ['ping', '-c1', other.ip]);
//   await c.remove();
import { readdirSync } from 'node:fs';
import { execa } from 'execa';

export interface TestNode {
  /** Node name (for peers files): `node-<i>`. */
  name: string;
  netns: string;
  /** Underlay address on eth0. */
  ip: string;
  prefixLen: number;
  /** Underlay interface inside the node namespace. */
  iface: 'eth0';
  podCIDR: string;
}

export interface TestPod {
  netns: string;
  ip: string;
  node: TestNode;
}

export interface NodesOptions {
  count: number;
  /** A few [a-z0-9] characters to recognise the run in `ip netns`. */
  name?: string;
  /** Underlay subnet, a /24; node i gets .10+i. Default 172.30.0.0/24 (namespaced, so no clash with the host). */
  underlay?: string;
  /** Pod CIDR of node i. Default 10.240.<i>.0/24. */
  podCIDR?: (i: number) => string;
  /** Underlay MTU (veth). Default 1500. */
  mtu?: number;
  /** Each node gets a default route via the underlay's .1 (unused), as a node has an uplink: Service IPs need a route before DNAT. */
  defaultRoute?: boolean;
  /**
   * The namespaces outlive this process (the playground): named without our pid, so
   * sweepStale leaves them alone; remove them with removeNamespaces(cluster.namespaces()).
   */
  persistent?: boolean;
}

export interface Cluster {
  id: string;
  underlay: { netns: string; bridge: string; cidr: string };
  nodes: TestNode[];
  /** Adds one more node to the underlay (same numbering). */
  addNode(): Promise<TestNode>;
  /**
   * A pod stand-in on `node`: its own netns, eth0 with pod IP .<host> (default: the next
   * of .2, .3, ...), default route via the node's bridge (.1).
   */
  addPod(node: TestNode, opts?: { mtu?: number; host?: number }): Promise<TestPod>;
  /** Every namespace made so far, in creation order. */
  namespaces(): string[];
  /** Kills processes left in our namespaces and deletes them all. Idempotent. */
  remove(): Promise<void>;
}

/** Prefix of every namespace this harness makes: `kna-tn<pid>x<k>-...`; the pid lets sweepStale find dead runs. */
const PREFIX = 'kna-tn';
/** The pod bridge inside each node namespace (like the CNI plugin's). */
export const POD_BRIDGE = 'kna-tpods';
let counter = 0;

export interface NsExecOptions {
  /** false: resolve with the exit code instead of throwing on failure. */
  reject?: boolean;
  timeout?: number;
  input?: string;
}

export interface NsExecResult { stdout: string; stderr: string; exitCode: number }

/** Runs argv inside a namespace (`ip netns exec`, no shell). */
export async function nsExec(netns: string, argv: string[], opts: NsExecOptions = {}): Promise<NsExecResult> {
  const r = await execa('ip', ['netns', 'exec', netns, ...argv], { reject: opts.reject ?? true, ...(opts.timeout ? { timeout: opts.timeout } : {}), ...(opts.input !== undefined ? { input: opts.input } : {}) });
  return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1 };
}

const ip = (args: string[]) => execa('ip', args);
const sysctl = (netns: string, kv: string[]) => nsExec(netns, ['sysctl', '-qw', ...kv]);

function hostIP(cidr: string, host: number): string {
  const [a, b, c] = cidr.split('/')[0]!.split('.');
  return `${a}.${b}.${c}.${host}`;
}

/** Deletes namespaces left by earlier runs of this harness whose process is gone. */
export async function sweepStale(): Promise<void> {
  let names: string[];
  try { names = readdirSync('/run/netns'); } catch { return; }
  for (const ns of names) {
    const m = new RegExp(`^${PREFIX}(\\d+)x`).exec(ns);
    if (!m || pidAlive(Number(m[1]))) continue;
    await killInside(ns);
    await ip(['netns', 'del', ns]).catch(() => {});
  }
}

function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM'; }
}

async function killInside(netns: string): Promise<void> {
  const pids = (await ip(['netns', 'pids', netns]).catch(() => ({ stdout: '' }))).stdout.split('\n').filter(Boolean).map(Number);
  for (const pid of pids) if (pid !== process.pid) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
}

export async function createNodes(opts: NodesOptions): Promise<Cluster> {
  await sweepStale();
  const tag = (opts.name ?? '').replace(/[^a-z0-9]/g, '').slice(0, 4);
  const id = opts.persistent ? `p${Date.now().toString(36)}${tag}` : `${process.pid}x${counter++}${tag}`;
  const cidr = opts.underlay ?? '172.30.0.0/24';
  const prefixLen = Number(cidr.split('/')[1]);
  const podCIDR = opts.podCIDR ?? ((i: number) => `10.240.${i}.0/24`);
  const mtu = String(opts.mtu ?? 1500);
  const made: string[] = [];
  const ul = { netns: `${PREFIX}${id}-ul`, bridge: 'kna-tul', cidr };
  const nodes: TestNode[] = [];
  const podCount = new Map<TestNode, number>();

  const mkns = async (name: string) => {
    await ip(['netns', 'add', name]);
    made.push(name);
    await ip(['-n', name, 'link', 'set', 'lo', 'up']);
  };

  const addNode = async (): Promise<TestNode> => {
    const i = nodes.length;
    const node: TestNode = { name: `node-${i}`, netns: `${PREFIX}${id}-n${i}`, ip: hostIP(cidr, 10 + i), prefixLen, iface: 'eth0', podCIDR: podCIDR(i) };
    await mkns(node.netns);
    // The veth's far end is port n<i> of the underlay bridge.
    await ip(['link', 'add', 'eth0', 'netns', node.netns, 'mtu', mtu, 'type', 'veth', 'peer', 'name', `n${i}`, 'netns', ul.netns, 'mtu', mtu]);
    await ip(['-n', ul.netns, 'link', 'set', `n${i}`, 'master', ul.bridge, 'up']);
    await ip(['-n', node.netns, 'addr', 'add', `${node.ip}/${prefixLen}`, 'dev', 'eth0']);
    await ip(['-n', node.netns, 'link', 'set', 'eth0', 'up']);
    // A node routes for its pods; strict reverse-path filtering would drop overlay replies.
    await sysctl(node.netns, ['net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0']);
    if (opts.defaultRoute) await ip(['-n', node.netns, 'route', 'add', 'default', 'via', hostIP(cidr, 1), 'dev', 'eth0']);
    nodes.push(node);
    return node;
  };

  const addPod = async (node: TestNode, podOpts: { mtu?: number; host?: number } = {}): Promise<TestPod> => {
    const n = (podCount.get(node) ?? 0) + 1;
    podCount.set(node, n);
    const podMtu = String(podOpts.mtu ?? opts.mtu ?? 1500);
    if (n === 1) {
      await ip(['-n', node.netns, 'link', 'add', POD_BRIDGE, 'mtu', podMtu, 'type', 'bridge']);
      await ip(['-n', node.netns, 'addr', 'add', `${hostIP(node.podCIDR, 1)}/24`, 'dev', POD_BRIDGE]);
      await ip(['-n', node.netns, 'link', 'set', POD_BRIDGE, 'up']);
    }
    const pod: TestPod = { netns: `${node.netns}p${n}`, ip: hostIP(node.podCIDR, podOpts.host ?? 1 + n), node };
    await mkns(pod.netns);
    await ip(['link', 'add', 'eth0', 'netns', pod.netns, 'mtu', podMtu, 'type', 'veth', 'peer', 'name', `kna-tveth${n}`, 'netns', node.netns, 'mtu', podMtu]);
    await ip(['-n', node.netns, 'link', 'set', `kna-tveth${n}`, 'master', POD_BRIDGE, 'up']);
    await ip(['-n', pod.netns, 'addr', 'add', `${pod.ip}/24`, 'dev', 'eth0']);
    await ip(['-n', pod.netns, 'link', 'set', 'eth0', 'up']);
    await ip(['-n', pod.netns, 'route', 'add', 'default', 'via', hostIP(node.podCIDR, 1)]);
    return pod;
  };

  let removed = false;
  const remove = async () => {
    if (removed) return;
    removed = true;
    await removeNamespaces(made);
  };

  try {
    if (!/^\d+\.\d+\.\d+\.0\/24$/.test(cidr)) throw new Error(`createNodes: underlay ${cidr} must be a /24 network`);
    await mkns(ul.netns);
    await ip(['-n', ul.netns, 'link', 'add', ul.bridge, 'type', 'bridge']);
    await ip(['-n', ul.netns, 'link', 'set', ul.bridge, 'up']);
    // The underlay is a plain switch: keep its frames out of (this namespace's) iptables.
    await sysctl(ul.netns, ['net.bridge.bridge-nf-call-iptables=0', 'net.bridge.bridge-nf-call-arptables=0']).catch(() => {});
    for (let i = 0; i < opts.count; i++) await addNode();
  } catch (err) {
    await remove();
    throw err;
  }
  return { id, underlay: ul, nodes, addNode, addPod, namespaces: () => [...made], remove };
}

/** Kills the processes inside these namespaces, then deletes them (last first). */
export async function removeNamespaces(names: readonly string[]): Promise<void> {
  for (const ns of [...names].reverse()) {
    if (!ns.startsWith(PREFIX)) throw new Error(`removeNamespaces: ${ns} is not a harness namespace`);
    await killInside(ns);
    await ip(['netns', 'del', ns]).catch(() => {});
  }
}
