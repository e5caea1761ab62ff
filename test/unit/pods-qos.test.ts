import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cgroupParent, podCgroupParent, qosClass } from '../../agent/pods/qos.js';
import { c, makePod } from './pods-fixtures.js';

const res = (limits?: Record<string, string>, requests?: Record<string, string>) => ({ resources: { ...(limits ? { limits } : {}), ...(requests ? { requests } : {}) } });

test('no requests or limits anywhere: BestEffort', () => {
  assert.equal(qosClass(makePod({ containers: [c('a'), c('b')] })), 'BestEffort');
  assert.equal(qosClass(makePod({ containers: [c('a', res({ cpu: '0' }))] })), 'BestEffort', 'zero quantities do not count');
  assert.equal(qosClass(makePod({ containers: [c('a', res(undefined, { 'ephemeral-storage': '1Gi' }))] })), 'BestEffort', 'only cpu and memory count');
});

test('only limits set: requests default to them, so Guaranteed', () => {
  assert.equal(qosClass(makePod({ containers: [c('a', res({ cpu: '500m', memory: '64Mi' }))] })), 'Guaranteed');
  // even without the API defaulting (a raw object)
  assert.equal(qosClass({ spec: { containers: [{ resources: { limits: { cpu: '1', memory: '1Gi' } } }] } }), 'Guaranteed');
});

test('requests equal to limits in every container (init included): Guaranteed; otherwise Burstable', () => {
  const g = res({ cpu: '1', memory: '1Gi' }, { cpu: '1000m', memory: '1024Mi' });
  assert.equal(qosClass(makePod({ initContainers: [c('i', g)], containers: [c('a', g), c('b', g)] })), 'Guaranteed');
  assert.equal(qosClass(makePod({ containers: [c('a', g), c('b')] })), 'Burstable', 'one container without limits');
  assert.equal(qosClass(makePod({ initContainers: [c('i')], containers: [c('a', g)] })), 'Burstable', 'init containers count');
  assert.equal(qosClass(makePod({ containers: [c('a', res({ cpu: '1', memory: '1Gi' }, { cpu: '500m' }))] })), 'Burstable', 'request below limit');
  assert.equal(qosClass(makePod({ containers: [c('a', res({ cpu: '1' }))] })), 'Burstable', 'cpu limit only');
  assert.equal(qosClass(makePod({ containers: [c('a', res(undefined, { memory: '10Mi' }))] })), 'Burstable', 'request only');
});

test('cgroup parents under the cgroupfs driver', () => {
  assert.equal(cgroupParent('Guaranteed', 'u1'), '/kubepods/podu1');
  assert.equal(cgroupParent('Burstable', 'u1'), '/kubepods/burstable/podu1');
  assert.equal(cgroupParent('BestEffort', 'u1'), '/kubepods/besteffort/podu1');
  assert.equal(podCgroupParent(makePod({ containers: [c('a')] }, { uid: 'abc' })), '/kubepods/besteffort/podabc');
});
