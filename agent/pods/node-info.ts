// Facts about this host the pod part needs: its addresses, capacity, and resolv.conf.
import { readFile } from 'node:fs/promises';
import { cpus, hostname, networkInterfaces, totalmem } from 'node:os';
import { parseResolvConf, type NodeContext } from './sandbox-config.js';

/** The host's addresses: IPv4 first, skipping loopback and our own bridges. */
export function hostAddresses(skip: (ifname: string) => boolean = (n) => n === 'lo' || n.startsWith('kna') || n.startsWith('veth') || n.startsWith('cni')): string[] {
  const v4: string[] = [];
  const v6: string[] = [];
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (skip(name)) continue;
    for (const a of addrs ?? []) {
      if (a.internal) continue;
      if (a.family === 'IPv4') v4.push(a.address);
      else if (!a.address.startsWith('fe80')) v6.push(a.address);
    }
  }
  return [...v4, ...v6];
}

export interface NodeFacts extends NodeContext {
  hostIPs: string[];
  memoryCapacity: number;
  allocatable: { cpu: string; memory: string };
}

export async function nodeFacts(o: { nodeName: string; rootDir: string; clusterDNS: string[]; clusterDomain: string }): Promise<NodeFacts> {
  const resolv = await readFile('/etc/resolv.conf', 'utf8').catch(() => '');
  const ips = hostAddresses();
  return {
    ...o,
    hostname: hostname(),
    hostDNS: parseResolvConf(resolv),
    hostIPs: ips.length ? ips : ['127.0.0.1'],
    memoryCapacity: totalmem(),
    allocatable: { cpu: String(cpus().length), memory: String(totalmem()) },
  };
}
