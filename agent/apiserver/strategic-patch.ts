// Two-way strategic merge patch: the smallest patch that turns `original` into
// `modified`, in the form kubelet sends for status (lists merged by key, with
// $setElementOrder and $patch: delete for removed items, null for removed map
// keys). Pure.

type Json = unknown;
type JsonObject = Record<string, Json>;
const isObject = (v: Json): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Merge keys by dotted path (no list indices) for lists that merge rather than replace. */
export const NODE_STATUS_KEYS: Record<string, string> = { 'status.conditions': 'type', 'status.addresses': 'type' };
export const POD_STATUS_KEYS: Record<string, string> = {
  'status.conditions': 'type',
  'status.containerStatuses': 'name',
  'status.initContainerStatuses': 'name',
  'status.ephemeralContainerStatuses': 'name',
  'status.podIPs': 'ip',
  'status.hostIPs': 'ip',
};

const equal = (a: Json, b: Json): boolean => JSON.stringify(a) === JSON.stringify(b);

/** The patch, or undefined when there is no difference. */
export function twoWayMergePatch(original: Json, modified: Json, keys: Record<string, string>, path = ''): JsonObject | undefined {
  if (!isObject(original) || !isObject(modified)) throw new TypeError('twoWayMergePatch: both sides must be objects');
  const patch: JsonObject = {};
  const at = (k: string) => (path ? `${path}.${k}` : k);
  for (const k of Object.keys(original)) if (!(k in modified)) patch[k] = null;
  for (const [k, m] of Object.entries(modified)) {
    const o = original[k];
    if (equal(o, m)) continue;
    const mk = keys[at(k)];
    if (isObject(o) && isObject(m)) {
      const sub = twoWayMergePatch(o, m, keys, at(k));
      if (sub) patch[k] = sub;
    } else if (mk && Array.isArray(m) && Array.isArray(o)) {
      const items: Json[] = [];
      const keyOf = (x: Json) => (isObject(x) ? x[mk] : undefined);
      for (const item of m) {
        const before = o.find((x) => keyOf(x) === keyOf(item));
        if (before === undefined) items.push(item);
        else if (!equal(before, item)) items.push({ [mk]: keyOf(item), ...twoWayMergePatch(before, item, keys, at(k)) });
      }
      for (const item of o) if (!m.some((x) => keyOf(x) === keyOf(item))) items.push({ [mk]: keyOf(item), $patch: 'delete' });
      if (items.length) patch[k] = items;
      patch[`$setElementOrder/${k}`] = m.map((x) => ({ [mk]: keyOf(x) }));
    } else {
      patch[k] = m;
    }
  }
  return Object.keys(patch).length ? patch : undefined;
}
