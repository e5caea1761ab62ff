// The ipsets of IPVS mode (kube-proxy's names and types): the few iptables rules of
// this mode match these sets, so a Service change edits set members, never rules.
// Pure: names, entry text, `ipset restore` input, `ipset save` parsing.
import type { IPFamily, Protocol } from '../types.js';

export type SetKind =
  /** endpoint IP, protocol:port, endpoint IP: a pod reaching itself through a Service (hairpin) is masqueraded. */
  | 'LOOP-BACK'
  /** cluster IP, protocol:port: masqueraded from outside the cluster CIDR (or always with --masquerade-all). */
  | 'CLUSTER-IP'
  /** external IP, protocol:port, externalTrafficPolicy Cluster (masqueraded) ... */
  | 'EXTERNAL-IP'
  /** ... and Local (client address kept). */
  | 'EXTERNAL-IP-LOCAL'
  /** load-balancer IP, protocol:port: masqueraded unless also in LOAD-BALANCER-LOCAL. */
  | 'LOAD-BALANCER'
  | 'LOAD-BALANCER-LOCAL'
  /** load-balancer IP, protocol:port with loadBalancerSourceRanges: sources not in SOURCE-CIDR are dropped. */
  | 'LOAD-BALANCER-FW'
  | 'LOAD-BALANCER-SOURCE-CIDR'
  /** NodePorts (port only: every node address) with externalTrafficPolicy Cluster, masqueraded ... */
  | 'NODE-PORT-TCP' | 'NODE-PORT-UDP' | 'NODE-PORT-SCTP'
  /** ... and Local (client address kept). */
  | 'NODE-PORT-LOCAL-TCP' | 'NODE-PORT-LOCAL-UDP' | 'NODE-PORT-LOCAL-SCTP'
  /** healthCheckNodePorts, accepted in the filter table. */
  | 'HEALTH-CHECK-NODE-PORT'
  /** Every address bound to kube-ipvs0: anything there that is no Service port is rejected. */
  | 'IPVS-IPS'
  /** Virtual server address, protocol:port with a Local traffic policy and endpoints only elsewhere: dropped, as the iptables mode does. */
  | 'NO-LOCAL-ENDPOINTS';

export interface SetDef { readonly kind: SetKind; readonly type: string }

export const SETS: readonly SetDef[] = [
  { kind: 'LOOP-BACK', type: 'hash:ip,port,ip' },
  { kind: 'CLUSTER-IP', type: 'hash:ip,port' },
  { kind: 'EXTERNAL-IP', type: 'hash:ip,port' },
  { kind: 'EXTERNAL-IP-LOCAL', type: 'hash:ip,port' },
  { kind: 'LOAD-BALANCER', type: 'hash:ip,port' },
  { kind: 'LOAD-BALANCER-LOCAL', type: 'hash:ip,port' },
  { kind: 'LOAD-BALANCER-FW', type: 'hash:ip,port' },
  { kind: 'LOAD-BALANCER-SOURCE-CIDR', type: 'hash:ip,port,net' },
  { kind: 'NODE-PORT-TCP', type: 'bitmap:port' },
  { kind: 'NODE-PORT-UDP', type: 'bitmap:port' },
  { kind: 'NODE-PORT-SCTP', type: 'bitmap:port' },
  { kind: 'NODE-PORT-LOCAL-TCP', type: 'bitmap:port' },
  { kind: 'NODE-PORT-LOCAL-UDP', type: 'bitmap:port' },
  { kind: 'NODE-PORT-LOCAL-SCTP', type: 'bitmap:port' },
  { kind: 'HEALTH-CHECK-NODE-PORT', type: 'bitmap:port' },
  { kind: 'IPVS-IPS', type: 'hash:ip' },
  { kind: 'NO-LOCAL-ENDPOINTS', type: 'hash:ip,port' },
];

