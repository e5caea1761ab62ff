// The seam between the mode-independent proxier (events, change tracking, sync timing,
// health, conntrack, metrics) and one way of programming the kernel: iptables,
// nftables or IPVS. A backend keeps what it last applied, so a partial sync only
// hands it the ports that changed.
import type { IPFamily, ServicePortState } from './types.js';

export type ProxyMode = 'iptables' | 'nftables' | 'ipvs';
export const PROXY_MODES: readonly ProxyMode[] = ['iptables', 'nftables', 'ipvs'];

/** What every mode needs to know besides the Services themselves. */
export interface RuleOptions {
  readonly family: IPFamily;
  /** --cluster-cidr of this family: traffic to a cluster IP from outside it is masqueraded. */
  readonly clusterCIDR?: string;
  /** --masquerade-all: masquerade all traffic to cluster IPs. */
  readonly masqueradeAll?: boolean;
  /** --service-cluster-ip-range(s) of this family: addresses no Service holds are rejected. */
  readonly serviceCIDRs?: readonly string[];
  /** Node addresses NodePorts answer on (from --nodeport-addresses); undefined: every local address. */
  readonly nodePortIPs?: readonly string[];
  /** This node's addresses: a loadBalancerSourceRange containing one also admits traffic from the node. */
  readonly nodeIPs?: readonly string[];
  /** Bit of the packet mark that asks for SNAT (kube-proxy's --iptables-masquerade-bit, default 14). */
  readonly masqueradeBit?: number;
}

/** One changed service port in a partial sync; `next` undefined: the port is gone. */
export interface PortEdit { readonly id: string; readonly next: ServicePortState | undefined }

export interface BackendSync {
  /** Text handed to the kernel tool, per table or tool (iptables-restore input per table, the nft script...). */
  readonly input: Readonly<Record<string, string>>;
  /** Time spent in the kernel tools (and reading state on full syncs). */
  readonly kernelMs: number;
}

export interface ProxyBackend {
  readonly mode: ProxyMode;
  /** Fails with ProxyModeUnsupportedError when this kernel or host lacks what the mode needs. */
  preflight(): Promise<void>;
  /** Rewrites everything (also removing stale objects of ours); `opts` carries fresh node addresses. */
  syncFull(states: readonly ServicePortState[], opts: RuleOptions): Promise<BackendSync>;
  /** Applies only the changed ports, on top of what the last successful sync left. */
  syncPartial(edits: readonly PortEdit[], opts: RuleOptions): Promise<BackendSync>;
  /** After a failed sync: forget what is believed applied, so the next full sync re-reads the kernel. */
  invalidate(): void;
  /** false when our hooks into the host's netfilter were removed (a firewall reload): time for a full sync. */
  intact(): Promise<boolean>;
  /** Removes every object this mode makes; works without any state (kna cleanup). */
  cleanup(): Promise<void>;
  /** What the last sync made for one port, per table, as the tool's own text (kna explain service). */
  rulesFor(id: string): Readonly<Record<string, readonly string[]>>;
  /** Rules (or virtual servers, elements...) now owned, per table label, and written by the last sync. */
  counts(): { readonly total: Readonly<Record<string, number>>; readonly lastSync: Readonly<Record<string, number>> };
}

/** The kernel lacks what a proxy mode needs; the message names the kernel option. */
export class ProxyModeUnsupportedError extends Error {
  override readonly name = 'ProxyModeUnsupportedError';
  constructor(readonly mode: ProxyMode, detail: string) {
    super(`--proxy-mode ${mode}: ${detail}`);
  }
}
