// Pod QoS class exactly as Kubernetes computes it (v1 helper/qos GetPodQOS), and the
// pod cgroup it implies under the cgroupfs driver. Only cpu and memory count; a
// request left unset where a limit is set equals the limit (the API server defaults
// it so; we repeat it for objects that skipped defaulting); init containers count.
import type { QOSClass } from './api-types.js';
import { Quantity } from './quantity.js';

export type { QOSClass };

type QuantityText = string | number;
export interface ResourcesLike {
  requests?: Record<string, QuantityText>;
  limits?: Record<string, QuantityText>;
}
export interface QosPod {
  spec: { containers: { resources?: ResourcesLike }[]; initContainers?: { resources?: ResourcesLike }[] };
}

const QOS_RESOURCES = ['cpu', 'memory'] as const;

export function qosClass(pod: QosPod): QOSClass {
  const requests = new Map<string, Quantity>();
  const limits = new Map<string, Quantity>();
  let guaranteed = true;
  const add = (m: Map<string, Quantity>, k: string, q: Quantity) => m.set(k, m.has(k) ? m.get(k)!.add(q) : q);
  for (const c of [...pod.spec.containers, ...(pod.spec.initContainers ?? [])]) {
    const limitsFound = new Set<string>();
    for (const r of QOS_RESOURCES) {
      const lim = c.resources?.limits?.[r];
      const req = c.resources?.requests?.[r] ?? lim;
      if (req !== undefined) {
        const q = Quantity.parse(req);
        if (q.sign() > 0) add(requests, r, q);
      }
      if (lim !== undefined) {
        const q = Quantity.parse(lim);
        if (q.sign() > 0) {
          limitsFound.add(r);
          add(limits, r, q);
        }
      }
    }
    if (!QOS_RESOURCES.every((r) => limitsFound.has(r))) guaranteed = false;
  }
  if (requests.size === 0 && limits.size === 0) return 'BestEffort';
  if (guaranteed) {
    for (const [r, req] of requests) {
      const lim = limits.get(r);
      if (!lim || lim.cmp(req) !== 0) {
        guaranteed = false;
        break;
      }
    }
  }
  return guaranteed && requests.size === limits.size ? 'Guaranteed' : 'Burstable';
}

/** cgroupfs parent of a pod: /kubepods/pod<uid>, /kubepods/burstable/pod<uid>, /kubepods/besteffort/pod<uid>. */
export function cgroupParent(qos: QOSClass, podUid: string): string {
  switch (qos) {
    case 'Guaranteed': return `/kubepods/pod${podUid}`;
    case 'Burstable': return `/kubepods/burstable/pod${podUid}`;
    case 'BestEffort': return `/kubepods/besteffort/pod${podUid}`;
  }
}

export function podCgroupParent(pod: QosPod & { metadata: { uid: string } }): string {
  return cgroupParent(qosClass(pod), pod.metadata.uid);
}
