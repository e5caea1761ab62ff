// Pure rule generation for the nftables mode: one service port -> its chains, its
// affinity sets and its elements in the shared verdict maps; plus the fixed part of
// our table (base chains, maps, masquerading). Same behaviour as iptables/rules.ts.
//
// Layout, all in one table of ours (`ip kna-proxy` / `ip6 kna-proxy`):
//   nat-prerouting, nat-output (dstnat)  -> services: `daddr . l4proto . dport vmap @service-ips`,
//                                            then NodePorts: `l4proto . dport vmap @service-nodeports`
//   nat-postrouting (srcnat)             -> masquerading: packets marked by mark-for-masquerade
//   filter-prerouting, filter-output (before DNAT) -> @firewall-ips: loadBalancerSourceRanges
//   filter-input, filter-forward, filter-output-post-dnat (after DNAT): what was not DNATed and
//     is addressed to a Service without (local) endpoints: @no-endpoint-services /
//     @no-endpoint-nodeports (reject or drop), then the unallocated service range (reject).
//
// Per service port: svc-H (Cluster policy endpoints), local-H (Local policy), ext-H
// (external destinations: masquerade / policy), fw-H (source ranges), and ep-E for
// endpoints on this node (hairpin masquerade). As in iptables mode the map elements
// pointing at a port's chains depend on its spec only, so an endpoint change rewrites
// just that port's chains (and the no-endpoint elements when it gains or loses all).
//
// Load balancing is one `numgen random mod (N-i) == 0` rule per endpoint (rule i of N
// matches with 1/(N-i): an even spread, iptables' statistic scheme) DNATing remote
// endpoints in place. Not `numgen random mod N vmap { 0 : goto ep-A, ... }`: measured on
// kernel 6.18, the kernel's cost per set grows with the sets already in the table, so
// one anonymous vmap per Service made loading 1,000 / 4,000 / 10,000 Services take
// 0.65 / 8.9 / 95 s; named per-Service maps took 14 s at 10,000, and one shared map
// (`numgen ... offset` keys) 36 s at 4,000 (it is re-validated from every chain using
// it); these rules take 3.1 s at 10,000. Chains per remote endpoint are
// avoided as in iptables mode: a commit that adds a NAT rule makes the kernel re-validate
// every chain reachable from our hooks, so an endpoint change cost 0.35 s of kernel time
// with a chain per endpoint (110k chains) and 0.06 s without (10k).
import { hash16 } from '../iptables/chains.js';
import { cidrContains, joinHostPort, parseCIDR, parseIP } from '../ip.js';
import type { RuleOptions } from '../backend.js';
import { externallyAccessible, selectEndpoints, usesClusterEndpoints, usesLoadBalancerFirewall, usesLocalEndpoints, type EndpointSelection } from '../endpoint-selection.js';
import type { Endpoint, IPFamily, ServicePort, ServicePortState } from '../types.js';
import { nsName } from '../types.js';

export const TABLE = 'kna-proxy';

/** Address-family words of nft's syntax. */
export interface Syntax {
  /** Table family: `ip` or `ip6`. */
  readonly family: 'ip' | 'ip6';
  readonly addrType: 'ipv4_addr' | 'ipv6_addr';
  readonly saddr: string;
  readonly daddr: string;
  readonly loopback: string;
}

export function syntaxOf(family: IPFamily): Syntax {
  return family === 4
    ? { family: 'ip', addrType: 'ipv4_addr', saddr: 'ip saddr', daddr: 'ip daddr', loopback: '127.0.0.0/8' }
    : { family: 'ip6', addrType: 'ipv6_addr', saddr: 'ip6 saddr', daddr: 'ip6 daddr', loopback: '::1' };
}

/** "ip kna-proxy": how every command names our table. */
export const tableRef = (family: IPFamily): string => `${syntaxOf(family).family} ${TABLE}`;

// Fixed chains and maps.
export const SERVICES = 'services';
export const MASQUERADING = 'masquerading';
export const MARK_MASQ = 'mark-for-masquerade';
export const REJECT_CHAIN = 'reject-chain';
export const ENDPOINTS_CHECK = 'endpoints-check';

export type MapName = 'service-ips' | 'service-nodeports' | 'no-endpoint-services' | 'no-endpoint-nodeports' | 'firewall-ips';
export const MAP_NAMES: readonly MapName[] = ['service-ips', 'service-nodeports', 'no-endpoint-services', 'no-endpoint-nodeports', 'firewall-ips'];

/** A base chain: where it hooks and at which priority. */
export interface BaseChain { readonly name: string; readonly type: 'filter' | 'nat'; readonly hook: string; readonly priority: number }

