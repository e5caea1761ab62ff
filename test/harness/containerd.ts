// A private containerd per test: its own root, state, socket, CNI bin/conf dirs,
// bridge, pod CIDR and host-local IP store, so tests never share state with each
// other or with the user's containerd (/run/kna/containerd). stop() removes all of
// it again: sandboxes (through CRI, so CNI DEL runs), shims and their containers,
// mounts, netns, pod cgroups, the bridge and the directories.
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, rmdirSync, copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestContext } from 'node:test';
import { execa, type ResultPromise } from 'execa';
import { CriClient } from '../../agent/cri/client.js';

type ConfigModule = typeof import('../../scripts/containerd-config.mjs');

const BASE = '/var/lib/kna-t';
const IMAGE_CACHE = '/var/lib/kna/images';
const REFERENCE_CNI = '/usr/lib/cni';
const REFERENCE_PLUGINS = ['bridge', 'host-local', 'loopback', 'portmap'];
const SUBNET_CLAIMS = join(BASE, '.subnets');
const READY_TIMEOUT_MS = 30_000;

export interface CniContext { id: string; bridge: string; podCidr: string; ipamDataDir: string; cniBinDir: string }

export interface ContainerdOptions {
  /** Readable part of the id (a few [a-z0-9] characters are kept). */
  name?: string;
  /** Pod CIDR of the bridge network; default a free 10.123.<n>.0/24. */
  podCidr?: string;
  /** Replaces the default conflist (reference bridge + host-local + portmap). */
  cniConflist?: (ctx: CniContext) => object;
  /** Extra plugin binaries copied into the CNI bin dir: file name -> source path. */
  cniPlugins?: Record<string, string>;
  /**
   * File name of the conflist (default 10-kna-t.conflist). The agent's own name,
   * 10-kna.conflist, lets a test agent rewrite it in place, which containerd follows.
   */
  cniConfName?: string;
  /**
   * Run containerd inside this network namespace (a name under /run/netns), as a
   * test node would: pods, bridge and CNI rules then live there. Default: ours.
   */
  netns?: string;
  /**
   * Run containerd in its own session, not tied to this process: it outlives us (the
   * `harness up` playground). Another process takes it over with adoptContainerd(record()).
   */
  detached?: boolean;
}

/** What another process needs to take over (and stop) a detached containerd. */
export interface ContainerdRecord {
  id: string; pid: number; root: string; state: string; socket: string; cniBinDir: string; cniConfDir: string;
  ipamDataDir: string; podCidr: string; bridge: string; logPath: string; configPath: string; netns?: string;
}

export interface Containerd {
  id: string;
  socket: string;
  /** unix:// + socket */
  endpoint: string;
  root: string;
  state: string;
  cniBinDir: string;
  cniConfDir: string;
  ipamDataDir: string;
  podCidr: string;
  bridge: string;
  logPath: string;
  /** The containerd process (undefined while it is not running). */
  readonly pid: number | undefined;
  /** For adoptContainerd() in another process. */
  record(): ContainerdRecord;
  /** A CRI client on this containerd (closed by stop()). */
  cri: CriClient;
  /** Removes every sandbox, kills containerd, shims and containers, unmounts, deletes dirs. */
  stop(): Promise<void>;
  /** kill -9 containerd only (shims and containers live on) and start it again. */
  restart(): Promise<void>;
  /**
   * Registers a pod cgroup parent (…/pod<uid>) a test gave RunPodSandbox: containerd
   * never removes it (kubelet's job), so stop() does.
   */
  ownCgroup(cgroupParent: string): void;
}

let counter = 0;

