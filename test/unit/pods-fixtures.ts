// Builders for pod-logic unit tests: pods go through the real manifest parser, so
// they carry the API server's defaults exactly as the agent would see them.
import type { Pod } from '../../agent/pods/api-types.js';
import { parseManifestDocument } from '../../agent/pods/manifest/schema.js';
import type { ContainerObservation, SandboxObservation } from '../../agent/pods/observations.js';

export const NODE = 'node-1';
export const T0 = Date.parse('2026-11-25T15:04:05Z');

/** A defaulted, validated pod from a spec; throws with the parser's messages if invalid. */
export function makePod(spec: Record<string, unknown>, metadata: Record<string, unknown> = {}): Pod {
  const doc = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', uid: 'uid-1', ...metadata }, spec };
  const r = parseManifestDocument(doc, { file: 'test.yaml', nodeName: NODE });
  if (r.errors.length) throw new Error(r.errors.map((e) => e.message).join('\n'));
  const o = r.objects[0];
  if (!o || o.kind !== 'Pod') throw new Error('no pod');
  return o.pod;
}

export const c = (name: string, extra: Record<string, unknown> = {}) => ({ name, image: 'localhost/kna/busybox:latest', ...extra });

export function sandbox(extra: Partial<SandboxObservation> = {}): SandboxObservation {
  return { id: 'sb1', ready: true, attempt: 0, podIPs: ['10.88.0.5'], createdAt: T0, ...extra };
}

export function running(name: string, extra: Partial<ContainerObservation> = {}): ContainerObservation {
  return { name, containerId: `id-${name}`, sandboxId: 'sb1', image: 'localhost/kna/busybox:latest', imageRef: 'sha256:abc', state: 'running', createdAt: T0, startedAt: T0 + 1000, restartCount: 0, ...extra };
}

export function exited(name: string, exitCode: number, extra: Partial<ContainerObservation> = {}): ContainerObservation {
  return running(name, { state: 'exited', exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', finishedAt: T0 + 5000, ...extra });
}
