// The standalone peers file (`--peers FILE`): a YAML or JSON list of the nodes in the
// overlay, each {name, nodeIP, podCIDR, vtepMAC?} (vtepMAC is needed for vxlan, not
// for host-gw). A node finds its own entry by name and skips it. The file is watched
// (fs.watch on its folder, since writers replace it by rename, plus a periodic rescan
// as a safety net) and every valid change is handed on; an invalid file is logged and
// the last good list kept, so a typo never tears routes down.
import { watch, type FSWatcher } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { Logger } from 'pino';
import { checkIPv4, checkMac, cidrsOverlap, parseCidr } from './netlink/codec.js';

export interface PeerInfo {
  /** Node name (DNS-1123 subdomain). */
  name: string;
  /** The node's underlay address: VXLAN packets and host-gw routes go there. */
  nodeIP: string;
  /** The node's pod CIDR (network address form). */
  podCIDR: string;
  /** MAC of the node's VXLAN device (VTEP); required in vxlan mode. */
  vtepMAC?: string;
}

/** The peers file (or text) is invalid; the message names the file and the field. */
export class PeersFileError extends Error {
  override name = 'PeersFileError';
  constructor(public readonly source: string, public readonly field: string, detail: string) {
    super(`${source}: ${field ? `${field}: ` : ''}${detail}`);
  }
}

/** A Kubernetes node name: a lowercase DNS-1123 subdomain. */
export const NODE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const valid = (check: (s: string) => unknown) => (s: string) => { try { check(s); return true; } catch { return false; } };

const peerSchema = z.strictObject({
  name: z.string().regex(NODE_NAME, 'must be a lowercase DNS-1123 subdomain').max(253),
  nodeIP: z.string().refine(valid(checkIPv4), 'must be an IPv4 address'),
  podCIDR: z.string().refine(valid(parseCidr), 'must be an IPv4 network CIDR such as 10.244.1.0/24'),
  vtepMAC: z.string().refine(valid(checkMac), 'must be a MAC address such as 0e:6b:0a:00:00:01').transform((s) => s.toLowerCase()).optional(),
});

const peersSchema = z.array(peerSchema).superRefine((peers, ctx) => {
  const seen = { name: new Map<string, number>(), nodeIP: new Map<string, number>() };
  peers.forEach((p, i) => {
    for (const key of ['name', 'nodeIP'] as const) {
      const j = seen[key].get(p[key]);
      if (j !== undefined) ctx.addIssue({ code: 'custom', path: [i, key], message: `duplicates [${j}].${key} (${p[key]})` });
      seen[key].set(p[key], i);
    }
    for (let j = 0; j < i; j++) {
      if (cidrsOverlap(peers[j]!.podCIDR, p.podCIDR)) {
        ctx.addIssue({ code: 'custom', path: [i, 'podCIDR'], message: `overlaps [${j}].podCIDR (${peers[j]!.podCIDR})` });
      }
    }
  });
});

function fieldPath(path: PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`)).join('');
}

/** Parses and validates a peers list from YAML or JSON text (JSON is YAML). */
export function parsePeers(text: string, source = 'peers'): PeerInfo[] {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new PeersFileError(source, '', `not valid YAML or JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  // An empty file is an empty list: a single node has no peers.
  const r = peersSchema.safeParse(doc ?? []);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new PeersFileError(source, fieldPath(issue.path), issue.message);
  }
  return r.data.map((p) => ({ name: p.name, nodeIP: p.nodeIP, podCIDR: p.podCIDR, ...(p.vtepMAC ? { vtepMAC: p.vtepMAC } : {}) }));
}

/**
 * A joined node's peers: the peers file's entries (static; they win on a name) and then
 * the API's Nodes, in name order. An API peer that clashes with one already taken (the
 * same node IP or VTEP MAC, an overlapping pod CIDR) is left out with the reason: two
 * routes for one network cannot both be right, and the kernel would refuse the second.
 */
