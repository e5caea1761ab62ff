// One manifest document (already YAML/JSON-decoded) -> typed, defaulted, validated
// objects, or errors that name the file, the object and the field the way kubectl
// does. Pure: the reader does the I/O.
//
// Static pod UID: kubelet gives a file pod without metadata.uid the md5 of the decoded
// pod plus "host:<node>" and "file:<path>" (config/common.go applyDefaults). We hash the
// canonical JSON of the document as written (key order and YAML formatting do not
// matter) plus "host:<node>", without the path, so renaming a file keeps the pod; any
// content change gives a new UID, hence a new pod, exactly as a changed static pod
// manifest does under kubelet. The same derivation gives a stable UID to every other
// object that has none. Like kubelet we record it in the kubernetes.io/config.hash
// annotation, set kubernetes.io/config.source=file, and bind the pod to this node
// (spec.nodeName). Unlike kubelet we keep the pod's name as written (kubelet appends
// "-<node>"; mirrorPodName gives that name for API-server mode).
import { createHash } from 'node:crypto';
import { z } from 'zod';
import {
  configMapSchema, objectMetaSchema, podSchema, secretSchema,
  type ConfigMap, type ObjectMeta, type Pod, type RawObject, type Secret,
} from '../api-types.js';
import { duplicate, invalid, notSupported, pathString, required } from './field-errors.js';
import { validateConfigMap, validateObjectMeta, validatePod, validateSecretData } from './validate.js';

export type ManifestObject =
  | { file: string; kind: 'Pod'; pod: Pod }
  | { file: string; kind: 'ConfigMap'; configMap: ConfigMap }
  | { file: string; kind: 'Secret'; secret: Secret }
  | { file: string; kind: 'Service'; service: RawObject }
  | { file: string; kind: 'EndpointSlice'; endpointSlice: RawObject };

export type ManifestKind = ManifestObject['kind'];

/** One bad document: every line reads "<file>: <Kind ns/name>: <detail>". */
export class ManifestError extends Error {
  override readonly name = 'ManifestError';
  constructor(
    readonly file: string,
    /** "Pod default/web", or "document 2" when the object cannot be named */
    readonly object: string,
    readonly details: string[],
  ) {
    super(details.map((d) => `${file}: ${object}: ${d}`).join('\n'));
  }
}

export interface ParseContext {
  file: string;
  nodeName: string;
  /** 1-based position of the document in its file, for errors about unnamed documents */
  document?: number;
}

export const CONFIG_HASH_ANNOTATION = 'kubernetes.io/config.hash';
export const CONFIG_SOURCE_ANNOTATION = 'kubernetes.io/config.source';

const API_VERSIONS: Record<ManifestKind, string> = {
  Pod: 'v1',
  ConfigMap: 'v1',
  Secret: 'v1',
  Service: 'v1',
  EndpointSlice: 'discovery.k8s.io/v1',
};

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses one decoded document; a `kind: *List` yields its items. Never throws. */
export function parseManifestDocument(doc: unknown, ctx: ParseContext): { objects: ManifestObject[]; errors: ManifestError[] } {
  const where = `document ${ctx.document ?? 1}`;
  if (!isRecord(doc)) return fail(ctx.file, where, ['expected a Kubernetes object (a mapping with apiVersion and kind)']);
  const kind = doc.kind;
  if (typeof kind !== 'string' || kind === '') return fail(ctx.file, where, [required('kind').toString()]);
  if (kind.endsWith('List') && Array.isArray(doc.items)) {
    const out = { objects: [] as ManifestObject[], errors: [] as ManifestError[] };
    doc.items.forEach((item, i) => {
      const r = parseManifestDocument(item, { ...ctx, document: ctx.document ?? 1 });
      out.objects.push(...r.objects);
      out.errors.push(...r.errors.map((e) => (e.object.startsWith('document') ? new ManifestError(e.file, `${where} items[${i}]`, e.details) : e)));
    });
    return out;
  }
  const label = objectLabel(kind, doc.metadata);
  if (!(kind in API_VERSIONS)) {
    return fail(ctx.file, label, [`kind "${kind}" is not supported by a standalone node (supported: ${Object.keys(API_VERSIONS).join(', ')})`]);
  }
  const k = kind as ManifestKind;
  if (doc.apiVersion !== API_VERSIONS[k]) {
    if (doc.apiVersion === undefined) return fail(ctx.file, label, [required('apiVersion').toString()]);
    return fail(ctx.file, label, [`no matches for kind "${kind}" in version "${String(doc.apiVersion)}"`]);
  }
  const uid = staticUid(doc, ctx.nodeName);
  switch (k) {
    case 'Pod':
      return parsePod(doc, uid, ctx, label);
    case 'ConfigMap':
      return parseConfigMap(doc, uid, ctx, label);
    case 'Secret':
      return parseSecret(doc, uid, ctx, label);
    case 'Service':
    case 'EndpointSlice':
      return parseRaw(k, doc, uid, ctx, label);
  }
}

