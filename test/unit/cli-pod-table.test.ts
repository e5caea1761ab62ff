import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatTable, podRows, podStatusText, shortAge } from '../../agent/cli/pod-table.js';

const now = Date.parse('2026-11-25T12:00:00Z');

test('STATUS column follows kubectl: waiting reason wins over phase', () => {
  assert.equal(podStatusText({ metadata: { name: 'a' }, status: { phase: 'Running', containerStatuses: [{ name: 'c', state: { waiting: { reason: 'CrashLoopBackOff' } } }] } }), 'CrashLoopBackOff');
  assert.equal(podStatusText({ metadata: { name: 'a' }, status: { phase: 'Succeeded', containerStatuses: [{ name: 'c', state: { terminated: { reason: 'Completed', exitCode: 0 } } }] } }), 'Completed');
  assert.equal(podStatusText({ metadata: { name: 'a' }, status: { phase: 'Running', containerStatuses: [{ name: 'c', ready: true, state: { running: {} } }] } }), 'Running');
});

test('STATUS column shows init progress and Terminating', () => {
  const pod = { metadata: { name: 'a' }, spec: { initContainers: [{}, {}] }, status: { phase: 'Pending', initContainerStatuses: [
    { name: 'i1', state: { terminated: { exitCode: 0, reason: 'Completed' } } },
    { name: 'i2', state: { running: {} } },
  ] } };
  assert.equal(podStatusText(pod), 'Init:1/2');
  assert.equal(podStatusText({ ...pod, metadata: { name: 'a', deletionTimestamp: '2026-11-25T11:00:00Z' } }), 'Terminating');
  const failed = { ...pod, status: { phase: 'Pending', initContainerStatuses: [{ name: 'i1', state: { terminated: { exitCode: 3, reason: 'Error' } } }] } };
  assert.equal(podStatusText(failed), 'Init:Error');
});

test('ages are short like kubectl', () => {
  assert.equal(shortAge('2026-11-25T11:59:15Z', now), '45s');
  assert.equal(shortAge('2026-11-25T11:50:00Z', now), '10m');
  assert.equal(shortAge('2026-11-25T09:00:00Z', now), '3h');
  assert.equal(shortAge('2026-11-20T12:00:00Z', now), '5d');
});

test('wide rows carry IP and node, READY counts ready containers', () => {
  const rows = podRows([{ metadata: { name: 'web', namespace: 'default' }, spec: { nodeName: 'n1', containers: [{}, {}] }, status: {
    phase: 'Running', podIP: '10.244.0.5', startTime: '2026-11-25T11:59:00Z',
    containerStatuses: [{ name: 'a', ready: true, restartCount: 2, state: { running: {} } }, { name: 'b', ready: false, restartCount: 1, state: { running: {} } }],
  } }], true, now);
  assert.deepEqual(rows[1], ['default', 'web', '1/2', 'Running', '3', '60s', '10.244.0.5', 'n1']);
  assert.match(formatTable(rows), /^NAMESPACE\s+NAME\s+READY/);
});
