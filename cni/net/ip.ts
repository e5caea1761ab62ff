// Strict IP and CIDR values. Every address that reaches the kernel, iptables or
// `ip` goes through these parsers first: dotted quads without leading zeros,
// IPv6 without zone ids, canonical (RFC 5952) text on the way out.

export type Family = 4 | 6;

export class IPParseError extends Error {
  constructor(readonly input: string, what: string) {
    super(`${JSON.stringify(input)} is not a valid ${what}`);
    this.name = 'IPParseError';
  }
}

export class IP {
  private constructor(readonly family: Family, readonly value: bigint) {}

  static of(family: Family, value: bigint): IP {
    const max = family === 4 ? 0xffffffffn : (1n << 128n) - 1n;
    if (value < 0n || value > max) throw new RangeError(`IPv${family} value out of range`);
    return new IP(family, value);
  }

  static parse(text: string): IP {
    const v4 = parseV4(text);
    if (v4 !== undefined) return new IP(4, v4);
    const v6 = parseV6(text);
    if (v6 !== undefined) return new IP(6, v6);
    throw new IPParseError(text, 'IP address');
  }

  static tryParse(text: string): IP | undefined {
    try { return IP.parse(text); } catch { return undefined; }
  }

  get bits(): number { return this.family === 4 ? 32 : 128; }
  add(n: bigint): IP { return IP.of(this.family, this.value + n); }
  equals(o: IP): boolean { return this.family === o.family && this.value === o.value; }
  compare(o: IP): number { return this.family !== o.family ? this.family - o.family : this.value < o.value ? -1 : this.value > o.value ? 1 : 0; }
  isUnspecified(): boolean { return this.value === 0n; }

  bytes(): Uint8Array {
    const n = this.bits / 8;
    const out = new Uint8Array(n);
    let v = this.value;
    for (let i = n - 1; i >= 0; i--) { out[i] = Number(v & 0xffn); v >>= 8n; }
    return out;
  }

  static fromBytes(b: Uint8Array): IP {
    if (b.length !== 4 && b.length !== 16) throw new RangeError(`IP address of ${b.length} bytes`);
    let v = 0n;
    for (const x of b) v = (v << 8n) | BigInt(x);
    return new IP(b.length === 4 ? 4 : 6, v);
  }

  toString(): string { return this.family === 4 ? formatV4(this.value) : formatV6(this.value); }
  toJSON(): string { return this.toString(); }
}

export class Cidr {
  /** `ip` keeps the host part as written (an interface address); `network` masks it. */
  private constructor(readonly ip: IP, readonly prefix: number) {}

  static of(ip: IP, prefix: number): Cidr {
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > ip.bits) throw new RangeError(`prefix /${prefix} for IPv${ip.family}`);
    return new Cidr(ip, prefix);
  }

  static parse(text: string): Cidr {
    const slash = text.indexOf('/');
    if (slash < 0) throw new IPParseError(text, 'CIDR (address/prefix)');
    const ip = IP.tryParse(text.slice(0, slash));
    const p = text.slice(slash + 1);
    if (!ip || !/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > ip.bits) throw new IPParseError(text, 'CIDR (address/prefix)');
    return new Cidr(ip, Number(p));
  }

  static tryParse(text: string): Cidr | undefined {
    try { return Cidr.parse(text); } catch { return undefined; }
  }

  get family(): Family { return this.ip.family; }
  get hostBits(): bigint { return BigInt(this.ip.bits - this.prefix); }
  get mask(): bigint { return ((1n << BigInt(this.ip.bits)) - 1n) ^ ((1n << this.hostBits) - 1n); }
  network(): IP { return IP.of(this.family, this.ip.value & this.mask); }
  /** Last address of the block (the IPv4 broadcast address). */
  last(): IP { return IP.of(this.family, (this.ip.value & this.mask) | ((1n << this.hostBits) - 1n)); }
  masked(): Cidr { return new Cidr(this.network(), this.prefix); }
  contains(ip: IP): boolean { return ip.family === this.family && (ip.value & this.mask) === (this.ip.value & this.mask); }
  overlaps(o: Cidr): boolean { return this.family === o.family && (this.contains(o.network()) || o.contains(this.network())); }
  toString(): string { return `${this.ip}/${this.prefix}`; }
  toJSON(): string { return this.toString(); }
}

function parseV4(s: string): bigint | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0n;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) return undefined;
    v = (v << 8n) | BigInt(p);
  }
  return v;
}

function parseV6(s: string): bigint | undefined {
  if (s.length < 2 || s.length > 45 || !/^[0-9a-fA-F:.]+$/.test(s)) return undefined;
  let tail4: bigint | undefined;
  let body = s;
  const lastColon = s.lastIndexOf(':');
  if (s.indexOf('.') >= 0) {
    tail4 = parseV4(s.slice(lastColon + 1));
    if (tail4 === undefined) return undefined;
    body = s.slice(0, lastColon + 1) + '0:0'; // placeholder for the two groups the dotted quad fills
  }
  const halves = body.split('::');
  if (halves.length > 2) return undefined;
  const groups = (h: string): string[] | undefined => (h === '' ? [] : h.split(':'));
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !rest) return undefined;
  const total = head.length + rest.length;
  if (halves.length === 1 ? total !== 8 : total > 7) return undefined;
  const all = [...head, ...Array<string>(8 - total).fill('0'), ...rest];
  let v = 0n;
  for (const g of all) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    v = (v << 16n) | BigInt(parseInt(g, 16));
  }
  if (tail4 !== undefined) v = (v & ~0xffffffffn) | tail4;
  return v;
}

function formatV4(v: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 0xffn)).join('.');
}

function formatV6(v: bigint): string {
  const g: number[] = [];
  for (let i = 7; i >= 0; i--) g.push(Number((v >> BigInt(i * 16)) & 0xffffn));
  // RFC 5952: compress the longest run (>= 2) of zero groups, the first one on ties.
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = (a: number[]): string => a.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}