function parsePod(doc: Record<string, unknown>, uid: string, ctx: ParseContext, label: string) {
  const r = podSchema.safeParse(doc, { reportInput: true });
  if (!r.success) return fail(ctx.file, label, zodDetails(r.error.issues));
  const metadata = defaultMeta(r.data.metadata, uid);
  metadata.annotations = { ...metadata.annotations, [CONFIG_HASH_ANNOTATION]: metadata.uid, [CONFIG_SOURCE_ANNOTATION]: 'file' };
  const pod: Pod = { apiVersion: 'v1', kind: 'Pod', metadata, spec: { ...r.data.spec, nodeName: ctx.nodeName } };
  const errs = validatePod(pod);
  if (errs.length) return fail(ctx.file, label, errs.map(String));
  return { objects: [{ file: ctx.file, kind: 'Pod' as const, pod }], errors: [] };
}

function parseConfigMap(doc: Record<string, unknown>, uid: string, ctx: ParseContext, label: string) {
  const r = configMapSchema.safeParse(doc, { reportInput: true });
  if (!r.success) return fail(ctx.file, label, zodDetails(r.error.issues));
  const { metadata, data, binaryData, immutable } = r.data;
  const configMap: ConfigMap = {
    apiVersion: 'v1', kind: 'ConfigMap', metadata: defaultMeta(metadata, uid), data, binaryData, ...(immutable !== undefined ? { immutable } : {}),
  };
  const errs = validateConfigMap(configMap);
  if (errs.length) return fail(ctx.file, label, errs.map(String));
  return { objects: [{ file: ctx.file, kind: 'ConfigMap' as const, configMap }], errors: [] };
}

function parseSecret(doc: Record<string, unknown>, uid: string, ctx: ParseContext, label: string) {
  const r = secretSchema.safeParse(doc, { reportInput: true });
  if (!r.success) return fail(ctx.file, label, zodDetails(r.error.issues));
  const { metadata, data, stringData, type, immutable } = r.data;
  const merged = { ...data };
  for (const [k, v] of Object.entries(stringData ?? {})) merged[k] = Buffer.from(v, 'utf8').toString('base64');
  const secret: Secret = {
    apiVersion: 'v1', kind: 'Secret', metadata: defaultMeta(metadata, uid), data: merged, type, ...(immutable !== undefined ? { immutable } : {}),
  };
  const errs = [...validateObjectMeta(secret.metadata), ...validateSecretData(merged)];
  if (errs.length) return fail(ctx.file, label, errs.map(String));
  return { objects: [{ file: ctx.file, kind: 'Secret' as const, secret }], errors: [] };
}

function parseRaw(kind: 'Service' | 'EndpointSlice', doc: Record<string, unknown>, uid: string, ctx: ParseContext, label: string) {
  const r = objectMetaSchema.safeParse(doc.metadata ?? {}, { reportInput: true });
  if (!r.success) return fail(ctx.file, label, zodDetails(r.error.issues, ['metadata']));
  const metadata = defaultMeta(r.data, uid);
  const errs = validateObjectMeta(metadata);
  if (errs.length) return fail(ctx.file, label, errs.map(String));
  const raw: RawObject = { apiVersion: String(doc.apiVersion), kind, metadata, raw: doc };
  const obj: ManifestObject = kind === 'Service' ? { file: ctx.file, kind, service: raw } : { file: ctx.file, kind, endpointSlice: raw };
  return { objects: [obj], errors: [] };
}

