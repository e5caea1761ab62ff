// Pure rule generation: one service port -> its chains and its rules in the shared
// top-level chains, in kube-proxy's iptables layout.
//
// Two deliberate differences from kube-proxy, both so a sync at 10k Services stays cheap
// (measured: iptables-nft's restore cost grows with the number of chains in the table,
// ~50 ms per call with kube-proxy's 110k chains, ~15 ms with 10k; and re-declaring a
// big chain costs ~1 s):
//  1. The jump rules in KUBE-SERVICES / KUBE-NODEPORTS depend on the Service spec only,
//     never on its endpoints: a port with no (local) endpoints keeps its jump into an
//     empty chain, and the filter table rejects or drops what was not DNATed. So an
//     endpoint change rewrites only that Service's own small chains.
//  2. KUBE-SEP chains exist for endpoints on this node only (they carry the hairpin
//     masquerade, which only a local pod can need); remote endpoints are DNATed straight
//     from the KUBE-SVC/SVL chain. The chain count is then bounded by Services plus
//     local pods instead of Services x endpoints. The affinity list keeps the KUBE-SEP name.
// What no layout avoids: any commit that adds a rule to the nat table makes the kernel
// re-validate every rule reachable from its hooks (nf_tables table validation, once per
// hooked built-in chain: PREROUTING and OUTPUT both walk all of KUBE-SERVICES), so a
// partial sync costs O(all Service rules) in the kernel. Half of a walk was the xtables
// matches and targets iptables-nft cannot turn into native expressions:
// `-m comment`, a `-m tcp` without options, `-m statistic`, DNAT. So a DNAT rule says
// `-p tcp`, not `-m tcp -p tcp` (the nat table sees only first, defragmented packets:
// the bare match adds nothing), and in a large cluster (TERSE_ABOVE_ENDPOINTS, as
// kube-proxy's largeClusterMode) rules inside a Service's own chains carry no comment;
// the jumps into them still name the Service. Measured at 10k Services x 10 endpoints:
// an endpoint change 144 -> 96 ms (the same change without the hooks: 16 ms).
// Each rule here earns its place.
import { hostMask, joinHostPort, parseIP, cidrContains, parseCIDR } from '../ip.js';
import type { RuleOptions } from '../backend.js';
import type { Endpoint, ServicePort, ServicePortState } from '../types.js';
import { nsName } from '../types.js';
import { selectEndpoints, usesClusterEndpoints, usesLocalEndpoints, externallyAccessible, usesLoadBalancerFirewall, type EndpointSelection } from '../endpoint-selection.js';
import {
  KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_MARK_MASQ, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_PROXY_FIREWALL, KUBE_SERVICES,
  endpointChain, serviceChains, type Table,
} from './chains.js';

export type { RuleOptions };

/** One rule in a shared top-level chain; `rule` is the whole "-A CHAIN ..." line. */
export interface TopRule { readonly table: Table; readonly chain: string; readonly rule: string }

/** Everything made for one service port. */
export interface ServicePortRules {
  readonly id: string;
  /** "namespace/name" of the Service. */
  readonly service: string;
  /** nat chains this port owns, each with its rules ("-A CHAIN ..."), in dependency order. */
  readonly chains: ReadonlyMap<string, readonly string[]>;
  /** Its rules in the shared top-level chains of both tables. */
  readonly top: readonly TopRule[];
  readonly selection: EndpointSelection;
}

export const masqueradeMark = (opts: RuleOptions): string => `0x${((1 << (opts.masqueradeBit ?? 14)) >>> 0).toString(16)}`;

const comment = (text: string): string => `-m comment --comment "${text}"`;

/**
 * Above this many endpoints in all (kube-proxy's largeClusterEndpointsThreshold), rules
 * inside a Service's own chains go without comments: each is an xtables match the
 * kernel re-validates on every commit (see the module comment).
 */
export const TERSE_ABOVE_ENDPOINTS = 1000;

const probabilities: string[] = [];

/** 1/n with kube-proxy's 10 decimals: rule i of n matches with probability 1/(n-i), which spreads evenly. */
export function probability(n: number): string {
  return (probabilities[n] ??= (1 / n).toFixed(10));
}

/**
 * `terse`: no comments on the rules of the port's own chains (large clusters, see
 * TERSE_ABOVE_ENDPOINTS); its rules in the shared chains keep theirs.
 */
