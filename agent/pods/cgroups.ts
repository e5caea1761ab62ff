// Pod cgroups: containerd creates the pod's cgroup parent (/kubepods/<qos>/pod<uid>)
// when it starts containers in it, but never removes it; that is the kubelet's job.
import { readdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';

const CGROUP_ROOT = '/sys/fs/cgroup';

/** Every mounted hierarchy's copy of a cgroup path (v1 controllers and the unified one). */
async function hierarchies(): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(CGROUP_ROOT, { withFileTypes: true }).catch(() => [])) {
    if (e.isDirectory() || e.isSymbolicLink()) out.push(join(CGROUP_ROOT, e.name));
  }
  return out.length ? out : [CGROUP_ROOT];
}

/** Removes a cgroup and its (empty) children in every hierarchy; missing ones are fine. */
export async function removeCgroup(path: string): Promise<void> {
  const rel = path.replace(/^\/+/, '');
  const removeTree = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await removeTree(join(dir, e.name));
    }
    await rmdir(dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  };
  for (const h of await hierarchies()) await removeTree(join(h, rel)).catch(() => undefined);
}
