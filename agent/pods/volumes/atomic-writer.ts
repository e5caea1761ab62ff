// Atomic projection of a set of files into a volume directory, the way kubelet's
// AtomicWriter lays it out, so readers inside containers never see a half-updated
// volume:
//
//   <dir>/..2026_11_25_15_04_05.123456789/   the real files (one dir per version)
//   <dir>/..data -> ..2026_11_25_15_04_05.123456789   swapped with rename(2)
//   <dir>/<key>  -> ..data/<key>                       user-visible, stable symlinks
//
// A new version is written into a fresh timestamped dir, `..data` is replaced in one
// rename, then paths that disappeared and the old version dir are removed.
// Names starting with `..` are reserved for the writer.
import { randomInt } from 'node:crypto';
import { chmod, chown, lstat, mkdir, readdir, readFile, readlink, rename, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';

export interface FileProjection { data: Buffer; mode: number }
/** Relative path -> content. */
export type Payload = Map<string, FileProjection>;

export class PayloadPathError extends Error {
  override readonly name = 'PayloadPathError';
}

const DATA_LINK = '..data';
const DATA_TMP = '..data_tmp';
const TS_DIR = /^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d+$/;

/** Checks a payload path (relative, no `..` element, not starting with `..`) and returns it normalized. */
export function validatePayloadPath(p: string): string {
  if (p === '') throw new PayloadPathError('path must not be empty');
  if (p.includes('\0')) throw new PayloadPathError(`path ${JSON.stringify(p)} contains a NUL byte`);
  if (p.length > 4096) throw new PayloadPathError(`path ${JSON.stringify(p.slice(0, 40))}... is longer than 4096`);
  if (p.startsWith('/')) throw new PayloadPathError(`path ${JSON.stringify(p)} must be relative`);
  const parts = p.split('/').filter((x) => x !== '' && x !== '.');
  if (parts.length === 0) throw new PayloadPathError(`path ${JSON.stringify(p)} names no file`);
  if (parts.includes('..')) throw new PayloadPathError(`path ${JSON.stringify(p)} must not contain '..'`);
  if (parts[0]!.startsWith('..')) throw new PayloadPathError(`path ${JSON.stringify(p)} must not start with '..'`);
  for (const part of parts) if (part.length > 255) throw new PayloadPathError(`path element ${JSON.stringify(part.slice(0, 40))}... is longer than 255`);
  return parts.join('/');
}

/** `..2026_11_25_15_04_05.123456789` (UTC), the version dir name. */
export function timestampDirName(d: Date, suffix: number): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `..${p(d.getUTCFullYear(), 4)}_${p(d.getUTCMonth() + 1)}_${p(d.getUTCDate())}_${p(d.getUTCHours())}_${p(d.getUTCMinutes())}_${p(d.getUTCSeconds())}.${p(suffix, 9)}`;
}

export interface WriteOptions {
  /** pod.spec.securityContext.fsGroup: files get this group and group read (kubelet's SetVolumeOwnership for read-only volumes). */
  fsGroup?: number;
}

function effectiveMode(mode: number, opts: WriteOptions): number {
  return opts.fsGroup === undefined ? mode : mode | 0o440;
}

const locks = new Map<string, Promise<unknown>>();
/** Serializes writers of one directory (prepare and periodic update can overlap). */
async function locked<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const prev = locks.get(key) ?? Promise.resolve();
  const next = prev.then(fn, fn);
  const tail = next.catch(() => undefined);
  locks.set(key, tail);
  try {
    return await next;
  } finally {
    if (locks.get(key) === tail) locks.delete(key);
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

/** Relative file paths under dir (regular files only, recursive). */
async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(dir, rel)));
    else out.push(rel);
  }
  return out;
}

