// A small typed wrapper over the `netlink` package's rtnetlink socket, covering what
// the overlay needs: links (vxlan create, up/down, mtu, mac, delete), IPv4 addresses,
// routes, neighbours and vxlan FDB entries. The socket works in the network
// namespace of the process that opened it (Node has no setns): the agent runs in the
// node's namespace; tests start a child under `ip netns exec`.
import { createRtNetlink, FlagsNew, rt, type RtNetlinkSocket } from 'netlink';
import {
  bytesToIp, bytesToMac, checkIfname, checkIPv4, decodeLinkinfo, encodeVxlanLinkinfo, InvalidValueError, ipToBytes, macToBytes, parseCidr,
} from './codec.js';
import type { Address, FdbEntry, Link, LinkChange, Neighbour, Route, VxlanLinkSpec } from './types.js';

const AF_INET = 2;
const AF_BRIDGE = 7;
const RTNH_F_ONLINK = 4;
const CREATE = FlagsNew.CREATE | FlagsNew.EXCL;
const REPLACE = FlagsNew.CREATE | FlagsNew.REPLACE;

/** A request the kernel refused; `code` is the errno name (EEXIST, ENOENT, ...). */
export class NetlinkError extends Error {
  override name = 'NetlinkError';
  constructor(public readonly op: string, public readonly code: string) {
    super(`netlink ${op}: ${code}`);
  }
}

/** Runs a request and turns the package's "Request rejected: CODE" into a NetlinkError. */
async function call<T>(op: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const m = /Request rejected: (\w+)/.exec(err instanceof Error ? err.message : String(err));
    if (m) throw new NetlinkError(op, m[1]!);
    throw err;
  }
}

/** True for the errno names that mean "already gone" on delete. */
const isGone = (err: unknown): boolean => err instanceof NetlinkError && ['ENOENT', 'ESRCH', 'ENODEV', 'EADDRNOTAVAIL'].includes(err.code);

function toLink(m: rt.LinkMessage): Link {
  return {
    index: m.data.index ?? 0,
    name: m.attrs.ifname ?? '',
    mtu: m.attrs.mtu ?? 0,
    mac: m.attrs.address ? bytesToMac(m.attrs.address) : '',
    up: m.data.flags?.up === true,
    ...decodeLinkinfo(m.attrs.linkinfo),
  };
}

export class Rtnl {
  private constructor(private readonly sock: RtNetlinkSocket) {}

  /** Opens an rtnetlink socket in the calling process's network namespace. */
  static open(): Rtnl {
    return new Rtnl(createRtNetlink());
  }

  close(): void {
    this.sock.socket.close();
  }

  // ---- links

  async links(): Promise<Link[]> {
    return (await call('RTM_GETLINK dump', () => this.sock.getLinks())).map(toLink);
  }

  /** The link with this name, or undefined. */
  async link(name: string): Promise<Link | undefined> {
    checkIfname(name);
    try {
      const [m] = await call(`RTM_GETLINK ${name}`, () => this.sock.getLink({}, { ifname: name }));
      return m ? toLink(m) : undefined;
    } catch (err) {
      if (isGone(err)) return undefined;
      throw err;
    }
  }

  async linkByIndex(index: number): Promise<Link | undefined> {
    try {
      const [m] = await call(`RTM_GETLINK #${index}`, () => this.sock.getLink({ index }));
      return m ? toLink(m) : undefined;
    } catch (err) {
      if (isGone(err)) return undefined;
      throw err;
    }
  }

  /** Creates a vxlan device (fails with EEXIST when the name is taken); returns it, still down. */
  async createVxlan(spec: VxlanLinkSpec): Promise<Link> {
    checkIfname(spec.name, 'name');
    const attrs = {
      ifname: spec.name,
      linkinfo: encodeVxlanLinkinfo(spec),
      ...(spec.mtu !== undefined ? { mtu: checkMtu(spec.mtu) } : {}),
      ...(spec.mac !== undefined ? { address: macToBytes(spec.mac, 'mac') } : {}),
    };
    await call(`RTM_NEWLINK vxlan ${spec.name}`, () => this.sock.newLink({}, attrs, { flags: CREATE }));
    const link = await this.link(spec.name);
    if (!link) throw new NetlinkError(`RTM_NEWLINK vxlan ${spec.name}`, 'ENODEV');
    return link;
  }

  async setLink(index: number, change: LinkChange): Promise<void> {
    const attrs = {
      ...(change.mtu !== undefined ? { mtu: checkMtu(change.mtu) } : {}),
      ...(change.mac !== undefined ? { address: macToBytes(change.mac, 'mac') } : {}),
    };
    const data = change.up === undefined ? { index } : { index, change: { up: true as const }, flags: change.up ? { up: true as const } : {} };
    await call(`RTM_SETLINK #${index}`, () => this.sock.setLink(data, attrs));
  }