export function servicePortRules(state: ServicePortState, opts: RuleOptions, terse = false): ServicePortRules {
  const sp = state.port;
  const id = sp.id;
  const proto = sp.protocol.toLowerCase();
  // With port matches (native expressions in iptables-nft).
  const match = `-m ${proto} -p ${proto}`;
  // Before a DNAT, which needs the protocol named for its port but no match module.
  const l4 = `-p ${proto}`;
  /** " <comment>" on a rule of the port's own chains, or nothing when terse. */
  const note = (text: string): string => (terse ? '' : ` ${comment(text)}`);
  const names = serviceChains(sp);
  const sel = selectEndpoints(sp, state.endpoints);
  const external = externallyAccessible(sp);

  const internalChain = sp.internalPolicyLocal ? names.svl : names.svc;
  const { hasInternal, hasExternal } = sel;
  const externalPolicyChain = sp.externalPolicyLocal ? names.svl : names.svc;
  const usesFW = usesLoadBalancerFirewall(sp);
  const lbChain = usesFW ? names.fw : names.ext;

  const chains = new Map<string, string[]>();
  const top: TopRule[] = [];
  const add = (table: Table, chain: string, rest: string): void => { top.push({ table, chain, rule: `-A ${chain} ${rest}` }); };

  // Filter-table verdicts for traffic that found no endpoint (it was not DNATed).
  const noEndpoints = `${id} has no endpoints`;
  const noLocal = `${id} has no local endpoints`;
  const internalVerdict = !sel.hasAny ? ['REJECT', noEndpoints] : !hasInternal ? ['DROP', noLocal] : undefined;
  const externalVerdict = !sel.hasAny ? ['REJECT', noEndpoints] : !hasExternal ? ['DROP', noLocal] : undefined;

  // Jumps from the top-level chains: fixed by the spec, whatever the endpoints.
  add('nat', KUBE_SERVICES, `${comment(`${id} cluster IP`)} ${match} -d ${sp.clusterIP} --dport ${sp.port} -j ${internalChain}`);
  if (internalVerdict) {
    add('filter', KUBE_SERVICES, `${comment(internalVerdict[1]!)} ${match} -d ${sp.clusterIP} --dport ${sp.port} -j ${internalVerdict[0]}`);
  }
  for (const ip of sp.externalIPs) {
    add('nat', KUBE_SERVICES, `${comment(`${id} external IP`)} ${match} -d ${ip} --dport ${sp.port} -j ${names.ext}`);
    if (externalVerdict) add('filter', KUBE_EXTERNAL_SERVICES, `${comment(externalVerdict[1]!)} ${match} -d ${ip} --dport ${sp.port} -j ${externalVerdict[0]}`);
  }
  for (const ip of sp.loadBalancerIPs) {
    add('nat', KUBE_SERVICES, `${comment(`${id} loadbalancer IP`)} ${match} -d ${ip} --dport ${sp.port} -j ${lbChain}`);
    // Whatever KUBE-FW did not send on to KUBE-EXT (and so to a DNAT) is dropped here.
    if (usesFW && sel.hasAny) {
      add('filter', KUBE_PROXY_FIREWALL, `${comment(`${id} traffic not accepted by ${names.fw}`)} ${match} -d ${ip} --dport ${sp.port} -j DROP`);
    }
    if (externalVerdict) add('filter', KUBE_EXTERNAL_SERVICES, `${comment(externalVerdict[1]!)} ${match} -d ${ip} --dport ${sp.port} -j ${externalVerdict[0]}`);
  }
  if (sp.nodePort !== 0) {
    add('nat', KUBE_NODEPORTS, `${comment(id)} ${match} --dport ${sp.nodePort} -j ${names.ext}`);
    if (externalVerdict) {
      add('filter', KUBE_EXTERNAL_SERVICES, `${comment(externalVerdict[1]!)} -m addrtype --dst-type LOCAL ${match} --dport ${sp.nodePort} -j ${externalVerdict[0]}`);
    }
  }
  if (sp.healthCheckNodePort !== 0) {
    add('filter', KUBE_NODEPORTS, `${comment(`${id} health check node port`)} -m tcp -p tcp --dport ${sp.healthCheckNodePort} -j ACCEPT`);
  }

  // The Service's own chains: declared whenever the spec needs them, filled when endpoints exist.
  const masqInternal = (chain: string): string | undefined => {
    const head = `-A ${chain}${note(`${id} cluster IP`)} ${match} -d ${sp.clusterIP} --dport ${sp.port}`;
    if (opts.masqueradeAll) return `${head} -j ${KUBE_MARK_MASQ}`;
    // Off-cluster sources may have routed to us via any node: SNAT so replies come back here.
    if (opts.clusterCIDR) return `${head} ! -s ${opts.clusterCIDR} -j ${KUBE_MARK_MASQ}`;
    return undefined;
  };
  const policyChain = (chain: string, eps: readonly Endpoint[]): void => {
    const rules: string[] = [];
    if (hasInternal && internalChain === chain) {
      const m = masqInternal(chain);
      if (m) rules.push(m);
    }
    rules.push(...endpointRules(chain, sp, eps, l4, note));
    chains.set(chain, rules);
  };
  if (usesClusterEndpoints(sp)) policyChain(names.svc, sel.cluster);
  if (usesLocalEndpoints(sp)) policyChain(names.svl, sel.local);

  if (external) {
    const rules: string[] = [];
    const r = (text: string, rest: string): void => { rules.push(`-A ${names.ext}${note(text)} ${rest}`); };
    if (sel.hasAny) {
      if (!sp.externalPolicyLocal) {
        // Endpoints may be on other nodes: SNAT so replies come back through us.
        r(`masquerade traffic for ${id} external destinations`, `-j ${KUBE_MARK_MASQ}`);
      } else {
        // Pods reaching an external address behave as if they went out and back in:
        // no traffic policy for them.
        if (opts.clusterCIDR) r(`pod traffic for ${id} external destinations`, `-s ${opts.clusterCIDR} -j ${names.svc}`);
        // The node itself: its source address is local, so it must be masqueraded.
        r(`masquerade LOCAL traffic for ${id} external destinations`, `-m addrtype --src-type LOCAL -j ${KUBE_MARK_MASQ}`);
        r(`route LOCAL traffic for ${id} external destinations`, `-m addrtype --src-type LOCAL -j ${names.svc}`);
      }
      if (hasExternal) rules.push(`-A ${names.ext} -j ${externalPolicyChain}`);
    }
    chains.set(names.ext, rules);
  }

  if (usesFW) {
    const rules: string[] = [];
    if (sel.hasAny) {
      const head = `-A ${names.fw}${note(`${id} loadbalancer IP`)}`;
      let allowNode = false;
      for (const range of sp.loadBalancerSourceRanges) {
        rules.push(`${head} -s ${range} -j ${names.ext}`);
        const c = parseCIDR(range);
        if (c && (opts.nodeIPs ?? []).some((ip) => { const p = parseIP(ip); return p !== undefined && cidrContains(c, p); })) allowNode = true;
      }
      // A VIP that is also a local address loops back with the VIP as source.
      if (allowNode) for (const ip of sp.loadBalancerIPs) rules.push(`${head} -s ${ip} -j ${names.ext}`);
    }
    chains.set(names.fw, rules);
  }

  for (const ep of sel.reachable) {
    if (!ep.isLocal) continue;
    const sep = endpointChain(sp, ep);
    const affinity = sp.affinityTimeoutSeconds > 0 ? ` -m recent --name ${sep} --set` : '';
    chains.set(sep, [
      // Hairpin: a pod reaching itself through the Service must see the node as source.
      `-A ${sep}${note(id)} -s ${ep.ip}${hostMask(opts.family)} -j ${KUBE_MARK_MASQ}`,
      `-A ${sep}${note(id)}${affinity} ${l4} -j DNAT --to-destination ${joinHostPort(ep.ip, ep.port)}`,
    ]);
  }

  return { id, service: nsName(sp.service), chains, top, selection: sel };
}

