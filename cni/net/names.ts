// Names that end up in the kernel (link names, aliases), in iptables comments and
// in file names. Stricter than Linux where the spec allows odd characters, because
// these strings are embedded in iptables-restore input and on-disk state.

/** Spec: starts alphanumeric, then alphanumerics, `_`, `.`, `-`. */
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** Link names: < 16 bytes, no `/`, `:` or whitespace (Linux); we also refuse quotes and shell-ish characters. */
const IFNAME_RE = /^[A-Za-z0-9_.@+=-]{1,15}$/;

export const MAX_ID_LENGTH = 128;

export function isValidContainerId(s: string): boolean {
  return s.length <= MAX_ID_LENGTH && ID_RE.test(s);
}

export function isValidNetworkName(s: string): boolean {
  return s.length <= 64 && ID_RE.test(s);
}

export function isValidIfName(s: string): boolean {
  return IFNAME_RE.test(s) && s !== '.' && s !== '..';
}

/** FNV-1a 64-bit as hex: stable short names without loading node:crypto at start-up. */
export function fnv64(text: string): string {
  let h = 0xcbf29ce484222325n;
  const bytes = Buffer.from(text, 'utf8');
  for (const b of bytes) {
    h ^= BigInt(b);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, '0');
}

/**
 * Host end of the pod's veth, derived from the attachment key so that DEL and a
 * retried ADD find it without any saved state. 15 characters: `veth` + 11 hex.
 */
export function hostVethName(network: string, containerId: string, ifname: string): string {
  return `veth${fnv64(`${network}/${containerId}/${ifname}`).slice(0, 11)}`;
}

/** The host veth's alias names its attachment, so GC can find leaked links exactly. */
export function attachmentTag(network: string, containerId: string, ifname: string): string {
  return `kna-cni/${network}/${containerId}/${ifname}`;
}

export function parseAttachmentTag(tag: string): { network: string; containerId: string; ifname: string } | undefined {
  const m = /^kna-cni\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(tag);
  return m ? { network: m[1]!, containerId: m[2]!, ifname: m[3]! } : undefined;
}

export function formatMac(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
}

/**
 * Pod MAC: locally administered and derived from the pod's address (0a:58 + IPv4,
 * as kubenet did), so a reused IP keeps its MAC and neighbours' ARP caches stay right.
 */
export function podMac(seed: Uint8Array): Uint8Array {
  const out = new Uint8Array(6);
  out[0] = 0x0a; out[1] = 0x58;
  if (seed.length === 4) out.set(seed, 2);
  else {
    const h = fnv64(Buffer.from(seed).toString('hex'));
    for (let i = 0; i < 4; i++) out[2 + i] = parseInt(h.slice(i * 2, i * 2 + 2), 16);
  }
  return out;
}

/** A random locally administered unicast MAC (bridge, host veth). */
export function randomMac(): Uint8Array {
  const out = new Uint8Array(6);
  for (let i = 0; i < 6; i++) out[i] = Math.floor(Math.random() * 256);
  out[0] = (out[0]! & 0xfe) | 0x02;
  return out;
}
