// tmpfs mounts for memory-backed volumes, and finding mounts under a pod dir from
// /proc/self/mountinfo (so teardown also works after a crash lost our in-memory state).
import { readFile } from 'node:fs/promises';
import { execa } from 'execa';

export interface MountInfo { mountPoint: string; fsType: string; source: string }

export class MountCommandError extends Error {
  override readonly name = 'MountCommandError';
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Parses /proc/<pid>/mountinfo text. Pure. */
export function parseMountInfo(text: string): MountInfo[] {
  const out: MountInfo[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const f = line.split(' ');
    const dash = f.indexOf('-', 6);
    if (f.length < 10 || dash < 0) continue;
    out.push({ mountPoint: unescapeOctal(f[4]!), fsType: f[dash + 1]!, source: unescapeOctal(f[dash + 2] ?? '') });
  }
  return out;
}

/** Mount points at or below dir (an absolute, symlink-free path), deepest first. Pure. */
export function mountsUnder(mounts: MountInfo[], dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : dir + '/';
  const depth = (p: string) => p.split('/').length;
  // Deepest first; at equal depth the later mount first (it may sit on top of the earlier).
  // Stacked mounts appear once per layer; each umount peels one.
  return mounts
    .map((m, i) => ({ p: m.mountPoint, i }))
    .filter(({ p }) => p === dir || p.startsWith(prefix))
    .sort((a, b) => depth(b.p) - depth(a.p) || b.i - a.i)
    .map(({ p }) => p);
}

export async function readMounts(): Promise<MountInfo[]> {
  return parseMountInfo(await readFile('/proc/self/mountinfo', 'utf8'));
}

export async function isMountPoint(dir: string): Promise<boolean> {
  return (await readMounts()).some((m) => m.mountPoint === dir);
}

/** Mounts a tmpfs on dir; sizeBytes caps it (as emptyDir.sizeLimit does), mode sets its root's permissions. */
export async function mountTmpfs(dir: string, opts: { sizeBytes?: number; mode: number }): Promise<void> {
  const o = [`mode=${opts.mode.toString(8).padStart(4, '0')}`];
  if (opts.sizeBytes !== undefined) {
    if (!Number.isFinite(opts.sizeBytes) || opts.sizeBytes <= 0) throw new MountCommandError(`tmpfs size for ${dir} must be positive, got ${opts.sizeBytes}`);
    o.push(`size=${Math.ceil(opts.sizeBytes)}`);
  }
  // nodev,nosuid,noexec would break users relying on exec from emptyDir; kubelet mounts tmpfs without them too.
  const r = await execa('mount', ['-t', 'tmpfs', '-o', o.join(','), 'tmpfs', dir], { reject: false });
  if (r.exitCode !== 0) throw new MountCommandError(`mount -t tmpfs on ${dir} failed: ${r.stderr || r.stdout}`);
}

/** Unmounts one layer at dir; falls back to a lazy unmount when something still holds it busy. */
export async function unmount(dir: string): Promise<void> {
  let r = await execa('umount', [dir], { reject: false });
  if (r.exitCode !== 0 && /busy/i.test(r.stderr)) r = await execa('umount', ['-l', dir], { reject: false });
  if (r.exitCode !== 0 && !/not mounted|no mount point/i.test(r.stderr)) throw new MountCommandError(`umount ${dir} failed: ${r.stderr || r.stdout}`);
}

/** Unmounts everything at or below dir, deepest first, until mountinfo shows nothing left. */
export async function unmountAllUnder(dir: string): Promise<string[]> {
  const done: string[] = [];
  for (let round = 0; round < 32; round++) {
    const left = mountsUnder(await readMounts(), dir);
    if (left.length === 0) return done;
    for (const m of left) {
      await unmount(m);
      done.push(m);
    }
  }
  const left = mountsUnder(await readMounts(), dir);
  if (left.length) throw new MountCommandError(`mounts remain under ${dir}: ${left.join(', ')}`);
  return done;
}