/** Load balancing from a policy chain to endpoints: affinity lookups first, then random spread. */
function endpointRules(chain: string, sp: ServicePort, eps: readonly Endpoint[], l4: string, note: (text: string) => string): string[] {
  const rules: string[] = [];
  const t = sp.affinityTimeoutSeconds;
  const dnat = (ep: Endpoint): string => `${l4} -j DNAT --to-destination ${joinHostPort(ep.ip, ep.port)}`;
  const cmt = (ep: Endpoint): string => note(`${sp.id} -> ${joinHostPort(ep.ip, ep.port)}`);
  if (t > 0) {
    for (const ep of eps) {
      const sep = endpointChain(sp, ep);
      rules.push(ep.isLocal
        ? `-A ${chain}${cmt(ep)} -m recent --name ${sep} --rcheck --seconds ${t} --reap -j ${sep}`
        // --update = --rcheck + refresh, which the KUBE-SEP chain's --set does for local endpoints.
        : `-A ${chain}${cmt(ep)} -m recent --name ${sep} --update --seconds ${t} --reap ${dnat(ep)}`);
    }
  }
  eps.forEach((ep, i) => {
    const stat = i < eps.length - 1 ? ` -m statistic --mode random --probability ${probability(eps.length - i)}` : '';
    rules.push(ep.isLocal
      ? `-A ${chain}${cmt(ep)}${stat} -j ${endpointChain(sp, ep)}`
      : `-A ${chain}${cmt(ep)}${stat}${t > 0 ? ` -m recent --name ${endpointChain(sp, ep)} --set` : ''} ${dnat(ep)}`);
  });
  return rules;
}

/** A rule that hooks one of our chains into a built-in chain. */
export interface Hook { readonly table: Table; readonly chain: string; readonly rule: string }

