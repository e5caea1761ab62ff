// API pods -> runnable Pods (same schema and checks as manifests), and the status
// patch a node sends for them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { podStatusPatch } from '../../agent/apiserver/pod-status.js';
import { ApiPodError, isApiPod, podFromApi } from '../../agent/pods/api-pod.js';

/** A pod as a kube-apiserver returns it after defaulting, admission and scheduling. */
function apiPod(over: { metadata?: Record<string, unknown>; spec?: Record<string, unknown>; containers?: Record<string, unknown>[] } = {}) {
  return {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: {
      name: 'web', namespace: 'default', uid: '1f7c0a52-8d7e-4c3e-9a55-0d3c2b8c7a11', resourceVersion: '42', creationTimestamp: '2026-11-25T10:00:00Z',
      labels: { app: 'web' },
      managedFields: [{ manager: 'kubectl', operation: 'Update', apiVersion: 'v1', time: '2026-11-25T10:00:00Z', fieldsType: 'FieldsV1', fieldsV1: {} }],
      ...over.metadata,
    },
    spec: {
      containers: over.containers ?? [{
        name: 'c', image: 'localhost/kna/busybox:latest', imagePullPolicy: 'IfNotPresent', command: ['sleep', '3600'],
        resources: {}, terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File',
      }],
      restartPolicy: 'Always', terminationGracePeriodSeconds: 30, dnsPolicy: 'ClusterFirst', serviceAccountName: 'default', serviceAccount: 'default',
      nodeName: 'n1', securityContext: {}, schedulerName: 'default-scheduler', priority: 0, enableServiceLinks: true, preemptionPolicy: 'PreemptLowerPriority',
      tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }],
      ...over.spec,
    },
    status: { phase: 'Pending', qosClass: 'BestEffort' },
  };
}

test('an API pod becomes a runnable Pod with its UID, labels and the api source annotation', () => {
  const { pod, deletionGraceSeconds } = podFromApi(apiPod(), 'n1');
  assert.equal(deletionGraceSeconds, undefined);
  assert.equal(pod.metadata.uid, '1f7c0a52-8d7e-4c3e-9a55-0d3c2b8c7a11');
  assert.deepEqual(pod.metadata.labels, { app: 'web' });
  assert.equal(pod.metadata.annotations['kubernetes.io/config.source'], 'api');
  assert.equal(pod.spec.nodeName, 'n1');
  assert.equal(pod.spec.containers[0]!.image, 'localhost/kna/busybox:latest');
  assert.equal(pod.spec.terminationGracePeriodSeconds, 30);
  assert.ok(isApiPod(pod));
});

test('a pod being deleted stops within the deletion grace period', () => {
  const r = podFromApi(apiPod({ metadata: { deletionTimestamp: '2026-11-25T10:01:00Z', deletionGracePeriodSeconds: 5 } }), 'n1');
  assert.equal(r.deletionGraceSeconds, 5);
  assert.equal(r.pod.spec.terminationGracePeriodSeconds, 5);
});

test('a pod this node cannot run is an ApiPodError naming the pod and field', () => {
  const bad = apiPod({ containers: [{ name: 'c', image: 'localhost/kna/busybox:latest', volumeMounts: [{ name: 'missing', mountPath: '/x' }] }] });
  assert.throws(() => podFromApi(bad, 'n1'), (err: unknown) => err instanceof ApiPodError && /^Pod default\/web: .*volumeMounts\[0\]\.name/.test(err.message));
  const unknownField = apiPod({ spec: { notAField: true } });
  assert.throws(() => podFromApi(unknownField, 'n1'), (err: unknown) => err instanceof ApiPodError && /unknown field "spec\.notAField"/.test(err.message));
  assert.throws(() => podFromApi(apiPod(), 'other'), /spec\.nodeName: "n1" is not this node \("other"\)/);
});

const running = {
  phase: 'Running',
  conditions: [
    { type: 'Ready', status: 'True', lastProbeTime: null, lastTransitionTime: '2026-11-25T10:00:05Z' },
    { type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: '2026-11-25T10:00:00Z' },
  ],
  podIP: '10.244.0.5', podIPs: [{ ip: '10.244.0.5' }], startTime: '2026-11-25T10:00:01Z', qosClass: 'BestEffort',
  containerStatuses: [{ name: 'c', ready: true, restartCount: 0, image: 'busybox', imageID: 'sha256:1', state: { running: { startedAt: '2026-11-25T10:00:04Z' } }, lastState: {} }],
};

test('the status patch carries the uid and only what changed; unchanged status gives none', () => {
  const patch = podStatusPatch('u1', { phase: 'Pending', qosClass: 'BestEffort' }, running);
  assert.ok(patch);
  assert.deepEqual(patch.metadata, { uid: 'u1' });
  const status = patch.status as Record<string, unknown>;
  assert.equal(status.phase, 'Running');
  assert.equal(status.podIP, '10.244.0.5');
  assert.equal(status.qosClass, undefined, 'unchanged fields are left out');
  // What the server stores after the patch (nulls dropped) compares equal to ours.
  const stored = JSON.parse(JSON.stringify(running, (_k, v: unknown) => (v === null ? undefined : v))) as Record<string, unknown>;
  assert.equal(podStatusPatch('u1', stored, running), undefined);
});

test('conditions and fields of other writers are kept; ours that went away are removed', () => {
  const server = { ...running, message: 'old', nominatedNodeName: 'n1', conditions: [...running.conditions, { type: 'example.com/gate', status: 'True' }] };
  const ours = { ...running, phase: 'Succeeded' };
  const patch = podStatusPatch('u1', server, ours)!;
  const status = patch.status as Record<string, unknown>;
  assert.equal(status.phase, 'Succeeded');
  assert.equal(status.message, null, 'message is ours: absent means removed');
  assert.equal(status.nominatedNodeName, undefined, 'not ours: untouched');
  assert.equal(status.conditions, undefined, 'the gate condition stays, so conditions did not change');
});
