// A node in a netns, for proxy tests with real packets:
//   node netns   : the proxy's rules; ip_forward; one routed veth per pod (node side
//                  10.244.0.1/32, a /32 route per pod) and ext0 192.168.77.1/24 to "outside".
//   pod netns    : eth0 10.244.1.N/32, default route via the node.
//   ext netns    : 192.168.77.2/24 and .3/24, default route via the node (an external client).
// Everything is named kna-t-<tag>-<pid>-..., and close() removes it all (processes by pid).
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { execa } from 'execa';
import { pino } from 'pino';
import { Proxier, type ProxierOptions } from '../../agent/proxy/proxier.js';
import { netnsRunner } from '../../agent/proxy/runner.js';
import type { ProbeReply, ProbeRequest } from './proxy-probe.js';

export const NODE_POD_GW = '10.244.0.1';
export const NODE_EXT_IP = '192.168.77.1';
export const EXT_IPS = ['192.168.77.2', '192.168.77.3'] as const;
export const CLUSTER_CIDR = '10.244.0.0/16';
export const SERVICE_CIDR = '10.96.0.0/16';

const PROBE = join(process.cwd(), 'dist/test/harness/proxy-probe.js');

async function ip(...args: string[]): Promise<void> {
  await execa('ip', args);
}

