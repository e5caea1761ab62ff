// Result types. Inside the plugin a result is always in the newest shape (1.1.0);
// `toVersion` renders it for the version the runtime asked for and
// `parsePrevResult` reads whatever an earlier plugin (or the runtime's cache) sent.
import { Cidr, IP } from '../net/ip.js';
import { Code, CniError } from './errors.js';
import { atLeast } from './version.js';

export interface Interface { name: string; mac?: string; mtu?: number; sandbox?: string; socketPath?: string; pciID?: string }
export interface IPConfig { address: string; gateway?: string; interface?: number }
export interface Route { dst: string; gw?: string; mtu?: number; advmss?: number; priority?: number; table?: number; scope?: number }
export interface DNS { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] }
export interface Result { cniVersion: string; interfaces?: Interface[]; ips?: IPConfig[]; routes?: Route[]; dns?: DNS }

const IFACE_11 = ['mtu', 'socketPath', 'pciID'] as const;
const ROUTE_11 = ['mtu', 'advmss', 'priority', 'table', 'scope'] as const;

/** Render a result for `version` (0.3.0 .. 1.1.0). */
export function toVersion(r: Result, version: string): Record<string, unknown> {
  const v11 = atLeast(version, '1.1.0');
  const out: Record<string, unknown> = { cniVersion: version };
  if (r.interfaces) out.interfaces = r.interfaces.map((i) => (v11 ? { ...i } : omit(i, IFACE_11)));
  if (r.ips) {
    out.ips = r.ips.map((ip) => {
      // 0.3.x/0.4.0 carry the family explicitly; 1.0.0 dropped it.
      if (atLeast(version, '1.0.0')) return { ...ip };
      return { version: Cidr.parse(ip.address).family === 4 ? '4' : '6', ...ip };
    });
  }
  if (r.routes) out.routes = r.routes.map((rt) => (v11 ? { ...rt } : omit(rt, ROUTE_11)));
  out.dns = r.dns ?? {};
  return out;
}

function omit<T extends object>(o: T, keys: readonly string[]): Partial<T> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (!keys.includes(k) && v !== undefined) out[k] = v;
  return out as Partial<T>;
}

/** Accepts 0.1/0.2 (ip4/ip6) and 0.3+ (ips) shapes; checks addresses so later code can trust them. */
export function parsePrevResult(raw: unknown, configVersion: string): Result {
  const bad = (what: string): never => {
    throw new CniError(Code.DecodingFailure, `prevResult: ${what}`);
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) bad('must be an object');
  const o = raw as Record<string, unknown>;
  const version = typeof o.cniVersion === 'string' ? o.cniVersion : configVersion;
  const res: Result = { cniVersion: version };
  const str = (v: unknown, what: string): string => (typeof v === 'string' ? v : bad(`${what} must be a string`));
  const checkCidr = (v: unknown, what: string): string => {
    const s = str(v, what);
    if (!Cidr.tryParse(s)) bad(`${what}: ${JSON.stringify(s)} is not a CIDR`);
    return s;
  };
  const checkIp = (v: unknown, what: string): string => {
    const s = str(v, what);
    if (!IP.tryParse(s)) bad(`${what}: ${JSON.stringify(s)} is not an IP address`);
    return s;
  };
  const routes = (list: unknown, where: string): Route[] => {
    if (!Array.isArray(list)) bad(`${where} must be an array`);
    return (list as unknown[]).map((x, i) => {
      const r = x as Record<string, unknown>;
      const route: Route = { dst: checkCidr(r.dst, `${where}[${i}].dst`) };
      if (r.gw !== undefined) route.gw = checkIp(r.gw, `${where}[${i}].gw`);
      for (const k of ROUTE_11) if (typeof r[k] === 'number') route[k] = r[k] as number;
      return route;
    });
  };

  if (o.ip4 !== undefined || o.ip6 !== undefined) {
    res.ips = [];
    res.routes = [];
    for (const key of ['ip4', 'ip6'] as const) {
      const x = o[key] as Record<string, unknown> | undefined;
      if (!x) continue;
      const ipc: IPConfig = { address: checkCidr(x.ip, `${key}.ip`) };
      if (x.gateway !== undefined) ipc.gateway = checkIp(x.gateway, `${key}.gateway`);
      res.ips.push(ipc);
      if (x.routes !== undefined) res.routes.push(...routes(x.routes, `${key}.routes`));
    }
  } else {
    if (o.interfaces !== undefined) {
      if (!Array.isArray(o.interfaces)) bad('interfaces must be an array');
      res.interfaces = (o.interfaces as unknown[]).map((x, i) => {
        const f = x as Record<string, unknown>;
        const iface: Interface = { name: str(f.name, `interfaces[${i}].name`) };
        if (typeof f.mac === 'string') iface.mac = f.mac;
        if (typeof f.sandbox === 'string') iface.sandbox = f.sandbox;
        if (typeof f.mtu === 'number') iface.mtu = f.mtu;
        if (typeof f.socketPath === 'string') iface.socketPath = f.socketPath;
        if (typeof f.pciID === 'string') iface.pciID = f.pciID;
        return iface;
      });
    }
    if (o.ips !== undefined) {
      if (!Array.isArray(o.ips)) bad('ips must be an array');
      res.ips = (o.ips as unknown[]).map((x, i) => {
        const f = x as Record<string, unknown>;
        const ipc: IPConfig = { address: checkCidr(f.address, `ips[${i}].address`) };
        if (f.gateway !== undefined) ipc.gateway = checkIp(f.gateway, `ips[${i}].gateway`);
        if (typeof f.interface === 'number') ipc.interface = f.interface;
        return ipc;
      });
    }
    if (o.routes !== undefined) res.routes = routes(o.routes, 'routes');
  }
  if (typeof o.dns === 'object' && o.dns !== null) res.dns = o.dns as DNS;
  return res;
}
