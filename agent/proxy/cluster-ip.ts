// Cluster IPs for standalone Services that do not set one, from
// --service-cluster-ip-range. Stable: kept in a JSON file (written atomically), and the
// first choice for a Service is derived from its name, so it rarely moves even when the
// file is lost. Like the API server, dynamic allocation prefers the upper part of the
// range and leaves the lower band for Services that pick their IP (e.g. DNS at .10).
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1Service } from './api.js';
import { cidrContains, cidrSize, formatIP, parseCIDR, parseIP, type ParsedCIDR } from './ip.js';

export const CLUSTER_IPS_FILE = 'service-cluster-ips.json';

export class ClusterIPError extends Error {
  override readonly name = 'ClusterIPError';
}

interface Stored { version: 1; cidr: string; allocations: Record<string, string> }

export class ClusterIPAllocator {
  private constructor(private readonly file: string, private readonly cidr: ParsedCIDR, private allocations: Map<string, string>) {}

  /** Loads (or starts) the allocations kept in `rootDir`; entries outside `cidr` are dropped. */
  static async open(rootDir: string, cidr: string): Promise<ClusterIPAllocator> {
    const range = parseCIDR(cidr);
    if (!range) throw new ClusterIPError(`service cluster IP range ${JSON.stringify(cidr)} is not a CIDR`);
    const file = join(rootDir, CLUSTER_IPS_FILE);
    const allocations = new Map<string, string>();
    let text: string | undefined;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (text !== undefined) {
      let stored: Partial<Stored>;
      try {
        stored = JSON.parse(text) as Partial<Stored>;
      } catch (err) {
        throw new ClusterIPError(`${file}: not valid JSON (${(err as Error).message})`);
      }
      for (const [key, ip] of Object.entries(stored.allocations ?? {})) {
        const p = parseIP(ip);
        if (p && cidrContains(range, p)) allocations.set(key, p.text);
      }
    }
    return new ClusterIPAllocator(file, range, allocations);
  }

  /** "namespace/name" -> allocated IP. */
  current(): ReadonlyMap<string, string> {
    return this.allocations;
  }

  /**
   * Returns the Services with spec.clusterIP(s) filled where they had none, keeping
   * earlier choices. Pass the whole set: allocations of Services not in it are released.
   */
  async assign<T extends V1Service>(services: readonly T[]): Promise<T[]> {
    const claimed = new Set<string>();
    for (const s of services) {
      for (const ip of [s.spec?.clusterIP, ...(s.spec?.clusterIPs ?? [])]) {
        const p = ip ? parseIP(ip) : undefined;
        if (p) claimed.add(p.text);
      }
    }
    const needs = (s: V1Service): boolean =>
      s.spec?.type !== 'ExternalName' && !s.spec?.clusterIP && !(s.spec?.clusterIPs?.length);
    const keyOf = (s: V1Service): string => `${s.metadata?.namespace || 'default'}/${s.metadata?.name ?? ''}`;

    const next = new Map<string, string>();
    const used = new Set(claimed);
    // Earlier allocations first, so a new Service never takes an old one's address.
    for (const s of services) {
      const key = keyOf(s);
      const old = this.allocations.get(key);
      if (needs(s) && old !== undefined && !claimed.has(old) && !used.has(old)) {
        next.set(key, old);
        used.add(old);
      }
    }
    for (const s of services) {
      const key = keyOf(s);
      if (!needs(s) || next.has(key)) continue;
      const ip = this.pick(key, used);
      if (ip === undefined) throw new ClusterIPError(`Service ${key}: no free cluster IP in ${this.cidr.text}`);
      next.set(key, ip);
      used.add(ip);
    }

    const changed = next.size !== this.allocations.size || [...next].some(([k, v]) => this.allocations.get(k) !== v);
    this.allocations = next;
    if (changed) await this.save();
    return services.map((s) => {
      const ip = next.get(keyOf(s));
      if (ip === undefined || !needs(s)) return s;
      return { ...s, spec: { ...s.spec, clusterIP: ip, clusterIPs: [ip] } };
    });
  }

  /** First free address from a name-derived start, upper band first, then the lower band. */
  private pick(key: string, used: ReadonlySet<string>): string | undefined {
    const size = cidrSize(this.cidr);
    // Usable offsets: skip the network address, and the broadcast address for IPv4.
    const first = 1n;
    const last = this.cidr.family === 4 ? size - 2n : size - 1n;
    if (last < first) return undefined;
    const usable = last - first + 1n;
    const lowBand = bigMin(bigMax(16n, size / 16n), 256n);
    const bands: Array<[bigint, bigint]> = usable > lowBand
      ? [[first + lowBand, last], [first, first + lowBand - 1n]]
      : [[first, last]];
    const h = BigInt(`0x${createHash('sha256').update(key).digest('hex').slice(0, 16)}`);
    for (const [lo, hi] of bands) {
      const n = hi - lo + 1n;
      const start = h % n;
      // Linear probe; bounded so a huge IPv6 range full of claims cannot spin forever.
      const tries = n < 1_000_000n ? n : 1_000_000n;
      for (let i = 0n; i < tries; i++) {
        const ip = formatIP(this.cidr.family, this.cidr.network + lo + ((start + i) % n));
        if (!used.has(ip)) return ip;
      }
    }
    return undefined;
  }

  private async save(): Promise<void> {
    const stored: Stored = { version: 1, cidr: this.cidr.text, allocations: Object.fromEntries([...this.allocations].sort()) };
    await mkdir(join(this.file, '..'), { recursive: true });
    const tmp = `${this.file}.tmp-${process.pid}`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(`${JSON.stringify(stored, null, 2)}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.file);
  }
}

const bigMin = (a: bigint, b: bigint): bigint => (a < b ? a : b);
const bigMax = (a: bigint, b: bigint): bigint => (a > b ? a : b);