export const BASE_CHAINS: readonly BaseChain[] = [
  // Source ranges must be checked before DNAT rewrites the load-balancer IP.
  { name: 'filter-prerouting', type: 'filter', hook: 'prerouting', priority: -110 },
  { name: 'filter-output', type: 'filter', hook: 'output', priority: -110 },
  // dstnat; the `dstnat` keyword is refused on the ip family's output hook, -100 is the same.
  { name: 'nat-prerouting', type: 'nat', hook: 'prerouting', priority: -100 },
  { name: 'nat-output', type: 'nat', hook: 'output', priority: -100 },
  // After DNAT: whatever still goes to a Service address found no endpoint.
  { name: 'filter-input', type: 'filter', hook: 'input', priority: -10 },
  { name: 'filter-forward', type: 'filter', hook: 'forward', priority: -10 },
  { name: 'filter-output-post-dnat', type: 'filter', hook: 'output', priority: -10 },
  { name: 'nat-postrouting', type: 'nat', hook: 'postrouting', priority: 100 },
];

export const FIXED_CHAINS: readonly string[] = [SERVICES, MASQUERADING, MARK_MASQ, REJECT_CHAIN, ENDPOINTS_CHECK];

/** One element of a verdict map: `key : value`. */
export interface MapElement { readonly map: MapName; readonly key: string; readonly value: string }

/** Everything made for one service port. */
export interface NftPort {
  readonly id: string;
  /** "namespace/name" of the Service. */
  readonly service: string;
  /** Its chains with their rules (rule text after `add rule FAMILY TABLE CHAIN`), in dependency order. */
  readonly chains: ReadonlyMap<string, readonly string[]>;
  /** ClientIP affinity sets: name -> declaration. */
  readonly sets: ReadonlyMap<string, string>;
  readonly elements: readonly MapElement[];
  /** Chain comment: the service port id (validated: DNS labels, '/', ':'). */
  readonly comment: string;
  readonly selection: EndpointSelection;
}

/** The fixed part of the table. */
export interface NftBase {
  /** Base chains' declarations and fixed regular chains, name -> `{ ... }` spec ('' for regular chains). */
  readonly chainSpecs: ReadonlyMap<string, string>;
  readonly rules: ReadonlyMap<string, readonly string[]>;
  readonly maps: ReadonlyMap<MapName, string>;
}

export interface PortNames { readonly svc: string; readonly local: string; readonly ext: string; readonly fw: string }

/** Per-port chain names: hashes of the port identity (the same hash as iptables mode's KUBE-SVC-...). */
export function portNames(sp: ServicePort): PortNames {
  const h = hash16(sp.id + sp.protocol.toLowerCase());
  return { svc: `svc-${h}`, local: `local-${h}`, ext: `ext-${h}`, fw: `fw-${h}` };
}

export function endpointChain(sp: ServicePort, ep: Endpoint): string {
  return `ep-${hash16(sp.id + sp.protocol.toLowerCase() + joinHostPort(ep.ip, ep.port))}`;
}

/** One affinity set per endpoint; the timeout is part of the name so a changed timeout makes a new set. */
export function affinitySet(sp: ServicePort, ep: Endpoint): string {
  return `aff-${hash16(`${sp.id}${sp.protocol.toLowerCase()}${joinHostPort(ep.ip, ep.port)}/${sp.affinityTimeoutSeconds}`)}`;
}

/** Prefixes of per-port objects: anything else in our table is fixed. */
export const PORT_CHAIN = /^(svc|local|ext|fw|ep)-[A-Z2-7]{16}$/;
export const PORT_SET = /^aff-[A-Z2-7]{16}$/;

export const masqueradeMark = (opts: RuleOptions): string => `0x${((1 << (opts.masqueradeBit ?? 14)) >>> 0).toString(16)}`;

const GOTO_REJECT = `goto ${REJECT_CHAIN}`;

