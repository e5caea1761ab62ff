// What configMap, secret, downwardAPI and projected volumes should contain: a
// Payload (relative path -> bytes + mode) built from the pod and looked-up objects.
// No file system access here; the atomic writer puts payloads on disk.
import type { FileProjection, Payload } from './atomic-writer.js';
import { fieldRefValue, resourceFieldValue } from './downward.js';
import type {
  ConfigMapLike, DownwardAPIVolumeFile, KeyToPath, ObjectLookup, PodLike, Quantity, SecretLike, TokenProvider, VolumeSpec,
} from './types.js';

/** kubelet's default file mode for configMap, secret, downwardAPI and projected volumes. */
export const DEFAULT_MODE = 0o644;
/** kubelet's default token lifetime when serviceAccountToken.expirationSeconds is unset. */
export const DEFAULT_TOKEN_EXPIRATION_SECONDS = 3600;

export class PayloadError extends Error {
  override readonly name = 'PayloadError';
}

export interface PayloadSources {
  objects?: ObjectLookup | undefined;
  tokenProvider?: TokenProvider | undefined;
  nodeAllocatable: Record<string, Quantity>;
}

function checkMode(mode: number, field: string): number {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) throw new PayloadError(`${field} ${mode} must be within 0..0777 (decimal 0..511)`);
  return mode;
}

function file(data: Buffer | string, mode: number): FileProjection {
  return { data: typeof data === 'string' ? Buffer.from(data, 'utf8') : data, mode };
}

function decodeBase64(s: string, what: string): Buffer {
  const clean = s.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean) || clean.length % 4 === 1) throw new PayloadError(`${what} is not valid base64`);
  return Buffer.from(clean, 'base64');
}

/** Key -> bytes of a ConfigMap (data as UTF-8, binaryData base64). */
export function configMapData(cm: ConfigMapLike): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(cm.data ?? {})) out.set(k, Buffer.from(v, 'utf8'));
  for (const [k, v] of Object.entries(cm.binaryData ?? {})) out.set(k, decodeBase64(v, `binaryData[${k}]`));
  return out;
}

/** Key -> bytes of a Secret (data base64; stringData, accepted from manifests, wins as the API server does). */
export function secretData(s: SecretLike): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(s.data ?? {})) out.set(k, decodeBase64(v, `data[${k}]`));
  for (const [k, v] of Object.entries(s.stringData ?? {})) out.set(k, Buffer.from(v, 'utf8'));
  return out;
}

/** Projects keys to files: all keys when items is empty, else only the listed ones. */
function projectKeys(
  data: Map<string, Buffer>, items: KeyToPath[] | undefined, defaultMode: number, optional: boolean, what: string, out: Payload,
): void {
  if (!items || items.length === 0) {
    for (const [k, v] of data) out.set(k, file(v, defaultMode));
    return;
  }
  for (const it of items) {
    const v = data.get(it.key);
    if (v === undefined) {
      if (optional) continue;
      throw new PayloadError(`${what} references non-existent key: ${it.key}`);
    }
    out.set(it.path, file(v, it.mode === undefined ? defaultMode : checkMode(it.mode, `items[${it.key}].mode`)));
  }
}

async function configMapPayload(
  pod: PodLike, name: string | undefined, items: KeyToPath[] | undefined, optional: boolean, mode: number, src: PayloadSources, out: Payload,
): Promise<void> {
  const ns = pod.metadata.namespace ?? 'default';
  if (!name) throw new PayloadError('configMap.name must be set');
  const cm = await src.objects?.configMap(ns, name);
  if (!cm) {
    if (optional) return;
    throw new PayloadError(`configmap "${name}" not found in namespace "${ns}"`);
  }
  projectKeys(configMapData(cm), items, mode, optional, `configmap "${name}"`, out);
}

