// Which endpoints a service port sends traffic to, per traffic policy. Same rules as
// kube-proxy: ready endpoints first; serving-but-terminating endpoints only when no
// ready one exists (per policy); "Local" policies use only this node's endpoints.
import type { Endpoint, ServicePort } from './types.js';

export interface EndpointSelection {
  /** Endpoints for "Cluster" policy (empty when the port uses no cluster endpoints). */
  readonly cluster: readonly Endpoint[];
  /** Endpoints for "Local" policy (empty when the port uses no local endpoints). */
  readonly local: readonly Endpoint[];
  /** Every endpoint some rule of this port can reach (cluster ∪ local). */
  readonly reachable: readonly Endpoint[];
  /** The Service has usable endpoints somewhere in the cluster. */
  readonly hasAny: boolean;
  /** Traffic under the internal policy has an endpoint to go to (else it is rejected). */
  readonly hasInternal: boolean;
  /** Traffic under the external policy has an endpoint to go to (else rejected or dropped). */
  readonly hasExternal: boolean;
}

export const externallyAccessible = (sp: ServicePort): boolean =>
  sp.nodePort !== 0 || sp.externalIPs.length > 0 || sp.loadBalancerIPs.length > 0;

/** Cluster endpoints serve ITP Cluster, and external traffic (even with ETP Local, for short-circuited pod/node traffic). */
export const usesClusterEndpoints = (sp: ServicePort): boolean => !sp.internalPolicyLocal || externallyAccessible(sp);

export const usesLocalEndpoints = (sp: ServicePort): boolean =>
  sp.internalPolicyLocal || (sp.externalPolicyLocal && externallyAccessible(sp));

/** Load-balancer IPs with source ranges go through a firewall chain first. */
export const usesLoadBalancerFirewall = (sp: ServicePort): boolean =>
  sp.loadBalancerIPs.length > 0 && sp.loadBalancerSourceRanges.length > 0;

const servingTerminating = (ep: Endpoint): boolean => ep.serving && ep.terminating;

export function selectEndpoints(sp: ServicePort, endpoints: readonly Endpoint[]): EndpointSelection {
  const { cluster, local, reachable, hasAny } = pick(sp, endpoints);
  return {
    cluster, local, reachable, hasAny,
    hasInternal: hasAny && (!sp.internalPolicyLocal || local.length > 0),
    hasExternal: hasAny && (!sp.externalPolicyLocal || local.length > 0),
  };
}

function pick(sp: ServicePort, endpoints: readonly Endpoint[]): Pick<EndpointSelection, 'cluster' | 'local' | 'reachable' | 'hasAny'> {
  let cluster: Endpoint[] = [];
  let hasAny = false;
  if (usesClusterEndpoints(sp)) {
    cluster = endpoints.filter((ep) => ep.ready);
    // Best effort to keep connections alive while a whole Service rolls: fall back
    // to endpoints that are terminating but still serving.
    if (cluster.length === 0) cluster = endpoints.filter(servingTerminating);
    hasAny = cluster.length > 0;
  }
  if (!usesLocalEndpoints(sp)) return { cluster, local: [], reachable: cluster, hasAny };

  let local = endpoints.filter((ep) => ep.isLocal && ep.ready);
  if (local.length === 0) local = endpoints.filter((ep) => ep.isLocal && servingTerminating(ep));
  hasAny ||= endpoints.some((ep) => ep.ready || servingTerminating(ep));
  if (cluster.length === 0) return { cluster, local, reachable: local, hasAny };
  const seen = new Set(cluster);
  return { cluster, local, reachable: [...cluster, ...local.filter((ep) => !seen.has(ep))], hasAny };
}