export function servicePortObjects(state: ServicePortState, opts: RuleOptions): NftPort {
  const sp = state.port;
  const s = syntaxOf(opts.family);
  const proto = sp.protocol.toLowerCase();
  const names = portNames(sp);
  const sel = selectEndpoints(sp, state.endpoints);
  const external = externallyAccessible(sp);

  const internalChain = sp.internalPolicyLocal ? names.local : names.svc;
  const { hasInternal, hasExternal } = sel;
  const externalPolicyChain = sp.externalPolicyLocal ? names.local : names.svc;
  const usesFW = usesLoadBalancerFirewall(sp);

  const elements: MapElement[] = [];
  const el = (map: MapName, key: string, value: string): void => { elements.push({ map, key, value }); };
  const svcKey = (ip: string): string => `${ip} . ${proto} . ${sp.port}`;
  const internalVerdict = !sel.hasAny ? GOTO_REJECT : !hasInternal ? 'drop' : undefined;
  const externalVerdict = !sel.hasAny ? GOTO_REJECT : !hasExternal ? 'drop' : undefined;

  // Map elements: fixed by the spec, except the no-endpoint verdicts and the firewall.
  el('service-ips', svcKey(sp.clusterIP), `goto ${internalChain}`);
  if (internalVerdict) el('no-endpoint-services', svcKey(sp.clusterIP), internalVerdict);
  for (const ip of [...sp.externalIPs, ...sp.loadBalancerIPs]) {
    el('service-ips', svcKey(ip), `goto ${names.ext}`);
    if (externalVerdict) el('no-endpoint-services', svcKey(ip), externalVerdict);
  }
  // Whatever the firewall lets through goes on to ext-H; without endpoints it is rejected like any other.
  if (usesFW && sel.hasAny) for (const ip of sp.loadBalancerIPs) el('firewall-ips', svcKey(ip), `goto ${names.fw}`);
  if (sp.nodePort !== 0) {
    el('service-nodeports', `${proto} . ${sp.nodePort}`, `goto ${names.ext}`);
    if (externalVerdict) el('no-endpoint-nodeports', `${proto} . ${sp.nodePort}`, externalVerdict);
  }
  // healthCheckNodePort needs no rule: an accept in our table cannot override another
  // table's drop (iptables mode's ACCEPT exists for the filter table's own policy).

  const chains = new Map<string, string[]>();
  const sets = new Map<string, string>();
  const t = sp.affinityTimeoutSeconds;

  const masqInternal = (): string | undefined => {
    const head = `${s.daddr} ${sp.clusterIP} ${proto} dport ${sp.port}`;
    if (opts.masqueradeAll) return `${head} jump ${MARK_MASQ}`;
    // Off-cluster sources may have routed to us via any node: SNAT so replies come back here.
    if (opts.clusterCIDR) return `${head} ${s.saddr} != ${opts.clusterCIDR} jump ${MARK_MASQ}`;
    return undefined;
  };
  /** What sends a connection to one endpoint: its chain when local (hairpin), else DNAT in place. */
  const toEndpoint = (ep: Endpoint): string => (ep.isLocal
    ? `goto ${endpointChain(sp, ep)}`
    : `meta l4proto ${proto}${t > 0 ? ` update @${affinitySet(sp, ep)} { ${s.saddr} }` : ''} dnat to ${joinHostPort(ep.ip, ep.port)}`);
  const policyChain = (chain: string, eps: readonly Endpoint[]): void => {
    const rules: string[] = [];
    if (hasInternal && internalChain === chain) {
      const m = masqInternal();
      if (m) rules.push(m);
    }
    // A client seen recently goes back to the same endpoint.
    if (t > 0) for (const ep of eps) rules.push(`${s.saddr} @${affinitySet(sp, ep)} ${toEndpoint(ep)}`);
    eps.forEach((ep, i) => rules.push(`${i < eps.length - 1 ? `numgen random mod ${eps.length - i} == 0 ` : ''}${toEndpoint(ep)}`));
    chains.set(chain, rules);
  };
  if (usesClusterEndpoints(sp)) policyChain(names.svc, sel.cluster);
  if (usesLocalEndpoints(sp)) policyChain(names.local, sel.local);

  if (external) {
    const rules: string[] = [];
    if (sel.hasAny) {
      if (!sp.externalPolicyLocal) {
        // Endpoints may be on other nodes: SNAT so replies come back through us.
        rules.push(`jump ${MARK_MASQ}`);
      } else {
        // Pods reaching an external address behave as if they went out and back in: no traffic policy.
        if (opts.clusterCIDR) rules.push(`${s.saddr} ${opts.clusterCIDR} goto ${names.svc}`);
        // The node itself: its source address is local, so it must be masqueraded.
        rules.push(`fib saddr type local jump ${MARK_MASQ}`, `fib saddr type local goto ${names.svc}`);
      }
      if (hasExternal) rules.push(`goto ${externalPolicyChain}`);
    }
    chains.set(names.ext, rules);
  }

  if (usesFW) {
    const rules: string[] = [];
    if (sel.hasAny) {
      const allowed = [...sp.loadBalancerSourceRanges];
      const nodeIPs = (opts.nodeIPs ?? []).map((ip) => parseIP(ip)).filter((p) => p !== undefined);
      const nodeInRange = sp.loadBalancerSourceRanges.some((r) => { const c = parseCIDR(r); return c !== undefined && nodeIPs.some((ip) => cidrContains(c, ip)); });
      // A VIP that is also a local address loops back with the VIP as source.
      if (nodeInRange) allowed.push(...sp.loadBalancerIPs);
      rules.push(`${s.saddr} != { ${allowed.join(', ')} } drop`);
    }
    chains.set(names.fw, rules);
  }

  for (const ep of sel.reachable) {
    if (t > 0) sets.set(affinitySet(sp, ep), `{ type ${s.addrType} ; flags dynamic,timeout ; timeout ${t}s ; }`);
    if (!ep.isLocal) continue;
    chains.set(endpointChain(sp, ep), [
      // Hairpin: a pod reaching itself through the Service must see the node as source.
      `${s.saddr} ${ep.ip} jump ${MARK_MASQ}`,
      `meta l4proto ${proto}${t > 0 ? ` update @${affinitySet(sp, ep)} { ${s.saddr} }` : ''} dnat to ${joinHostPort(ep.ip, ep.port)}`,
    ]);
  }

  return { id: sp.id, service: nsName(sp.service), chains, sets, elements, comment: sp.id, selection: sel };
}