  /** Deletes a link; a missing one is not an error. */
  async deleteLink(index: number): Promise<void> {
    try {
      await call(`RTM_DELLINK #${index}`, () => this.sock.delLink({ index }));
    } catch (err) {
      if (!isGone(err)) throw err;
    }
  }

  // ---- IPv4 addresses

  async addresses(ifindex?: number): Promise<Address[]> {
    const all = await call('RTM_GETADDR dump', () => this.sock.getAddresses({ family: AF_INET }));
    return all
      .filter((m) => m.data.family === AF_INET && (ifindex === undefined || m.data.index === ifindex) && (m.attrs.local ?? m.attrs.address))
      .map((m) => ({ ifindex: m.data.index ?? 0, ip: bytesToIp((m.attrs.local ?? m.attrs.address)!), prefixLen: m.data.prefixlen ?? 32 }));
  }

  async addAddress(a: Address): Promise<void> {
    const ip = ipToBytes(a.ip, 'address');
    checkPrefixLen(a.prefixLen);
    await call(`RTM_NEWADDR ${a.ip}/${a.prefixLen}`, () =>
      this.sock.newAddress({ family: AF_INET, prefixlen: a.prefixLen, index: a.ifindex }, { local: ip, address: ip }, { flags: REPLACE }));
  }

  async deleteAddress(a: Address): Promise<void> {
    const ip = ipToBytes(a.ip, 'address');
    try {
      await call(`RTM_DELADDR ${a.ip}/${a.prefixLen}`, () =>
        this.sock.delAddress({ family: AF_INET, prefixlen: a.prefixLen, index: a.ifindex }, { local: ip, address: ip }));
    } catch (err) {
      if (!isGone(err)) throw err;
    }
  }

  // ---- routes

  /** IPv4 unicast routes, optionally only one table and/or one protocol. */
  async routes(filter: { table?: number; protocol?: number } = {}): Promise<Route[]> {
    const all = await call('RTM_GETROUTE dump', () => this.sock.getRoutes({ family: AF_INET }));
    const out: Route[] = [];
    for (const m of all) {
      const table = m.attrs.table ?? m.data.table ?? 0;
      const protocol = protocolNumber(m.data.protocol);
      if (m.data.family !== AF_INET || (m.data.type !== 'UNICAST' && m.data.type !== 1)) continue;
      if (filter.table !== undefined && table !== filter.table) continue;
      if (filter.protocol !== undefined && protocol !== filter.protocol) continue;
      out.push({
        dst: `${m.attrs.dst ? bytesToIp(m.attrs.dst) : '0.0.0.0'}/${m.data.dstLen ?? 0}`,
        protocol,
        table,
        ...(m.attrs.gateway ? { gateway: bytesToIp(m.attrs.gateway) } : {}),
        ...(m.attrs.oif !== undefined ? { oif: m.attrs.oif } : {}),
        ...((m.data.flags?.__unknown ?? 0) & RTNH_F_ONLINK ? { onlink: true } : {}),
        ...(m.attrs.priority !== undefined ? { priority: m.attrs.priority } : {}),
      });
    }
    return out;
  }

  /** `ip route replace`: adds the route or replaces the one with the same dst/table/priority. */
  async replaceRoute(r: Route): Promise<void> {
    const [data, attrs] = routeMessage(r);
    await call(`RTM_NEWROUTE ${describeRoute(r)}`, () => this.sock.newRoute(data, attrs, { flags: REPLACE }));
  }

  /** Deletes exactly this route (gateway, device, priority included); a missing one is not an error. */
  async deleteRoute(r: Route): Promise<void> {
    const [data, attrs] = routeMessage(r, true);
    try {
      await call(`RTM_DELROUTE ${describeRoute(r)}`, () => this.sock.delRoute(data, attrs));
    } catch (err) {
      if (!isGone(err)) throw err;
    }
  }

  // ---- neighbours (ARP)

  async neighbours(ifindex: number): Promise<Neighbour[]> {
    const all = await call('RTM_GETNEIGH dump', () => this.sock.getNeighbors({ family: AF_INET }));
    return all
      .filter((m) => m.data.family === AF_INET && m.data.ifindex === ifindex && m.attrs.dst)
      .map((m) => ({
        ifindex,
        ip: bytesToIp(m.attrs.dst!),
        permanent: m.data.state?.permanent === true,
        ...(m.attrs.lladdr ? { mac: bytesToMac(m.attrs.lladdr) } : {}),
      }));
  }

  /** `ip neigh replace IP lladdr MAC dev X nud permanent`. */
  async replaceNeighbour(n: Neighbour): Promise<void> {
    if (!n.mac) throw new InvalidValueError('mac', n.mac, 'a MAC address');
    const attrs = { dst: ipToBytes(n.ip, 'neighbour'), lladdr: macToBytes(n.mac) };
    await call(`RTM_NEWNEIGH ${n.ip} lladdr ${n.mac}`, () =>
      this.sock.newNeighbor({ family: AF_INET, ifindex: n.ifindex, state: n.permanent ? { permanent: true } : { reachable: true } }, attrs, { flags: REPLACE }));
  }

