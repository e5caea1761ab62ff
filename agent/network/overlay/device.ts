// The kernel side of the overlay's devices: finding the underlay link and keeping our
// VXLAN device exactly as specified (re-created when its identity differs, since
// VNI/port/local/underlay cannot be changed on a live vxlan device).
import ipaddr from 'ipaddr.js';
import type { Logger } from 'pino';
import type { VxlanAttrs } from '../netlink/codec.js';
import type { Rtnl } from '../netlink/rtnl.js';
import type { Link } from '../netlink/types.js';

export class OverlayDeviceError extends Error {
  override name = 'OverlayDeviceError';
}

export interface Underlay {
  index: number;
  name: string;
  mtu: number;
  /** The subnets of the link's IPv4 addresses (for host-gw reachability). */
  cidrs: string[];
}

/** The link carrying `nodeIP`, or the named `iface` (which must exist and be up-able). */
export async function findUnderlay(rtnl: Rtnl, nodeIP: string, iface?: string): Promise<Underlay> {
  const addrs = await rtnl.addresses();
  let link: Link | undefined;
  if (iface) {
    link = await rtnl.link(iface);
    if (!link) throw new OverlayDeviceError(`--overlay-iface ${iface}: no such interface in this network namespace`);
  } else {
    const a = addrs.find((x) => x.ip === nodeIP);
    if (!a) throw new OverlayDeviceError(`node IP ${nodeIP}: no interface in this network namespace has it; set --overlay-iface or the node IP`);
    link = await rtnl.linkByIndex(a.ifindex);
    if (!link) throw new OverlayDeviceError(`node IP ${nodeIP}: its interface #${a.ifindex} vanished`);
  }
  const cidrs = addrs.filter((a) => a.ifindex === link.index).map((a) => networkOf(a.ip, a.prefixLen));
  return { index: link.index, name: link.name, mtu: link.mtu, cidrs };
}

const networkOf = (ip: string, prefixLen: number): string => `${ipaddr.IPv4.networkAddressFromCIDR(`${ip}/${prefixLen}`).toString()}/${prefixLen}`;

export interface VxlanDeviceSpec extends Required<Omit<VxlanAttrs, 'learning'>> {
  name: string;
  mtu: number;
  mac: string;
  /** The single IPv4 address (VTEP IP) the device carries, as a /32. */
  address: string;
}

const sameVxlan = (a: VxlanAttrs | undefined, s: VxlanDeviceSpec) =>
  !!a && a.vni === s.vni && a.port === s.port && a.local === s.local && a.underlay === s.underlay && !a.learning;

/** Creates or fixes our vxlan device: identity, MTU, MAC, one /32 address, up. Returns its index. */
export async function ensureVxlan(rtnl: Rtnl, spec: VxlanDeviceSpec, log: Logger): Promise<number> {
  let link = await rtnl.link(spec.name);
  if (link && !sameVxlan(link.vxlan, spec)) {
    log.warn({ device: spec.name, found: link.kind === 'vxlan' ? link.vxlan : { kind: link.kind }, want: spec }, 'overlay: device differs; re-creating it');
    await rtnl.deleteLink(link.index);
    link = undefined;
  }
  if (!link) {
    link = await rtnl.createVxlan({ ...spec, learning: false });
    log.info({ device: spec.name, index: link.index, vni: spec.vni, port: spec.port, local: spec.local, mtu: spec.mtu, mac: spec.mac }, 'overlay: created vxlan device');
  } else if (link.mtu !== spec.mtu || link.mac !== spec.mac) {
    await rtnl.setLink(link.index, { mtu: spec.mtu, mac: spec.mac });
    log.info({ device: spec.name, mtu: spec.mtu, mac: spec.mac }, 'overlay: updated device mtu/mac');
  }
  const addrs = await rtnl.addresses(link.index);
  for (const a of addrs) {
    if (a.ip !== spec.address || a.prefixLen !== 32) await rtnl.deleteAddress(a);
  }
  if (!addrs.some((a) => a.ip === spec.address && a.prefixLen === 32)) await rtnl.addAddress({ ifindex: link.index, ip: spec.address, prefixLen: 32 });
  if (!link.up) await rtnl.setLink(link.index, { up: true });
  return link.index;
}
