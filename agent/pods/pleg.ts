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
  /** Bumped by every record/refresh; `touched` holds each pod's last bump. */
  private gen = 0;
  private readonly touched = new Map<string, number>();

  constructor(private readonly cri: CriClient, private readonly nodeName: string) {}

  /**
   * Lists the runtime; returns the UIDs whose sandboxes or containers changed.
   * A pod whose worker is syncing (`busy`), or recorded or refreshed it while the
   * lists were in flight, keeps the worker's view and is not reported: the worker
   * is acting on it, and waking it for its own changes costs a second sync with two
   * list calls. Whatever its view misses shows at the next relist after it is done.
   */
  async relist(busy: (uid: string) => boolean = () => false): Promise<Set<string>> {
    const started = this.gen;
    const selector = { labelSelector: { [L.managedBy]: MANAGED_BY, [L.node]: this.nodeName } };
    const [sandboxes, containers] = await Promise.all([this.cri.listPodSandbox(selector), this.cri.listContainers(selector)]);
    const next = groupByPod(sandboxes, containers);
    const changed = new Set<string>();
    for (const uid of new Set([...this.pods.keys(), ...next.keys()])) {
      if ((this.touched.get(uid) ?? 0) > started || busy(uid)) {
        const mine = this.pods.get(uid);
        if (mine) next.set(uid, mine);
        else next.delete(uid);
      } else {
        this.touched.delete(uid);
        if (fingerprint(this.pods.get(uid)) !== fingerprint(next.get(uid))) changed.add(uid);
      }
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
    this.touched.set(uid, ++this.gen);
    return p;
  }

  /** What a worker knows the runtime holds for its pod right after making it (instead of a refresh). */
  record(p: RuntimePod): void {
    this.pods.set(p.uid, p);
    this.touched.set(p.uid, ++this.gen);
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
