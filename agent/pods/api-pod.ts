// A Pod as the API server hands it to its node -> the typed, defaulted, validated Pod
// the pod machinery runs, through the same schema and checks as a manifest. Pure.
// Differences from a file pod: the API server already gave it a UID and its
// defaults, it must be bound to this node, and a deletionTimestamp means "stop it
// within deletionGracePeriodSeconds" (graceful deletion).
import type { Pod } from './api-types.js';
import { podSchema } from './api-types.js';
import { CONFIG_SOURCE_ANNOTATION, zodDetails } from './manifest/schema.js';
import { validatePod } from './manifest/validate.js';

/** An API pod this node cannot run: the message names the pod and every bad field. */
export class ApiPodError extends Error {
  override readonly name = 'ApiPodError';
  constructor(readonly pod: string, readonly details: string[]) {
    super(`Pod ${pod}: ${details.join('; ')}`);
  }
}

export interface ApiPod {
  pod: Pod;
  /** set once the pod is being deleted: stop it within this many seconds, then delete it for good */
  deletionGraceSeconds?: number;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses one pod of a watch; throws ApiPodError when it cannot run here. */
export function podFromApi(obj: unknown, nodeName: string): ApiPod {
  const meta = isRecord(obj) && isRecord(obj.metadata) ? obj.metadata : {};
  const label = `${typeof meta.namespace === 'string' ? meta.namespace : ''}/${typeof meta.name === 'string' ? meta.name : ''}`;
  // The watch's objects may lack apiVersion/kind (list items): they are Pods by construction.
  const r = podSchema.safeParse({ ...(isRecord(obj) ? obj : {}), apiVersion: 'v1', kind: 'Pod' }, { reportInput: true });
  if (!r.success) throw new ApiPodError(label, zodDetails(r.error.issues));
  const m = r.data.metadata;
  if (!m.uid || !m.name || !m.namespace) throw new ApiPodError(label, ['metadata.uid, metadata.name and metadata.namespace are required on an API pod']);
  if (r.data.spec.nodeName !== nodeName) throw new ApiPodError(label, [`spec.nodeName: "${r.data.spec.nodeName ?? ''}" is not this node ("${nodeName}")`]);
  const deleting = typeof m.deletionTimestamp === 'string' && m.deletionTimestamp !== '';
  const grace = typeof m.deletionGracePeriodSeconds === 'number' ? m.deletionGracePeriodSeconds : r.data.spec.terminationGracePeriodSeconds;
  const pod: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: m.name,
      namespace: m.namespace,
      uid: m.uid,
      labels: { ...(m.labels ?? {}) },
      annotations: { ...(m.annotations ?? {}), [CONFIG_SOURCE_ANNOTATION]: 'api' },
    },
    // kubelet stops a deleted pod within the deletion's grace period, which may be shorter than the spec's.
    spec: deleting ? { ...r.data.spec, terminationGracePeriodSeconds: Math.max(0, grace) } : r.data.spec,
  };
  const errs = validatePod(pod);
  if (errs.length) throw new ApiPodError(label, errs.map(String));
  return deleting ? { pod, deletionGraceSeconds: Math.max(0, grace) } : { pod };
}

/** Whether a pod the manager runs came from the API server (not a static pod). */
export const isApiPod = (pod: { metadata: { annotations?: Record<string, string> } }): boolean =>
  pod.metadata.annotations?.[CONFIG_SOURCE_ANNOTATION] === 'api';
