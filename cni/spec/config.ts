// The network configuration on stdin: decoded, checked field by field (every
// address, CIDR, port and name before it can reach the kernel) and turned into a
// typed NetConfig with the bridge plugin's defaults. Errors name the field.
import { Cidr, IP } from '../net/ip.js';
import { isValidContainerId, isValidIfName, isValidNetworkName } from '../net/names.js';
import { Code, CniError } from './errors.js';
import { Fields, invalid, strings } from './fields.js';
import { parsePrevResult, type Result } from './result.js';
import { isSupported, SUPPORTED_VERSIONS } from './version.js';

const isIp = (s: string): boolean => IP.tryParse(s) !== undefined;
const isCidr = (s: string): boolean => Cidr.tryParse(s) !== undefined;
const isAbsPath = (s: string): boolean => s.startsWith('/') && !s.includes('\0') && s.length < 4096;
const NOT_IP = 'is not a valid IP address';
const NOT_CIDR = 'is not a valid CIDR (address/prefix)';

export type Protocol = 'tcp' | 'udp' | 'sctp';
export interface PortMapping { hostPort: number; containerPort: number; protocol: Protocol; hostIP?: IP }
export interface RangeConf { subnet: string; rangeStart?: string; rangeEnd?: string; gateway?: string }
export interface RouteConf { dst: Cidr; gw?: IP }
export interface IpamConf { type: string; rangeSets: RangeConf[][]; routes: RouteConf[]; dataDir: string }
export interface Attachment { containerId: string; ifname: string }
export interface Dns { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] }

export interface NetConfig {
  cniVersion: string;
  name: string;
  type: string;
  bridge: string;
  isGateway: boolean;
  isDefaultGateway: boolean;
  ipMasq: boolean;
  /** Destinations that ipMasq leaves alone besides the pod's own subnets: the cluster's pod network, so pod to pod across nodes keeps its source. */
  nonMasqueradeCidrs?: Cidr[];
  mtu?: number;
  hairpinMode: boolean;
  promiscMode: boolean;
  ipam?: IpamConf;
  dns?: Dns;
  portMappings: PortMapping[];
  prevResult?: Result;
  validAttachments?: Attachment[];
}

export const DEFAULT_BRIDGE = 'cni0';
export const DEFAULT_DATA_DIR = '/var/lib/cni/networks';
/** ipam.type values we serve in-process with host-local semantics. */
export const IPAM_TYPES = ['host-local', 'kna-ipam'];

