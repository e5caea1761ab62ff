// rtnetlink wire format, pure: building requests and reading replies. We encode
// the few messages we need ourselves instead of loading the `netlink` package's
// generated struct tables (~30 ms of start-up for every pod); the package still
// provides the socket (binding.ts). IFLA_LINKINFO (veth peer, bridge port options)
// is composed here by hand, as the package leaves it a raw buffer.

export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_NEWADDR = 20;
export const RTM_GETADDR = 22;
export const RTM_NEWROUTE = 24;

export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP = 0x300;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;

export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;

export const IFF_UP = 0x1;
export const IFF_PROMISC = 0x100;

export const IFLA_ADDRESS = 1;
export const IFLA_IFNAME = 3;
export const IFLA_MTU = 4;
export const IFLA_MASTER = 10;
export const IFLA_LINKINFO = 18;
export const IFLA_IFALIAS = 20;
export const IFLA_NET_NS_FD = 28;
export const IFLA_INFO_KIND = 1;
export const IFLA_INFO_DATA = 2;
export const IFLA_INFO_SLAVE_KIND = 4;
export const IFLA_INFO_SLAVE_DATA = 5;
export const VETH_INFO_PEER = 1;
export const IFLA_BRPORT_MODE = 4; // hairpin

export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
export const IFA_FLAGS = 8;
export const IFA_F_NODAD = 0x02;

const NLA_F_NESTED = 0x8000;
const NLA_TYPE_MASK = 0x3fff;

export type Attr = [type: number, payload: Buffer];

const align4 = (n: number): number => (n + 3) & ~3;

export function attr(type: number, payload: Buffer): Buffer {
  const len = 4 + payload.length;
  const b = Buffer.alloc(align4(len));
  b.writeUInt16LE(len, 0);
  b.writeUInt16LE(type, 2);
  payload.copy(b, 4);
  return b;
}

export const nested = (type: number, ...children: Buffer[]): Buffer => attr(type | NLA_F_NESTED, Buffer.concat(children));
export const strAttr = (type: number, s: string): Buffer => attr(type, Buffer.from(`${s}\0`, 'utf8'));
export function u32Attr(type: number, v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return attr(type, b);
}
export const u8Attr = (type: number, v: number): Buffer => attr(type, Buffer.from([v]));
export const bytesAttr = (type: number, v: Uint8Array): Buffer => attr(type, Buffer.from(v));

/** struct ifinfomsg (16 bytes). */
export function ifinfomsg(o: { family?: number; index?: number; flags?: number; change?: number } = {}): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt8(o.family ?? AF_UNSPEC, 0);
  b.writeInt32LE(o.index ?? 0, 4);
  b.writeUInt32LE((o.flags ?? 0) >>> 0, 8);
  b.writeUInt32LE((o.change ?? 0) >>> 0, 12);
  return b;
}

/** struct ifaddrmsg (8 bytes). */
export function ifaddrmsg(o: { family: number; prefixlen?: number; flags?: number; scope?: number; index?: number }): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt8(o.family, 0);
  b.writeUInt8(o.prefixlen ?? 0, 1);
  b.writeUInt8(o.flags ?? 0, 2);
  b.writeUInt8(o.scope ?? 0, 3);
  b.writeUInt32LE(o.index ?? 0, 4);
  return b;
}

export function message(type: number, flags: number, seq: number, ...body: Buffer[]): Buffer {
  const payload = Buffer.concat(body);
  const b = Buffer.alloc(16 + payload.length);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt16LE(type, 4);
  b.writeUInt16LE(flags, 6);
  b.writeUInt32LE(seq >>> 0, 8);
  b.writeUInt32LE(0, 12);
  payload.copy(b, 16);
  return b;
}

export interface NlMessage { type: number; flags: number; seq: number; body: Buffer }

export function splitMessages(buf: Buffer): NlMessage[] {
  const out: NlMessage[] = [];
  let off = 0;
  while (off + 16 <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len < 16 || off + len > buf.length) break;
    out.push({ type: buf.readUInt16LE(off + 4), flags: buf.readUInt16LE(off + 6), seq: buf.readUInt32LE(off + 8), body: buf.subarray(off + 16, off + len) });
    off += align4(len);
  }
  return out;
}

/** errno from an NLMSG_ERROR body (0 = ACK). Positive, like Node's error codes. */
export function errorOf(body: Buffer): number {
  return -body.readInt32LE(0);
}

export function parseAttrs(buf: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let off = 0;
  while (off + 4 <= buf.length) {
    const len = buf.readUInt16LE(off);
    if (len < 4 || off + len > buf.length) break;
    out.set(buf.readUInt16LE(off + 2) & NLA_TYPE_MASK, buf.subarray(off + 4, off + len));
    off += align4(len);
  }
  return out;
}

export const cstr = (b: Buffer | undefined): string | undefined => (b ? b.toString('utf8').replace(/\0.*$/s, '') : undefined);

export interface LinkInfo { index: number; flags: number; name: string; mtu?: number; mac?: Uint8Array; master?: number; kind?: string; alias?: string }

export function parseLink(body: Buffer): LinkInfo {
  const attrs = parseAttrs(body.subarray(16));
  const info = attrs.get(IFLA_LINKINFO);
  const mac = attrs.get(IFLA_ADDRESS);
  const link: LinkInfo = { index: body.readInt32LE(4), flags: body.readUInt32LE(8), name: cstr(attrs.get(IFLA_IFNAME)) ?? '' };
  const mtu = attrs.get(IFLA_MTU);
  if (mtu) link.mtu = mtu.readUInt32LE(0);
  if (mac) link.mac = new Uint8Array(mac);
  const master = attrs.get(IFLA_MASTER);
  if (master) link.master = master.readUInt32LE(0);
  const kind = info && cstr(parseAttrs(info).get(IFLA_INFO_KIND));
  if (kind) link.kind = kind;
  const alias = cstr(attrs.get(IFLA_IFALIAS));
  if (alias) link.alias = alias;
  return link;
}

export interface AddrInfo { family: number; prefixlen: number; index: number; address: Uint8Array }

export function parseAddr(body: Buffer): AddrInfo {
  const attrs = parseAttrs(body.subarray(8));
  // IFA_LOCAL is the interface's own address on point-to-point links; IFA_ADDRESS otherwise.
  const a = attrs.get(IFA_LOCAL) ?? attrs.get(IFA_ADDRESS) ?? Buffer.alloc(0);
  return { family: body.readUInt8(0), prefixlen: body.readUInt8(1), index: body.readUInt32LE(4), address: new Uint8Array(a) };
}
