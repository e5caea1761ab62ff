// CRI mounts for one container: its volumeMounts (with subPath), the termination
// message file and the pod's /etc/hosts, as kubelet's makeMounts builds them.
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, open, realpath, stat, chmod } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { containerDir, podDir } from './paths.js';
import { MountError, type ContainerLike, type CriMount, type MountPropagation, type PodLike, type PreparedVolumes } from './types.js';

export const DEFAULT_TERMINATION_MESSAGE_PATH = '/dev/termination-log';
/** kubelet reads at most this much of a termination message (the tail of the file). */
export const MAX_TERMINATION_MESSAGE_BYTES = 4096;

export interface ContainerMountOptions {
  rootDir: string;
  /** From writeEtcHosts; mounted at /etc/hosts unless the container mounts something there itself. */
  etcHostsPath?: string;
  /**
   * The pod's IP. Like kubelet (which mounts /etc/hosts once the pod has IPs), a
   * non-empty podIP without etcHostsPath mounts <rootDir>/pods/<uid>/etc-hosts when
   * writeEtcHosts has written it.
   */
  podIP?: string;
  /** The container's resolved environment, for subPathExpr; defaults to the literal `env[].value`s. */
  env?: Record<string, string>;
}

const PROPAGATION: Record<string, MountPropagation> = {
  None: 'PROPAGATION_PRIVATE',
  HostToContainer: 'PROPAGATION_HOST_TO_CONTAINER',
  Bidirectional: 'PROPAGATION_BIDIRECTIONAL',
};

/** `$(VAR)` expansion as in Kubernetes: `$$` escapes, unknown references stay as written. Pure. */
export function expandVars(s: string, env: Record<string, string>): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name: string | undefined) => {
    if (m === '$$') return '$';
    return env[name!] ?? m;
  });
}

/** Checks a subPath the way API validation does: relative, no `..` element. Pure. */
export function checkSubPath(sub: string, container: string): string[] {
  if (sub.startsWith('/')) throw new MountError(container, `subPath ${JSON.stringify(sub)} must be a relative path`);
  if (sub.includes('\0')) throw new MountError(container, `subPath ${JSON.stringify(sub)} contains a NUL byte`);
  const parts = sub.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new MountError(container, `subPath ${JSON.stringify(sub)} must not contain '..'`);
  return parts;
}

function inside(base: string, p: string): boolean {
  return p === base || p.startsWith(base.endsWith(sep) ? base : base + sep);
}

/**
 * Resolves subPath inside the volume root and returns the real path to mount.
 * Walks one element at a time so a symlink pointing out of the volume is refused
 * before anything is created through it; missing elements are created as
 * directories with the volume root's mode (kubelet does the same).
 */
export async function resolveSubPath(volumeRoot: string, sub: string, container: string): Promise<string> {
  try {
    return await walkSubPath(volumeRoot, sub, container);
  } catch (e) {
    if (e instanceof MountError) throw e;
    throw new MountError(container, `subPath ${JSON.stringify(sub)}: ${(e as Error).message}`);
  }
}

async function walkSubPath(volumeRoot: string, sub: string, container: string): Promise<string> {
  const parts = checkSubPath(sub, container);
  const base = await realpath(volumeRoot);
  const mode = (await stat(base)).mode & 0o7777;
  let cur = base;
  for (const part of parts) {
    const next = join(cur, part);
    const st = await lstat(next).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw e;
    });
    if (!st) {
      await mkdir(next, { mode });
      await chmod(next, mode);
      cur = next;
      continue;
    }
    const real = st.isSymbolicLink() ? await realpath(next).catch(() => '') : next;
    if (!real || !inside(base, real)) throw new MountError(container, `subPath ${JSON.stringify(sub)} resolves outside its volume (symlink ${JSON.stringify(part)})`);
    cur = real;
  }
  // Re-check the whole path after creation: an element may have been swapped meanwhile.
  const final = await realpath(cur);
  if (!inside(base, final)) throw new MountError(container, `subPath ${JSON.stringify(sub)} resolves outside its volume`);
  return final;
}