/** Starts a private containerd with CNI configured and the local images imported. */
export async function startContainerd(opts: ContainerdOptions = {}): Promise<Containerd> {
  const id = claimId(opts.name);
  const base = join(BASE, id);
  const state = `/run/kna-t-${id}`;
  const h = {
    id,
    root: join(base, 'containerd'),
    state,
    socket: join(state, 'containerd.sock'),
    endpoint: `unix://${join(state, 'containerd.sock')}`,
    cniBinDir: join(base, 'cni/bin'),
    cniConfDir: join(base, 'cni/net.d'),
    ipamDataDir: join(base, 'cni/ipam'),
    bridge: `kna-t${id}`,
    logPath: join(base, 'containerd.log'),
    configPath: join(base, 'containerd.toml'),
    podCidr: '',
  };
  let subnetClaim: string | undefined;
  let daemon: Daemon | undefined;
  let cri: CriClient | undefined;
  try {
    if (opts.podCidr && !/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(opts.podCidr)) throw new Error(`podCidr ${JSON.stringify(opts.podCidr)} is not an IPv4 CIDR`);
    if (opts.netns !== undefined && !/^[A-Za-z0-9_.-]+$/.test(opts.netns)) throw new Error(`netns ${JSON.stringify(opts.netns)} is not a /run/netns name`);
    if (opts.podCidr) h.podCidr = opts.podCidr;
    else ({ cidr: h.podCidr, claim: subnetClaim } = await claimSubnet());

    for (const d of [h.root, h.state, h.cniBinDir, h.cniConfDir, h.ipamDataDir]) mkdirSync(d, { recursive: true });
    for (const p of REFERENCE_PLUGINS) copyFileSync(join(REFERENCE_CNI, p), join(h.cniBinDir, p));
    for (const [name, src] of Object.entries(opts.cniPlugins ?? {})) copyFileSync(src, join(h.cniBinDir, name));
    // containerd reads the CNI conf dir at start and ignores files created later.
    const ctx: CniContext = { id, bridge: h.bridge, podCidr: h.podCidr, ipamDataDir: h.ipamDataDir, cniBinDir: h.cniBinDir };
    writeFileSync(join(h.cniConfDir, opts.cniConfName ?? '10-kna-t.conflist'), JSON.stringify((opts.cniConflist ?? defaultConflist)(ctx), null, 2));

    const { containerdConfig } = (await import(pathToFileURL(join(process.cwd(), 'scripts/containerd-config.mjs')).href)) as ConfigModule;
    writeFileSync(h.configPath, containerdConfig({ root: h.root, state: h.state, cniBin: h.cniBinDir, cniConf: h.cniConfDir }));

    cri = CriClient.connect(h.endpoint, { connectTimeoutMs: 500 });
    daemon = await launch(h.configPath, h.logPath, cri, opts.netns, opts.detached);
    await execa(process.execPath, ['scripts/images.mjs', '--out', IMAGE_CACHE, '--address', h.socket], { cwd: process.cwd() });
  } catch (err) {
    await teardown({ ...h, daemon, cri, subnetClaim, sandboxes: [], netns: opts.netns }).catch(() => {});
    throw new Error(`starting private containerd ${id} failed: ${(err as Error).message}`, { cause: err });
  }
  return handle({ ...h, netns: opts.netns, detached: opts.detached ?? false }, cri!, daemon, subnetClaim);
}

/** Takes over a detached containerd started by another process (to stop it). */
export function adoptContainerd(rec: ContainerdRecord): Containerd {
  const cri = CriClient.connect(`unix://${rec.socket}`, { connectTimeoutMs: 500 });
  return handle({ ...rec, endpoint: `unix://${rec.socket}`, netns: rec.netns, detached: true }, cri, adoptPid(rec.pid, rec.configPath), undefined);
}

type HandleInput = Omit<ContainerdRecord, 'pid' | 'netns'> & { endpoint: string; netns: string | undefined; detached: boolean };

