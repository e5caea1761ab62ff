// Chain names. Per-service chains are named, as kube-proxy names them, from a hash of
// the service port identity, so the same Service gets the same chains in every process
// and tools that know kube-proxy's layout keep working.
import { createHash } from 'node:crypto';
import { joinHostPort } from '../ip.js';
import type { Endpoint, ServicePort } from '../types.js';

export type Table = 'filter' | 'nat';

/** Top-level chains (kube-proxy's names). */
export const KUBE_SERVICES = 'KUBE-SERVICES';
export const KUBE_EXTERNAL_SERVICES = 'KUBE-EXTERNAL-SERVICES';
export const KUBE_NODEPORTS = 'KUBE-NODEPORTS';
export const KUBE_FORWARD = 'KUBE-FORWARD';
export const KUBE_PROXY_FIREWALL = 'KUBE-PROXY-FIREWALL';
export const KUBE_POSTROUTING = 'KUBE-POSTROUTING';
export const KUBE_MARK_MASQ = 'KUBE-MARK-MASQ';

export const FIXED_CHAINS: Readonly<Record<Table, readonly string[]>> = {
  filter: [KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_NODEPORTS, KUBE_PROXY_FIREWALL],
  nat: [KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ],
};

const SERVICE_CHAIN_PREFIXES = ['KUBE-SVC-', 'KUBE-SVL-', 'KUBE-EXT-', 'KUBE-FW-', 'KUBE-SEP-'];

/** A chain this proxy owns in `table` (fixed or per-service), for stale-chain and cleanup sweeps. */
export function isOurChain(table: Table, chain: string): boolean {
  return FIXED_CHAINS[table].includes(chain) || (table === 'nat' && SERVICE_CHAIN_PREFIXES.some((p) => chain.startsWith(p)));
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** First 16 base32 characters (RFC 4648 alphabet) of sha256(text): 80 bits, fits iptables' 28-char names. */
export function hash16(text: string): string {
  const digest = createHash('sha256').update(text).digest();
  let out = '';
  let acc = 0;
  let nbits = 0;
  for (let i = 0; out.length < 16; i++) {
    acc = (acc << 8) | digest[i]!;
    nbits += 8;
    while (nbits >= 5 && out.length < 16) {
      nbits -= 5;
      out += BASE32[(acc >> nbits) & 31];
    }
    acc &= (1 << nbits) - 1;
  }
  return out;
}

export interface ServiceChains {
  /** Endpoints for "Cluster" policy. */
  readonly svc: string;
  /** Endpoints for "Local" policy. */
  readonly svl: string;
  /** External destinations (NodePort, externalIPs, LB IPs). */
  readonly ext: string;
  /** loadBalancerSourceRanges firewall. */
  readonly fw: string;
}

export function serviceChains(sp: ServicePort): ServiceChains {
  const h = hash16(sp.id + sp.protocol.toLowerCase());
  return { svc: `KUBE-SVC-${h}`, svl: `KUBE-SVL-${h}`, ext: `KUBE-EXT-${h}`, fw: `KUBE-FW-${h}` };
}

/** KUBE-SEP-...: one endpoint of one service port (also the xt_recent list name for affinity). */
export function endpointChain(sp: ServicePort, ep: Endpoint): string {
  return `KUBE-SEP-${hash16(sp.id + sp.protocol.toLowerCase() + joinHostPort(ep.ip, ep.port))}`;
}
