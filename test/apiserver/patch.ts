// The three PATCH flavours the API server takes: JSON merge patch (RFC 7386),
// JSON patch (RFC 6902) and strategic merge patch with the directives clients
// actually send ($patch, $setElementOrder, $deleteFromPrimitiveList, $retainKeys).
// Pure.

export class PatchError extends Error {
  override readonly name = 'PatchError';
}

type Json = unknown;
type JsonObject = Record<string, Json>;

const isObject = (v: Json): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const clone = <T>(v: T): T => structuredClone(v);

// ------------------------------------------------------------------ merge patch

export function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

// ------------------------------------------------------------------ JSON patch

interface Op {
  op: string;
  path: string;
  from?: string;
  value?: Json;
}

function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw new PatchError(`invalid JSON pointer "${path}"`);
  return path.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function parentOf(doc: Json, tokens: string[], path: string): { parent: JsonObject | Json[]; key: string } {
  let cur = doc;
  for (const t of tokens.slice(0, -1)) {
    cur = Array.isArray(cur) ? cur[Number(t)] : isObject(cur) ? cur[t] : undefined;
    if (cur === undefined) throw new PatchError(`path "${path}": parent does not exist`);
  }
  if (!Array.isArray(cur) && !isObject(cur)) throw new PatchError(`path "${path}": parent is not a container`);
  return { parent: cur, key: tokens[tokens.length - 1]! };
}

function getAt(doc: Json, path: string): Json {
  let cur = doc;
  for (const t of pointer(path)) {
    cur = Array.isArray(cur) ? cur[Number(t)] : isObject(cur) ? cur[t] : undefined;
    if (cur === undefined) throw new PatchError(`path "${path}" does not exist`);
  }
  return cur;
}

function index(arr: Json[], key: string, path: string, forAdd: boolean): number {
  if (forAdd && key === '-') return arr.length;
  if (!/^(0|[1-9]\d*)$/.test(key)) throw new PatchError(`path "${path}": bad array index`);
  const i = Number(key);
  if (i > arr.length || (!forAdd && i === arr.length)) throw new PatchError(`path "${path}": index out of range`);
  return i;
}

function removeAt(doc: Json, path: string): Json {
  const { parent, key } = parentOf(doc, pointer(path), path);
  if (Array.isArray(parent)) return parent.splice(index(parent, key, path, false), 1)[0];
  if (!Object.hasOwn(parent, key)) throw new PatchError(`path "${path}" does not exist`);
  const v = parent[key];
  delete parent[key];
  return v;
}

function addAt(doc: Json, path: string, value: Json): Json {
  const tokens = pointer(path);
  if (tokens.length === 0) return value;
  const { parent, key } = parentOf(doc, tokens, path);
  if (Array.isArray(parent)) parent.splice(index(parent, key, path, true), 0, value);
  else parent[key] = value;
  return doc;
}

