// Runs the real `kna run` (dist/kna, as the installed `kna` does) against a private containerd,
// with its own root dir, manifest folder and ports, and reads it back through the real
// `kna get/logs/exec` commands. stop() terminates the agent and removes its pods.
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import type { ApiClient } from '../../agent/apiserver/client.js';
import { TestApiServer, type TestApiServerOptions } from '../apiserver/server.js';
import { adminClient } from './apiserver.js';
import { startContainerd, type Containerd } from './containerd.js';

const MAIN = resolve('dist/agent/cli/main.js');
/** What `kna` runs for users too (scripts/build.mjs writes it): the bundled agent with its node flags. */
const LAUNCHER = resolve('dist/kna');
const BUNDLE = resolve('dist/agent/kna.cjs');

export interface PodJson {
  metadata: { name: string; namespace: string; uid: string };
  spec: Record<string, unknown>;
  status: {
    phase?: string;
    podIP?: string;
    podIPs?: { ip: string }[];
    hostIP?: string;
    qosClass?: string;
    startTime?: string;
    conditions?: { type: string; status: string; reason?: string }[];
    containerStatuses?: ContainerStatusJson[];
    initContainerStatuses?: ContainerStatusJson[];
  };
}
export interface ContainerStatusJson {
  name: string;
  ready: boolean;
  started?: boolean;
  restartCount: number;
  containerID?: string;
  imageID?: string;
  state: { waiting?: { reason?: string; message?: string }; running?: { startedAt: string }; terminated?: { exitCode: number; reason?: string } };
  lastState: { terminated?: { exitCode: number; reason?: string } };
}

/** The node name every TestAgent runs as. */
export const TEST_NODE = 'kna-t-node';

export interface TestAgentOptions {
  /** Run the agent and its `kna` commands inside this network namespace (a /run/netns name), e.g. a test node's. */
  netns?: string;
  /** the agent command: `run` (default), or `join` whose flags go in extraArgs */
  command?: 'run' | 'join';
  /** Folder for root/, manifests/ and kna.log; default a fresh /var/lib/kna-t/agent-<id>-XXXX. */
  base?: string;
  /** start() runs the agent in its own session, not tied to this process, so it outlives it (the playground). */
  detached?: boolean;
  /** Adopt the agent running with this pid (from an earlier detached start) so kill9()/stop() end it. */
  pid?: number;
  /** false: no --pod-cidr (a joined agent then takes its Node's spec.podCIDR). Default: containerd's pod CIDR. */
  podCidr?: boolean;
}

export class TestAgent {
  readonly rootDir: string;
  readonly manifests: string;
  private proc: ResultPromise | undefined;
  private logFile: string;
  private adopted: number | undefined;

  constructor(readonly containerd: Containerd, private readonly extraArgs: string[] = [], private readonly opts: TestAgentOptions = {}) {
    mkdirSync('/var/lib/kna-t', { recursive: true });
    const base = opts.base ?? mkdtempSync(`/var/lib/kna-t/agent-${containerd.id}-`);
    this.adopted = opts.pid;
    this.rootDir = join(base, 'root');
    this.manifests = join(base, 'manifests');
    this.logFile = join(base, 'kna.log');
    mkdirSync(this.manifests, { recursive: true });
  }

  get pid(): number | undefined {
    return this.proc?.pid ?? this.adopted;
  }

  get base(): string {
    return resolve(this.rootDir, '..');
  }

  /** [file, ...args] running `file args`, inside the netns when one is set (nsenter and the launcher exec, so a pid is node's). */
  private node(args: string[], file = process.execPath): [string, string[]] {
    return this.opts.netns ? ['nsenter', [`--net=/run/netns/${this.opts.netns}`, '--', file, ...args]] : [file, args];
  }

