// IPVS virtual and real servers as the planner sees them, ipvsadm's restore syntax
// for them, and a parser for `ipvsadm -Ln` (the kernel's view, with connection
// counts for graceful removal). Pure.
import { joinHostPort, parseIP } from '../ip.js';
import type { Protocol } from '../types.js';
import type { IpvsScheduler } from './scheduler.js';

export interface RealServer { readonly ip: string; readonly port: number }

/** One virtual server we want: every real server gets weight 1 (as kube-proxy does). */
export interface VirtualServer {
  readonly protocol: Protocol;
  readonly address: string;
  readonly port: number;
  readonly scheduler: IpvsScheduler | string;
  /** Persistence timeout in seconds (sessionAffinity ClientIP); 0: none. */
  readonly persistence: number;
  readonly reals: readonly RealServer[];
}

/** A real server as the kernel holds it. */
export interface KernelReal extends RealServer {
  readonly weight: number;
  readonly activeConns: number;
  readonly inactiveConns: number;
}

/** A virtual server as the kernel holds it (or as we believe it does after our edits). */
export interface KernelVirtualServer {
  readonly protocol: Protocol;
  readonly address: string;
  readonly port: number;
  readonly scheduler: string;
  readonly persistence: number;
  /** By realKey(). */
  readonly reals: ReadonlyMap<string, KernelReal>;
}

/** "TCP 10.96.0.10:80": the identity of a virtual server (and how -Ln prints it). */
export const vsKey = (v: { readonly protocol: Protocol; readonly address: string; readonly port: number }): string =>
  `${v.protocol} ${joinHostPort(v.address, v.port)}`;

export const realKey = (r: RealServer): string => joinHostPort(r.ip, r.port);

const SERVICE_FLAG: Readonly<Record<Protocol, string>> = { TCP: '-t', UDP: '-u', SCTP: '--sctp-service' };

/** "-t 10.96.0.10:80": the service selector of an ipvsadm command. */
export const serviceArg = (v: { readonly protocol: Protocol; readonly address: string; readonly port: number }): string =>
  `${SERVICE_FLAG[v.protocol]} ${joinHostPort(v.address, v.port)}`;

const serviceOptions = (scheduler: string, persistence: number): string =>
  `-s ${scheduler}${persistence > 0 ? ` -p ${persistence}` : ''}`;

/** ipvsadm -R lines (each line is one ipvsadm invocation's arguments). */
export const ipvsadm = {
  addService: (v: KernelVirtualServer | VirtualServer): string => `-A ${serviceArg(v)} ${serviceOptions(v.scheduler, v.persistence)}`,
  editService: (v: KernelVirtualServer | VirtualServer): string => `-E ${serviceArg(v)} ${serviceOptions(v.scheduler, v.persistence)}`,
  deleteService: (v: KernelVirtualServer | VirtualServer): string => `-D ${serviceArg(v)}`,
  // -m: masquerading (NAT), the only forwarding method that works for pods on other hosts.
  addReal: (v: KernelVirtualServer | VirtualServer, r: RealServer, weight: number): string => `-a ${serviceArg(v)} -r ${realKey(r)} -m -w ${weight}`,
  editReal: (v: KernelVirtualServer | VirtualServer, r: RealServer, weight: number): string => `-e ${serviceArg(v)} -r ${realKey(r)} -m -w ${weight}`,
  deleteReal: (v: KernelVirtualServer | VirtualServer, r: RealServer): string => `-d ${serviceArg(v)} -r ${realKey(r)}`,
};

/** "10.96.0.10:80" / "[fd00::1]:80" -> parts; undefined when malformed. */
export function splitHostPort(s: string): { ip: string; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:]+):(\d+)$/.exec(s);
  if (!m) return undefined;
  const ip = parseIP(m[1]!);
  const port = Number(m[2]);
  return ip && port <= 65535 ? { ip: ip.text, port } : undefined;
}

const PROTOCOLS = new Set<string>(['TCP', 'UDP', 'SCTP']);

/**
 * `ipvsadm -Ln` output -> virtual servers by vsKey. Firewall-mark services (FWM) and
 * anything unparsable are skipped: they are never ours.
 */
export function parseIpvsList(text: string): Map<string, KernelVirtualServer> {
  const out = new Map<string, KernelVirtualServer>();
  let current: { vs: Omit<KernelVirtualServer, 'reals'>; reals: Map<string, KernelReal> } | undefined;
  for (const line of text.split('\n')) {
    const vs = /^(\S+)\s+(\S+)\s+(\S+)(.*)$/.exec(line);
    if (vs && !line.startsWith(' ')) {
      current = undefined;
      const addr = splitHostPort(vs[2]!);
      if (!PROTOCOLS.has(vs[1]!) || !addr) continue;
      const persistent = /\bpersistent (\d+)/.exec(vs[4]!);
      const base = { protocol: vs[1] as Protocol, address: addr.ip, port: addr.port, scheduler: vs[3]!, persistence: persistent ? Number(persistent[1]) : 0 };
      current = { vs: base, reals: new Map() };
      out.set(vsKey(base), { ...base, reals: current.reals });
      continue;
    }
    const rs = /^\s+->\s+(\S+)\s+\S+\s+(\d+)\s+(\d+)\s+(\d+)/.exec(line);
    if (rs && current) {
      const addr = splitHostPort(rs[1]!);
      if (!addr) continue;
      const real: KernelReal = { ip: addr.ip, port: addr.port, weight: Number(rs[2]), activeConns: Number(rs[3]), inactiveConns: Number(rs[4]) };
      current.reals.set(realKey(real), real);
    }
  }
  return out;
}
