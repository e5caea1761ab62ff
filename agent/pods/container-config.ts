// Container spec → CRI ContainerConfig (pure). The resolved pieces (env, command,
// mounts, resources) come in already computed; this file only assembles them with the
// labels/annotations that let the agent recognise the container after a restart.
import type { ContainerConfig, KeyValue, LinuxContainerResources, LinuxContainerSecurityContext, Mount } from '../cri/types.js';
import type { Container, Pod } from './api-types.js';
import { A, L, MANAGED_BY } from './labels.js';

// The paths kubelet masks or makes read-only in unprivileged containers (containerd
// applies exactly what it is given, so an empty list would expose them).
const MASKED_PATHS = ['/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap'];
const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export type ContainerKind = 'init' | 'app';

export interface ResolvedContainer {
  envs: KeyValue[];
  command?: string[];
  args?: string[];
  mounts: Mount[];
  resources: LinuxContainerResources;
  /** the spec hash, stored so a changed spec is noticed across agent restarts */
  hash: string;
}

export function securityContext(pod: Pod, c: Container): LinuxContainerSecurityContext {
  const ps = pod.spec.securityContext ?? {};
  const cs = c.securityContext ?? {};
  const runAsUser = cs.runAsUser ?? ps.runAsUser;
  const runAsGroup = cs.runAsGroup ?? ps.runAsGroup;
  const privileged = cs.privileged ?? false;
  return {
    privileged,
    ...(runAsUser !== undefined ? { runAsUser: { value: runAsUser } } : {}),
    ...(runAsGroup !== undefined ? { runAsGroup: { value: runAsGroup } } : {}),
    readonlyRootfs: cs.readOnlyRootFilesystem ?? false,
    noNewPrivs: cs.allowPrivilegeEscalation === false,
    capabilities: { addCapabilities: cs.capabilities?.add ?? [], dropCapabilities: cs.capabilities?.drop ?? [] },
    supplementalGroups: [...(ps.supplementalGroups ?? []), ...(ps.fsGroup !== undefined ? [ps.fsGroup] : [])],
    namespaceOptions: {
      network: pod.spec.hostNetwork ? 'NODE' : 'POD',
      pid: pod.spec.hostPID ? 'NODE' : pod.spec.shareProcessNamespace ? 'POD' : 'CONTAINER',
      ipc: pod.spec.hostIPC ? 'NODE' : 'POD',
    },
    maskedPaths: privileged ? [] : MASKED_PATHS,
    readonlyPaths: privileged ? [] : READONLY_PATHS,
  };
}

export function containerConfig(pod: Pod, c: Container, kind: ContainerKind, restartCount: number, r: ResolvedContainer, nodeName: string): ContainerConfig {
  const m = pod.metadata;
  return {
    metadata: { name: c.name, attempt: restartCount },
    image: { image: c.image },
    ...(r.command ? { command: r.command } : {}),
    ...(r.args ? { args: r.args } : {}),
    ...(c.workingDir ? { workingDir: c.workingDir } : {}),
    envs: r.envs,
    mounts: r.mounts,
    labels: { [L.podName]: m.name, [L.podNamespace]: m.namespace, [L.podUid]: m.uid, [L.containerName]: c.name, [L.managedBy]: MANAGED_BY, [L.node]: nodeName },
    annotations: {
      [A.containerHash]: r.hash,
      [A.restartCount]: String(restartCount),
      [A.terminationMessagePath]: c.terminationMessagePath ?? '/dev/termination-log',
      [A.gracePeriod]: String(pod.spec.terminationGracePeriodSeconds ?? 30),
      [A.containerKind]: kind,
    },
    logPath: `${c.name}/${restartCount}.log`,
    stdin: c.stdin ?? false,
    stdinOnce: c.stdinOnce ?? false,
    tty: c.tty ?? false,
    linux: { resources: r.resources, securityContext: securityContext(pod, c) },
  };
}
