import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { operationType, runtimeOperationMetrics } from '../../agent/cri/metrics.js';

test('CRI calls are named as kubelet names its runtime operations', () => {
  assert.equal(operationType('RunPodSandbox'), 'run_podsandbox');
  assert.equal(operationType('ListPodSandbox'), 'list_podsandbox');
  assert.equal(operationType('PodSandboxStatus'), 'podsandbox_status');
  assert.equal(operationType('ListContainers'), 'list_containers');
  assert.equal(operationType('ExecSync'), 'exec_sync');
  assert.equal(operationType('UpdateContainerResources'), 'update_container');
});

test('runtime operation metrics count calls, errors and durations per operation', async () => {
  const registry = new Registry();
  const onCall = runtimeOperationMetrics(registry);
  onCall('ListContainers', 0.002, true);
  onCall('ListContainers', 0.003, true);
  onCall('StartContainer', 0.2, false);
  const text = await registry.metrics();
  assert.match(text, /kubelet_runtime_operations_total\{operation_type="list_containers"\} 2/);
  assert.match(text, /kubelet_runtime_operations_errors_total\{operation_type="start_container"\} 1/);
  assert.doesNotMatch(text, /kubelet_runtime_operations_errors_total\{operation_type="list_containers"\}/);
  assert.match(text, /kubelet_runtime_operations_duration_seconds_count\{operation_type="start_container"\} 1/);
});