function handle(h: HandleInput, client: CriClient, started: Daemon | undefined, subnetClaim: string | undefined): Containerd {
  let daemon = started;
  const relaunch = () => launch(h.configPath, h.logPath, client, h.netns, h.detached);
  const cgroups = new Set<string>();
  let stopped = false;
  return {
    id: h.id, socket: h.socket, endpoint: h.endpoint, root: h.root, state: h.state, cniBinDir: h.cniBinDir,
    cniConfDir: h.cniConfDir, ipamDataDir: h.ipamDataDir, podCidr: h.podCidr, bridge: h.bridge, logPath: h.logPath,
    cri: client,
    get pid() { return daemon?.running() ? daemon.pid : undefined; },
    record: () => ({
      id: h.id, pid: daemon?.pid ?? 0, root: h.root, state: h.state, socket: h.socket, cniBinDir: h.cniBinDir, cniConfDir: h.cniConfDir,
      ipamDataDir: h.ipamDataDir, podCidr: h.podCidr, bridge: h.bridge, logPath: h.logPath, configPath: h.configPath, ...(h.netns ? { netns: h.netns } : {}),
    }),
    ownCgroup: (cgroupParent) => void cgroups.add(cgroupParent),
    async restart() {
      if (daemon) {
        daemon.kill('SIGKILL');
        await daemon.exited;
      }
      daemon = await relaunch();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      // A containerd that died (or hangs) is started again so its sandboxes go through CRI.
      if (!(await client.version().then(() => true, () => false))) {
        if (daemon) {
          daemon.kill('SIGKILL');
          await daemon.exited;
        }
        daemon = await relaunch().catch(() => undefined);
      }
      const sandboxes = await removeSandboxes(client);
      for (const cgroupParent of cgroups) sandboxes.push({ cgroupParent });
      await teardown({ ...h, daemon, cri: client, subnetClaim, sandboxes, netns: h.netns });
    },
  };
}

/** Starts a private containerd for test `t` and stops it in t.after. */
export async function withContainerd<T>(t: Pick<TestContext, 'after'>, fn: (c: Containerd) => Promise<T>, opts?: ContainerdOptions): Promise<T> {
  const c = await startContainerd(opts);
  t.after(() => c.stop());
  return fn(c);
}

/** The reference plugins' chain: bridge (gateway, no masquerade) + host-local + portmap. */
export function defaultConflist(ctx: CniContext): object {
  return {
    cniVersion: '1.0.0',
    name: ctx.bridge,
    plugins: [
      {
        type: 'bridge',
        bridge: ctx.bridge,
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: ctx.podCidr }]],
          routes: [{ dst: '0.0.0.0/0' }],
          dataDir: ctx.ipamDataDir,
        },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  };
}

// ------------------------------------------------------------------ start