/** Later objects with the same kind, namespace and name as an earlier one are dropped with an error. */
export function dropDuplicates(objects: ManifestObject[]): { objects: ManifestObject[]; errors: ManifestError[] } {
  const first = new Map<string, ManifestObject>();
  const out: ManifestObject[] = [];
  const errors: ManifestError[] = [];
  for (const o of objects) {
    const m = objectMeta(o);
    const id = `${o.kind}/${m.namespace}/${m.name}`;
    const prev = first.get(id);
    if (prev) {
      const e = duplicate('metadata.name', m.name);
      errors.push(new ManifestError(o.file, `${o.kind} ${m.namespace}/${m.name}`, [`${e.toString()}: already defined in ${prev.file}`]));
      continue;
    }
    first.set(id, o);
    out.push(o);
  }
  return { objects: out, errors };
}

export function objectMeta(o: ManifestObject): ObjectMeta {
  switch (o.kind) {
    case 'Pod': return o.pod.metadata;
    case 'ConfigMap': return o.configMap.metadata;
    case 'Secret': return o.secret.metadata;
    case 'Service': return o.service.metadata;
    case 'EndpointSlice': return o.endpointSlice.metadata;
  }
}

/** The name kubelet gives a static pod's mirror in the API server. */
export function mirrorPodName(name: string, nodeName: string): string {
  return `${name}-${nodeName.toLowerCase()}`;
}

/** metadata.uid if written, else md5(canonical JSON of the document + "host:<node>"), hex. */
export function staticUid(doc: Record<string, unknown>, nodeName: string): string {
  const meta = doc.metadata;
  if (isRecord(meta) && typeof meta.uid === 'string' && meta.uid !== '') return meta.uid;
  return createHash('md5').update(canonicalJson(doc)).update(`host:${nodeName}`).digest('hex');
}

/** JSON with object keys sorted at every level. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (isRecord(v)) {
    return `{${Object.keys(v).sort().filter((k) => v[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

// ------------------------------------------------------------------ helpers

function fail(file: string, object: string, details: string[]): { objects: ManifestObject[]; errors: ManifestError[] } {
  return { objects: [], errors: [new ManifestError(file, object, details)] };
}

function objectLabel(kind: string, meta: unknown): string {
  const m = isRecord(meta) ? meta : {};
  const ns = typeof m.namespace === 'string' && m.namespace ? m.namespace : 'default';
  const name = typeof m.name === 'string' ? m.name : '';
  return `${kind} ${ns}/${name}`;
}

function defaultMeta(m: z.output<typeof objectMetaSchema>, uid: string): ObjectMeta {
  return {
    name: m.name ?? '',
    namespace: m.namespace || 'default',
    uid,
    labels: { ...(m.labels ?? {}) },
    annotations: { ...(m.annotations ?? {}) },
  };
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string', number: 'a number', int: 'an integer', boolean: 'a boolean',
  array: 'a list', object: 'an object', record: 'an object',
};

/** zod issues -> the API server's phrasing; unknown fields as kubectl's strict decoding says them. */
export function zodDetails(issues: readonly z.core.$ZodIssue[], prefix: PropertyKey[] = []): string[] {
  const out: string[] = [];
  for (const issue of issues) {
    const path = pathString([...prefix, ...issue.path]);
    const input = (issue as { input?: unknown }).input;
    switch (issue.code) {
      case 'unrecognized_keys':
        for (const k of issue.keys) out.push(`unknown field "${pathString([...prefix, ...issue.path, k])}"`);
        break;
      case 'invalid_type':
        out.push((input === undefined ? required(path) : invalid(path, input, `must be ${TYPE_NAMES[issue.expected] ?? issue.expected}`)).toString());
        break;
      case 'invalid_union': {
        // The schema's unions carry their own wording ("must be an integer or a string").
        out.push((input === undefined ? required(path) : invalid(path, input, issue.message)).toString());
        break;
      }
      case 'invalid_value':
        out.push(notSupported(path, input, issue.values.map(String)).toString());
        break;
      default:
        out.push(invalid(path, input, issue.message).toString());
    }
  }
  return out;
}