  async deleteNeighbour(n: Neighbour): Promise<void> {
    try {
      await call(`RTM_DELNEIGH ${n.ip}`, () => this.sock.delNeighbor({ family: AF_INET, ifindex: n.ifindex }, { dst: ipToBytes(n.ip, 'neighbour') }));
    } catch (err) {
      if (!isGone(err)) throw err;
    }
  }

  // ---- FDB entries of a vxlan device (AF_BRIDGE neighbours with NTF_SELF)

  async fdb(ifindex: number): Promise<FdbEntry[]> {
    const all = await call('RTM_GETNEIGH bridge dump', () => this.sock.getNeighbors({ family: AF_BRIDGE }));
    return all
      .filter((m) => m.data.family === AF_BRIDGE && m.data.ifindex === ifindex && m.attrs.lladdr)
      .map((m) => ({
        ifindex,
        mac: bytesToMac(m.attrs.lladdr!),
        permanent: m.data.state?.permanent === true,
        ...(m.attrs.dst ? { dst: bytesToIp(m.attrs.dst) } : {}),
      }));
  }

  /**
   * `bridge fdb replace MAC dev X dst IP self permanent` when `append` is false (one
   * remote per MAC, what the overlay wants), `bridge fdb append` when true.
   */
  async setFdb(f: FdbEntry, append = false): Promise<void> {
    if (!f.dst) throw new InvalidValueError('dst', f.dst, 'an IPv4 address');
    const attrs = { lladdr: macToBytes(f.mac), dst: ipToBytes(f.dst, 'dst') };
    await call(`RTM_NEWNEIGH bridge ${f.mac} dst ${f.dst}`, () =>
      this.sock.newNeighbor({ family: AF_BRIDGE, ifindex: f.ifindex, state: { permanent: true }, flags: { self: true } }, attrs,
        { flags: append ? FlagsNew.CREATE | FlagsNew.APPEND : REPLACE }));
  }

  /** Deletes one FDB entry (only the given remote when `dst` is set). */
  async deleteFdb(f: FdbEntry): Promise<void> {
    const attrs = { lladdr: macToBytes(f.mac), ...(f.dst ? { dst: ipToBytes(f.dst, 'dst') } : {}) };
    try {
      await call(`RTM_DELNEIGH bridge ${f.mac}`, () => this.sock.delNeighbor({ family: AF_BRIDGE, ifindex: f.ifindex, flags: { self: true } }, attrs));
    } catch (err) {
      if (!isGone(err)) throw err;
    }
  }
}

function checkMtu(mtu: number): number {
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new InvalidValueError('mtu', mtu, 'an MTU in 68..65535');
  return mtu;
}

function checkPrefixLen(n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > 32) throw new InvalidValueError('prefixLen', n, 'a prefix length in 0..32');
}

function protocolNumber(p: rt.Route['protocol']): number {
  if (typeof p === 'number') return p;
  return p === undefined ? 0 : rt.RouteProtocol[p];
}

function describeRoute(r: Route): string {
  return `${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}${r.oif !== undefined ? ` oif #${r.oif}` : ''}${r.onlink ? ' onlink' : ''} table ${r.table}`;
}

/** `forDelete` leaves the scope open (RT_SCOPE_NOWHERE), as `ip route del` does. */
function routeMessage(r: Route, forDelete = false): [rt.Route, rt.RouteAttrs] {
  const dst = parseCidr(r.dst, 'route dst');
  if (r.gateway !== undefined) checkIPv4(r.gateway, 'gateway');
  if (!Number.isInteger(r.protocol) || r.protocol < 0 || r.protocol > 255) throw new InvalidValueError('protocol', r.protocol, 'a route protocol in 0..255');
  if (!Number.isInteger(r.table) || r.table < 1 || r.table > 255) throw new InvalidValueError('table', r.table, 'a table id in 1..255');
  const data: rt.Route = {
    family: AF_INET,
    dstLen: dst.prefixLen,
    table: r.table,
    protocol: r.protocol as rt.RouteProtocol,
    // A gateway route reaches "universe"; a device route is on-link ("link" scope).
    scope: forDelete ? rt.RouteScope.NOWHERE : r.gateway ? rt.RouteScope.UNIVERSE : rt.RouteScope.LINK,
    type: rt.RouteType.UNICAST,
    ...(r.onlink ? { flags: { __unknown: RTNH_F_ONLINK } } : {}),
  };
  const attrs: rt.RouteAttrs = {
    dst: ipToBytes(dst.ip),
    ...(r.gateway !== undefined ? { gateway: ipToBytes(r.gateway) } : {}),
    ...(r.oif !== undefined ? { oif: r.oif } : {}),
    ...(r.priority !== undefined ? { priority: r.priority } : {}),
  };
  return [data, attrs];
}