export function baseObjects(opts: RuleOptions): NftBase {
  const s = syntaxOf(opts.family);
  const mark = masqueradeMark(opts);
  const chainSpecs = new Map<string, string>();
  for (const c of BASE_CHAINS) chainSpecs.set(c.name, `{ type ${c.type} hook ${c.hook} priority ${c.priority} ; }`);
  for (const c of FIXED_CHAINS) chainSpecs.set(c, '');

  const svcMap = `{ type ${s.addrType} . inet_proto . inet_service : verdict ; }`;
  const portMap = '{ type inet_proto . inet_service : verdict ; }';
  const maps = new Map<MapName, string>([
    ['service-ips', svcMap], ['service-nodeports', portMap],
    ['no-endpoint-services', svcMap], ['no-endpoint-nodeports', portMap], ['firewall-ips', svcMap],
  ]);

  const dispatch = (map: MapName): string => `${s.daddr} . meta l4proto . th dport vmap @${map}`;
  const nodePorts = 'meta l4proto . th dport vmap @service-nodeports';
  const serviceRange = (opts.serviceCIDRs ?? []).length > 0
    // Still addressed to the service range after DNAT: no Service holds that address (or port).
    ? [`ct state new ${s.daddr} { ${opts.serviceCIDRs!.join(', ')} } ${GOTO_REJECT}`] : [];
  const rules = new Map<string, readonly string[]>([
    ['filter-prerouting', [`ct state new ${dispatch('firewall-ips')}`]],
    ['filter-output', [`ct state new ${dispatch('firewall-ips')}`]],
    ['nat-prerouting', [`jump ${SERVICES}`]],
    ['nat-output', [`jump ${SERVICES}`]],
    ['filter-input', [`ct state new jump ${ENDPOINTS_CHECK}`, `ct state new fib daddr type local ${'meta l4proto . th dport vmap @no-endpoint-nodeports'}`]],
    // iptables mode's KUBE-FORWARD accepts exist for the filter table's own policy; an
    // accept here would not override another table, so only the INVALID drop is kept.
    ['filter-forward', ['ct state invalid drop', `ct state new jump ${ENDPOINTS_CHECK}`, ...serviceRange]],
    ['filter-output-post-dnat', [`ct state new jump ${ENDPOINTS_CHECK}`, ...serviceRange]],
    ['nat-postrouting', [`jump ${MASQUERADING}`]],
    [SERVICES, [
      dispatch('service-ips'),
      ...(opts.nodePortIPs === undefined
        // Localhost NodePorts are not supported (they need route_localnet, a known hole).
        ? [`fib daddr type local ${s.daddr} != ${s.loopback} ${nodePorts}`]
        : opts.nodePortIPs.length > 0 ? [`${s.daddr} { ${opts.nodePortIPs.join(', ')} } ${nodePorts}`] : []),
    ]],
    [MASQUERADING, [
      `meta mark & ${mark} == 0 return`,
      // Clear the mark so a packet that re-enters the stack is not masqueraded twice.
      `meta mark set meta mark ^ ${mark}`,
      'masquerade fully-random',
    ]],
    [MARK_MASQ, [`meta mark set meta mark | ${mark}`]],
    [REJECT_CHAIN, ['meta l4proto tcp reject with tcp reset', 'reject']],
    [ENDPOINTS_CHECK, [dispatch('no-endpoint-services')]],
  ]);
  return { chainSpecs, rules, maps };
}
