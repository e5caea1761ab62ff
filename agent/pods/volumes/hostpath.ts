// hostPath volumes: the host path itself, after the `type` check kubelet performs.
import { mkdir, open, stat } from 'node:fs/promises';
import { dirname, isAbsolute } from 'node:path';
import { VolumeError, type HostPathVolumeSource } from './types.js';

export const HOST_PATH_TYPES = ['', 'DirectoryOrCreate', 'Directory', 'FileOrCreate', 'File', 'Socket', 'CharDevice', 'BlockDevice'] as const;

/** Checks (and for the *OrCreate types, creates) the host path; returns it. */
export async function prepareHostPath(volume: string, src: HostPathVolumeSource): Promise<string> {
  const p = src.path;
  const type = src.type ?? '';
  if (!p || !isAbsolute(p) || p.includes('\0')) throw new VolumeError(volume, `hostPath.path ${JSON.stringify(p)} must be an absolute path`);
  if (!(HOST_PATH_TYPES as readonly string[]).includes(type)) throw new VolumeError(volume, `hostPath.type ${JSON.stringify(type)} is not one of ${HOST_PATH_TYPES.filter(Boolean).join(', ')}`);
  if (type === '') return p;

  const fail = (what: string) => new VolumeError(volume, `hostPath type check failed: ${p} is not ${what}`);
  let st = await stat(p).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw new VolumeError(volume, `hostPath ${p}: ${e.message}`);
  });
  if (!st && type === 'DirectoryOrCreate') {
    await mkdir(p, { recursive: true, mode: 0o755 });
    st = await stat(p);
  }
  if (!st && type === 'FileOrCreate') {
    // Like kubelet, the parent must exist: only the file itself is created.
    const parent = await stat(dirname(p)).catch(() => undefined);
    if (!parent?.isDirectory()) throw new VolumeError(volume, `hostPath type check failed: parent directory of ${p} does not exist`);
    await (await open(p, 'a', 0o644)).close();
    st = await stat(p);
  }
  if (!st) throw new VolumeError(volume, `hostPath type check failed: ${p} does not exist`);
  switch (type) {
    case 'DirectoryOrCreate':
    case 'Directory': if (!st.isDirectory()) throw fail('a directory'); break;
    case 'FileOrCreate':
    case 'File': if (!st.isFile()) throw fail('a file'); break;
    case 'Socket': if (!st.isSocket()) throw fail('a socket file'); break;
    case 'CharDevice': if (!st.isCharacterDevice()) throw fail('a character device'); break;
    case 'BlockDevice': if (!st.isBlockDevice()) throw fail('a block device'); break;
  }
  return p;
}
