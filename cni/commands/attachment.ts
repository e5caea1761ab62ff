// What ADD, DEL, CHECK and GC share about one attachment (network, container
// id, ifname): its names and the iptables rules it owns.
import { join } from 'node:path';
import { masqRules } from '../bridge/masq.js';
import type { CniEnv } from '../env.js';
import type { Allocation } from '../ipam/ipam.js';
import type { Cidr, Family } from '../net/ip.js';
import { attachmentTag, hostVethName } from '../net/names.js';
import type { Rule } from '../netfilter/rules.js';
import { hostPortRules } from '../portmap/rules.js';
import { DEFAULT_DATA_DIR, type NetConfig } from '../spec/config.js';
import { Code, CniError } from '../spec/errors.js';

export interface Attachment { tag: string; hostVeth: string }

export function attachment(conf: NetConfig, env: CniEnv): Attachment {
  return { tag: attachmentTag(conf.name, env.containerId, env.ifname), hostVeth: hostVethName(conf.name, env.containerId, env.ifname) };
}

/** Where the extracted netlink addon is cached: next to the IPAM state. */
export function cacheDir(conf: NetConfig): string {
  return join(conf.ipam?.dataDir ?? DEFAULT_DATA_DIR, '.kna-cni');
}

export function requireIpam(conf: NetConfig): NonNullable<NetConfig['ipam']> {
  if (!conf.ipam) throw new CniError(Code.InvalidNetworkConfig, 'ipam: required (kna-cni serves host-local IPAM in-process)');
  return conf.ipam;
}

/** The pod's rules, per family. */
export function podRules(conf: NetConfig, allocs: readonly Allocation[], subnets: readonly Cidr[], tag: string): Map<Family, Rule[]> {
  const out = new Map<Family, Rule[]>();
  for (const a of allocs) {
    const rules = [
      ...(conf.ipMasq ? masqRules(a.address, [...subnets, ...(conf.nonMasqueradeCidrs ?? [])], tag) : []),
      ...hostPortRules(a.address, conf.portMappings, tag),
    ];
    if (rules.length) out.set(a.address.family, [...(out.get(a.address.family) ?? []), ...rules]);
  }
  return out;
}
