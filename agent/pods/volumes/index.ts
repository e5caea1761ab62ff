// Pod volumes: set up before the sandbox's containers start, refreshed while the pod
// runs, torn down after it ended. Everything lives under <rootDir>/pods/<uid>/, so a
// restarted agent finds (and can clean up) what an earlier run made.
//
//   prepareVolumes(pod, ctx)   -> Map<volume name, {hostPath, readOnly}>
//   updateVolumes(pod, ctx)    re-projects configMap/secret/downwardAPI/projected content
//   teardownVolumes(uid, ctx)  unmounts every mount under the pod dir, removes the dir
//   containerMounts(...)       CRI mounts of one container (see container-mounts.ts)
import { chmod, chown, mkdir, readdir, realpath, rm, stat } from 'node:fs/promises';
import { availableParallelism, totalmem } from 'node:os';
import { join } from 'node:path';
import { writeAtomic } from './atomic-writer.js';
import { isMountPoint, mountTmpfs, unmountAllUnder } from './mounts.js';
import { prepareHostPath } from './hostpath.js';
import { buildPayload, type AtomicVolumeKind } from './payload.js';
import { podDir, volumeDir, type PluginKind } from './paths.js';
import { toBytes } from '../quantity.js';
import { VolumeError, type PodLike, type PreparedVolumes, type Quantity, type VolumeContext, type VolumeSpec } from './types.js';

export * from './types.js';
export { containerMounts, readTerminationMessage, resolveSubPath, expandVars, DEFAULT_TERMINATION_MESSAGE_PATH, type ContainerMountOptions } from './container-mounts.js';
export { writeEtcHosts, managedEtcHosts, podHostnameAndDomain, type EtcHostsOptions } from './etc-hosts.js';
export { writeAtomic, type Payload, type FileProjection } from './atomic-writer.js';
export { podDir, volumeDir, PLUGIN_DIRS } from './paths.js';

const SUPPORTED = ['emptyDir', 'hostPath', 'configMap', 'secret', 'downwardAPI', 'projected'] as const;
type VolumeKind = (typeof SUPPORTED)[number];
const ATOMIC: readonly AtomicVolumeKind[] = ['configMap', 'secret', 'downwardAPI', 'projected'];
/** Like kubelet, secrets, downward API and projected volumes sit on tmpfs (never on disk); configMaps do not. */
const ON_TMPFS: ReadonlySet<VolumeKind> = new Set(['secret', 'downwardAPI', 'projected']);

/** Which source a v1.Volume uses; anything but the supported ones is an error naming the volume. */
export function volumeKind(vol: VolumeSpec): VolumeKind {
  const sources = Object.keys(vol).filter((k) => k !== 'name' && (vol as unknown as Record<string, unknown>)[k] != null);
  if (sources.length !== 1) throw new VolumeError(vol.name, `expected exactly one volume source, found ${sources.length ? sources.join(', ') : 'none'}`);
  const k = sources[0]!;
  if (!(SUPPORTED as readonly string[]).includes(k)) throw new VolumeError(vol.name, `volume type ${k} is not supported by this node (supported: ${SUPPORTED.join(', ')})`);
  return k as VolumeKind;
}

function podUid(pod: PodLike): string {
  const uid = pod.metadata.uid;
  if (!uid) throw new VolumeError('*', `pod ${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''} has no metadata.uid`);
  return uid;
}

function allocatable(ctx: VolumeContext): Record<string, Quantity> {
  return { cpu: availableParallelism(), memory: totalmem(), ...ctx.nodeAllocatable };
}

async function ensureTmpfs(dir: string, mode: number, sizeBytes?: number): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o750 });
  if (!(await isMountPoint(await realpath(dir)))) await mountTmpfs(dir, { mode, ...(sizeBytes !== undefined ? { sizeBytes } : {}) });
}

async function prepareEmptyDir(vol: VolumeSpec, uid: string, ctx: VolumeContext, fsGroup: number | undefined): Promise<string> {
  const src = vol.emptyDir!;
  const dir = volumeDir(ctx.rootDir, uid, 'emptyDir', vol.name);
  const medium = src.medium ?? '';
  if (medium === 'Memory') {
    const size = src.sizeLimit === undefined ? undefined : toBytes(src.sizeLimit);
    await ensureTmpfs(dir, 0o777, size);
  } else if (medium === '') {
    await mkdir(dir, { recursive: true, mode: 0o750 });
  } else {
    throw new VolumeError(vol.name, `emptyDir.medium ${JSON.stringify(medium)} is not supported (use "" or "Memory")`);
  }
  // World-writable like kubelet's emptyDir, so non-root containers can use it; fsGroup gets setgid.
  if (fsGroup !== undefined) await chown(dir, -1, fsGroup);
  await chmod(dir, fsGroup === undefined ? 0o777 : 0o2777);
  return dir;
}

