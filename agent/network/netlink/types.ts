// The kernel objects the overlay manages, as plain typed records (strings for
// addresses). The Rtnl class converts them to and from rtnetlink messages.
import type { VxlanAttrs } from './codec.js';

export interface Link {
  index: number;
  name: string;
  mtu: number;
  /** Hardware address, lower-case colon form ("" when the link has none). */
  mac: string;
  up: boolean;
  kind?: string;
  vxlan?: VxlanAttrs;
}

export interface LinkChange {
  up?: boolean;
  mtu?: number;
  mac?: string;
}

export interface VxlanLinkSpec extends VxlanAttrs {
  name: string;
  mtu?: number;
  mac?: string;
}

export interface Address {
  ifindex: number;
  ip: string;
  prefixLen: number;
}

/** An IPv4 unicast route in one table. */
export interface Route {
  /** Destination CIDR (network address). */
  dst: string;
  gateway?: string;
  /** Output interface index. */
  oif?: number;
  /** RTNH_F_ONLINK: the gateway is on the link even though no address covers it. */
  onlink?: boolean;
  /** rtm_protocol: who installed it (we tag ours so we can find them again). */
  protocol: number;
  /** Routing table id; 254 is main. */
  table: number;
  priority?: number;
}

/** An IPv4 neighbour (ARP) entry. */
export interface Neighbour {
  ifindex: number;
  ip: string;
  mac?: string;
  permanent: boolean;
}

/** A bridge FDB entry on a vxlan device: frames for `mac` go to underlay `dst`. */
export interface FdbEntry {
  ifindex: number;
  mac: string;
  dst?: string;
  permanent: boolean;
}

export const MAIN_TABLE = 254;
