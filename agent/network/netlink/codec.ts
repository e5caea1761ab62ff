// Pure conversions between the strings the rest of the agent uses (dotted IPv4,
// colon MACs, CIDRs) and the bytes rtnetlink carries, plus the nested IFLA_LINKINFO
// attribute that the `netlink` package leaves as a raw Buffer. No I/O here.
import ipaddr from 'ipaddr.js';
import { AttrStream, ifla, type StreamData } from 'netlink';

/** A value that would reach the kernel failed validation; `field` names it. */
export class InvalidValueError extends Error {
  override name = 'InvalidValueError';
  constructor(public readonly field: string, value: unknown, expected: string) {
    super(`${field}: ${JSON.stringify(value)} is not ${expected}`);
  }
}

const IFNAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,14}$/;
const MAC = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/;

export function checkIfname(name: string, field = 'ifname'): string {
  if (!IFNAME.test(name)) throw new InvalidValueError(field, name, 'an interface name (1-15 of [a-zA-Z0-9_.-])');
  return name;
}

export function checkIPv4(ip: string, field = 'ip'): string {
  if (!ipaddr.IPv4.isValidFourPartDecimal(ip)) throw new InvalidValueError(field, ip, 'an IPv4 address');
  return ip;
}

/** Lower-cases and checks a MAC address (six colon-separated hex bytes). */
export function checkMac(mac: string, field = 'mac'): string {
  const m = mac.toLowerCase();
  if (!MAC.test(m)) throw new InvalidValueError(field, mac, 'a MAC address such as 0e:6b:0a:00:00:01');
  return m;
}

export interface Cidr { ip: string; prefixLen: number }

/** Parses "a.b.c.d/n" and insists on the network address (no host bits), as routes need. */
export function parseCidr(cidr: string, field = 'cidr'): Cidr {
  const [ip, len, ...rest] = cidr.split('/');
  const prefixLen = Number(len);
  if (rest.length || !ip || !ipaddr.IPv4.isValidFourPartDecimal(ip) || !/^\d{1,2}$/.test(len ?? '') || prefixLen > 32) {
    throw new InvalidValueError(field, cidr, 'an IPv4 CIDR such as 10.244.1.0/24');
  }
  const network = ipaddr.IPv4.networkAddressFromCIDR(cidr).toString();
  if (network !== ip) throw new InvalidValueError(field, cidr, `a network address (did you mean ${network}/${prefixLen}?)`);
  return { ip, prefixLen };
}

/** True when two IPv4 CIDRs share any address. */
export function cidrsOverlap(a: string, b: string): boolean {
  const x = parseCidr(a), y = parseCidr(b);
  const len = Math.min(x.prefixLen, y.prefixLen);
  return ipaddr.IPv4.parse(x.ip).match(ipaddr.IPv4.parse(y.ip), len);
}

/** True when `ip` lies inside `cidr`. */
export function cidrContains(cidr: string, ip: string): boolean {
  const c = parseCidr(cidr);
  return ipaddr.IPv4.parse(ip).match(ipaddr.IPv4.parse(c.ip), c.prefixLen);
}

export const ipToBytes = (ip: string, field?: string): Buffer => Buffer.from(ipaddr.IPv4.parse(checkIPv4(ip, field)).toByteArray());

export function bytesToIp(b: Buffer): string {
  if (b.length !== 4) throw new InvalidValueError('address', b.toString('hex'), 'a 4-byte IPv4 address');
  return Array.from(b).join('.');
}

export const macToBytes = (mac: string, field?: string): Buffer => Buffer.from(checkMac(mac, field).split(':').map((h) => parseInt(h, 16)));
export const bytesToMac = (b: Buffer): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');

/** Serializes a StreamData (the package's lazy attribute writer) into one Buffer. */
export function toBuffer(data: StreamData): Buffer {
  const out = new AttrStream();
  out.emit(data);
  return Buffer.concat(out.bufs);
}

/** What we set on (and read back from) a VXLAN device's IFLA_INFO_DATA. */
export interface VxlanAttrs {
  vni: number;
  /** UDP destination port. */
  port: number;
  /** Underlay source address. */
  local?: string;
  /** Underlay device index. */
  underlay?: number;
  /** false = `nolearning`: the FDB holds only the entries we write. */
  learning: boolean;
}

export function checkVxlanAttrs(v: VxlanAttrs): void {
  if (!Number.isInteger(v.vni) || v.vni < 0 || v.vni > 0xffffff) throw new InvalidValueError('vni', v.vni, 'an integer in 0..16777215');
  if (!Number.isInteger(v.port) || v.port < 1 || v.port > 65535) throw new InvalidValueError('port', v.port, 'a UDP port in 1..65535');
  if (v.local !== undefined) checkIPv4(v.local, 'local');
  if (v.underlay !== undefined && (!Number.isInteger(v.underlay) || v.underlay < 1)) throw new InvalidValueError('underlay', v.underlay, 'an interface index');
}

/**
 * IFLA_LINKINFO for a vxlan device: IFLA_INFO_KIND "vxlan" and IFLA_INFO_DATA holding
 * the IFLA_VXLAN_* attributes (the port is big-endian on the wire).
 */
export function encodeVxlanLinkinfo(v: VxlanAttrs): Buffer {
  checkVxlanAttrs(v);
  const port = Buffer.alloc(2);
  port.writeUInt16BE(v.port);
  const data = toBuffer(ifla.formatVxlan({
    id: v.vni,
    port,
    learning: v.learning ? 1 : 0,
    ...(v.local !== undefined ? { local: ipToBytes(v.local, 'local') } : {}),
    ...(v.underlay !== undefined ? { link: v.underlay } : {}),
  }));
  return toBuffer(ifla.formatInfo({ kind: 'vxlan', data }));
}

/** The kind and, for vxlan devices, the attributes we care about. */
export function decodeLinkinfo(linkinfo: Buffer | undefined): { kind?: string; vxlan?: VxlanAttrs } {
  if (!linkinfo) return {};
  const info = ifla.parseInfo(linkinfo);
  if (info.kind !== 'vxlan' || !info.data) return info.kind ? { kind: info.kind } : {};
  const x = ifla.parseVxlan(info.data);
  return {
    kind: 'vxlan',
    vxlan: {
      vni: x.id ?? 0,
      port: x.port ? x.port.readUInt16BE(0) : 0,
      learning: (x.learning ?? 1) !== 0,
      ...(x.local ? { local: bytesToIp(x.local) } : {}),
      ...(x.link ? { underlay: x.link } : {}),
    },
  };
}
