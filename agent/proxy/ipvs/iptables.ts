// The few iptables rules of IPVS mode, as kube-proxy's IPVS mode has them. They never
// change with Services: each matches one of our ipsets (ipsets.ts), so they are
// written on full syncs only. Pure.
//
// Why each is needed (IPVS itself only rewrites destinations, in LOCAL_IN / LOCAL_OUT):
//  nat    KUBE-SERVICES      marks for SNAT what needs it: cluster IPs from outside the
//                            cluster CIDR (replies must come back through us), external
//                            IPs, load-balancer IPs and NodePorts with
//                            externalTrafficPolicy Cluster (endpoints may be elsewhere);
//                            then stops the walk for Service addresses, so later
//                            PREROUTING NAT (hostPort DNAT matches any local address,
//                            kube-ipvs0's too) never takes Service traffic.
//         KUBE-POSTROUTING   masquerades marked packets, and hairpin traffic (a pod that
//                            reached itself through a Service: KUBE-LOOP-BACK).
//  filter KUBE-IPVS-FILTER   (INPUT, new connections; runs before IPVS): drops traffic to
//                            a Local-policy Service without local endpoints, and rejects
//                            anything addressed to kube-ipvs0 that is no Service port, so
//                            the node's own sockets are not reachable on Service IPs.
//                            (A virtual server without real servers is refused by IPVS
//                            itself: ICMP port unreachable.)
//         KUBE-PROXY-FIREWALL / KUBE-SOURCE-RANGES-FIREWALL: loadBalancerSourceRanges.
//         KUBE-SERVICES      (FORWARD, OUTPUT) rejects the rest of the service range: no
//                            Service holds those addresses, they would be routed out.
//         KUBE-FORWARD       accepts marked and established traffic (a FORWARD policy DROP
//                            must not cut replies from real servers), drops INVALID.
//         KUBE-NODE-PORT     accepts healthCheckNodePorts.
import type { RuleOptions } from '../backend.js';
import { isOurChain as isIptablesModeChain, type Table } from '../iptables/chains.js';
import { hookKey, jumpTarget, renderCleanup, type SavedTables } from '../iptables/render.js';
import { masqueradeMark } from '../iptables/rules.js';
import { setName, type SetKind } from './ipsets.js';

export const TABLES: readonly Table[] = ['filter', 'nat'];