  start(): void {
    // Started as users start it: the launcher that the installed `kna` runs.
    const [file, args] = this.node([this.opts.command ?? 'run',
      '--node-name', TEST_NODE, '--manifests', this.manifests, '--root-dir', this.rootDir,
      '--container-runtime-endpoint', this.containerd.endpoint, ...(this.opts.podCidr === false ? [] : ['--pod-cidr', this.containerd.podCidr]),
      '--cni-conf-dir', this.containerd.cniConfDir, '--cni-bin-dir', this.containerd.cniBinDir, '--cni-bridge', this.containerd.bridge,
      '--healthz-bind-address', '127.0.0.1:0', '--metrics-bind-address', '127.0.0.1:0', '--proxy-mode', 'none',
      ...this.extraArgs], LAUNCHER);
    if (!this.opts.detached) {
      this.proc = execa(file, args, { stdout: { file: this.logFile, append: true }, stderr: { file: this.logFile, append: true }, reject: false, cleanup: true });
      return;
    }
    // Its own session, and the log file's own descriptor (execa would pipe output through us, and we exit).
    const fd = openSync(this.logFile, 'a') as 3; // (execa's types take only literal descriptors)
    this.proc = execa(file, args, { stdin: 'ignore', stdout: fd, stderr: fd, reject: false, cleanup: false, detached: true });
    closeSync(fd);
    this.proc.unref();
  }

  /** kill -9, as a crash would. */
  async kill9(): Promise<void> {
    this.proc?.kill('SIGKILL');
    await this.proc;
    this.proc = undefined;
    if (this.adopted !== undefined) await killPid(this.adopted, [MAIN, BUNDLE]);
    this.adopted = undefined;
  }

  async stopProcess(): Promise<void> {
    this.proc?.kill('SIGTERM');
    await this.proc;
    this.proc = undefined;
  }

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  writeManifest(name: string, text: string): void {
    writeFileSync(join(this.manifests, name + '.tmp'), text);
    renameSync(join(this.manifests, name + '.tmp'), join(this.manifests, name));
  }

  removeManifest(name: string): void {
    rmSync(join(this.manifests, name), { force: true });
  }

  kna(args: string[], opts: { input?: string; reject?: boolean } = {}) {
    // Before `--`, so an exec'd command never receives it.
    const dash = args.indexOf('--');
    const argv = dash < 0 ? [...args, '--root-dir', this.rootDir] : [...args.slice(0, dash), '--root-dir', this.rootDir, ...args.slice(dash)];
    return execa(...this.node(argv, LAUNCHER), { reject: opts.reject ?? true, ...(opts.input !== undefined ? { input: opts.input } : {}) });
  }

  async pods(): Promise<PodJson[]> {
    const r = await this.kna(['get', 'pods', '-o', 'json'], { reject: false });
    if (r.exitCode !== 0) return [];
    return (JSON.parse(String(r.stdout)) as { items: PodJson[] }).items;
  }

  async pod(name: string): Promise<PodJson | undefined> {
    return (await this.pods()).find((p) => p.metadata.name === name);
  }

  /** Polls until `check` returns a value (not undefined/false); fails with the last seen state. */
  async waitFor<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
    const end = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < end) {
      try {
        const v = await check();
        if (v !== undefined && v !== false) return v;
      } catch (err) {
        last = err;
      }
      await sleep(250);
    }
    const pods = await this.pods().catch(() => []);
    throw new Error(`timed out waiting for ${what}; last error: ${String(last)}\npods: ${JSON.stringify(pods.map((p) => ({ name: p.metadata.name, status: p.status })), null, 1).slice(0, 4000)}\nagent log tail:\n${this.log().split('\n').slice(-30).join('\n')}`);
  }

  async waitPod(name: string, pred: (p: PodJson) => boolean, what = 'condition', timeoutMs = 60_000): Promise<PodJson> {
    return this.waitFor(`pod ${name}: ${what}`, async () => {
      const p = await this.pod(name);
      return p && pred(p) ? p : undefined;
    }, timeoutMs);
  }

  /**
   * Stops the agent, then removes its pods (through `kna cleanup`), cgroups and dirs.
   * Inside its own netns the overlay goes too; in ours (the host's) it stays untouched.
   */
  async stop(): Promise<void> {
    await this.kill9();
    await execa(...this.node([MAIN, 'cleanup', '--no-proxy-rules', ...(this.opts.netns ? [] : ['--no-overlay']), '--root-dir', this.rootDir,
      '--container-runtime-endpoint', this.containerd.endpoint, '--cni-conf-dir', '/nonexistent-kna-t']), { reject: false });
    rmSync(this.base, { recursive: true, force: true });
  }
}