/** Version first: an error about anything else must be printed in a version the runtime reads. */
export function decodeConfig(stdin: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(stdin);
  } catch (e) {
    throw new CniError(Code.DecodingFailure, `network config on stdin is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new CniError(Code.DecodingFailure, 'network config on stdin must be a JSON object');
  }
  return raw as Record<string, unknown>;
}

export function configVersion(raw: Record<string, unknown>): string {
  const v = raw.cniVersion;
  if (typeof v !== 'string' || v === '') throw new CniError(Code.InvalidNetworkConfig, 'cniVersion: required string missing');
  if (!isSupported(v)) {
    throw new CniError(Code.IncompatibleVersion, `cniVersion: ${JSON.stringify(v)} is not supported (supported: ${SUPPORTED_VERSIONS.join(', ')})`);
  }
  return v;
}

export function parseConfig(raw: Record<string, unknown>): NetConfig {
  const cniVersion = configVersion(raw);
  const f = Fields.of(withGoStyleKeys(raw), '');
  const name = f.str('name', isValidNetworkName, 'must start with a letter or digit, then letters, digits, "_", "." or "-" (at most 64)');
  const type = f.str('type');
  const bridge = f.optStr('bridge', isValidIfName, 'is not a valid interface name (1-15 of A-Z a-z 0-9 _ . - @ + =)');

  unsupported((f.optInt('vlan', 0, 4094) ?? 0) !== 0, 'vlan', 'VLAN tagging is not supported');
  unsupported(f.optBool('macspoofchk') === true, 'macspoofchk', 'MAC spoof checking is not supported');
  unsupported(f.optBool('enabledad') === true, 'enabledad', 'pod interfaces always skip DAD');
  unsupported(f.optBool('forceAddress') === true, 'forceAddress', 'replacing other bridge addresses is not supported');

  const isDefaultGateway = f.optBool('isDefaultGateway') ?? false;
  const cfg: NetConfig = {
    cniVersion,
    name,
    type,
    bridge: bridge ?? DEFAULT_BRIDGE,
    isGateway: (f.optBool('isGateway') ?? false) || isDefaultGateway,
    isDefaultGateway,
    ipMasq: f.optBool('ipMasq') ?? false,
    hairpinMode: f.optBool('hairpinMode') ?? false,
    promiscMode: f.optBool('promiscMode') ?? false,
    portMappings: f.optObj('runtimeConfig')?.optArr('portMappings', portMapping) ?? [],
  };
  const noMasq = f.optArr('nonMasqueradeCIDRs', (v, path) => {
    const s = strings(v, path);
    if (!isCidr(s)) throw invalid(path, `${JSON.stringify(s)} ${NOT_CIDR}`);
    return Cidr.parse(s);
  });
  if (noMasq?.length) cfg.nonMasqueradeCidrs = noMasq;
  const mtu = f.optInt('mtu', 68, 65535);
  if (mtu !== undefined) cfg.mtu = mtu;
  const dns = f.optObj('dns');
  if (dns) cfg.dns = dnsConf(dns);
  const ipam = f.optObj('ipam');
  if (ipam) cfg.ipam = ipamConf(ipam);
  if (f.has('prevResult')) cfg.prevResult = parsePrevResult(f.raw('prevResult'), cniVersion);
  const key = f.has('cni.dev/valid-attachments') ? 'cni.dev/valid-attachments' : 'cni.dev/attachments';
  const att = f.optArr(key, (v, path) => {
    const a = Fields.of(v, path);
    return {
      containerId: a.str('containerID', isValidContainerId, 'is not a valid container id'),
      ifname: a.str('ifname', isValidIfName, 'is not a valid interface name'),
    };
  });
  if (att) cfg.validAttachments = att;
  return cfg;
}

function portMapping(v: unknown, path: string): PortMapping {
  const m = Fields.of(v, path);
  const hostPort = m.int('hostPort', 1, 65535);
  const containerPort = m.int('containerPort', 1, 65535);
  const protocol = (m.optStr('protocol', (s) => /^(tcp|udp|sctp)$/i.test(s), 'must be tcp, udp or sctp') ?? 'tcp').toLowerCase() as Protocol;
  const hostIP = m.optStr('hostIP', (s) => s === '' || isIp(s), NOT_IP);
  return { hostPort, containerPort, protocol, ...(hostIP ? { hostIP: IP.parse(hostIP) } : {}) };
}

function dnsConf(d: Fields): Dns {
  const out: Dns = {};
  const ns = d.optArr('nameservers', (v, path) => {
    const s = strings(v, path);
    if (!isIp(s)) throw invalid(path, `${JSON.stringify(s)} ${NOT_IP}`);
    return s;
  });
  if (ns) out.nameservers = ns;
  const domain = d.optStr('domain');
  if (domain !== undefined) out.domain = domain;
  const search = d.optArr('search', strings);
  if (search) out.search = search;
  const options = d.optArr('options', strings);
  if (options) out.options = options;
  return out;
}

function rangeConf(v: unknown, path: string): RangeConf {
  const r = Fields.of(v, path);
  const out: RangeConf = { subnet: r.str('subnet', isCidr, NOT_CIDR) };
  for (const k of ['rangeStart', 'rangeEnd', 'gateway'] as const) {
    const x = r.optStr(k, isIp, NOT_IP);
    if (x !== undefined) out[k] = x;
  }
  return out;
}

function ipamConf(i: Fields): IpamConf {
  const type = i.str('type');
  if (!IPAM_TYPES.includes(type)) {
    throw new CniError(Code.UnsupportedField, `ipam.type: ${JSON.stringify(type)} is not supported; kna-cni serves ${IPAM_TYPES.join(', ')} in-process`);
  }
  unsupported(i.has('resolvConf'), 'ipam.resolvConf', 'use the dns field');
  let rangeSets = i.optArr('ranges', (set, path) => {
    if (!Array.isArray(set) || set.length === 0) throw invalid(path, 'must be a non-empty array of ranges');
    return set.map((r, j) => rangeConf(r, `${path}[${j}]`));
  }) ?? [];
  if (i.has('subnet')) {
    // host-local's older single-range form
    if (i.has('ranges')) throw invalid('ipam.subnet', 'use either ipam.ranges or ipam.subnet, not both');
    rangeSets = [[rangeConf(Object.fromEntries(['subnet', 'rangeStart', 'rangeEnd', 'gateway'].map((k) => [k, i.raw(k)])), 'ipam')]];
  }
  if (rangeSets.length === 0) throw invalid('ipam.ranges', 'at least one range set is required');
  const routes = i.optArr('routes', (v, path) => {
    const r = Fields.of(v, path);
    const dst = Cidr.parse(r.str('dst', isCidr, NOT_CIDR));
    const gw = r.optStr('gw', (s) => IP.tryParse(s)?.family === dst.family, `is not an IPv${dst.family} address like dst`);
    return { dst, ...(gw ? { gw: IP.parse(gw) } : {}) };
  }) ?? [];
  return { type, rangeSets, routes, dataDir: i.optStr('dataDir', isAbsPath, 'must be an absolute path') ?? DEFAULT_DATA_DIR };
}

function unsupported(cond: boolean, field: string, why: string): void {
  if (cond) throw new CniError(Code.UnsupportedField, `${field}: ${why}`);
}

/**
 * containerd 1.6 sends runtimeConfig.portMappings with Go field names
 * ("HostPort", "ContainerPort", "Protocol", "HostIP"), which Go plugins accept
 * because encoding/json matches keys case-insensitively. So do we, for those.
 */
function withGoStyleKeys(raw: Record<string, unknown>): Record<string, unknown> {
  const rc = raw.runtimeConfig as { portMappings?: unknown } | undefined;
  if (!rc || !Array.isArray(rc.portMappings)) return raw;
  const canonical = new Map(['hostPort', 'containerPort', 'protocol', 'hostIP'].map((k) => [k.toLowerCase(), k]));
  const portMappings = rc.portMappings.map((m: unknown) => {
    if (typeof m !== 'object' || m === null) return m;
    return Object.fromEntries(Object.entries(m).map(([k, v]) => [canonical.get(k.toLowerCase()) ?? k, v]));
  });
  return { ...raw, runtimeConfig: { ...rc, portMappings } };
}