export const IPVS_CHAINS: Readonly<Record<Table, readonly string[]>> = {
  filter: ['KUBE-SERVICES', 'KUBE-FORWARD', 'KUBE-NODE-PORT', 'KUBE-PROXY-FIREWALL', 'KUBE-SOURCE-RANGES-FIREWALL', 'KUBE-IPVS-FILTER'],
  nat: ['KUBE-SERVICES', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ', 'KUBE-NODE-PORT', 'KUBE-LOAD-BALANCER'],
};

/** Built-in chains our hooks live in. */
export const HOOKED_CHAINS: Readonly<Record<Table, readonly string[]>> = {
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  nat: ['PREROUTING', 'OUTPUT', 'POSTROUTING'],
};

const BUILTIN = new Set(['INPUT', 'FORWARD', 'OUTPUT', 'PREROUTING', 'POSTROUTING']);

export const isIpvsChain = (t: Table, chain: string): boolean => IPVS_CHAINS[t].includes(chain);

/** Chains either proxy mode makes in `t` (they share names): what cleanup removes. */
export const isAnyModeChain = (t: Table, chain: string): boolean => isIpvsChain(t, chain) || isIptablesModeChain(t, chain);

export interface IptablesRule {
  readonly table: Table;
  readonly chain: string;
  /** The whole "-A CHAIN ..." line. */
  readonly rule: string;
  /** The sets it matches (for kna explain). */
  readonly sets: readonly SetKind[];
}

export interface IpvsIptables {
  /** Jumps from built-in chains, in the order they must end up. */
  readonly hooks: readonly IptablesRule[];
  readonly rules: readonly IptablesRule[];
}

const comment = (text: string): string => `-m comment --comment "${text}"`;

export function ipvsIptables(opts: RuleOptions): IpvsIptables {
  const set = (k: SetKind): string => setName(opts.family, k);
  const mark = masqueradeMark(opts);
  const newOnly = '-m conntrack --ctstate NEW';
  const hooks: IptablesRule[] = [];
  const rules: IptablesRule[] = [];
  const hook = (table: Table, chain: string, target: string, text: string, extra = ''): void => {
    hooks.push({ table, chain, rule: `-A ${chain}${extra ? ` ${extra}` : ''} ${comment(text)} -j ${target}`, sets: [] });
  };
  const add = (table: Table, chain: string, rest: string, ...sets: SetKind[]): void => {
    rules.push({ table, chain, rule: `-A ${chain} ${rest}`, sets });
  };
  const match = (k: SetKind, dir: string): string => `-m set --match-set ${set(k)} ${dir}`;

  hook('nat', 'PREROUTING', 'KUBE-SERVICES', 'kubernetes service portals');
  hook('nat', 'OUTPUT', 'KUBE-SERVICES', 'kubernetes service portals');
  hook('nat', 'POSTROUTING', 'KUBE-POSTROUTING', 'kubernetes postrouting rules');
  hook('filter', 'INPUT', 'KUBE-PROXY-FIREWALL', 'kubernetes load balancer firewall', newOnly);
  hook('filter', 'INPUT', 'KUBE-IPVS-FILTER', 'kubernetes ipvs access filter', newOnly);
  hook('filter', 'INPUT', 'KUBE-NODE-PORT', 'kubernetes health check rules');
  hook('filter', 'FORWARD', 'KUBE-FORWARD', 'kubernetes forwarding rules');
  hook('filter', 'FORWARD', 'KUBE-SERVICES', 'kubernetes service portals', newOnly);
  hook('filter', 'OUTPUT', 'KUBE-SERVICES', 'kubernetes service portals', newOnly);

  // nat: who gets masqueraded.
  if (opts.masqueradeAll) add('nat', 'KUBE-SERVICES', `${comment('cluster IP, masquerade all')} ${match('CLUSTER-IP', 'dst,dst')} -j KUBE-MARK-MASQ`, 'CLUSTER-IP');
  else if (opts.clusterCIDR) add('nat', 'KUBE-SERVICES', `${comment('cluster IP from outside the cluster')} ${match('CLUSTER-IP', 'dst,dst')} ! -s ${opts.clusterCIDR} -j KUBE-MARK-MASQ`, 'CLUSTER-IP');
  add('nat', 'KUBE-SERVICES', `${comment('external IP, externalTrafficPolicy Cluster')} ${match('EXTERNAL-IP', 'dst,dst')} -j KUBE-MARK-MASQ`, 'EXTERNAL-IP');
  add('nat', 'KUBE-SERVICES', `${comment('load balancer IP')} ${match('LOAD-BALANCER', 'dst,dst')} -j KUBE-LOAD-BALANCER`, 'LOAD-BALANCER');
  add('nat', 'KUBE-SERVICES', `${comment('service address: no further NAT')} ${match('IPVS-IPS', 'dst')} -j ACCEPT`, 'IPVS-IPS');
  add('nat', 'KUBE-SERVICES', `${comment('node ports')} -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT`);
  add('nat', 'KUBE-LOAD-BALANCER', `${comment('externalTrafficPolicy Local keeps the client address')} ${match('LOAD-BALANCER-LOCAL', 'dst,dst')} -j RETURN`, 'LOAD-BALANCER-LOCAL');
  add('nat', 'KUBE-LOAD-BALANCER', '-j KUBE-MARK-MASQ');
  for (const p of ['TCP', 'UDP', 'SCTP'] as const) {
    const k = `NODE-PORT-${p}` as SetKind;
    add('nat', 'KUBE-NODE-PORT', `${comment(`${p} node port, externalTrafficPolicy Cluster`)} -p ${p.toLowerCase()} ${match(k, 'dst')} -j KUBE-MARK-MASQ`, k);
  }
  add('nat', 'KUBE-POSTROUTING', `${comment('hairpin: a pod reaching itself through a Service')} ${match('LOOP-BACK', 'dst,dst,src')} -j MASQUERADE`, 'LOOP-BACK');
  add('nat', 'KUBE-POSTROUTING', `-m mark ! --mark ${mark}/${mark} -j RETURN`);
  // Clear the mark so a packet that re-enters the stack is not masqueraded twice.
  add('nat', 'KUBE-POSTROUTING', `-j MARK --xor-mark ${mark}`);
  add('nat', 'KUBE-POSTROUTING', `${comment('kubernetes service traffic requiring SNAT')} -j MASQUERADE --random-fully`);
  add('nat', 'KUBE-MARK-MASQ', `-j MARK --or-mark ${mark}`);

  // filter: verdicts before IPVS sees a new connection.
  add('filter', 'KUBE-PROXY-FIREWALL', `${comment('load balancer IP with source ranges')} ${match('LOAD-BALANCER-FW', 'dst,dst')} -j KUBE-SOURCE-RANGES-FIREWALL`, 'LOAD-BALANCER-FW');
  add('filter', 'KUBE-SOURCE-RANGES-FIREWALL', `${comment('source in loadBalancerSourceRanges')} ${match('LOAD-BALANCER-SOURCE-CIDR', 'dst,dst,src')} -j RETURN`, 'LOAD-BALANCER-SOURCE-CIDR');
  add('filter', 'KUBE-SOURCE-RANGES-FIREWALL', '-j DROP');
  add('filter', 'KUBE-IPVS-FILTER', `${comment('Local traffic policy, no local endpoints')} ${match('NO-LOCAL-ENDPOINTS', 'dst,dst')} -j DROP`, 'NO-LOCAL-ENDPOINTS');
  for (const k of ['CLUSTER-IP', 'EXTERNAL-IP', 'EXTERNAL-IP-LOCAL', 'LOAD-BALANCER'] as const) {
    add('filter', 'KUBE-IPVS-FILTER', `${match(k, 'dst,dst')} -j RETURN`, k);
  }
  add('filter', 'KUBE-IPVS-FILTER', `${comment('no Service on this address and port')} ${match('IPVS-IPS', 'dst')} -j REJECT`, 'IPVS-IPS');
  add('filter', 'KUBE-NODE-PORT', `${comment('health check node ports')} -p tcp ${match('HEALTH-CHECK-NODE-PORT', 'dst')} -j ACCEPT`, 'HEALTH-CHECK-NODE-PORT');
  add('filter', 'KUBE-FORWARD', '-m conntrack --ctstate INVALID -j DROP');
  add('filter', 'KUBE-FORWARD', `${comment('kubernetes forwarding rules')} -m mark --mark ${mark}/${mark} -j ACCEPT`);
  add('filter', 'KUBE-FORWARD', `${comment('kubernetes forwarding conntrack rule')} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`);
  for (const cidr of opts.serviceCIDRs ?? []) {
    add('filter', 'KUBE-SERVICES', `${comment('reject traffic to unallocated service IPs')} -d ${cidr} -j REJECT`);
  }
  return { hooks, rules };
}

export const hookKeyOfRule = (h: IptablesRule): string => hookKey(h.table, h.chain, jumpTarget(h.rule) ?? '');

/** Our hooks present in iptables-save output, as hookKey()s. */
export function presentHooks(saved: SavedTables): Set<string> {
  const keys = new Set<string>();
  for (const t of TABLES) {
    for (const chain of HOOKED_CHAINS[t]) {
      for (const r of saved.get(t)?.get(chain) ?? []) {
        const target = jumpTarget(r);
        if (target && isIpvsChain(t, target)) keys.add(hookKey(t, chain, target));
      }
    }
  }
  return keys;
}

/**
 * iptables-restore --noflush input for both tables (one call): every chain of ours
 * declared (flushed) and rewritten; hooks missing from `saved` inserted at the top, in
 * order; chains the iptables mode left behind (a mode change) unhooked and deleted, or
 * they would still catch Service traffic.
 */
export function renderIptables(ipt: IpvsIptables, saved: SavedTables): string {
  const present = presentHooks(saved);
  const out: string[] = [];
  for (const t of TABLES) {
    const table = saved.get(t) ?? new Map<string, string[]>();
    const stale = [...table.keys()].filter((c) => !BUILTIN.has(c) && isIptablesModeChain(t, c) && !isIpvsChain(t, c));
    const lines = [`*${t}`, ...IPVS_CHAINS[t].map((c) => `:${c} - [0:0]`), ...stale.map((c) => `:${c} - [0:0]`)];
    for (const c of BUILTIN) {
      for (const r of table.get(c) ?? []) {
        const target = jumpTarget(r);
        if (target && stale.includes(target)) lines.push(`-D${r.slice(2)}`);
      }
    }
    for (const r of ipt.rules) if (r.table === t) lines.push(r.rule);
    const missing = ipt.hooks.filter((h) => h.table === t && !present.has(hookKeyOfRule(h))).reverse();
    for (const h of missing) lines.push(`-I ${h.chain} 1${h.rule.slice(3 + h.chain.length)}`);
    for (const c of stale) lines.push(`-X ${c}`);
    lines.push('COMMIT');
    out.push(...lines);
  }
  return `${out.join('\n')}\n`;
}

/**
 * Removes the hooks and chains of both proxy modes found in iptables-save output: the
 * modes share chain names (KUBE-SERVICES, KUBE-MARK-MASQ...), so one cannot go alone.
 */
export function renderIptablesCleanup(saved: SavedTables): string {
  const texts = renderCleanup(saved, isAnyModeChain);
  return TABLES.map((t) => texts[t] ?? '').join('');
}
