import assert from 'node:assert/strict';
import { test } from 'node:test';
import { containerResources, milliCpuToQuota, milliCpuToShares, oomScoreAdjust } from '../../agent/pods/resources.js';
import { c, makePod } from './pods-fixtures.js';

const GiB = 2 ** 30;
const CAP = 8 * GiB;

test('cpu shares and quota as kubelet computes them', () => {
  assert.equal(milliCpuToShares(0), 2);
  assert.equal(milliCpuToShares(1), 2, 'minimum 2');
  assert.equal(milliCpuToShares(100), 102);
  assert.equal(milliCpuToShares(250), 256);
  assert.equal(milliCpuToShares(1000), 1024);
  assert.equal(milliCpuToShares(1_000_000), 262144, 'maximum');
  assert.equal(milliCpuToQuota(0), 0);
  assert.equal(milliCpuToQuota(1), 1000, 'minimum 1 ms');
  assert.equal(milliCpuToQuota(500), 50000);
  assert.equal(milliCpuToQuota(1500), 150000);
});

test('LinuxContainerResources for a Guaranteed container', () => {
  const pod = makePod({ containers: [c('a', { resources: { limits: { cpu: '500m', memory: '64Mi' } } })] });
  assert.deepEqual(containerResources(pod, pod.spec.containers[0]!, CAP), {
    cpuShares: 512, cpuPeriod: 100000, cpuQuota: 50000, memoryLimitInBytes: 64 * 2 ** 20, oomScoreAdj: -997,
  });
});

test('BestEffort: minimal shares, no quota, no memory limit, OOM score 1000', () => {
  const pod = makePod({ containers: [c('a')] });
  assert.deepEqual(containerResources(pod, pod.spec.containers[0]!, CAP), {
    cpuShares: 2, cpuPeriod: 100000, cpuQuota: 0, memoryLimitInBytes: 0, oomScoreAdj: 1000,
  });
});

test('Burstable OOM score: 1000 - 1000*request/capacity within [3, 999]', () => {
  const burst = (memory: string) => makePod({ containers: [c('a', { resources: { requests: { memory, cpu: '100m' } } })] });
  const adj = (memory: string) => { const p = burst(memory); return oomScoreAdjust(p, p.spec.containers[0]!, CAP); };
  assert.equal(adj('1Gi'), 875);
  assert.equal(adj('4Gi'), 500);
  assert.equal(adj('8Gi'), 3, 'never as low as Guaranteed');
  assert.equal(adj('16Gi'), 3);
  assert.equal(adj('1'), 999, 'never as high as BestEffort');
  const cpuOnly = makePod({ containers: [c('a', { resources: { requests: { cpu: '100m' } } })] });
  assert.equal(oomScoreAdjust(cpuOnly, cpuOnly.spec.containers[0]!, CAP), 999);
  const r = containerResources(cpuOnly, cpuOnly.spec.containers[0]!, CAP);
  assert.equal(r.cpuShares, 102);
  assert.equal(r.cpuQuota, 0);
});

test('sidecars score no higher than the smallest regular container; node-critical pods -997', () => {
  const pod = makePod({
    initContainers: [c('side', { restartPolicy: 'Always', resources: { requests: { memory: '1Gi' } } })],
    containers: [c('a', { resources: { requests: { memory: '2Gi' } } }), c('b', { resources: { requests: { memory: '4Gi' } } })],
  });
  assert.equal(oomScoreAdjust(pod, pod.spec.initContainers[0]!, CAP), 750);
  assert.equal(oomScoreAdjust(pod, pod.spec.containers[0]!, CAP), 750);
  const critical = makePod({ priorityClassName: 'system-node-critical', containers: [c('a')] });
  assert.equal(oomScoreAdjust(critical, critical.spec.containers[0]!, CAP), -997);
});
