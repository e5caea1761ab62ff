import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Pod } from '../../agent/pods/api-types.js';
import { parseManifestText } from '../../agent/pods/manifest/reader.js';
import { computePodStatus } from '../../agent/pods/status.js';

const pod = (parseManifestText('apiVersion: v1\nkind: Pod\nmetadata: { name: a }\nspec:\n  containers: [{ name: c, image: busybox }]\n', 'a.yaml', 'n1').objects[0] as { pod: Pod }).pod;

test('an adopted pod (no previous status) keeps its age: startTime is its oldest sandbox', () => {
  const now = Date.parse('2026-11-25T12:00:00Z');
  const st = computePodStatus({
    pod, hostIPs: ['192.0.2.1'], now, containers: [],
    sandboxes: [
      { id: 'new', ready: true, attempt: 1, podIPs: ['10.0.0.2'], createdAt: Date.parse('2026-11-25T11:00:00Z') },
      { id: 'old', ready: false, attempt: 0, podIPs: [], createdAt: Date.parse('2026-11-25T10:00:00Z') },
    ],
  });
  assert.equal(st.startTime, '2026-11-25T10:00:00Z');
  const fresh = computePodStatus({ pod, hostIPs: ['192.0.2.1'], now, containers: [], sandboxes: [] });
  assert.equal(fresh.startTime, '2026-11-25T12:00:00Z');
  assert.equal(computePodStatus({ pod, hostIPs: [], now: now + 5000, containers: [], sandboxes: [], previous: fresh }).startTime, '2026-11-25T12:00:00Z');
});
