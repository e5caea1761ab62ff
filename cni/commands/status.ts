// STATUS (spec 1.1): ready for ADD when the config is sound, the state directory
// is writable and every range set still has a free address.
import { accessSync, constants } from 'node:fs';
import { Ipam } from '../ipam/ipam.js';
import type { NetConfig } from '../spec/config.js';
import { Code, CniError } from '../spec/errors.js';
import { requireIpam } from './attachment.js';

export function cmdStatus(conf: NetConfig): void {
  const ipam = new Ipam(requireIpam(conf), conf.name);
  try {
    ipam.store.ensureDir();
    accessSync(ipam.store.dir, constants.W_OK);
  } catch (e) {
    throw new CniError(Code.PluginNotAvailable, `ipam.dataDir: ${ipam.store.dir} is not writable: ${(e as Error).message}`);
  }
  ipam.free().forEach((n, i) => {
    if (n <= 0n) throw new CniError(Code.PluginNotAvailable, `ipam.ranges[${i}]: no free addresses left`);
  });
}
