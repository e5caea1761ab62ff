// The node's CNI set-up: our plugin installed in the CNI bin dir and the conflist for
// the pod CIDR in the conf dir. containerd watches the conf dir but ignores files
// created after it started, so the conflist is rewritten in place.
import { copyFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildConflist } from '../../cni/conflist.js';
import { packagePath } from '../util/package-path.js';

export const CONFLIST_NAME = '10-kna.conflist';
export const NETWORK_NAME = 'kna';

export interface NodeNetwork {
  podCidrs: string[];
  bridge: string;
  rootDir: string;
  mtu?: number;
  /** The cluster's pod network: pods reach it unmasqueraded (pod to pod across nodes keeps its source). */
  clusterCidrs?: string[];
}

/** kna-cni with host-local-style IPAM state under the agent's root dir. */
export function nodeConflist(n: NodeNetwork): object {
  return buildConflist({ name: NETWORK_NAME, bridge: n.bridge, podCidrs: n.podCidrs, dataDir: `${n.rootDir}/cni/networks`, ...(n.mtu ? { mtu: n.mtu } : {}), ...(n.clusterCidrs?.length ? { nonMasqueradeCidrs: n.clusterCidrs } : {}) });
}

/** Writes the conflist when it differs from what is there; true when it changed. */
export async function writeCniConfig(confDir: string, conflist: object): Promise<boolean> {
  await mkdir(confDir, { recursive: true });
  const path = join(confDir, CONFLIST_NAME);
  const text = JSON.stringify(conflist, null, 2) + '\n';
  const old = await readFile(path, 'utf8').catch(() => '');
  if (old === text) return false;
  await writeFile(path, text, { mode: 0o644 });
  return true;
}

/** The built plugin, dist/cni/kna-cni. */
export const BUILT_PLUGIN = packagePath('dist', 'cni', 'kna-cni');

/**
 * Copies kna-cni into the bin dir when it differs. Through a temporary name and a
 * rename, so a plugin run in progress keeps the file it started with.
 */
export async function installCniPlugin(binDir: string, from = BUILT_PLUGIN): Promise<boolean> {
  const [want, have] = await Promise.all([readFile(from), readFile(join(binDir, 'kna-cni')).catch(() => undefined)]);
  if (have?.equals(want)) return false;
  await mkdir(binDir, { recursive: true });
  const tmp = join(binDir, `.kna-cni.${process.pid}`);
  await copyFile(from, tmp);
  await rename(tmp, join(binDir, 'kna-cni'));
  return true;
}
