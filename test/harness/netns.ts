// Network namespaces, veths and bridges for tests, all named kna-t… and all
// removed again by `dispose()` (kill what runs inside, delete the namespace,
// which deletes its links), also when a test fails half-way.
//
//   const lab = new NetnsLab('cni');             // names get a per-run suffix
//   const node = await lab.netns('node');        // kna-t-cni-node-<run>
//   const pod = await lab.netns('pod');
//   await lab.veth({ ns: node, name: 'kna-tv0' }, { ns: pod, name: 'eth0' });
//   await lab.exec(pod, ['ip', 'addr']);
//   t.after(() => lab.dispose());
import { execa, type Options, type ResultPromise } from 'execa';

export interface Netns { name: string; path: string }
export interface ExecResult { exitCode: number; stdout: string; stderr: string }
export interface LinkEnd { ns: Netns; name: string; cidr?: string; up?: boolean }

/** A short suffix unique to this test process (and lab), for names of at most 15 characters. */
let labs = 0;
const runSuffix = (): string => `${process.pid.toString(36)}${(labs++).toString(36)}`;

export class NetnsLab {
  readonly suffix: string;
  private readonly made: Netns[] = [];
  private readonly procs = new Set<ResultPromise>();

  constructor(readonly tag: string) {
    if (!/^[a-z0-9]{1,8}$/.test(tag)) throw new Error(`NetnsLab tag ${JSON.stringify(tag)}: 1-8 of [a-z0-9]`);
    this.suffix = runSuffix();
  }

  /** Creates kna-t-<tag>-<name>-<suffix> with lo up. */
  async netns(name: string): Promise<Netns> {
    const full = `kna-t-${this.tag}-${name}-${this.suffix}`;
    await execa('ip', ['netns', 'add', full]);
    const ns = { name: full, path: `/run/netns/${full}` };
    this.made.push(ns);
    await execa('ip', ['-n', full, 'link', 'set', 'lo', 'up']);
    return ns;
  }

  /** Runs argv inside `ns` (ip netns exec; no shell); rejects on failure unless `reject: false`. */
  async exec(ns: Netns, argv: readonly string[], opts: { reject?: boolean; input?: string } = {}): Promise<ExecResult> {
    const r = await execa('ip', ['netns', 'exec', ns.name, ...argv], { reject: opts.reject ?? true, ...(opts.input !== undefined ? { input: opts.input } : {}) });
    return { exitCode: r.exitCode ?? 1, stdout: r.stdout, stderr: r.stderr };
  }

  /** Starts a long-running process inside `ns`; dispose() kills it. */
  spawn(ns: Netns, argv: readonly string[], opts: Options = {}): ResultPromise {
    const p = execa('ip', ['netns', 'exec', ns.name, ...argv], { reject: false, ...opts });
    this.procs.add(p);
    void p.then(() => this.procs.delete(p), () => this.procs.delete(p));
    return p;
  }

  /** A veth pair between two namespaces, each end optionally addressed and up. */
  async veth(a: LinkEnd, b: LinkEnd, mtu?: number): Promise<void> {
    const m = mtu ? ['mtu', String(mtu)] : [];
    await execa('ip', ['link', 'add', a.name, 'netns', a.ns.name, ...m, 'type', 'veth', 'peer', 'name', b.name, 'netns', b.ns.name, ...m]);
    for (const end of [a, b]) await this.configure(end);
  }

  /** A bridge inside `ns`, up, optionally with an address. */
  async bridge(ns: Netns, name: string, cidr?: string): Promise<void> {
    await execa('ip', ['-n', ns.name, 'link', 'add', name, 'type', 'bridge']);
    await this.configure({ ns, name, ...(cidr ? { cidr } : {}) });
  }

  async configure(end: LinkEnd): Promise<void> {
    if (end.cidr) await execa('ip', ['-n', end.ns.name, 'addr', 'add', end.cidr, 'dev', end.name]);
    if (end.up !== false) await execa('ip', ['-n', end.ns.name, 'link', 'set', end.name, 'up']);
  }

  async sysctl(ns: Netns, ...kv: string[]): Promise<void> {
    await execa('ip', ['netns', 'exec', ns.name, 'sysctl', '-qw', ...kv]);
  }

  /** Kills processes inside our namespaces and deletes them (their links go with them). Idempotent. */
  async dispose(): Promise<void> {
    for (const p of this.procs) p.kill('SIGKILL');
    await Promise.allSettled([...this.procs]);
    for (const ns of this.made.splice(0).reverse()) {
      const pids = (await execa('ip', ['netns', 'pids', ns.name], { reject: false })).stdout.split('\n').filter(Boolean).map(Number);
      for (const pid of pids) {
        if (pid === process.pid) continue;
        try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      }
      await execa('ip', ['netns', 'del', ns.name], { reject: false });
    }
  }
}

/** Names of namespaces that exist now (for leak checks). */
export async function listNetns(): Promise<string[]> {
  const out = (await execa('ip', ['netns', 'list'], { reject: false })).stdout;
  return out.split('\n').map((l) => l.split(' ')[0]!).filter(Boolean);
}

export interface PluginCall {
  command: 'ADD' | 'DEL' | 'CHECK' | 'VERSION' | 'STATUS' | 'GC';
  containerId?: string;
  netns?: string;
  ifname?: string;
  args?: string;
  path?: string;
  /** Extra environment (e.g. KNA_CNI_TRACE). */
  env?: Record<string, string>;
}
export interface PluginResult { code: number; stdout: string; stderr: string; json?: Record<string, unknown> }

/**
 * Execs a CNI plugin the way a runtime does (PATH and the CNI_* environment, the
 * config on stdin), inside `node` (the runtime's netns) when given.
 */
export async function execPlugin(node: Netns | undefined, bin: string, call: PluginCall, config: object | string): Promise<PluginResult> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: call.command,
    CNI_PATH: call.path ?? '/usr/lib/cni',
    ...(call.containerId !== undefined ? { CNI_CONTAINERID: call.containerId } : {}),
    ...(call.netns !== undefined ? { CNI_NETNS: call.netns } : {}),
    ...(call.ifname !== undefined ? { CNI_IFNAME: call.ifname } : {}),
    ...(call.args !== undefined ? { CNI_ARGS: call.args } : {}),
    ...call.env,
  };
  const argv = node ? ['ip', 'netns', 'exec', node.name, bin] : [bin];
  const r = await execa(argv[0]!, argv.slice(1), {
    input: typeof config === 'string' ? config : JSON.stringify(config),
    env,
    extendEnv: false,
    reject: false,
  });
  let json: Record<string, unknown> | undefined;
  try { json = r.stdout ? (JSON.parse(r.stdout) as Record<string, unknown>) : undefined; } catch { /* not JSON */ }
  return { code: r.exitCode ?? 1, stdout: r.stdout, stderr: r.stderr, ...(json ? { json } : {}) };
}