/** Creates a fresh, empty, world-writable termination-message file for a container (new file per start). */
export async function createTerminationMessageFile(rootDir: string, uid: string, container: string): Promise<string> {
  const dir = containerDir(rootDir, uid, container);
  await mkdir(dir, { recursive: true, mode: 0o750 });
  const path = join(dir, randomBytes(4).toString('hex'));
  await (await open(path, 'wx', 0o666)).close();
  await chmod(path, 0o666); // the container may run as any user
  return path;
}

/** Last MAX_TERMINATION_MESSAGE_BYTES of a termination-message file ('' if missing). */
export async function readTerminationMessage(hostPath: string, maxBytes = MAX_TERMINATION_MESSAGE_BYTES): Promise<string> {
  let fh;
  try {
    fh = await open(hostPath, 'r');
  } catch {
    return '';
  }
  try {
    const size = (await fh.stat()).size;
    const len = Math.min(size, maxBytes);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, size - len);
    return buf.toString('utf8');
  } finally {
    await fh.close();
  }
}

async function existingEtcHosts(rootDir: string, uid: string): Promise<string | undefined> {
  const p = join(podDir(rootDir, uid), 'etc-hosts');
  return (await stat(p).catch(() => undefined))?.isFile() ? p : undefined;
}

/** The container's CRI mounts, in kubelet's order: volumeMounts, /etc/hosts, termination message. */
export async function containerMounts(pod: PodLike, container: ContainerLike, volumes: PreparedVolumes, opts: ContainerMountOptions): Promise<CriMount[]> {
  const name = container.name;
  const env = opts.env ?? Object.fromEntries((container.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
  const mounts: CriMount[] = [];
  for (const vm of container.volumeMounts ?? []) {
    const vol = volumes.get(vm.name);
    if (!vol) throw new MountError(name, `volumeMount ${JSON.stringify(vm.name)} refers to a volume the pod does not have (or that is not prepared)`);
    if (!vm.mountPath) throw new MountError(name, `volumeMount ${JSON.stringify(vm.name)} has no mountPath`);
    const propagation = PROPAGATION[vm.mountPropagation ?? 'None'];
    if (!propagation) throw new MountError(name, `volumeMount ${JSON.stringify(vm.name)}: invalid mountPropagation ${JSON.stringify(vm.mountPropagation)}`);
    if (propagation === 'PROPAGATION_BIDIRECTIONAL' && !container.securityContext?.privileged) {
      throw new MountError(name, `volumeMount ${JSON.stringify(vm.name)}: Bidirectional mount propagation is available only to privileged containers`);
    }
    let hostPath = vol.hostPath;
    if (vm.subPath && vm.subPathExpr) throw new MountError(name, `volumeMount ${JSON.stringify(vm.name)}: subPath and subPathExpr are mutually exclusive`);
    const sub = vm.subPathExpr ? expandVars(vm.subPathExpr, env) : vm.subPath;
    if (sub) hostPath = await resolveSubPath(vol.hostPath, sub, name);
    mounts.push({
      containerPath: vm.mountPath,
      hostPath,
      readonly: Boolean(vm.readOnly || vol.readOnly),
      propagation,
      selinuxRelabel: false,
    });
  }
  const mountedAt = (p: string) => mounts.some((m) => m.containerPath === p);
  const etcHosts = opts.etcHostsPath ?? (opts.podIP ? await existingEtcHosts(opts.rootDir, pod.metadata.uid ?? '') : undefined);
  if (etcHosts && !mountedAt('/etc/hosts')) {
    mounts.push({ containerPath: '/etc/hosts', hostPath: etcHosts, readonly: false, propagation: 'PROPAGATION_PRIVATE', selinuxRelabel: false });
  }
  const tmp = container.terminationMessagePath ?? DEFAULT_TERMINATION_MESSAGE_PATH;
  if (tmp && !mountedAt(tmp)) {
    const file = await createTerminationMessageFile(opts.rootDir, pod.metadata.uid ?? '', name);
    mounts.push({ containerPath: tmp, hostPath: file, readonly: false, propagation: 'PROPAGATION_PRIVATE', selinuxRelabel: false });
  }
  return mounts;
}