/** Kernel name of a set: KUBE-CLUSTER-IP, or KUBE-6-CLUSTER-IP for IPv6 (so both families can coexist). */
export const setName = (family: IPFamily, kind: SetKind): string => (family === 6 ? `KUBE-6-${kind}` : `KUBE-${kind}`);

const KINDS_BY_NAME = new Map<string, SetKind>(
  ([4, 6] as const).flatMap((f) => SETS.map((d): [string, SetKind] => [setName(f, d.kind), d.kind])),
);

/** The set kind of a kernel set name of ours, else undefined (the other family's sets are not ours). */
export function ourSet(family: IPFamily, name: string): SetKind | undefined {
  const kind = KINDS_BY_NAME.get(name);
  return kind && setName(family, kind) === name ? kind : undefined;
}

/** A set name of ours in either family (cleanup removes both). */
export const isOurSetName = (name: string): boolean => KINDS_BY_NAME.has(name);

export const nodePortSet = (protocol: Protocol, local: boolean): SetKind =>
  `NODE-PORT-${local ? 'LOCAL-' : ''}${protocol}` as SetKind;

/** Entry text exactly as `ipset save` prints it, so save output and our entries compare as strings. */
export const entry = {
  ipPort: (ip: string, protocol: Protocol, port: number): string => `${ip},${protocol.toLowerCase()}:${port}`,
  ipPortIp: (ip: string, protocol: Protocol, port: number, src: string): string => `${ip},${protocol.toLowerCase()}:${port},${src}`,
  /** A host "network" prints as a bare address. */
  ipPortNet: (ip: string, protocol: Protocol, port: number, cidr: string): string =>
    `${ip},${protocol.toLowerCase()}:${port},${cidr.replace(cidr.includes(':') ? /\/128$/ : /\/32$/, '')}`,
  port: (port: number): string => String(port),
  ip: (ip: string): string => ip,
};

/** One member of one set, as a single key: "KIND entry". */
export type SetMember = string;
export const member = (kind: SetKind, text: string): SetMember => `${kind} ${text}`;
export function splitMember(m: SetMember): { kind: SetKind; text: string } {
  const i = m.indexOf(' ');
  return { kind: m.slice(0, i) as SetKind, text: m.slice(i + 1) };
}

/** `create` lines for every set (with -exist, existing sets are left alone). */
export function renderCreate(family: IPFamily): string[] {
  return SETS.map((d) => d.type === 'bitmap:port'
    ? `create ${setName(family, d.kind)} ${d.type} range 0-65535`
    : `create ${setName(family, d.kind)} ${d.type} family ${family === 6 ? 'inet6' : 'inet'} hashsize 1024 maxelem 65536`);
}

export function renderAdd(family: IPFamily, m: SetMember): string {
  const { kind, text } = splitMember(m);
  return `add ${setName(family, kind)} ${text}`;
}

export function renderDel(family: IPFamily, m: SetMember): string {
  const { kind, text } = splitMember(m);
  return `del ${setName(family, kind)} ${text}`;
}

/** Our sets and their members from `ipset save` output. */
export function parseIpsetSave(family: IPFamily, text: string): { sets: Set<SetKind>; members: Set<SetMember> } {
  const sets = new Set<SetKind>();
  const members = new Set<SetMember>();
  for (const line of text.split('\n')) {
    const m = /^(create|add) (\S+)(?: (\S+))?/.exec(line);
    if (!m) continue;
    const kind = ourSet(family, m[2]!);
    if (!kind) continue;
    if (m[1] === 'create') sets.add(kind);
    else if (m[3]) members.add(member(kind, m[3]));
  }
  return { sets, members };
}

/** Node ports held by our NodePort sets, as "TCP 30080" (which node-address virtual servers are ours). */
export function nodePortsOf(members: Iterable<SetMember>): Set<string> {
  const out = new Set<string>();
  for (const m of members) {
    const { kind, text } = splitMember(m);
    const p = /^NODE-PORT-(?:LOCAL-)?(TCP|UDP|SCTP)$/.exec(kind);
    if (p) out.add(`${p[1]} ${text}`);
  }
  return out;
}