async function sameContent(versionDir: string, payload: Payload, opts: WriteOptions): Promise<boolean> {
  const files = await listFiles(versionDir);
  if (files.length !== payload.size) return false;
  for (const f of files) {
    const want = payload.get(f);
    if (!want) return false;
    const st = await stat(join(versionDir, f));
    if ((st.mode & 0o7777) !== effectiveMode(want.mode, opts)) return false;
    if (opts.fsGroup !== undefined && st.gid !== opts.fsGroup) return false;
    if (!want.data.equals(await readFile(join(versionDir, f)))) return false;
  }
  return true;
}

function topLevel(paths: Iterable<string>): Set<string> {
  return new Set([...paths].map((p) => p.split('/')[0]!));
}

async function writeVersion(dir: string, payload: Payload, opts: WriteOptions): Promise<string> {
  let name = '';
  for (;;) {
    name = timestampDirName(new Date(), randomInt(1e9));
    try {
      await mkdir(join(dir, name));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  const root = join(dir, name);
  const dirs = new Set<string>();
  for (const [rel, f] of payload) {
    const parent = posix.dirname(rel);
    if (parent !== '.') {
      await mkdir(join(root, parent), { recursive: true, mode: 0o755 });
      for (let d = parent; d !== '.'; d = posix.dirname(d)) dirs.add(d);
    }
    const p = join(root, rel);
    await writeFile(p, f.data, { mode: 0o600 });
    if (opts.fsGroup !== undefined) await chown(p, -1, opts.fsGroup);
    await chmod(p, effectiveMode(f.mode, opts)); // after write: the umask must not apply
  }
  for (const d of [...dirs, '.']) {
    const p = join(root, d);
    if (opts.fsGroup !== undefined) await chown(p, -1, opts.fsGroup);
    await chmod(p, opts.fsGroup === undefined ? 0o755 : 0o2755);
  }
  return name;
}

/**
 * Makes `dir` hold exactly `payload`. Returns true when content changed (a new
 * version was swapped in), false when it was already current.
 */
export async function writeAtomic(dir: string, payload: Payload, opts: WriteOptions = {}): Promise<boolean> {
  const clean: Payload = new Map();
  for (const [p, f] of payload) {
    if (!Number.isInteger(f.mode) || f.mode < 0 || f.mode > 0o777) throw new PayloadPathError(`mode ${f.mode} of ${JSON.stringify(p)} must be within 0..0777`);
    clean.set(validatePayloadPath(p), f);
  }
  return locked(dir, async () => {
    await mkdir(dir, { recursive: true, mode: 0o755 });
    const dataLink = join(dir, DATA_LINK);
    const oldVersion = (await exists(dataLink)) ? await readlink(dataLink) : undefined;
    const oldFiles = oldVersion ? await listFiles(join(dir, oldVersion)).catch(() => []) : [];
    const unchanged = oldVersion !== undefined && (await sameContent(join(dir, oldVersion), clean, opts).catch(() => false));

    let changed = false;
    if (!unchanged) {
      const version = await writeVersion(dir, clean, opts);
      const tmp = join(dir, DATA_TMP);
      await rm(tmp, { force: true });
      await symlink(version, tmp);
      await rename(tmp, dataLink);
      changed = true;
    }

    // User-visible entries: one symlink per top-level name, through ..data so they never change.
    const wanted = topLevel(clean.keys());
    for (const name of wanted) {
      const p = join(dir, name);
      const target = `${DATA_LINK}/${name}`;
      const st = await lstat(p).catch(() => undefined);
      if (st?.isSymbolicLink() && (await readlink(p)) === target) continue;
      if (st) await rm(p, { recursive: true, force: true });
      await symlink(target, p);
    }
    for (const name of topLevel(oldFiles)) {
      if (wanted.has(name)) continue;
      const st = await lstat(join(dir, name)).catch(() => undefined);
      if (st?.isSymbolicLink()) await unlink(join(dir, name));
    }

    // Old versions, and leftovers of a writer that crashed between steps.
    const current = await readlink(dataLink);
    for (const e of await readdir(dir)) {
      if (e === current || !(TS_DIR.test(e) || e === DATA_TMP)) continue;
      await rm(join(dir, e), { recursive: true, force: true });
    }
    return changed;
  });
}
