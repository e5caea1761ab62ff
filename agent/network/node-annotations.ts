// The overlay's data on Node objects, as flannel's kube subnet manager keeps it: each
// joined node publishes its backend type, backend data (VNI and VTEP MAC) and underlay
// address as annotations on its own Node, and reads every other Node's annotations plus
// spec.podCIDR (the controller manager's node IPAM) as a peer. Pure: the watch and the
// PATCH are apiserver/node-network.ts. A value that does not validate never becomes a
// peer, so nothing invalid reaches the kernel.
import ipaddr from 'ipaddr.js';
import { checkIPv4, checkMac, parseCidr } from './netlink/codec.js';
import type { OverlayMode } from './overlay/desired.js';
import { NODE_NAME, type PeerInfo } from './peers.js';

export const BACKEND_TYPE_ANNOTATION = 'kna.io/backend-type';
/** JSON: vxlan {"vni":1,"vtepMAC":"0e:6b:.."}; host-gw {} */
export const BACKEND_DATA_ANNOTATION = 'kna.io/backend-data';
/** The node's underlay address: VXLAN packets and host-gw routes go there. */
export const PUBLIC_IP_ANNOTATION = 'kna.io/public-ip';

/** The parts of a Node read here (the API's wire JSON, read loosely). */
export interface NodeLike {
  metadata: { name: string; annotations?: Record<string, string> };
  spec?: { podCIDR?: unknown; podCIDRs?: unknown };
}

/** The annotations this node publishes on its Node. */
export function backendAnnotations(mode: OverlayMode, self: PeerInfo, vni: number): Record<string, string> {
  const data = mode === 'vxlan' ? { vni, vtepMAC: self.vtepMAC } : {};
  return { [BACKEND_TYPE_ANNOTATION]: mode, [BACKEND_DATA_ANNOTATION]: JSON.stringify(data), [PUBLIC_IP_ANNOTATION]: self.nodeIP };
}

/** The annotations to PATCH so the Node carries `want`; undefined when it already does. */
export function annotationsToPublish(node: NodeLike | undefined, want: Record<string, string>): Record<string, string> | undefined {
  const have = node?.metadata.annotations ?? {};
  const diff = Object.fromEntries(Object.entries(want).filter(([k, v]) => have[k] !== v));
  return Object.keys(diff).length ? diff : undefined;
}

/** The Node's IPv4 pod CIDR: spec.podCIDR, else the first IPv4 entry of spec.podCIDRs (dual-stack clusters). */
export function nodePodCIDR(node: NodeLike | undefined): string | undefined {
  const spec = node?.spec;
  const all = [spec?.podCIDR, ...(Array.isArray(spec?.podCIDRs) ? spec.podCIDRs : [])].filter((c): c is string => typeof c === 'string' && c !== '');
  return all.find((c) => !c.includes(':')) ?? all[0];
}

/** A peer, or why the Node is none; `missing`: data not there (yet), rather than wrong. */
export type NodePeer = { peer: PeerInfo } | { skip: string; missing?: true };

export interface PeerRules {
  mode: OverlayMode;
  vni: number;
  /** The cluster's pod network (--cluster-cidr): a peer's pod CIDR must lie inside it. */
  clusterCIDR?: string;
}

/**
 * Another Node as an overlay peer, or why it is none: no annotations yet (the node does
 * not run our overlay, or has not published), no pod CIDR yet, another backend or VNI,
 * or a value that is not what it claims to be (a pod CIDR outside the cluster's pod
 * network would route foreign traffic into the overlay; a multicast MAC or a loopback
 * address has no business in an FDB entry).
 */
export function peerFromNode(node: NodeLike, rules: PeerRules): NodePeer {
  const { mode, vni, clusterCIDR } = rules;
  const a = node.metadata.annotations ?? {};
  const name = node.metadata.name;
  if (!NODE_NAME.test(name)) return { skip: `name ${JSON.stringify(name)} is not a DNS-1123 subdomain` };
  const type = a[BACKEND_TYPE_ANNOTATION];
  if (type === undefined) return { skip: `no ${BACKEND_TYPE_ANNOTATION} annotation (not running the kna overlay, or not published yet)`, missing: true };
  if (type !== mode) return { skip: `${BACKEND_TYPE_ANNOTATION} is ${JSON.stringify(type)}, this node runs ${mode}` };
  const nodeIP = a[PUBLIC_IP_ANNOTATION];
  if (nodeIP === undefined) return { skip: `no ${PUBLIC_IP_ANNOTATION} annotation`, missing: true };
  if (!valid(() => checkIPv4(nodeIP))) return { skip: `${PUBLIC_IP_ANNOTATION} ${JSON.stringify(nodeIP)} is not an IPv4 address` };
  const range = ipaddr.IPv4.parse(nodeIP).range();
  if (['unspecified', 'loopback', 'multicast', 'broadcast'].includes(range)) return { skip: `${PUBLIC_IP_ANNOTATION} ${nodeIP} is a ${range} address, not a node's` };
  const podCIDR = nodePodCIDR(node);
  if (podCIDR === undefined) return { skip: 'no spec.podCIDR (not assigned by the controller manager yet)', missing: true };
  if (!valid(() => parseCidr(podCIDR))) return { skip: `spec.podCIDR ${JSON.stringify(podCIDR)} is not an IPv4 network CIDR` };
  if (clusterCIDR && !cidrInside(clusterCIDR, podCIDR)) return { skip: `spec.podCIDR ${podCIDR} is not inside the cluster CIDR ${clusterCIDR}` };
  if (mode === 'host-gw') return { peer: { name, nodeIP, podCIDR } };
  let data: unknown;
  try {
    data = JSON.parse(a[BACKEND_DATA_ANNOTATION] ?? '');
  } catch {
    return { skip: `${BACKEND_DATA_ANNOTATION} is missing or not JSON` };
  }
  const d = (typeof data === 'object' && data !== null ? data : {}) as { vni?: unknown; vtepMAC?: unknown };
  if (d.vni !== vni) return { skip: `${BACKEND_DATA_ANNOTATION} vni ${JSON.stringify(d.vni)} differs from this node's ${vni}` };
  const mac = d.vtepMAC;
  if (typeof mac !== 'string' || !valid(() => checkMac(mac))) return { skip: `${BACKEND_DATA_ANNOTATION} vtepMAC ${JSON.stringify(mac)} is not a MAC address` };
  const vtepMAC = checkMac(mac);
  // Bit 0 of the first byte marks group addresses; all zeros is no address.
  if ((parseInt(vtepMAC.slice(0, 2), 16) & 1) === 1 || vtepMAC === '00:00:00:00:00:00') return { skip: `${BACKEND_DATA_ANNOTATION} vtepMAC ${vtepMAC} is not a unicast MAC address` };
  return { peer: { name, nodeIP, podCIDR, vtepMAC } };
}

/** `inner` (a valid network CIDR) lies wholly inside `outer` (host bits allowed, as in --cluster-cidr). */
function cidrInside(outer: string, inner: string): boolean {
  const [o, olen] = ipaddr.parseCIDR(outer);
  const i = parseCidr(inner);
  return o.kind() === 'ipv4' && i.prefixLen >= olen && ipaddr.IPv4.parse(i.ip).match(o, olen);
}

function valid(check: () => unknown): boolean {
  try {
    check();
    return true;
  } catch {
    return false;
  }
}
