// host-local's range semantics, as pure functions: canonical ranges (gateway,
// rangeStart and rangeEnd defaults), overlap checks, and the allocation order
// (round-robin from the last reserved address, skipping the gateway).
import { Cidr, IP, type Family } from '../net/ip.js';
import type { RangeConf } from '../spec/config.js';
import { Code, CniError } from '../spec/errors.js';

export interface Range { subnet: Cidr; start: IP; end: IP; gateway: IP }
export type RangeSet = Range[];

const invalid = (where: string, msg: string): CniError => new CniError(Code.InvalidNetworkConfig, `${where}: ${msg}`);

export function canonicalRange(rc: RangeConf, where: string): Range {
  const subnet = Cidr.parse(rc.subnet).masked();
  if (subnet.prefix > subnet.ip.bits - 2) throw invalid(`${where}.subnet`, `${subnet} is too small to allocate from`);
  const inSubnet = (field: string, text: string): IP => {
    const ip = IP.parse(text);
    if (!subnet.contains(ip)) throw invalid(`${where}.${field}`, `${ip} is not in ${subnet}`);
    return ip;
  };
  const gateway = rc.gateway ? inSubnet('gateway', rc.gateway) : subnet.network().add(1n);
  const start = rc.rangeStart ? inSubnet('rangeStart', rc.rangeStart) : subnet.network().add(1n);
  // IPv4 leaves out the broadcast address; IPv6 has none.
  const end = rc.rangeEnd ? inSubnet('rangeEnd', rc.rangeEnd) : subnet.family === 4 ? subnet.last().add(-1n) : subnet.last();
  if (start.compare(end) > 0) throw invalid(`${where}.rangeStart`, `${start} is after rangeEnd ${end}`);
  return { subnet, start, end, gateway };
}

export function buildRangeSets(confs: RangeConf[][]): RangeSet[] {
  const sets = confs.map((set, i) => set.map((rc, j) => canonicalRange(rc, `ipam.ranges[${i}][${j}]`)));
  const all: Array<{ r: Range; where: string }> = [];
  sets.forEach((set, i) => {
    const fam = set[0]!.subnet.family;
    set.forEach((r, j) => {
      const where = `ipam.ranges[${i}][${j}]`;
      if (r.subnet.family !== fam) throw invalid(where, 'all ranges in one set must have the same IP family');
      for (const o of all) {
        if (overlaps(r, o.r)) throw invalid(where, `${r.start}-${r.end} overlaps ${o.where}`);
      }
      all.push({ r, where });
    });
  });
  return sets;
}

export function inRange(r: Range, ip: IP): boolean {
  return r.subnet.contains(ip) && ip.compare(r.start) >= 0 && ip.compare(r.end) <= 0;
}

function overlaps(a: Range, b: Range): boolean {
  return a.subnet.family === b.subnet.family && (inRange(a, b.start) || inRange(a, b.end) || inRange(b, a.start) || inRange(b, a.end));
}

export function rangeFor(set: RangeSet, ip: IP): Range | undefined {
  return set.find((r) => inRange(r, ip));
}

export function setFamily(set: RangeSet): Family {
  return set[0]!.subnet.family;
}

/** Number of allocatable addresses in a set (gateways inside the range excluded). */
export function setSize(set: RangeSet): bigint {
  return set.reduce((n, r) => n + (r.end.value - r.start.value + 1n) - (inRange(r, r.gateway) ? 1n : 0n), 0n);
}

/**
 * Every allocatable address once, in host-local's order: starting after the last
 * reserved address (so a crash-looping pod does not get the same IP back until
 * the whole set went round), wrapping from each range's end to the next range.
 */
export function* candidates(set: RangeSet, lastReserved?: IP): Generator<{ ip: IP; range: Range }> {
  let idx = 0;
  let cur: bigint | undefined;
  const at = lastReserved ? set.findIndex((r) => inRange(r, lastReserved)) : -1;
  if (at >= 0) { idx = at; cur = lastReserved!.value; }
  let first: bigint | undefined;
  for (;;) {
    let r = set[idx]!;
    if (cur === undefined) cur = r.start.value;
    else if (cur === r.end.value) {
      idx = (idx + 1) % set.length;
      r = set[idx]!;
      cur = r.start.value;
    } else cur += 1n;
    if (first === undefined) first = cur;
    else if (cur === first) return;
    if (cur !== r.gateway.value) yield { ip: IP.of(r.subnet.family, cur), range: r };
  }
}
