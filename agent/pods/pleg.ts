// The relist loop (kubelet's PLEG): list what the runtime holds, group it by pod UID,
// and tell which pods changed since the last relist. The runtime, not our memory, is
// the source of truth, which is what makes a restarted agent adopt its pods.
import type { CriClient } from '../cri/client.js';
import type { Container, PodSandbox } from '../cri/types.js';
import { L, MANAGED_BY } from './labels.js';

export interface RuntimePod {
  uid: string;
  name: string;
  namespace: string;
  /** newest first */
  sandboxes: PodSandbox[];
  /** newest first */
  containers: Container[];
}

export function groupByPod(sandboxes: PodSandbox[], containers: Container[]): Map<string, RuntimePod> {
  const pods = new Map<string, RuntimePod>();
  const get = (labels: Record<string, string>): RuntimePod | undefined => {
    const uid = labels[L.podUid];
    if (!uid) return undefined;
    let p = pods.get(uid);
    if (!p) {
      p = { uid, name: labels[L.podName] ?? '', namespace: labels[L.podNamespace] ?? '', sandboxes: [], containers: [] };
      pods.set(uid, p);
    }
    return p;
  };
  for (const s of sandboxes) get(s.labels)?.sandboxes.push(s);
  for (const c of containers) get(c.labels)?.containers.push(c);
  for (const p of pods.values()) {
    p.sandboxes.sort((a, b) => b.createdAt - a.createdAt);
    p.containers.sort((a, b) => b.createdAt - a.createdAt);
  }
  return pods;
}

/** A fingerprint of what matters for syncing: ids and states. */
function fingerprint(p: RuntimePod | undefined): string {
  if (!p) return '';
  return [...p.sandboxes.map((s) => `${s.id}:${s.state}`), ...p.containers.map((c) => `${c.id}:${c.state}`)].join(',');
}

export class Relister {
  private pods = new Map<string, RuntimePod>();
  private lastRelist = 0;

  constructor(private readonly cri: CriClient, private readonly nodeName: string) {}

  /** Lists the runtime; returns the UIDs whose sandboxes or containers changed. */
  async relist(): Promise<Set<string>> {
    const selector = { labelSelector: { [L.managedBy]: MANAGED_BY, [L.node]: this.nodeName } };
    const [sandboxes, containers] = await Promise.all([this.cri.listPodSandbox(selector), this.cri.listContainers(selector)]);
    const next = groupByPod(sandboxes, containers);
    const changed = new Set<string>();
    for (const uid of new Set([...this.pods.keys(), ...next.keys()])) {
      if (fingerprint(this.pods.get(uid)) !== fingerprint(next.get(uid))) changed.add(uid);
    }
    this.pods = next;
    this.lastRelist = Date.now();
    return changed;
  }

  /** Re-lists one pod right after acting on it, so its worker sees its own changes. */
  async refresh(uid: string): Promise<RuntimePod | undefined> {
    const selector = { labelSelector: { [L.managedBy]: MANAGED_BY, [L.node]: this.nodeName, [L.podUid]: uid } };
    const [sandboxes, containers] = await Promise.all([this.cri.listPodSandbox(selector), this.cri.listContainers(selector)]);
    const p = groupByPod(sandboxes, containers).get(uid);
    if (p) this.pods.set(uid, p);
    else this.pods.delete(uid);
    return p;
  }

  /** What a worker knows the runtime holds for its pod right after making it (instead of a refresh). */
  record(p: RuntimePod): void {
    this.pods.set(p.uid, p);
  }

  pod(uid: string): RuntimePod | undefined {
    return this.pods.get(uid);
  }

  all(): RuntimePod[] {
    return [...this.pods.values()];
  }

  /** When the last relist finished (ms); healthz reports the loop stale past a bound. */
  get lastRelistAt(): number {
    return this.lastRelist;
  }
}