/** A short unique id (<= 10 chars, so `kna-t<id>` fits a 15-char link name). */
function claimId(name = ''): string {
  mkdirSync(BASE, { recursive: true });
  for (;;) {
    const unique = `${process.pid.toString(36)}${(counter++).toString(36)}`;
    const prefix = name.toLowerCase().replace(/[^a-z0-9]/g, '').slice(0, Math.max(0, 10 - unique.length));
    const id = `${prefix}${unique}`.slice(0, 10);
    try {
      mkdirSync(join(BASE, id)); // atomic: fails when another harness has it
      return id;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

/**
 * A free 10.123.<n>.0/24. Claimed with an exclusive file naming our pid (stale when
 * that pid is gone), because the bridge and its route appear only at the first pod.
 */
async function claimSubnet(): Promise<{ cidr: string; claim: string }> {
  mkdirSync(SUBNET_CLAIMS, { recursive: true });
  const routes = JSON.parse((await execa('ip', ['-j', '-4', 'route', 'show', 'table', 'all'])).stdout) as { dst?: string }[];
  const used = new Set(routes.map((r) => r.dst));
  const start = (process.pid + counter) % 250;
  for (let i = 0; i < 250; i++) {
    const n = ((start + i) % 250) + 1;
    const cidr = `10.123.${n}.0/24`;
    if (used.has(cidr)) continue;
    const claim = join(SUBNET_CLAIMS, String(n));
    try {
      writeFileSync(claim, String(process.pid), { flag: 'wx' });
      return { cidr, claim };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(readFileSync(claim, 'utf8'));
      if (owner !== process.pid && !isAlive(owner)) {
        rmSync(claim, { force: true });
        i--; // retry the same n
      }
    }
  }
  throw new Error('no free 10.123.<n>.0/24 for a test pod CIDR');
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A running containerd, our child or adopted by pid. Not a thenable on purpose: async functions return it as is. */
interface Daemon { pid: number; kill(signal: NodeJS.Signals): void; exited: Promise<unknown>; running(): boolean }

const isRunningProc = (d: Daemon | undefined): d is Daemon => d !== undefined && d.running();

/** A containerd that is not our child: signalled by pid, polled until gone (its cmdline must name its config, in case the pid was reused). */
function adoptPid(pid: number, configPath: string): Daemon | undefined {
  const ours = () => {
    try { return isRunning(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(configPath); } catch { return false; }
  };
  if (!ours()) return undefined;
  const exited = (async () => { while (ours()) await sleep(20); })();
  return { pid, running: ours, exited, kill: (signal) => { if (ours()) process.kill(pid, signal); } };
}

/**
 * Runs containerd (in `netns` when given: nsenter, not `ip netns exec`, which remounts
 * /sys and hides the cgroup mounts runc needs) and waits until its CRI plugin answers
 * Version. nsenter execs containerd, so the child's pid is containerd's.
 */
async function launch(configPath: string, logPath: string, cri: CriClient, netns?: string, detached = false): Promise<Daemon> {
  // A detached containerd writes its log through its own descriptor: execa would pipe it through us, and we exit.
  const fd = detached ? openSync(logPath, 'a') as 3 : undefined; // (execa's types take only literal descriptors)
  const log = { file: logPath, append: true } as const;
  const argv = ['containerd', '--config', configPath];
  const [file, ...args] = netns ? ['nsenter', `--net=/run/netns/${netns}`, '--', ...argv] : argv;
  const proc: ResultPromise = fd !== undefined
    ? execa(file!, args, { stdin: 'ignore', stdout: fd, stderr: fd, reject: false, cleanup: false, detached: true })
    : execa(file!, args, { stdin: 'ignore', stdout: log, stderr: log, reject: false, cleanup: true });
  if (fd !== undefined) {
    closeSync(fd);
    proc.unref();
  }
  let exited = false;
  const daemon: Daemon = {
    pid: proc.pid ?? 0, exited: proc.then(() => { exited = true; }),
    running: () => proc.exitCode === null && proc.signalCode === null, kill: (signal) => proc.kill(signal),
  };
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last: unknown;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`containerd exited at start; log ${logPath}:\n${tail(logPath)}`);
    try {
      await cri.version();
      return daemon;
    } catch (err) {
      last = err;
      await sleep(50);
    }
  }
  daemon.kill('SIGKILL');
  await daemon.exited;
  throw new Error(`containerd not ready after ${READY_TIMEOUT_MS} ms (${(last as Error)?.message}); log ${logPath}:\n${tail(logPath)}`);
}

function tail(path: string, lines = 30): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

// ------------------------------------------------------------------ stop

interface SandboxLeftovers { netns?: string; cgroupParent?: string }

/** Stops and removes every sandbox through CRI (CNI DEL runs); returns what may linger. */
async function removeSandboxes(cri: CriClient): Promise<SandboxLeftovers[]> {
  const out: SandboxLeftovers[] = [];
  let sandboxes;
  try {
    sandboxes = await cri.listPodSandbox();
  } catch {
    return out;
  }
  for (const sb of sandboxes) {
    out.push(await sandboxLeftovers(cri, sb.id));
    await cri.stopPodSandbox(sb.id).catch(() => {});
    await cri.removePodSandbox(sb.id).catch(() => {});
  }
  return out;
}

/** containerd's verbose sandbox info names the netns path and the cgroup parent. */
async function sandboxLeftovers(cri: CriClient, id: string): Promise<SandboxLeftovers> {
  try {
    const { info } = await cri.podSandboxStatus(id, true);
    const parsed = JSON.parse(info?.info ?? '{}') as {
      config?: { linux?: { cgroup_parent?: string } };
      runtimeSpec?: { linux?: { namespaces?: { type?: string; path?: string }[] } };
    };
    const netns = parsed.runtimeSpec?.linux?.namespaces?.find((n) => n.type === 'network')?.path;
    return { netns: netns || undefined, cgroupParent: parsed.config?.linux?.cgroup_parent };
  } catch {
    return {};
  }
}

interface TeardownInput {
  id: string; root: string; state: string; socket: string; bridge: string;
  daemon: Daemon | undefined; cri: CriClient | undefined; subnetClaim: string | undefined;
  sandboxes: SandboxLeftovers[];
  netns?: string | undefined;
}

async function teardown(h: TeardownInput): Promise<void> {
  const problems: string[] = [];
  const step = async (what: string, fn: () => Promise<void> | void): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      problems.push(`${what}: ${(err as Error).message}`);
    }
  };
  h.cri?.close();
  await step('kill containerd', async () => {
    if (!isRunningProc(h.daemon)) return;
    h.daemon.kill('SIGTERM');
    const done = await Promise.race([h.daemon.exited.then(() => true), sleep(5_000, false)]);
    if (!done) h.daemon.kill('SIGKILL');
    await h.daemon.exited;
  });
  // Pod netns known from CRI, plus those of our containers in case CRI cleanup failed.
  const netns = new Set(h.sandboxes.flatMap((s) => (s.netns ? [s.netns] : [])));
  const podCgroups = new Set(h.sandboxes.flatMap((s) => (s.cgroupParent ? [s.cgroupParent] : [])));
  await step('kill shims and containers', async () => {
    const found = await killOwnProcesses(h.socket, h.state, h.root);
    for (const path of found.netns) netns.add(path);
    for (const path of found.podCgroups) podCgroups.add(path);
  });
  await step('unmount', () => unmountUnder([h.root, h.state], [...netns]));
  await step('remove netns files', () => {
    for (const path of netns) rmSync(path, { force: true });
  });
  await step('remove pod cgroups', () => {
    for (const path of podCgroups) removePodCgroup(path);
  });
  await step('delete bridge', async () => {
    if (!h.netns) {
      if (existsSync(`/sys/class/net/${h.bridge}`)) await execa('ip', ['link', 'del', h.bridge]);
    } else if ((await execa('ip', ['-n', h.netns, 'link', 'show', h.bridge], { reject: false })).exitCode === 0) {
      await execa('ip', ['-n', h.netns, 'link', 'del', h.bridge]);
    }
  });
  await step('remove dirs', () => {
    rmSync(join(BASE, h.id), { recursive: true, force: true });
    rmSync(h.state, { recursive: true, force: true });
    if (h.subnetClaim) rmSync(h.subnetClaim, { force: true });
  });
  if (problems.length > 0) throw new Error(`stopping private containerd ${h.id}: ${problems.join('; ')}`);
}

/**
 * Kills the shims serving our socket (and anything naming our dirs) with all their
 * descendants; returns the /run/netns files and pod cgroups those processes used.
 */
async function killOwnProcesses(socket: string, state: string, root: string): Promise<{ netns: string[]; podCgroups: string[] }> {
  const procs = listProcesses();
  const ours = new Set<number>();
  for (const p of procs) {
    const i = p.argv.indexOf('-address');
    const mentions = (i >= 0 && p.argv[i + 1] === socket)
      || p.argv.some((a) => a === state || a.startsWith(`${state}/`) || a.startsWith(`${root}/`));
    if (mentions && p.pid !== process.pid) ours.add(p.pid);
  }
  // Descendants: container processes are children of their shim.
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of procs) if (!ours.has(p.pid) && ours.has(p.ppid)) { ours.add(p.pid); grew = true; }
  }
  const netns = podNetnsFiles(ours);
  const podCgroups = [...ours].flatMap((pid) => podCgroupOf(pid) ?? []);
  for (const pid of ours) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
  }
  const deadline = Date.now() + 5_000;
  while ([...ours].some(isRunning)) {
    if (Date.now() > deadline) throw new Error(`processes did not die: ${[...ours].filter(isRunning).join(', ')}`);
    await sleep(20);
  }
  return { netns, podCgroups };
}