async function projectAtomic(pod: PodLike, vol: VolumeSpec, kind: AtomicVolumeKind, uid: string, ctx: VolumeContext): Promise<{ dir: string; changed: boolean }> {
  const dir = volumeDir(ctx.rootDir, uid, kind as PluginKind, vol.name);
  const payload = await buildPayload(pod, vol, kind, { objects: ctx.objects, tokenProvider: ctx.tokenProvider, nodeAllocatable: allocatable(ctx) });
  if (ON_TMPFS.has(kind)) await ensureTmpfs(dir, 0o755);
  const fsGroup = pod.spec.securityContext?.fsGroup;
  const changed = await writeAtomic(dir, payload, fsGroup === undefined ? {} : { fsGroup });
  return { dir, changed };
}

function asVolumeError(name: string, e: unknown): VolumeError {
  return e instanceof VolumeError ? e : new VolumeError(name, (e as Error).message);
}

/**
 * Sets up every volume of the pod (idempotent: safe to call again after an agent
 * restart). Throws a VolumeError naming the first volume that failed.
 */
export async function prepareVolumes(pod: PodLike, ctx: VolumeContext): Promise<PreparedVolumes> {
  const uid = podUid(pod);
  const out: PreparedVolumes = new Map();
  const fsGroup = pod.spec.securityContext?.fsGroup;
  for (const vol of pod.spec.volumes ?? []) {
    try {
      const kind = volumeKind(vol);
      if (kind === 'emptyDir') out.set(vol.name, { hostPath: await prepareEmptyDir(vol, uid, ctx, fsGroup), readOnly: false });
      else if (kind === 'hostPath') out.set(vol.name, { hostPath: await prepareHostPath(vol.name, vol.hostPath!), readOnly: false });
      else {
        // Projected content is always mounted read-only (kubelet has done so since CVE-2017-1002102).
        const { dir } = await projectAtomic(pod, vol, kind, uid, ctx);
        out.set(vol.name, { hostPath: dir, readOnly: true });
      }
    } catch (e) {
      throw asVolumeError(vol.name, e);
    }
  }
  ctx.log?.debug({ pod: `${pod.metadata.namespace}/${pod.metadata.name}`, volumes: [...out.keys()] }, 'volumes prepared');
  return out;
}

export interface VolumeUpdate {
  /** Volumes whose content changed (a new version was swapped in). */
  changed: string[];
  /** Volumes that could not be refreshed; their previous content stays in place. */
  errors: VolumeError[];
}

/**
 * Re-projects configMap/secret/downwardAPI/projected volumes that prepareVolumes
 * already made (e.g. labels, configMap data or a token changed). The worker calls
 * it periodically; unchanged volumes are left untouched.
 */
export async function updateVolumes(pod: PodLike, ctx: VolumeContext): Promise<VolumeUpdate> {
  const uid = podUid(pod);
  const res: VolumeUpdate = { changed: [], errors: [] };
  for (const vol of pod.spec.volumes ?? []) {
    let kind: VolumeKind;
    try {
      kind = volumeKind(vol);
    } catch {
      continue; // prepareVolumes reported it
    }
    if (!(ATOMIC as readonly string[]).includes(kind)) continue;
    const dir = volumeDir(ctx.rootDir, uid, kind as PluginKind, vol.name);
    if (!(await stat(dir).catch(() => undefined))) continue;
    try {
      if ((await projectAtomic(pod, vol, kind as AtomicVolumeKind, uid, ctx)).changed) res.changed.push(vol.name);
    } catch (e) {
      res.errors.push(asVolumeError(vol.name, e));
    }
  }
  if (res.changed.length) ctx.log?.info({ pod: `${pod.metadata.namespace}/${pod.metadata.name}`, volumes: res.changed }, 'volume content updated');
  return res;
}

/**
 * Unmounts every mount below <rootDir>/pods/<uid> (found in /proc/self/mountinfo,
 * so it also works after a crash) and removes the whole pod dir. Refuses to delete
 * anything while a mount remains, so host data under a leftover bind mount is safe.
 */
export async function teardownVolumes(uid: string, ctx: Pick<VolumeContext, 'rootDir' | 'log'>): Promise<void> {
  const dir = podDir(ctx.rootDir, uid);
  let real: string;
  try {
    real = await realpath(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  const unmounted = await unmountAllUnder(real);
  await rm(real, { recursive: true, force: true });
  ctx.log?.debug({ uid, unmounted }, 'pod volumes torn down');
}

/** Tears down the pod dirs of pods no longer known (the agent crashed or was down when they went). */
export async function teardownOrphans(activeUids: Iterable<string>, ctx: Pick<VolumeContext, 'rootDir' | 'log'>): Promise<string[]> {
  const active = new Set(activeUids);
  const entries = await readdir(join(ctx.rootDir, 'pods')).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const uid of entries) {
    if (active.has(uid)) continue;
    try {
      await teardownVolumes(uid, ctx);
      removed.push(uid);
    } catch (e) {
      ctx.log?.warn({ uid, err: (e as Error).message }, 'could not remove orphaned pod dir');
    }
  }
  return removed;
}
