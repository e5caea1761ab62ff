// Labels and annotations the agent puts on sandboxes and containers. They use the
// kubelet's keys, so CRI tools show familiar names, and they are how a restarted
// agent recognises (adopts) what it made before.
export const L = {
  podName: 'io.kubernetes.pod.name',
  podNamespace: 'io.kubernetes.pod.namespace',
  podUid: 'io.kubernetes.pod.uid',
  containerName: 'io.kubernetes.container.name',
  /** Ours: marks objects this agent manages, so a shared runtime's others are left alone. */
  managedBy: 'kna.io/managed-by',
  /** Ours: the node (agent) that owns the object; agents sharing a runtime leave each other's pods alone. */
  node: 'kna.io/node',
} as const;

export const A = {
  containerHash: 'io.kubernetes.container.hash',
  restartCount: 'io.kubernetes.container.restartCount',
  terminationMessagePath: 'io.kubernetes.container.terminationMessagePath',
  gracePeriod: 'io.kubernetes.pod.terminationGracePeriod',
  /** Ours: "init" for init containers, so status can tell them apart after a restart. */
  containerKind: 'kna.io/container-kind',
} as const;

export const MANAGED_BY = 'kna';
