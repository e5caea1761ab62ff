// Pure planning: one service port -> the virtual servers, kube-ipvs0 addresses and
// ipset members it needs, in kube-proxy's IPVS layout:
//  - a virtual server per front address: the cluster IP, each externalIP and
//    load-balancer IP (all bound to kube-ipvs0 so the node accepts them), and for a
//    NodePort one per node address;
//  - its real servers are the endpoints of the traffic policy that applies: internal
//    for the cluster IP, external for the rest (endpoint-selection.ts);
//  - sessionAffinity ClientIP is the virtual server's persistence timeout;
//  - masquerading, NodePorts, source ranges and the Local-policy drop are set members
//    that the fixed iptables rules (iptables.ts) match.
// One difference from the iptables mode, kube-proxy's IPVS mode has it too: a virtual
// server has one set of real servers, so pods reaching a NodePort / external address
// of an externalTrafficPolicy Local Service also get only this node's endpoints.
import { cidrContains, parseCIDR, parseIP } from '../ip.js';
import { selectEndpoints } from '../endpoint-selection.js';
import type { Endpoint, ServicePortState } from '../types.js';
import { entry, member, nodePortSet, type SetKind, type SetMember } from './ipsets.js';
import { vsKey, type RealServer, type VirtualServer } from './model.js';

export interface PlanOptions {
  readonly scheduler: string;
  /** Addresses NodePort virtual servers are made on (node addresses, not those of kube-ipvs0). */
  readonly nodePortIPs: readonly string[];
  /** This node's addresses: a source range holding one admits the node's own traffic to the VIP. */
  readonly nodeIPs: readonly string[];
}

export interface PortPlan {
  readonly id: string;
  /** By vsKey. */
  readonly virtualServers: ReadonlyMap<string, VirtualServer>;
  /** Addresses bound to kube-ipvs0. */
  readonly addresses: ReadonlySet<string>;
  readonly members: ReadonlySet<SetMember>;
}

const reals = (eps: readonly Endpoint[]): RealServer[] => {
  // Endpoints can repeat across slices; a real server exists once.
  const seen = new Map<string, RealServer>();
  for (const ep of eps) seen.set(`${ep.ip} ${ep.port}`, { ip: ep.ip, port: ep.port });
  return [...seen.values()];
};

export function planPort(state: ServicePortState, opts: PlanOptions): PortPlan {
  const sp = state.port;
  const proto = sp.protocol;
  const sel = selectEndpoints(sp, state.endpoints);
  const internal = sp.internalPolicyLocal ? sel.local : sel.cluster;
  const external = sp.externalPolicyLocal ? sel.local : sel.cluster;
  // Local policy, endpoints only on other nodes: drop (the iptables mode does; IPVS alone would refuse).
  const dropInternal = sel.hasAny && !sel.hasInternal;
  const dropExternal = sel.hasAny && !sel.hasExternal;

  const virtualServers = new Map<string, VirtualServer>();
  const addresses = new Set<string>();
  const members = new Set<SetMember>();
  const add = (kind: SetKind, text: string): void => { members.add(member(kind, text)); };
  const vs = (address: string, port: number, rs: readonly Endpoint[]): void => {
    const v: VirtualServer = { protocol: proto, address, port, scheduler: opts.scheduler, persistence: sp.affinityTimeoutSeconds, reals: reals(rs) };
    virtualServers.set(vsKey(v), v);
  };
  const bind = (ip: string): void => { addresses.add(ip); add('IPVS-IPS', entry.ip(ip)); };

  bind(sp.clusterIP);
  vs(sp.clusterIP, sp.port, internal);
  add('CLUSTER-IP', entry.ipPort(sp.clusterIP, proto, sp.port));
  if (dropInternal) add('NO-LOCAL-ENDPOINTS', entry.ipPort(sp.clusterIP, proto, sp.port));

  for (const ip of sp.externalIPs) {
    bind(ip);
    vs(ip, sp.port, external);
    add(sp.externalPolicyLocal ? 'EXTERNAL-IP-LOCAL' : 'EXTERNAL-IP', entry.ipPort(ip, proto, sp.port));
    if (dropExternal) add('NO-LOCAL-ENDPOINTS', entry.ipPort(ip, proto, sp.port));
  }

  const ranges = sp.loadBalancerSourceRanges.map((r) => parseCIDR(r)).filter((c) => c !== undefined);
  const admitsNode = ranges.some((c) => opts.nodeIPs.some((ip) => { const p = parseIP(ip); return p !== undefined && cidrContains(c, p); }));
  for (const ip of sp.loadBalancerIPs) {
    bind(ip);
    vs(ip, sp.port, external);
    const ipPort = entry.ipPort(ip, proto, sp.port);
    add('LOAD-BALANCER', ipPort);
    if (sp.externalPolicyLocal) add('LOAD-BALANCER-LOCAL', ipPort);
    if (dropExternal) add('NO-LOCAL-ENDPOINTS', ipPort);
    if (ranges.length > 0) {
      add('LOAD-BALANCER-FW', ipPort);
      for (const c of ranges) add('LOAD-BALANCER-SOURCE-CIDR', entry.ipPortNet(ip, proto, sp.port, c.text));
      // The node reaching its own VIP has the VIP as source address.
      if (admitsNode) add('LOAD-BALANCER-SOURCE-CIDR', entry.ipPortNet(ip, proto, sp.port, ip));
    }
  }

  if (sp.nodePort !== 0) {
    add(nodePortSet(proto, sp.externalPolicyLocal), entry.port(sp.nodePort));
    for (const ip of opts.nodePortIPs) {
      vs(ip, sp.nodePort, external);
      if (dropExternal) add('NO-LOCAL-ENDPOINTS', entry.ipPort(ip, proto, sp.nodePort));
    }
  }
  if (sp.healthCheckNodePort !== 0) add('HEALTH-CHECK-NODE-PORT', entry.port(sp.healthCheckNodePort));

  // Hairpin: only a pod on this node can reach itself through this node.
  for (const ep of sel.reachable) if (ep.isLocal) add('LOOP-BACK', entry.ipPortIp(ep.ip, proto, ep.port, ep.ip));

  return { id: sp.id, virtualServers, addresses, members };
}

/**
 * Addresses NodePorts answer on: --nodeport-addresses' node addresses, else every
 * non-loopback node address; never a Service address on kube-ipvs0 (those are local
 * too, and the proxier's address list includes them).
 */
export function nodePortAddresses(nodePortIPs: readonly string[] | undefined, nodeIPs: readonly string[] | undefined, serviceIPs: ReadonlySet<string>): string[] {
  const out = new Set<string>();
  for (const ip of nodePortIPs ?? nodeIPs ?? []) if (!serviceIPs.has(ip)) out.add(ip);
  return [...out].sort();
}
