import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NODE_STATUS_KEYS, POD_STATUS_KEYS, twoWayMergePatch } from '../../agent/apiserver/strategic-patch.js';
import { jsonPatch, mergePatch, PatchError, strategicMergePatch } from '../apiserver/patch.js';

test('JSON merge patch (RFC 7386): objects merge, null deletes, lists replace', () => {
  const doc = { a: 1, b: { c: 2, d: 3 }, l: [1, 2] };
  assert.deepEqual(mergePatch(doc, { a: null, b: { c: 5 }, l: [3] }), { b: { c: 5, d: 3 }, l: [3] });
  assert.deepEqual(doc, { a: 1, b: { c: 2, d: 3 }, l: [1, 2] }, 'input untouched');
});

test('JSON patch (RFC 6902): add, remove, replace, move, copy, test', () => {
  const doc = { a: { b: [1, 2] }, c: 'x' };
  const out = jsonPatch(doc, [
    { op: 'add', path: '/a/b/-', value: 3 },
    { op: 'add', path: '/a/b/0', value: 0 },
    { op: 'replace', path: '/c', value: 'y' },
    { op: 'copy', from: '/c', path: '/d' },
    { op: 'move', from: '/d', path: '/e~1f' },
    { op: 'remove', path: '/a/b/1' },
    { op: 'test', path: '/c', value: 'y' },
  ]);
  assert.deepEqual(out, { a: { b: [0, 2, 3] }, c: 'y', 'e/f': 'y' });
  assert.throws(() => jsonPatch(doc, [{ op: 'test', path: '/c', value: 'z' }]), PatchError);
  assert.throws(() => jsonPatch(doc, [{ op: 'remove', path: '/nope' }]), PatchError);
});

const pod = {
  metadata: { name: 'p', finalizers: ['a'] },
  status: {
    phase: 'Running',
    conditions: [{ type: 'Ready', status: 'False' }, { type: 'PodScheduled', status: 'True' }],
    containerStatuses: [{ name: 'a', ready: false, restartCount: 0 }, { name: 'b', ready: true, restartCount: 1 }],
  },
};

test('strategic merge patch: conditions merge by type, containerStatuses by name', () => {
  const out = strategicMergePatch(pod, {
    status: {
      conditions: [{ type: 'Ready', status: 'True' }, { type: 'Initialized', status: 'True' }],
      containerStatuses: [{ name: 'a', ready: true }],
    },
  }, 'Pod') as typeof pod;
  assert.deepEqual(out.status.conditions, [{ type: 'Ready', status: 'True' }, { type: 'PodScheduled', status: 'True' }, { type: 'Initialized', status: 'True' }]);
  assert.deepEqual(out.status.containerStatuses, [{ name: 'a', ready: true, restartCount: 0 }, { name: 'b', ready: true, restartCount: 1 }]);
  assert.equal(out.status.phase, 'Running');
});

test('strategic merge patch directives: $patch delete/replace, $setElementOrder, primitive sets', () => {
  const out = strategicMergePatch(pod, {
    metadata: { finalizers: ['b'] },
    status: {
      '$setElementOrder/conditions': [{ type: 'PodScheduled' }, { type: 'Ready' }],
      conditions: [{ type: 'Ready', status: 'True' }],
      containerStatuses: [{ name: 'b', $patch: 'delete' }],
    },
  }, 'Pod') as typeof pod;
  assert.deepEqual(out.status.conditions.map((c) => c.type), ['PodScheduled', 'Ready']);
  assert.deepEqual(out.status.containerStatuses.map((c) => c.name), ['a']);
  assert.deepEqual(out.metadata.finalizers, ['a', 'b']);
  const replaced = strategicMergePatch(pod, { status: { $patch: 'replace', phase: 'Failed' } }, 'Pod') as { status: unknown };
  assert.deepEqual(replaced.status, { phase: 'Failed' });
  // Lists without a merge key are replaced, as on the server.
  const spec = strategicMergePatch({ spec: { taints: [{ key: 'a', effect: 'NoSchedule' }] } }, { spec: { taints: [{ key: 'b', effect: 'NoSchedule' }] } }, 'Node');
  assert.deepEqual(spec, { spec: { taints: [{ key: 'b', effect: 'NoSchedule' }] } });
});

test('a two-way patch applied by the server turns original into modified', () => {
  const original = { status: { ...pod.status, podIP: '10.0.0.1' } };
  const modified = {
    status: {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'True' }, { type: 'ContainersReady', status: 'True' }],
      containerStatuses: [{ name: 'a', ready: true, restartCount: 0 }, { name: 'b', ready: true, restartCount: 2 }],
    },
  };
  const patch = twoWayMergePatch(original, modified, POD_STATUS_KEYS)!;
  assert.ok(patch);
  assert.equal((patch.status as Record<string, unknown>).podIP, null);
  assert.deepEqual(strategicMergePatch(original, patch, 'Pod'), modified);
  assert.equal(twoWayMergePatch(modified, structuredClone(modified), POD_STATUS_KEYS), undefined);
});

test('node status patch: only changed conditions, addresses by type, removed address deleted', () => {
  const original = { status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady' }, { type: 'DiskPressure', status: 'False' }], addresses: [{ type: 'InternalIP', address: '10.0.0.1' }, { type: 'ExternalIP', address: '1.2.3.4' }, { type: 'Hostname', address: 'h' }] } };
  const modified = { status: { conditions: [{ type: 'Ready', status: 'False', reason: 'KubeletNotReady' }, { type: 'DiskPressure', status: 'False' }], addresses: [{ type: 'InternalIP', address: '10.0.0.2' }, { type: 'Hostname', address: 'h' }] } };
  const patch = twoWayMergePatch(original, modified, NODE_STATUS_KEYS)!;
  const s = patch.status as Record<string, unknown[]>;
  assert.deepEqual(s.conditions, [{ type: 'Ready', status: 'False', reason: 'KubeletNotReady' }]);
  assert.deepEqual(s.addresses, [{ type: 'InternalIP', address: '10.0.0.2' }, { type: 'ExternalIP', $patch: 'delete' }]);
  assert.deepEqual(strategicMergePatch(original, patch, 'Node'), modified);
});
