// sysctls of the node's netns: /proc/sys/net belongs to the netns of the
// writing process, which for the plugin is the node's.
import { readFileSync, writeFileSync } from 'node:fs';
import { isValidIfName } from './net/names.js';
import { SystemError } from './spec/errors.js';

export function setSysctl(key: string, value: string): void {
  const path = `/proc/sys/${key.replaceAll('.', '/')}`;
  try {
    if (readFileSync(path, 'utf8').trim() === value) return; // spare a write (and its netlink event)
    writeFileSync(path, value);
  } catch (e) {
    throw new SystemError(`sysctl ${key}=${value}`, (e as Error).message);
  }
}

/** Interface names may contain dots, which the dotted form cannot express. */
export function setIfaceSysctl(family: 4 | 6, ifname: string, key: string, value: string): void {
  if (!isValidIfName(ifname)) throw new SystemError('sysctl', `bad interface name ${JSON.stringify(ifname)}`);
  const path = `/proc/sys/net/${family === 4 ? 'ipv4' : 'ipv6'}/conf/${ifname}/${key}`;
  try {
    if (readFileSync(path, 'utf8').trim() === value) return;
    writeFileSync(path, value);
  } catch (e) {
    throw new SystemError(`sysctl ${path}=${value}`, (e as Error).message);
  }
}
