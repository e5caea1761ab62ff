// What the kernel should hold for a set of peers, as flannel's vxlan backend does it:
// per peer exactly three objects on our VXLAN device
//   route  <peer pod CIDR> via <peer VTEP IP> dev kna.1 onlink
//   neigh  <peer VTEP IP> lladdr <peer VTEP MAC> dev kna.1 permanent
//   fdb    <peer VTEP MAC> dst <peer node IP> dev kna.1 self permanent
// where the VTEP IP is the network address (.0) of the peer's pod CIDR. In host-gw
// mode a peer is one route: <peer pod CIDR> via <peer node IP> dev <underlay>.
// Pure: no I/O, so it is unit tested.
import { cidrContains, cidrsOverlap, ipToBytes, parseCidr } from '../netlink/codec.js';
import { MAIN_TABLE, type FdbEntry, type Neighbour, type Route } from '../netlink/types.js';
import type { PeerInfo } from '../peers.js';

export type OverlayMode = 'vxlan' | 'host-gw';

/** rtm_protocol of every route we install, so a restart can find (and prune) them all. */
export const RTPROT_KNA = 107;

/** VXLAN headers on IPv4: outer IP 20 + UDP 8 + VXLAN 8 + inner Ethernet 14. */
export const VXLAN_OVERHEAD = 50;

export interface KernelState {
  routes: Route[];
  neighbours: Neighbour[];
  fdb: FdbEntry[];
}

/** Where the desired objects live: our vxlan device, and the underlay link. */
export interface Devices {
  /** ifindex of our VXLAN device (vxlan mode). */
  vxlan?: number;
  /** ifindex of the underlay link (host-gw mode routes go out there). */
  underlay: number;
  /** The underlay subnet(s) of this node: host-gw gateways must lie inside one. */
  underlayCidrs: string[];
}

export interface Desired extends KernelState {
  /** Peers left out, with the reason (to log). */
  skipped: { peer: string; reason: string }[];
}

/** The VTEP address of a node: the network address of its pod CIDR. */
export function vtepIP(podCIDR: string): string {
  return parseCidr(podCIDR, 'podCIDR').ip;
}

/**
 * A stable VTEP MAC for a node, derived from its node IP: locally administered
 * unicast 0e:6b (k) + the four address bytes. Stable across device re-creation, so
 * peers' FDB and neighbour entries stay right when the agent rebuilds the device.
 */
export function vtepMacFor(nodeIP: string): string {
  return ['0e', '6b', ...Array.from(ipToBytes(nodeIP, 'nodeIP'), (b) => b.toString(16).padStart(2, '0'))].join(':');
}

export function desiredState(mode: OverlayMode, self: PeerInfo, peers: PeerInfo[], dev: Devices): Desired {
  const out: Desired = { routes: [], neighbours: [], fdb: [], skipped: [] };
  const skip = (peer: PeerInfo, reason: string) => out.skipped.push({ peer: peer.name, reason });
  for (const p of peers) {
    if (p.name === self.name) continue;
    if (p.nodeIP === self.nodeIP) { skip(p, `has this node's IP ${self.nodeIP}`); continue; }
    if (cidrsOverlap(p.podCIDR, self.podCIDR)) { skip(p, `pod CIDR ${p.podCIDR} overlaps this node's ${self.podCIDR}`); continue; }
    if (mode === 'host-gw') {
      if (!dev.underlayCidrs.some((c) => cidrContains(c, p.nodeIP))) {
        skip(p, `node IP ${p.nodeIP} is not on this node's L2 (${dev.underlayCidrs.join(', ') || 'no underlay subnet'}); host-gw needs one`);
        continue;
      }
      out.routes.push({ dst: p.podCIDR, gateway: p.nodeIP, oif: dev.underlay, protocol: RTPROT_KNA, table: MAIN_TABLE });
      continue;
    }
    if (!p.vtepMAC) { skip(p, 'has no vtepMAC (needed for vxlan)'); continue; }
    if (dev.vxlan === undefined) throw new Error('desiredState: vxlan mode needs the vxlan device index');
    const gw = vtepIP(p.podCIDR);
    out.routes.push({ dst: p.podCIDR, gateway: gw, oif: dev.vxlan, onlink: true, protocol: RTPROT_KNA, table: MAIN_TABLE });
    out.neighbours.push({ ifindex: dev.vxlan, ip: gw, mac: p.vtepMAC, permanent: true });
    out.fdb.push({ ifindex: dev.vxlan, mac: p.vtepMAC, dst: p.nodeIP, permanent: true });
  }
  return out;
}