async function secretPayload(
  pod: PodLike, name: string | undefined, items: KeyToPath[] | undefined, optional: boolean, mode: number, src: PayloadSources, out: Payload,
): Promise<void> {
  const ns = pod.metadata.namespace ?? 'default';
  if (!name) throw new PayloadError('secret name must be set');
  const s = await src.objects?.secret(ns, name);
  if (!s) {
    if (optional) return;
    throw new PayloadError(`secret "${name}" not found in namespace "${ns}"`);
  }
  projectKeys(secretData(s), items, mode, optional, `secret "${name}"`, out);
}

function downwardPayload(pod: PodLike, items: DownwardAPIVolumeFile[] | undefined, mode: number, src: PayloadSources, out: Payload): void {
  for (const it of items ?? []) {
    let value: string;
    if (it.fieldRef) value = fieldRefValue(pod, it.fieldRef.fieldPath);
    else if (it.resourceFieldRef) value = resourceFieldValue(pod, it.resourceFieldRef, src.nodeAllocatable);
    else throw new PayloadError(`downwardAPI item ${JSON.stringify(it.path)} needs fieldRef or resourceFieldRef`);
    out.set(it.path, file(value, it.mode === undefined ? mode : checkMode(it.mode, `items[${it.path}].mode`)));
  }
}

export type AtomicVolumeKind = 'configMap' | 'secret' | 'downwardAPI' | 'projected';

/** The payload of one atomic-writer volume of the pod. */
export async function buildPayload(pod: PodLike, vol: VolumeSpec, kind: AtomicVolumeKind, src: PayloadSources): Promise<Payload> {
  const out: Payload = new Map();
  switch (kind) {
    case 'configMap': {
      const s = vol.configMap!;
      await configMapPayload(pod, s.name, s.items, s.optional ?? false, checkMode(s.defaultMode ?? DEFAULT_MODE, 'configMap.defaultMode'), src, out);
      break;
    }
    case 'secret': {
      const s = vol.secret!;
      await secretPayload(pod, s.secretName, s.items, s.optional ?? false, checkMode(s.defaultMode ?? DEFAULT_MODE, 'secret.defaultMode'), src, out);
      break;
    }
    case 'downwardAPI': {
      const s = vol.downwardAPI!;
      downwardPayload(pod, s.items, checkMode(s.defaultMode ?? DEFAULT_MODE, 'downwardAPI.defaultMode'), src, out);
      break;
    }
    case 'projected': {
      const s = vol.projected!;
      const mode = checkMode(s.defaultMode ?? DEFAULT_MODE, 'projected.defaultMode');
      for (const [i, source] of (s.sources ?? []).entries()) {
        if (source.configMap) await configMapPayload(pod, source.configMap.name, source.configMap.items, source.configMap.optional ?? false, mode, src, out);
        else if (source.secret) await secretPayload(pod, source.secret.name, source.secret.items, source.secret.optional ?? false, mode, src, out);
        else if (source.downwardAPI) downwardPayload(pod, source.downwardAPI.items, mode, src, out);
        else if (source.serviceAccountToken) {
          const t = source.serviceAccountToken;
          if (!src.tokenProvider) {
            throw new PayloadError(`projected source ${i}: serviceAccountToken is not supported without a token provider (standalone mode has no TokenRequest API)`);
          }
          const token = await src.tokenProvider({
            namespace: pod.metadata.namespace ?? 'default',
            serviceAccountName: pod.spec.serviceAccountName || 'default',
            podName: pod.metadata.name ?? '',
            podUid: pod.metadata.uid ?? '',
            audience: t.audience || undefined,
            expirationSeconds: t.expirationSeconds ?? DEFAULT_TOKEN_EXPIRATION_SECONDS,
          });
          out.set(t.path, file(token, mode));
        } else {
          throw new PayloadError(`projected source ${i}: unsupported source ${JSON.stringify(Object.keys(source))}`);
        }
      }
      break;
    }
  }
  return out;
}
