// Container resources -> the CRI LinuxContainerResources kubelet sends (cgroupfs,
// CFS quota on, 100 ms period): cpu shares from the request (min 2, max 262144), CFS
// quota from the limit (min 1 ms), memory limit in bytes, and the OOM score
// adjustment of the pod's QoS class.
import { qosClass, type ResourcesLike } from './qos.js';
import { Quantity } from './quantity.js';

export const MIN_SHARES = 2;
export const MAX_SHARES = 262144;
export const SHARES_PER_CPU = 1024;
export const QUOTA_PERIOD_US = 100_000;
export const MIN_QUOTA_PERIOD_US = 1000;
const GUARANTEED_OOM_SCORE_ADJ = -997;
const BESTEFFORT_OOM_SCORE_ADJ = 1000;

/** Plain CRI runtime.v1 LinuxContainerResources fields (camelCase, as proto-loader gives them). */
export interface LinuxResources {
  cpuShares: number;
  cpuPeriod: number;
  /** 0 = no limit */
  cpuQuota: number;
  /** 0 = no limit */
  memoryLimitInBytes: number;
  oomScoreAdj: number;
}

export interface ResourcesContainer {
  name?: string;
  restartPolicy?: string | undefined;
  resources?: ResourcesLike;
}
export interface ResourcesPod {
  spec: { containers: ResourcesContainer[]; initContainers?: ResourcesContainer[]; priorityClassName?: string | undefined };
}

export function milliCpuToShares(milliCpu: number): number {
  if (milliCpu === 0) return MIN_SHARES;
  const shares = Math.floor((milliCpu * SHARES_PER_CPU) / 1000);
  return Math.min(MAX_SHARES, Math.max(MIN_SHARES, shares));
}

/** 0 (no quota) for no limit; else the limit's share of the period, at least 1 ms. */
export function milliCpuToQuota(milliCpu: number, periodUs = QUOTA_PERIOD_US): number {
  if (milliCpu === 0) return 0;
  return Math.max(MIN_QUOTA_PERIOD_US, Math.floor((milliCpu * periodUs) / 1000));
}

const milli = (r: ResourcesLike | undefined, kind: 'requests' | 'limits', name: string): number => {
  const v = r?.[kind]?.[name];
  return v === undefined ? 0 : Quantity.parse(v).milliValue();
};
const bytes = (r: ResourcesLike | undefined, kind: 'requests' | 'limits', name: string): number => {
  const v = r?.[kind]?.[name];
  return v === undefined ? 0 : Quantity.parse(v).value();
};

export function containerResources(pod: ResourcesPod, container: ResourcesContainer, nodeMemoryCapacityBytes: number): LinuxResources {
  const r = container.resources;
  const cpuRequest = milli(r, 'requests', 'cpu');
  const cpuLimit = milli(r, 'limits', 'cpu');
  // A request left unset where a limit is set is the limit (kubelet repeats the API default).
  const cpuShares = milliCpuToShares(cpuRequest === 0 && cpuLimit !== 0 ? cpuLimit : cpuRequest);
  return {
    cpuShares,
    cpuPeriod: QUOTA_PERIOD_US,
    cpuQuota: milliCpuToQuota(cpuLimit),
    memoryLimitInBytes: bytes(r, 'limits', 'memory'),
    oomScoreAdj: oomScoreAdjust(pod, container, nodeMemoryCapacityBytes),
  };
}

/**
 * kubelet's GetContainerOOMScoreAdjust: -997 for Guaranteed and node-critical pods,
 * 1000 for BestEffort, else 1000 - 1000*memoryRequest/capacity kept within [3, 999];
 * a sidecar scores no higher than the regular container with the smallest request.
 */
export function oomScoreAdjust(pod: ResourcesPod, container: ResourcesContainer, memoryCapacity: number): number {
  if (pod.spec.priorityClassName === 'system-node-critical') return GUARANTEED_OOM_SCORE_ADJ;
  const qos = qosClass(pod);
  if (qos === 'Guaranteed') return GUARANTEED_OOM_SCORE_ADJ;
  if (qos === 'BestEffort') return BESTEFFORT_OOM_SCORE_ADJ;
  const memRequest = (c: ResourcesContainer) => bytes(c.resources, 'requests', 'memory') || bytes(c.resources, 'limits', 'memory');
  const score = (req: number) => 1000 - Math.floor((1000 * req) / memoryCapacity);
  let adj = score(memRequest(container));
  const sidecar = container.restartPolicy === 'Always' && (pod.spec.initContainers ?? []).some((c) => c.name === container.name);
  if (sidecar) {
    const min = Math.min(...pod.spec.containers.map(memRequest));
    if (Number.isFinite(min) && min !== 0) adj = Math.min(adj, score(min));
  }
  if (adj < 1000 + GUARANTEED_OOM_SCORE_ADJ) return 1000 + GUARANTEED_OOM_SCORE_ADJ;
  if (adj === BESTEFFORT_OOM_SCORE_ADJ) return adj - 1;
  return adj;
}