/**
 * SIGKILLs an agent that is not our child and waits until it is gone or a zombie. Its
 * cmdline must still be an agent's (`main.js` or bundle argv, or the `kna run ...` title it sets), in case the pid was reused.
 */
async function killPid(pid: number, mains: string[]): Promise<void> {
  const alive = () => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      return stat[stat.lastIndexOf(')') + 2] !== 'Z' && (argv.split('\0').some((a) => mains.includes(a)) || argv.startsWith('kna '));
    } catch {
      return false;
    }
  };
  if (alive()) process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 250 && alive(); i++) await sleep(20);
}

/** A started agent on a containerd, stopped and cleaned in t.after. */
export function startAgent(t: Pick<TestContext, 'after'>, containerd: Containerd, extraArgs: string[] = []): TestAgent {
  const a = new TestAgent(containerd, extraArgs);
  t.after(() => a.stop());
  a.start();
  return a;
}

/** A node for one test file: a private containerd and an agent on it, made in before() and removed in after(). */
export function nodePerFile(name: string, extraArgs: () => string[] | Promise<string[]> = () => []): { containerd: Containerd; agent: TestAgent } {
  const node = {} as { containerd: Containerd; agent: TestAgent };
  before(async () => {
    node.containerd = await startContainerd({ name });
    node.agent = new TestAgent(node.containerd, await extraArgs());
    node.agent.start();
  });
  after(async () => {
    await node.agent?.stop();
    await node.containerd?.stop();
  });
  return node;
}

/** `kna join` flags for a node joining `server` with a new bootstrap token. */
export const joinArgs = (server: TestApiServer): string[] =>
  ['--server', server.url, '--token', server.createBootstrapToken(), '--discovery-token-ca-cert-hash', server.caHash];

export interface JoinedNode { server: TestApiServer; admin: ApiClient; containerd: Containerd; agent: TestAgent }

export interface JoinedNodeOptions {
  /** the double's options; CSRs are approved automatically unless said otherwise */
  server?: TestApiServerOptions;
  /** more agent flags, given the server */
  args?: (server: TestApiServer) => string[];
  /** static pods: file name → manifest text */
  manifests?: Record<string, string>;
}

/**
 * A joined node for one test file: the API server double with an admin client, a private
 * containerd, and `kna join` with a bootstrap token, made in before() and removed in after().
 */
export function joinedNodePerFile(name: string, o: JoinedNodeOptions = {}): JoinedNode {
  const n = {} as JoinedNode;
  before(async () => {
    n.server = await TestApiServer.start({ autoApproveCsrs: true, ...o.server });
    n.admin = adminClient(n.server);
    n.containerd = await startContainerd({ name });
    n.agent = new TestAgent(n.containerd, [...joinArgs(n.server), ...(o.args?.(n.server) ?? [])], { command: 'join' });
    for (const [file, text] of Object.entries(o.manifests ?? {})) n.agent.writeManifest(file, text);
    n.agent.start();
  });
  after(async () => {
    await n.agent?.stop();
    await n.containerd?.stop();
    n.admin?.close();
    await n.server?.stop();
  });
  return n;
}

/** Rethrows `err` with the last `lines` lines of the agent's log appended (for .catch on waits). */
export function withAgentLog(agent: () => TestAgent, lines = 40): (err: unknown) => never {
  return (err) => { throw new Error(`${(err as Error).message}\nagent log:\n${agent().log().split('\n').slice(-lines).join('\n')}`); };
}

/** An API Pod bound to the test node: one busybox container `c` that sleeps, with `container` and `spec` fields merged in. */
export function apiPod(name: string, container: Record<string, unknown> = {}, spec: Record<string, unknown> = {}) {
  return {
    apiVersion: 'v1', kind: 'Pod', metadata: { name },
    spec: {
      nodeName: TEST_NODE, terminationGracePeriodSeconds: 0, automountServiceAccountToken: false,
      containers: [{ name: 'c', image: 'localhost/kna/busybox:latest', imagePullPolicy: 'IfNotPresent', command: ['sleep', '3600'], ...container }],
      ...spec,
    },
  };
}