/** Fixed content: hooks, marks, masquerade, forwarding, and the tails that must stay last. */
export interface BaseRules {
  readonly hooks: readonly Hook[];
  /** Whole content of fixed chains that never change with Services. */
  readonly fixed: Readonly<Record<Table, ReadonlyMap<string, readonly string[]>>>;
  /** Rules that must stay at the end of a top-level chain. */
  readonly tails: Readonly<Record<Table, ReadonlyMap<string, readonly string[]>>>;
}

export function baseRules(opts: RuleOptions): BaseRules {
  const mark = masqueradeMark(opts);
  const newOnly = '-m conntrack --ctstate NEW';
  const hook = (table: Table, chain: string, target: string, text: string, extra = ''): Hook =>
    ({ table, chain, rule: `-A ${chain}${extra ? ` ${extra}` : ''} ${comment(text)} -j ${target}` });
  const hooks: Hook[] = [
    hook('filter', 'INPUT', KUBE_EXTERNAL_SERVICES, 'kubernetes externally-visible service portals', newOnly),
    hook('filter', 'FORWARD', KUBE_EXTERNAL_SERVICES, 'kubernetes externally-visible service portals', newOnly),
    hook('filter', 'INPUT', KUBE_NODEPORTS, 'kubernetes health check service ports'),
    hook('filter', 'FORWARD', KUBE_SERVICES, 'kubernetes service portals', newOnly),
    hook('filter', 'OUTPUT', KUBE_SERVICES, 'kubernetes service portals', newOnly),
    hook('filter', 'FORWARD', KUBE_FORWARD, 'kubernetes forwarding rules'),
    hook('filter', 'INPUT', KUBE_PROXY_FIREWALL, 'kubernetes load balancer firewall', newOnly),
    hook('filter', 'OUTPUT', KUBE_PROXY_FIREWALL, 'kubernetes load balancer firewall', newOnly),
    hook('filter', 'FORWARD', KUBE_PROXY_FIREWALL, 'kubernetes load balancer firewall', newOnly),
    hook('nat', 'OUTPUT', KUBE_SERVICES, 'kubernetes service portals'),
    hook('nat', 'PREROUTING', KUBE_SERVICES, 'kubernetes service portals'),
    hook('nat', 'POSTROUTING', KUBE_POSTROUTING, 'kubernetes postrouting rules'),
  ];

  const fixedNat = new Map<string, string[]>([
    [KUBE_POSTROUTING, [
      `-A ${KUBE_POSTROUTING} -m mark ! --mark ${mark}/${mark} -j RETURN`,
      // Clear the mark so a packet that re-enters the stack is not masqueraded twice.
      `-A ${KUBE_POSTROUTING} -j MARK --xor-mark ${mark}`,
      `-A ${KUBE_POSTROUTING} ${comment('kubernetes service traffic requiring SNAT')} -j MASQUERADE --random-fully`,
    ]],
    [KUBE_MARK_MASQ, [`-A ${KUBE_MARK_MASQ} -j MARK --or-mark ${mark}`]],
  ]);
  const fixedFilter = new Map<string, string[]>([
    [KUBE_FORWARD, [
      `-A ${KUBE_FORWARD} -m conntrack --ctstate INVALID -j DROP`,
      `-A ${KUBE_FORWARD} ${comment('kubernetes forwarding rules')} -m mark --mark ${mark}/${mark} -j ACCEPT`,
      `-A ${KUBE_FORWARD} ${comment('kubernetes forwarding conntrack rule')} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
    ]],
  ]);

  const nodePortsComment = comment('kubernetes service nodeports; NOTE: this must be the last rule in this chain');
  const loopback = opts.family === 4 ? '127.0.0.0/8' : '::1/128';
  const natTail = opts.nodePortIPs === undefined
    // Localhost NodePorts are not supported (they need route_localnet, a known hole).
    ? [`-A ${KUBE_SERVICES} ${nodePortsComment} -m addrtype --dst-type LOCAL ! -d ${loopback} -j ${KUBE_NODEPORTS}`]
    : opts.nodePortIPs.map((ip) => `-A ${KUBE_SERVICES} ${nodePortsComment} -d ${ip} -j ${KUBE_NODEPORTS}`);
  // Anything still addressed to the service range in the filter table was not DNATed:
  // no Service holds that address (or port). Reject it rather than route it out.
  const filterTail = (opts.serviceCIDRs ?? []).map((cidr) =>
    `-A ${KUBE_SERVICES} ${comment('reject traffic to unallocated service IPs')} -d ${cidr} -j REJECT`);

  return {
    hooks,
    fixed: { filter: fixedFilter, nat: fixedNat },
    tails: { filter: new Map([[KUBE_SERVICES, filterTail]]), nat: new Map([[KUBE_SERVICES, natTail]]) },
  };
}
