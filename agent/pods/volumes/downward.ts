// Downward API values (fieldRef, resourceFieldRef) as kubelet renders them. Pure.
import { toBytes, toMilliCores } from '../quantity.js';
import type { ContainerLike, PodLike, Quantity, ResourceFieldSelector } from './types.js';

export class DownwardAPIError extends Error {
  override readonly name = 'DownwardAPIError';
}

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;
const SHORT_ESCAPES: Record<string, string> = { '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v', '"': '\\"', '\\': '\\\\' };

/** Go's strconv.Quote (the %q verb), which kubelet uses for label/annotation values. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (SHORT_ESCAPES[ch]) out += SHORT_ESCAPES[ch];
    else if (ch === ' ' || (cp >= 0x20 && cp < 0x7f) || (cp > 0x7f && PRINTABLE.test(ch))) out += ch;
    else if (cp < 0x80) out += '\\x' + cp.toString(16).padStart(2, '0');
    else if (cp < 0x10000) out += '\\u' + cp.toString(16).padStart(4, '0');
    else out += '\\U' + cp.toString(16).padStart(8, '0');
  }
  return out + '"';
}

/** Labels/annotations file content: `key="value"` lines sorted by key, no trailing newline. */
export function formatMap(m: Record<string, string> | undefined): string {
  return Object.keys(m ?? {})
    .sort()
    .map((k) => `${k}=${goQuote(m![k]!)}`)
    .join('\n');
}

/** Value of a volume fieldRef: metadata.name|namespace|uid|labels|annotations (and labels['k'] / annotations['k']). */
export function fieldRefValue(pod: PodLike, fieldPath: string): string {
  const md = pod.metadata;
  const sub = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (sub) return (sub[1] === 'labels' ? md.labels : md.annotations)?.[sub[2]!] ?? '';
  switch (fieldPath) {
    case 'metadata.name': return md.name ?? '';
    case 'metadata.namespace': return md.namespace ?? '';
    case 'metadata.uid': return md.uid ?? '';
    case 'metadata.labels': return formatMap(md.labels);
    case 'metadata.annotations': return formatMap(md.annotations);
    default: throw new DownwardAPIError(`unsupported fieldPath ${JSON.stringify(fieldPath)} (volumes support metadata.name, namespace, uid, labels, annotations)`);
  }
}

function findContainer(pod: PodLike, name: string | undefined): ContainerLike {
  const all = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])];
  const c = name ? all.find((x) => x.name === name) : all.length === 1 ? all[0] : undefined;
  if (!c) throw new DownwardAPIError(`resourceFieldRef: containerName ${JSON.stringify(name ?? '')} does not name a container of the pod`);
  return c;
}

/**
 * Value of a resourceFieldRef, e.g. limits.cpu with divisor 1m -> "500". Unset limits
 * fall back to node allocatable (as kubelet does); unset requests default to the
 * limit when one is set (API defaulting), else 0. Rounded up like kubelet.
 */
export function resourceFieldValue(pod: PodLike, sel: ResourceFieldSelector, allocatable: Record<string, Quantity>): string {
  const c = findContainer(pod, sel.containerName);
  const m = /^(limits|requests)\.(cpu|memory|ephemeral-storage|hugepages-.+)$/.exec(sel.resource);
  if (!m) throw new DownwardAPIError(`resourceFieldRef: unsupported resource ${JSON.stringify(sel.resource)}`);
  const [, kind, res] = m as unknown as [string, 'limits' | 'requests', string];
  const limit = c.resources?.limits?.[res];
  let q: Quantity | undefined = kind === 'limits' ? limit ?? allocatable[res] : c.resources?.requests?.[res] ?? limit;
  q ??= 0;
  // cpu in millicores (so divisor 1m counts millicores), everything else in whole bytes; both rounded up like Go.
  const measure = res === 'cpu' ? toMilliCores : toBytes;
  const num = measure(q);
  const den = measure(sel.divisor ?? '1');
  if (den <= 0) throw new DownwardAPIError(`resourceFieldRef: divisor ${JSON.stringify(sel.divisor)} must be positive`);
  return String(Math.ceil(num / den));
}
