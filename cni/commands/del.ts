// DEL: idempotent, and fine without netns, veth, rules or reservation. Rules and
// links go first and the reservation last, so a DEL killed half-way still finds
// the addresses (and so the rules) when the runtime repeats it.
import type { CniEnv } from '../env.js';
import { Ipam, type Allocation } from '../ipam/ipam.js';
import type { Family } from '../net/ip.js';
import { deleteRules, deleteTagged } from '../netfilter/iptables.js';
import type { Rule } from '../netfilter/rules.js';
import { deleteLink } from '../netlink/links.js';
import { Rtnl } from '../netlink/socket.js';
import type { NetConfig } from '../spec/config.js';
import { trace } from '../trace.js';
import { attachment, cacheDir, podRules } from './attachment.js';

export async function cmdDel(env: CniEnv, conf: NetConfig, o: { keepAddresses?: boolean } = {}): Promise<void> {
  const att = attachment(conf, env);
  const ipam = conf.ipam ? new Ipam(conf.ipam, conf.name) : undefined;
  const reserved = ipam?.store.getById(env.containerId, env.ifname) ?? [];
  const allocs: Allocation[] = ipam?.allocationsOf(reserved) ?? [];

  // No reservation means no rules: ADD reserves before writing rules, and DEL and
  // GC delete rules before reservations. That spares the runtime's second DEL any work.
  // Like the reference portmap, hostPort rules are known from the DEL's own
  // runtimeConfig (containerd repeats it); GC sweeps anything else by tag.
  const families = new Set<Family>(reserved.map((ip) => ip.family));
  const exact = allocs.length === reserved.length;
  const rules = ipam && exact ? podRules(conf, allocs, ipam.sets.flat().map((r) => r.subnet), att.tag) : new Map<Family, Rule[]>();
  trace('looked up');
  const netfilter = Promise.all([...families].map(async (f) => {
    // Addresses outside today's ranges (config changed) leave the exact rules unknown: go by tag.
    if (!exact) await deleteTagged(f, (t) => t === att.tag);
    else if (rules.get(f)?.length) await deleteRules(f, rules.get(f)!, att.tag);
  })).then(() => trace('iptables done'));

  const link = (async () => {
    const nl = await Rtnl.open(cacheDir(conf));
    try {
      // Deleting the host end removes the pod end too; with the netns gone, both are gone already.
      await deleteLink(nl, att.hostVeth);
      trace('link deleted');
    } finally {
      nl.close();
    }
  })();

  await Promise.all([netfilter, link]);
  if (ipam && !o.keepAddresses) ipam.release(env.containerId, env.ifname);
}