export function mergePeers(fromFile: PeerInfo[], fromApi: PeerInfo[]): { peers: PeerInfo[]; skipped: { peer: string; reason: string }[] } {
  const peers = [...fromFile];
  const skipped: { peer: string; reason: string }[] = [];
  const names = new Set(fromFile.map((p) => p.name));
  for (const p of [...fromApi].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (names.has(p.name)) continue; // the file's entry for this node is used
    const clash = peers.find((q) => q.nodeIP === p.nodeIP || (p.vtepMAC !== undefined && q.vtepMAC === p.vtepMAC) || cidrsOverlap(q.podCIDR, p.podCIDR));
    if (clash) {
      const what = clash.nodeIP === p.nodeIP ? `node IP ${p.nodeIP}` : clash.vtepMAC === p.vtepMAC ? `VTEP MAC ${p.vtepMAC}` : `pod CIDR ${p.podCIDR} (overlaps ${clash.podCIDR})`;
      skipped.push({ peer: p.name, reason: `${what} clashes with ${names.has(clash.name) ? 'the peers file\'s' : 'Node'} ${clash.name}` });
      continue;
    }
    peers.push(p);
  }
  return { peers, skipped };
}

export async function readPeersFile(path: string): Promise<PeerInfo[]> {
  return parsePeers(await readFile(path, 'utf8'), path);
}

/** Writes the list atomically (temp file + rename), so watchers never see half a file. */
export async function writePeersFile(path: string, peers: PeerInfo[]): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  await writeFile(tmp, JSON.stringify(peers, null, 2) + '\n', { mode: 0o644 });
  await rename(tmp, path);
}

export interface PeersWatcherOptions {
  /** Re-read the file this often even without a watch event (ms); 0 = never. */
  rescanMs?: number;
  logger?: Logger;
}

/**
 * Calls `onChange` with the validated list whenever the file's content changes. A
 * missing file is "no news" (not an empty list), so start-up before the file is
 * written, or a brief delete, leaves the kernel state as it is.
 */
export class PeersWatcher {
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  private debounce?: NodeJS.Timeout;
  private lastText?: string;
  private lastJson?: string;
  private reading = Promise.resolve();

  constructor(
    readonly path: string,
    private readonly onChange: (peers: PeerInfo[]) => void,
    private readonly opts: PeersWatcherOptions = {},
  ) {}

  /** Starts watching; resolves with the current list, or undefined when the file is missing or invalid. */
  async start(): Promise<PeerInfo[] | undefined> {
    const first = await this.read();
    const file = basename(this.path);
    this.watcher = watch(dirname(this.path), { persistent: false }, (_event, name) => {
      if (name !== null && name !== file) return;
      clearTimeout(this.debounce);
      // Writers that truncate and write emit several events; let them settle briefly.
      this.debounce = setTimeout(() => this.rescan(), 5);
    });
    this.watcher.on('error', (err) => this.opts.logger?.warn({ err, path: this.path }, 'peers: watch failed; relying on rescans'));
    const every = this.opts.rescanMs ?? 2000;
    if (every > 0) this.timer = setInterval(() => this.rescan(), every).unref();
    return first;
  }

  stop(): void {
    this.watcher?.close();
    clearInterval(this.timer);
    clearTimeout(this.debounce);
  }

  private rescan(): void {
    this.reading = this.reading.then(async () => {
      const peers = await this.read();
      if (peers) this.onChange(peers);
    });
  }

  /** Reads the file; returns the list only when it is valid and differs from the last one. */
  private async read(): Promise<PeerInfo[] | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.opts.logger?.warn({ err, path: this.path }, 'peers: cannot read file');
      return undefined;
    }
    if (text === this.lastText) return undefined;
    this.lastText = text;
    try {
      const peers = parsePeers(text, this.path);
      const json = JSON.stringify(peers);
      if (json === this.lastJson) return undefined;
      this.lastJson = json;
      this.opts.logger?.info({ path: this.path, peers: peers.length }, 'peers: file changed');
      return peers;
    } catch (err) {
      this.opts.logger?.error({ path: this.path, err: (err as Error).message }, 'peers: invalid file, keeping the last good list');
      return undefined;
    }
  }
}