/** The pod-level cgroup (…/pod<uid>) a container process lives in, from its memory controller line. */
function podCgroupOf(pid: number): string | undefined {
  try {
    const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => /^\d+:memory:/.test(l));
    return line?.split(':')[2]?.match(/^(.*\/pod[^/]+)\/[^/]+$/)?.[1];
  } catch {
    return undefined;
  }
}

/** /run/netns files bound to the network namespaces of `pids` (not our own netns). */
function podNetnsFiles(pids: Iterable<number>): string[] {
  const ids = new Set<string>();
  const own = netnsId('self');
  for (const pid of pids) {
    const id = netnsId(String(pid));
    if (id && id !== own) ids.add(id);
  }
  // mountinfo: field 4 is the mount's root ("net:[4026532177]" for nsfs), field 5 its mount point.
  return mountInfo().filter((m) => ids.has(m.root) && /^\/(var\/)?run\/netns\//.test(m.mountPoint)).map((m) => m.mountPoint);
}

function netnsId(pid: string): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return undefined;
  }
}

/** Alive and not a zombie waiting for its parent. */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function listProcesses(): { pid: number; ppid: number; argv: string[] }[] {
  const out = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean);
      out.push({ pid: Number(entry), ppid, argv });
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/** Unmounts every mount at or below `dirs` (deepest first) and the given exact paths. */
async function unmountUnder(dirs: string[], exact: string[]): Promise<void> {
  for (let pass = 0; pass < 3; pass++) {
    const targets = mountPoints()
      .filter((mp) => exact.includes(mp) || dirs.some((d) => mp === d || mp.startsWith(`${d}/`)))
      .sort((a, b) => b.length - a.length);
    if (targets.length === 0) return;
    for (const mp of targets) {
      const r = await execa('umount', [mp], { reject: false });
      if (r.exitCode !== 0) await execa('umount', ['--lazy', mp], { reject: false });
    }
  }
  const left = mountPoints().filter((mp) => dirs.some((d) => mp.startsWith(`${d}/`)));
  if (left.length > 0) throw new Error(`still mounted: ${left.join(', ')}`);
}

/** Mounts of our mount namespace: root and mount point (octal escapes decoded). */
function mountInfo(): { root: string; mountPoint: string }[] {
  const unescape = (f = ''): string => f.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean).map((line) => {
    const f = line.split(' ');
    return { root: unescape(f[3]), mountPoint: unescape(f[4]) };
  });
}

const mountPoints = (): string[] => mountInfo().map((m) => m.mountPoint);

/**
 * Removes a pod-level cgroup (…/pod<uid>) and the container cgroups below it in
 * every hierarchy. Only pod-level paths: shared parents like /kubepods stay.
 */
function removePodCgroup(cgroupParent: string): void {
  if (!/\/pod[^/]+$/.test(cgroupParent) || cgroupParent.includes('..')) return;
  for (const hierarchy of readdirSync('/sys/fs/cgroup')) {
    const dir = join('/sys/fs/cgroup', hierarchy, cgroupParent);
    if (!existsSync(dir)) continue;
    for (const child of readdirSync(dir, { withFileTypes: true })) {
      if (child.isDirectory()) try { rmdirSync(join(dir, child.name)); } catch { /* busy: leave it */ }
    }
    try { rmdirSync(dir); } catch { /* busy: leave it */ }
  }
}
