// The node's CNI conflist, written from its pod CIDR(s). containerd watches the conf
// dir but ignores files created after it started, so the file is rewritten in place.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const CONFLIST_NAME = '10-kna.conflist';
export const NETWORK_NAME = 'kna';
export const BRIDGE_NAME = 'kna0';

/** Debian's reference chain: bridge + host-local + portmap (the baseline; kna-cni replaces it). */
export function referenceConflist(podCidrs: string[], bridge = BRIDGE_NAME, dataDir?: string, name = NETWORK_NAME): object {
  return {
    cniVersion: '1.0.0',
    name,
    plugins: [
      {
        type: 'bridge',
        bridge,
        isGateway: true,
        ipMasq: true,
        hairpinMode: true,
        ipam: { type: 'host-local', ranges: podCidrs.map((subnet) => [{ subnet }]), routes: [{ dst: '0.0.0.0/0' }], ...(dataDir ? { dataDir } : {}) },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  };
}

/** Writes the conflist when it differs from what is there; true when it changed. */
export async function writeCniConfig(confDir: string, podCidrs: string[], conflist: object = referenceConflist(podCidrs)): Promise<boolean> {
  await mkdir(confDir, { recursive: true });
  const path = join(confDir, CONFLIST_NAME);
  const text = JSON.stringify(conflist, null, 2) + '\n';
  const old = await readFile(path, 'utf8').catch(() => '');
  if (old === text) return false;
  await writeFile(path, text, { mode: 0o644 });
  return true;
}
