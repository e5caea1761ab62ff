// Internal, validated form of Services and endpoints: what the rule generators see.
// Only agent/proxy/validate.ts builds these from API objects.

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export type IPFamily = 4 | 6;

export interface NamespacedName { readonly namespace: string; readonly name: string }

export const nsName = (n: NamespacedName): string => `${n.namespace}/${n.name}`;

/** One port of one Service, as the proxy programs it (kube-proxy's ServicePort). */
export interface ServicePort {
  /** kube-proxy's ServicePortName string: "ns/name:port", or "ns/name" when the port has no name. */
  readonly id: string;
  readonly service: NamespacedName;
  readonly portName: string;
  readonly protocol: Protocol;
  readonly clusterIP: string;
  readonly port: number;
  /** 0: no NodePort. */
  readonly nodePort: number;
  readonly externalIPs: readonly string[];
  readonly loadBalancerIPs: readonly string[];
  /** CIDRs allowed to reach the load-balancer IPs; empty: no firewall. */
  readonly loadBalancerSourceRanges: readonly string[];
  /** ClientIP session affinity timeout; 0: no affinity. */
  readonly affinityTimeoutSeconds: number;
  /** externalTrafficPolicy Local (only ever true for externally reachable ports). */
  readonly externalPolicyLocal: boolean;
  readonly internalPolicyLocal: boolean;
  /** 0: none. */
  readonly healthCheckNodePort: number;
}

/** A validated Service: ports is empty when it is not proxied (headless, ExternalName, no IP of our family). */
export interface ServiceInfo extends NamespacedName {
  readonly ports: readonly ServicePort[];
  /** Why the Service makes no rules, when ports is empty. */
  readonly skipped?: string;
}

export interface Endpoint {
  readonly ip: string;
  readonly port: number;
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  readonly nodeName?: string;
  /** Runs on this node (nodeName equals ours). */
  readonly isLocal: boolean;
}

/** The unit of rule generation: one service port and its endpoints. */
export interface ServicePortState {
  readonly port: ServicePort;
  readonly endpoints: readonly Endpoint[];
}

export type AddressType = 'IPv4' | 'IPv6' | 'FQDN';

export interface EndpointSlicePort { readonly name: string; readonly port: number; readonly protocol: Protocol }

export interface SliceEndpoint {
  readonly address: string;
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  readonly nodeName?: string;
}

/** A validated discovery.k8s.io/v1 EndpointSlice. */
export interface EndpointSliceInfo extends NamespacedName {
  readonly serviceName: string;
  readonly addressType: AddressType;
  readonly ports: readonly EndpointSlicePort[];
  readonly endpoints: readonly SliceEndpoint[];
  /** endpoints.kubernetes.io/last-change-trigger-time, ms since epoch, when present. */
  readonly triggerTime?: number;
}
