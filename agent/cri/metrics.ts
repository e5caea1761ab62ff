// kubelet's runtime operation metrics, fed by CriClient's onCall: how many CRI calls of
// each kind the agent makes, how long they take, how many fail.
import { Counter, Histogram, type Registry } from 'prom-client';

/** RunPodSandbox → run_podsandbox, as kubelet's instrumented runtime service names them. */
export function operationType(call: string): string {
  if (call === 'UpdateContainerResources') return 'update_container';
  return call.replace(/[A-Z]/g, (c, i: number) => (i ? '_' : '') + c.toLowerCase()).replace(/pod_sandbox/g, 'podsandbox');
}

export function runtimeOperationMetrics(registry: Registry): (call: string, seconds: number, ok: boolean) => void {
  const labelNames = ['operation_type'] as const;
  const total = new Counter({ name: 'kubelet_runtime_operations_total', help: 'Cumulative number of runtime operations by operation type.', labelNames, registers: [registry] });
  const errors = new Counter({ name: 'kubelet_runtime_operations_errors_total', help: 'Cumulative number of runtime operation errors by operation type.', labelNames, registers: [registry] });
  const duration = new Histogram({
    name: 'kubelet_runtime_operations_duration_seconds', help: 'Duration in seconds of runtime operations, by operation type.', labelNames,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry],
  });
  const types = new Map<string, string>();
  return (call, seconds, ok) => {
    let t = types.get(call);
    if (!t) types.set(call, (t = operationType(call)));
    total.inc({ operation_type: t });
    duration.observe({ operation_type: t }, seconds);
    if (!ok) errors.inc({ operation_type: t });
  };
}