/** A client process in one netns. */
export class Probe {
  private nextId = 1;
  private readonly waiting = new Map<number, (r: ProbeReply) => void>();
  constructor(readonly proc: ChildProcess) {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const r = JSON.parse(line) as ProbeReply;
      this.waiting.get(r.id)?.(r);
      this.waiting.delete(r.id);
    });
  }

  private ask(req: ProbeRequest extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never): Promise<ProbeReply> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.proc.stdin!.write(`${JSON.stringify({ ...req, id })}\n`);
    });
  }

  tcp(host: string, port: number, opts: { timeoutMs?: number; localAddress?: string } = {}): Promise<ProbeReply> {
    return this.ask({ op: 'tcp', host, port, timeoutMs: opts.timeoutMs ?? 3000, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
  }

  udp(host: string, port: number, localPort: number, opts: { timeoutMs?: number } = {}): Promise<ProbeReply> {
    return this.ask({ op: 'udp', host, port, localPort, payload: 'ping', timeoutMs: opts.timeoutMs ?? 2000 });
  }
}

export class ProxyLab {
  readonly prefix: string;
  readonly node: string;
  readonly ext: string;
  private readonly netns: string[] = [];
  private readonly procs: ChildProcess[] = [];
  private pods = 0;

  constructor(tag: string) {
    this.prefix = `kna-t-${tag}-${process.pid}`;
    this.node = `${this.prefix}-node`;
    this.ext = `${this.prefix}-ext`;
  }

  /** A proxy for this node netns: syncs at once, quiet, no health-check servers unless asked. */
  proxier(nodeName: string, extra: Partial<ProxierOptions> = {}): Proxier {
    return new Proxier({
      nodeName, runner: netnsRunner(this.node), serviceCIDRs: [SERVICE_CIDR], clusterCIDR: CLUSTER_CIDR,
      minSyncPeriodMs: 0, logger: pino({ level: 'silent' }), healthCheckBindAddress: null, ...extra,
    });
  }

  async setUp(): Promise<void> {
    for (const ns of [this.node, this.ext]) await this.addNetns(ns);
    const n = ['-n', this.node];
    for (const [k, v] of [['net.ipv4.ip_forward', '1'], ['net.ipv4.conf.all.rp_filter', '0'], ['net.ipv4.conf.default.rp_filter', '0']]) {
      await execa('ip', ['netns', 'exec', this.node, 'sysctl', '-q', '-w', `${k}=${v}`]);
    }
    await ip(...n, 'link', 'add', 'ext0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.ext);
    await ip(...n, 'addr', 'add', `${NODE_EXT_IP}/24`, 'dev', 'ext0');
    await ip(...n, 'link', 'set', 'ext0', 'up');
    await ip(...n, 'link', 'set', 'lo', 'up');
    // The node's way "out": without our reject rule, service-range packets would go here.
    await ip(...n, 'route', 'add', 'default', 'via', EXT_IPS[0]);
    const e = ['-n', this.ext];
    for (const a of EXT_IPS) await ip(...e, 'addr', 'add', `${a}/24`, 'dev', 'eth0');
    await ip(...e, 'link', 'set', 'eth0', 'up');
    await ip(...e, 'link', 'set', 'lo', 'up');
    await ip(...e, 'route', 'add', 'default', 'via', NODE_EXT_IP);
  }

  /** A pod netns routed through the node; returns its netns name. */
  async addPod(name: string, podIP: string): Promise<string> {
    const ns = `${this.prefix}-${name}`;
    await this.addNetns(ns);
    const link = `p${++this.pods}`;
    await ip('-n', this.node, 'link', 'add', link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    await ip('-n', this.node, 'addr', 'add', `${NODE_POD_GW}/32`, 'dev', link);
    await ip('-n', this.node, 'link', 'set', link, 'up');
    await ip('-n', this.node, 'route', 'add', `${podIP}/32`, 'dev', link);
    await ip('-n', ns, 'addr', 'add', `${podIP}/32`, 'dev', 'eth0');
    await ip('-n', ns, 'link', 'set', 'eth0', 'up');
    await ip('-n', ns, 'link', 'set', 'lo', 'up');
    await ip('-n', ns, 'route', 'add', NODE_POD_GW, 'dev', 'eth0');
    await ip('-n', ns, 'route', 'add', 'default', 'via', NODE_POD_GW, 'dev', 'eth0');
    return ns;
  }

  /** Starts a server answering "NAME <peer>" on the given ports inside netns `ns`. */
  async serve(ns: string, name: string, tcp: number[], udp: number[] = []): Promise<void> {
    const proc = this.start(ns, ['serve', name, tcp.join(','), udp.join(',')]);
    await new Promise<void>((resolve, reject) => {
      const rl = createInterface({ input: proc.stdout! });
      rl.once('line', () => { rl.close(); resolve(); });
      proc.once('exit', (code) => reject(new Error(`probe server ${name} exited (${code})`)));
    });
  }

  client(ns: string): Probe {
    return new Probe(this.start(ns, ['client']));
  }

  async iptablesSave(): Promise<string> {
    return (await execa('ip', ['netns', 'exec', this.node, 'iptables-save'])).stdout;
  }

  /** Kills every process and deletes every netns (and with them every link) it made. */
  async close(): Promise<void> {
    for (const p of this.procs) {
      if (p.exitCode === null && p.signalCode === null) {
        const exited = new Promise((r) => p.once('exit', r));
        p.kill('SIGKILL');
        await exited;
      }
    }
    for (const ns of this.netns.reverse()) await execa('ip', ['netns', 'del', ns], { reject: false });
  }

  private async addNetns(ns: string): Promise<void> {
    await ip('netns', 'add', ns);
    this.netns.push(ns);
  }

  private start(ns: string, args: string[]): ChildProcess {
    // `ip netns exec` execs node in place, so this pid is the probe itself.
    const proc = spawn('ip', ['netns', 'exec', ns, process.execPath, PROBE, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.procs.push(proc);
    return proc;
  }
}

/** v1 Service JSON for tests. */
export function service(name: string, spec: Record<string, unknown>, status?: Record<string, unknown>): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec, ...(status ? { status } : {}) };
}

export interface TestEndpoint { ip: string; node?: string; ready?: boolean; serving?: boolean; terminating?: boolean }

/** discovery.k8s.io/v1 EndpointSlice JSON for tests. */
export function slice(svc: string, endpoints: TestEndpoint[], ports: Array<{ name?: string; port: number; protocol?: string }>, name = `${svc}-1`): Record<string, unknown> {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: 'default', labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: { ready: e.ready ?? true, serving: e.serving ?? e.ready ?? true, terminating: e.terminating ?? false },
      ...(e.node ? { nodeName: e.node } : {}),
    })),
    ports: ports.map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP' })),
  };
}

/** A TCP port free on loopback right now (for health check servers). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as { port: number };
  await new Promise((r) => s.close(r));
  return port;
}