export function jsonPatch(target: Json, ops: Json): Json {
  if (!Array.isArray(ops)) throw new PatchError('a JSON patch must be an array of operations');
  let doc = clone(target);
  for (const raw of ops) {
    if (!isObject(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string') throw new PatchError('each operation needs "op" and "path"');
    const op = raw as unknown as Op;
    switch (op.op) {
      case 'add': doc = addAt(doc, op.path, clone(op.value)); break;
      case 'remove': removeAt(doc, op.path); break;
      case 'replace': removeAt(doc, op.path); doc = addAt(doc, op.path, clone(op.value)); break;
      case 'move': { const v = removeAt(doc, op.from ?? ''); doc = addAt(doc, op.path, v); break; }
      case 'copy': doc = addAt(doc, op.path, clone(getAt(doc, op.from ?? ''))); break;
      case 'test':
        if (JSON.stringify(getAt(doc, op.path)) !== JSON.stringify(op.value)) throw new PatchError(`test operation failed at "${op.path}"`);
        break;
      default: throw new PatchError(`unknown operation "${op.op}"`);
    }
  }
  return doc;
}

// ------------------------------------------------------------------ strategic merge patch

/**
 * Where a list merges instead of being replaced: path (dotted, without list
 * indices) → the merge key, or '' for a list of scalars merged as a set.
 * Mirrors the patchMergeKey / patchStrategy tags of the Go types we serve.
 */
export type MergeKeys = Record<string, string>;

const COMMON: MergeKeys = { 'metadata.ownerReferences': 'uid', 'metadata.finalizers': '' };
const CONTAINER = (p: string): MergeKeys => ({ [p]: 'name', [`${p}.ports`]: 'containerPort', [`${p}.env`]: 'name', [`${p}.volumeMounts`]: 'mountPath', [`${p}.volumeDevices`]: 'devicePath' });

export const MERGE_KEYS: Record<string, MergeKeys> = {
  Pod: {
    ...COMMON,
    ...CONTAINER('spec.containers'),
    ...CONTAINER('spec.initContainers'),
    ...CONTAINER('spec.ephemeralContainers'),
    'spec.volumes': 'name',
    'spec.imagePullSecrets': 'name',
    'spec.hostAliases': 'ip',
    'status.conditions': 'type',
    'status.containerStatuses': 'name',
    'status.initContainerStatuses': 'name',
    'status.ephemeralContainerStatuses': 'name',
    'status.podIPs': 'ip',
    'status.hostIPs': 'ip',
    'status.resourceClaimStatuses': 'name',
  },
  Node: { ...COMMON, 'spec.podCIDRs': '', 'status.conditions': 'type', 'status.addresses': 'type' },
  Service: { ...COMMON, 'spec.ports': 'port' },
  Namespace: { ...COMMON },
  ServiceAccount: { ...COMMON, 'secrets': 'name' },
};

function keysFor(kind: string): MergeKeys {
  return MERGE_KEYS[kind] ?? COMMON;
}

export function strategicMergePatch(target: Json, patch: Json, kind: string): Json {
  if (!isObject(patch)) throw new PatchError('a strategic merge patch must be a JSON object');
  const out = mergeMap(isObject(target) ? target : {}, patch, '', keysFor(kind));
  return out ?? {};
}

function stripDirectives(v: Json): Json {
  if (Array.isArray(v)) return v.map(stripDirectives);
  if (!isObject(v)) return v;
  const out: JsonObject = {};
  for (const [k, x] of Object.entries(v)) if (!k.startsWith('$')) out[k] = stripDirectives(x);
  return out;
}

function mergeMap(orig: JsonObject, patch: JsonObject, path: string, keys: MergeKeys): JsonObject | undefined {
  if (patch.$patch === 'delete') return undefined;
  if (patch.$patch === 'replace') return stripDirectives(patch) as JsonObject;
  const out = clone(orig);
  const at = (k: string) => (path ? `${path}.${k}` : k);
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$')) continue;
    if (v === null) {
      delete out[k];
    } else if (Array.isArray(v)) {
      const mk = keys[at(k)];
      const cur = Array.isArray(out[k]) ? (out[k] as Json[]) : [];
      out[k] = mk === undefined ? stripDirectives(v) : mk === '' ? mergeSet(cur, v) : mergeList(cur, v, mk, at(k), keys);
    } else if (isObject(v)) {
      const merged = mergeMap(isObject(out[k]) ? (out[k] as JsonObject) : {}, v, at(k), keys);
      if (merged === undefined) delete out[k];
      else out[k] = merged;
    } else {
      out[k] = v;
    }
  }
  for (const [k, v] of Object.entries(patch)) {
    const field = k.slice(k.indexOf('/') + 1);
    if (k.startsWith('$deleteFromPrimitiveList/') && Array.isArray(out[field]) && Array.isArray(v)) {
      out[field] = (out[field] as Json[]).filter((x) => !v.includes(x));
    }
    if (k.startsWith('$setElementOrder/') && Array.isArray(out[field]) && Array.isArray(v)) {
      out[field] = reorder(out[field] as Json[], v, keys[at(field)] ?? '');
    }
  }
  if (Array.isArray(patch.$retainKeys)) {
    const keep = new Set(patch.$retainKeys as string[]);
    for (const k of Object.keys(out)) if (!keep.has(k)) delete out[k];
  }
  return out;
}

function mergeSet(orig: Json[], patch: Json[]): Json[] {
  const out = [...orig];
  for (const v of patch) if (!out.includes(v)) out.push(v);
  return out;
}

function mergeList(orig: Json[], patch: Json[], mk: string, path: string, keys: MergeKeys): Json[] {
  if (patch.some((p) => isObject(p) && p.$patch === 'replace' && Object.keys(p).length === 1)) {
    return patch.filter((p) => !(isObject(p) && p.$patch === 'replace')).map(stripDirectives);
  }
  const out = clone(orig);
  for (const item of patch) {
    if (!isObject(item)) throw new PatchError(`${path}: list items must be objects with "${mk}"`);
    if (!(mk in item)) throw new PatchError(`${path}: map item lacks the merge key "${mk}"`);
    const i = out.findIndex((o) => isObject(o) && o[mk] === item[mk]);
    if (item.$patch === 'delete') {
      if (i >= 0) out.splice(i, 1);
      continue;
    }
    const merged = mergeMap(i >= 0 && isObject(out[i]) ? (out[i] as JsonObject) : {}, item, path, keys);
    if (merged === undefined) continue;
    if (i >= 0) out[i] = merged;
    else out.push(merged);
  }
  return out;
}

/** Orders `list` as `order` says; items the order does not name keep their place after. */
function reorder(list: Json[], order: Json[], mk: string): Json[] {
  const keyOf = (x: Json): Json => (mk && isObject(x) ? x[mk] : x);
  const want = order.map(keyOf);
  const named = want.flatMap((k) => list.filter((x) => keyOf(x) === k));
  return [...named, ...list.filter((x) => !want.includes(keyOf(x)))];
}
