// The link and address operations the plugin performs in the node's netns.
import type { Cidr } from '../net/ip.js';
import * as c from './codec.js';
import { NetlinkError, type Rtnl } from './socket.js';

export type { AddrInfo, LinkInfo } from './codec.js';

const isErrno = (e: unknown, name: string): boolean => e instanceof NetlinkError && e.errnoName === name;

export async function getLink(nl: Rtnl, name: string): Promise<c.LinkInfo | undefined> {
  try {
    const [m] = await nl.request(`get link ${name}`, c.RTM_GETLINK, 0, c.ifinfomsg(), c.strAttr(c.IFLA_IFNAME, name));
    return m ? c.parseLink(m.body) : undefined;
  } catch (e) {
    if (isErrno(e, 'ENODEV')) return undefined;
    throw e;
  }
}

export async function listLinks(nl: Rtnl): Promise<c.LinkInfo[]> {
  const ms = await nl.request('list links', c.RTM_GETLINK, c.NLM_F_DUMP, c.ifinfomsg());
  return ms.filter((m) => m.type === c.RTM_NEWLINK).map((m) => c.parseLink(m.body));
}

export interface BridgeSpec { name: string; mac: Uint8Array; mtu?: number; promisc: boolean }

/** Creates the bridge up; false when it already existed (another ADD won the race). */
export async function createBridge(nl: Rtnl, b: BridgeSpec): Promise<boolean> {
  const flags = c.IFF_UP | (b.promisc ? c.IFF_PROMISC : 0);
  try {
    await nl.request(`create bridge ${b.name}`, c.RTM_NEWLINK, c.NLM_F_CREATE | c.NLM_F_EXCL,
      c.ifinfomsg({ flags, change: flags }),
      c.strAttr(c.IFLA_IFNAME, b.name),
      // An explicit address keeps the bridge MAC fixed; otherwise it follows the
      // lowest port MAC and pods' ARP entries for the gateway go stale.
      c.bytesAttr(c.IFLA_ADDRESS, b.mac),
      ...(b.mtu ? [c.u32Attr(c.IFLA_MTU, b.mtu)] : []),
      c.nested(c.IFLA_LINKINFO, c.strAttr(c.IFLA_INFO_KIND, 'bridge')));
    return true;
  } catch (e) {
    if (isErrno(e, 'EEXIST')) return false;
    throw e;
  }
}

export async function setFlags(nl: Rtnl, index: number, flags: number, change: number): Promise<void> {
  await nl.request(`set link ${index} flags`, c.RTM_NEWLINK, 0, c.ifinfomsg({ index, flags, change }));
}

export interface VethSpec {
  name: string;
  mac: Uint8Array;
  mtu?: number;
  master: number;
  peer: { name: string; mac: Uint8Array; netnsFd: number };
}

/**
 * One message creates both ends: the host end enslaved to the bridge and up, the
 * peer already named CNI_IFNAME inside the pod netns (IFLA_NET_NS_FD in the peer's
 * attributes). Nothing to rename or move afterwards, and a kill -9 can never leave
 * a peer behind in the node's netns.
 */
export async function createVeth(nl: Rtnl, v: VethSpec): Promise<void> {
  const mtu = v.mtu ? [c.u32Attr(c.IFLA_MTU, v.mtu)] : [];
  const peer = Buffer.concat([
    // Not up yet: the kernel refuses to open a veth end before its peer is linked (ENOTCONN).
    c.ifinfomsg(),
    c.strAttr(c.IFLA_IFNAME, v.peer.name),
    c.bytesAttr(c.IFLA_ADDRESS, v.peer.mac),
    ...mtu,
    c.u32Attr(c.IFLA_NET_NS_FD, v.peer.netnsFd),
  ]);
  await nl.request(`create veth ${v.name}`, c.RTM_NEWLINK, c.NLM_F_CREATE | c.NLM_F_EXCL,
    c.ifinfomsg({ flags: c.IFF_UP, change: c.IFF_UP }),
    c.strAttr(c.IFLA_IFNAME, v.name),
    c.bytesAttr(c.IFLA_ADDRESS, v.mac),
    ...mtu,
    c.u32Attr(c.IFLA_MASTER, v.master),
    c.nested(c.IFLA_LINKINFO,
      c.strAttr(c.IFLA_INFO_KIND, 'veth'),
      c.nested(c.IFLA_INFO_DATA, c.attr(c.VETH_INFO_PEER, peer))));
}

/** Alias and bridge-port options can only be set once the link exists. */
export async function setPortOptions(nl: Rtnl, name: string, o: { alias?: string; hairpin?: boolean }): Promise<void> {
  const attrs: Buffer[] = [c.strAttr(c.IFLA_IFNAME, name)];
  if (o.alias !== undefined) attrs.push(c.strAttr(c.IFLA_IFALIAS, o.alias));
  if (o.hairpin !== undefined) {
    attrs.push(c.nested(c.IFLA_LINKINFO, c.nested(c.IFLA_INFO_SLAVE_DATA, c.u8Attr(c.IFLA_BRPORT_MODE, o.hairpin ? 1 : 0))));
  }
  await nl.request(`set link ${name}`, c.RTM_NEWLINK, 0, c.ifinfomsg(), ...attrs);
}

/** true if deleted, false if it did not exist. */
export async function deleteLink(nl: Rtnl, name: string): Promise<boolean> {
  try {
    await nl.request(`delete link ${name}`, c.RTM_DELLINK, 0, c.ifinfomsg(), c.strAttr(c.IFLA_IFNAME, name));
    return true;
  } catch (e) {
    if (isErrno(e, 'ENODEV')) return false;
    throw e;
  }
}

export async function listAddrs(nl: Rtnl, family: number, index?: number): Promise<c.AddrInfo[]> {
  const ms = await nl.request('list addresses', c.RTM_GETADDR, c.NLM_F_DUMP, c.ifaddrmsg({ family }));
  return ms.filter((m) => m.type === c.RTM_NEWADDR).map((m) => c.parseAddr(m.body)).filter((a) => index === undefined || a.index === index);
}

/** Adds `addr` (IPv6 without DAD); an address already present is fine. */
export async function addAddr(nl: Rtnl, index: number, addr: Cidr): Promise<void> {
  const family = addr.family === 4 ? c.AF_INET : c.AF_INET6;
  const bytes = addr.ip.bytes();
  const flags = addr.family === 6 ? c.IFA_F_NODAD : 0;
  try {
    await nl.request(`add address ${addr}`, c.RTM_NEWADDR, c.NLM_F_CREATE | c.NLM_F_EXCL,
      c.ifaddrmsg({ family, prefixlen: addr.prefix, flags, index }),
      c.bytesAttr(c.IFA_LOCAL, bytes),
      c.bytesAttr(c.IFA_ADDRESS, bytes),
      c.u32Attr(c.IFA_FLAGS, flags));
  } catch (e) {
    if (!isErrno(e, 'EEXIST')) throw e;
  }
}
