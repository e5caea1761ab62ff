// Turns the plain objects that @grpc/proto-loader decodes (options in client.ts:
// longs as decimal strings, enums as names, defaults filled in, unset messages null)
// into the typed shapes of types.ts. Pure: no I/O, unit-tested.
//
// Every int64 arrives as a string so nanosecond timestamps can be converted to
// milliseconds exactly (BigInt); everything else becomes a plain number.
import {
  ContainerState, PodSandboxState,
  type Container, type ContainerAttributes, type ContainerEvent, type ContainerEventType, type ContainerMetadata,
  type ContainerStats, type ContainerStatus, type ContainerStatusResult, type CpuUsage, type FilesystemUsage,
  type IdMapping, type Image, type ImageFsInfo, type ImageSpec, type IoUsage, type LinuxContainerResources,
  type MemoryUsage, type Mount, type MountPropagation, type NamespaceMode, type NamespaceOption,
  type NetworkInterfaceUsage, type NetworkUsage, type PodSandbox, type PodSandboxMetadata, type PodSandboxStats,
  type PodSandboxStatus, type PodSandboxStatusResult, type ProcessUsage, type PsiData, type PsiStats,
  type RuntimeStatusResult, type StringMap, type SwapUsage, type UInt64Value, type VersionInfo,
} from './types.js';

/** A message as proto-loader decodes it. */
export type Raw = Readonly<Record<string, unknown>>;

export function asRecord(v: unknown): Raw | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v) ? (v as Raw) : undefined;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const bool = (v: unknown): boolean => v === true;

/** int32/uint32 (numbers), int64/uint64 (decimal strings) and doubles -> number. */
export function num(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v !== '') return Number(v);
  return 0;
}

/** Nanoseconds since the epoch (int64 as a decimal string) -> whole milliseconds. */
export function nsToMs(v: unknown): number {
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return Number(BigInt(v) / 1_000_000n);
  return Math.trunc(num(v) / 1e6);
}

export function strMap(v: unknown): StringMap {
  const out: StringMap = {};
  for (const [k, val] of Object.entries(asRecord(v) ?? {})) if (typeof val === 'string') out[k] = val;
  return out;
}

const strList = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
const numList = (v: unknown): number[] => (Array.isArray(v) ? v.map(num) : []);

export function list<T>(v: unknown, f: (r: Raw) => T): T[] {
  if (!Array.isArray(v)) return [];
  const out: T[] = [];
  for (const item of v) {
    const r = asRecord(item);
    if (r) out.push(f(r));
  }
  return out;
}

function opt<T>(v: unknown, f: (r: Raw) => T): T | undefined {
  const r = asRecord(v);
  return r ? f(r) : undefined;
}

/** An enum name from the wire, or `fallback` when it is not one we know. */
function oneOf<T extends string>(v: unknown, allowed: readonly T[], fallback: T): T {
  return (allowed as readonly unknown[]).includes(v) ? (v as T) : fallback;
}

const SANDBOX_STATES = Object.values(PodSandboxState);
const CONTAINER_STATES = Object.values(ContainerState);
const NS_MODES: readonly NamespaceMode[] = ['POD', 'CONTAINER', 'NODE', 'TARGET'];
const PROPAGATIONS: readonly MountPropagation[] = [
  'PROPAGATION_PRIVATE', 'PROPAGATION_HOST_TO_CONTAINER', 'PROPAGATION_BIDIRECTIONAL',
];
const EVENT_TYPES: readonly ContainerEventType[] = [
  'CONTAINER_CREATED_EVENT', 'CONTAINER_STARTED_EVENT', 'CONTAINER_STOPPED_EVENT', 'CONTAINER_DELETED_EVENT',
];

// ------------------------------------------------------------------ small messages

const u64 = (v: unknown): UInt64Value | undefined => opt(v, (r) => ({ value: num(r.value) }));

const podSandboxMetadata = (r: Raw): PodSandboxMetadata =>
  ({ name: str(r.name), uid: str(r.uid), namespace: str(r.namespace), attempt: num(r.attempt) });

const containerMetadata = (r: Raw): ContainerMetadata => ({ name: str(r.name), attempt: num(r.attempt) });

const idMapping = (r: Raw): IdMapping =>
  ({ hostId: num(r.hostId), containerId: num(r.containerId), length: num(r.length) });

function namespaceOption(r: Raw): NamespaceOption {
  const userns = asRecord(r.usernsOptions);
  return {
    network: oneOf(r.network, NS_MODES, 'POD'),
    pid: oneOf(r.pid, NS_MODES, 'POD'),
    ipc: oneOf(r.ipc, NS_MODES, 'POD'),
    targetId: str(r.targetId),
    ...(userns && {
      usernsOptions: {
        mode: oneOf(userns.mode, NS_MODES, 'POD'), uids: list(userns.uids, idMapping), gids: list(userns.gids, idMapping),
      },
    }),
  };
}

export function imageSpec(r: Raw): ImageSpec {
  return {
    image: str(r.image), annotations: strMap(r.annotations), userSpecifiedImage: str(r.userSpecifiedImage),
    runtimeHandler: str(r.runtimeHandler), imageRef: str(r.imageRef),
  };
}

function mount(r: Raw): Mount {
  return {
    containerPath: str(r.containerPath),
    hostPath: str(r.hostPath),
    readonly: bool(r.readonly),
    selinuxRelabel: bool(r.selinuxRelabel),
    propagation: oneOf(r.propagation, PROPAGATIONS, 'PROPAGATION_PRIVATE'),
    uidMappings: list(r.uidMappings, idMapping),
    gidMappings: list(r.gidMappings, idMapping),
    recursiveReadOnly: bool(r.recursiveReadOnly),
    image: opt(r.image, imageSpec),
    imageSubPath: str(r.imageSubPath),
  };
}

function linuxResources(r: Raw): LinuxContainerResources {
  return {
    cpuPeriod: num(r.cpuPeriod),
    cpuQuota: num(r.cpuQuota),
    cpuShares: num(r.cpuShares),
    memoryLimitInBytes: num(r.memoryLimitInBytes),
    oomScoreAdj: num(r.oomScoreAdj),
    cpusetCpus: str(r.cpusetCpus),
    cpusetMems: str(r.cpusetMems),
    hugepageLimits: list(r.hugepageLimits, (h) => ({ pageSize: str(h.pageSize), limit: num(h.limit) })),
    unified: strMap(r.unified),
    memorySwapLimitInBytes: num(r.memorySwapLimitInBytes),
  };
}

// ------------------------------------------------------------------ runtime

export const versionInfo = (r: Raw): VersionInfo => ({
  version: str(r.version), runtimeName: str(r.runtimeName),
  runtimeVersion: str(r.runtimeVersion), runtimeApiVersion: str(r.runtimeApiVersion),
});

export function runtimeStatus(r: Raw): RuntimeStatusResult {
  return {
    conditions: list(asRecord(r.status)?.conditions, (c) => ({
      type: str(c.type), status: bool(c.status), reason: str(c.reason), message: str(c.message),
    })),
    info: strMap(r.info),
    runtimeHandlers: list(r.runtimeHandlers, (h) => ({
      name: str(h.name),
      features: opt(h.features, (f) => ({
        recursiveReadOnlyMounts: bool(f.recursiveReadOnlyMounts), userNamespaces: bool(f.userNamespaces),
      })),
    })),
    features: opt(r.features, (f) => ({
      supplementalGroupsPolicy: bool(f.supplementalGroupsPolicy),
      userNamespacesHostNetwork: bool(f.userNamespacesHostNetwork),
    })),
  };
}

// ------------------------------------------------------------------ sandboxes

export function podSandboxStatus(r: Raw): PodSandboxStatus {
  return {
    id: str(r.id),
    metadata: opt(r.metadata, podSandboxMetadata),
    state: oneOf(r.state, SANDBOX_STATES, PodSandboxState.NOTREADY),
    createdAt: nsToMs(r.createdAt),
    network: opt(r.network, (n) => ({ ip: str(n.ip), additionalIps: list(n.additionalIps, (p) => ({ ip: str(p.ip) })) })),
    linux: opt(r.linux, (l) => ({
      namespaces: opt(l.namespaces, (ns) => ({ options: opt(ns.options, namespaceOption) })),
    })),
    labels: strMap(r.labels),
    annotations: strMap(r.annotations),
    runtimeHandler: str(r.runtimeHandler),
  };
}

/** PodSandboxStatusResponse; throws when the runtime sent no status at all. */
export function podSandboxStatusResult(r: Raw): PodSandboxStatusResult {
  const status = asRecord(r.status);
  if (!status) throw new TypeError('PodSandboxStatusResponse has no status');
  const info = strMap(r.info);
  return {
    status: podSandboxStatus(status),
    ...(Object.keys(info).length > 0 && { info }),
    containersStatuses: list(r.containersStatuses, containerStatus),
    timestamp: nsToMs(r.timestamp),
  };
}

export function podSandbox(r: Raw): PodSandbox {
  return {
    id: str(r.id),
    metadata: opt(r.metadata, podSandboxMetadata),
    state: oneOf(r.state, SANDBOX_STATES, PodSandboxState.NOTREADY),
    createdAt: nsToMs(r.createdAt),
    labels: strMap(r.labels),
    annotations: strMap(r.annotations),
    runtimeHandler: str(r.runtimeHandler),
  };
}

// ------------------------------------------------------------------ containers

export function container(r: Raw): Container {
  return {
    id: str(r.id),
    podSandboxId: str(r.podSandboxId),
    metadata: opt(r.metadata, containerMetadata),
    image: opt(r.image, imageSpec),
    imageRef: str(r.imageRef),
    state: oneOf(r.state, CONTAINER_STATES, ContainerState.UNKNOWN),
    createdAt: nsToMs(r.createdAt),
    labels: strMap(r.labels),
    annotations: strMap(r.annotations),
    imageId: str(r.imageId),
  };
}

export function containerStatus(r: Raw): ContainerStatus {
  return {
    id: str(r.id),
    metadata: opt(r.metadata, containerMetadata),
    state: oneOf(r.state, CONTAINER_STATES, ContainerState.UNKNOWN),
    createdAt: nsToMs(r.createdAt),
    startedAt: nsToMs(r.startedAt),
    finishedAt: nsToMs(r.finishedAt),
    exitCode: num(r.exitCode),
    image: opt(r.image, imageSpec),
    imageRef: str(r.imageRef),
    reason: str(r.reason),
    message: str(r.message),
    labels: strMap(r.labels),
    annotations: strMap(r.annotations),
    mounts: list(r.mounts, mount),
    logPath: str(r.logPath),
    resources: opt(r.resources, (res) => ({ linux: opt(res.linux, linuxResources) })),
    imageId: str(r.imageId),
    user: opt(r.user, (u) => ({
      linux: opt(u.linux, (l) => ({ uid: num(l.uid), gid: num(l.gid), supplementalGroups: numList(l.supplementalGroups) })),
    })),
    stopSignal: typeof r.stopSignal === 'string' ? r.stopSignal : 'RUNTIME_DEFAULT',
  };
}

/** ContainerStatusResponse; throws when the runtime sent no status at all. */
export function containerStatusResult(r: Raw): ContainerStatusResult {
  const status = asRecord(r.status);
  if (!status) throw new TypeError('ContainerStatusResponse has no status');
  const info = strMap(r.info);
  return { status: containerStatus(status), ...(Object.keys(info).length > 0 && { info }) };
}

export function containerEvent(r: Raw): ContainerEvent {
  return {
    containerId: str(r.containerId),
    containerEventType: oneOf(r.containerEventType, EVENT_TYPES, 'CONTAINER_CREATED_EVENT'),
    createdAt: nsToMs(r.createdAt),
    podSandboxStatus: opt(r.podSandboxStatus, podSandboxStatus),
    containersStatuses: list(r.containersStatuses, containerStatus),
  };
}

// ------------------------------------------------------------------ stats

const psiData = (r: Raw): PsiData => ({ Total: num(r.Total), Avg10: num(r.Avg10), Avg60: num(r.Avg60), Avg300: num(r.Avg300) });
const psiStats = (r: Raw): PsiStats => ({ Full: opt(r.Full, psiData), Some: opt(r.Some, psiData) });

const cpuUsage = (r: Raw): CpuUsage => ({
  timestamp: nsToMs(r.timestamp),
  usageCoreNanoSeconds: u64(r.usageCoreNanoSeconds),
  usageNanoCores: u64(r.usageNanoCores),
  psi: opt(r.psi, psiStats),
});

const memoryUsage = (r: Raw): MemoryUsage => ({
  timestamp: nsToMs(r.timestamp),
  workingSetBytes: u64(r.workingSetBytes),
  availableBytes: u64(r.availableBytes),
  usageBytes: u64(r.usageBytes),
  rssBytes: u64(r.rssBytes),
  pageFaults: u64(r.pageFaults),
  majorPageFaults: u64(r.majorPageFaults),
  psi: opt(r.psi, psiStats),
});

const swapUsage = (r: Raw): SwapUsage =>
  ({ timestamp: nsToMs(r.timestamp), swapAvailableBytes: u64(r.swapAvailableBytes), swapUsageBytes: u64(r.swapUsageBytes) });

const ioUsage = (r: Raw): IoUsage => ({ timestamp: nsToMs(r.timestamp), psi: opt(r.psi, psiStats) });

const interfaceUsage = (r: Raw): NetworkInterfaceUsage => ({
  name: str(r.name), rxBytes: u64(r.rxBytes), rxErrors: u64(r.rxErrors), txBytes: u64(r.txBytes), txErrors: u64(r.txErrors),
});

const networkUsage = (r: Raw): NetworkUsage => ({
  timestamp: nsToMs(r.timestamp),
  defaultInterface: opt(r.defaultInterface, interfaceUsage),
  interfaces: list(r.interfaces, interfaceUsage),
});

const processUsage = (r: Raw): ProcessUsage => ({ timestamp: nsToMs(r.timestamp), processCount: u64(r.processCount) });

export const filesystemUsage = (r: Raw): FilesystemUsage => ({
  timestamp: nsToMs(r.timestamp),
  fsId: opt(r.fsId, (f) => ({ mountpoint: str(f.mountpoint) })),
  usedBytes: u64(r.usedBytes),
  inodesUsed: u64(r.inodesUsed),
});

const containerAttributes = (r: Raw): ContainerAttributes => ({
  id: str(r.id), metadata: opt(r.metadata, containerMetadata), labels: strMap(r.labels), annotations: strMap(r.annotations),
});

export function containerStats(r: Raw): ContainerStats {
  return {
    attributes: opt(r.attributes, containerAttributes),
    cpu: opt(r.cpu, cpuUsage),
    memory: opt(r.memory, memoryUsage),
    writableLayer: opt(r.writableLayer, filesystemUsage),
    swap: opt(r.swap, swapUsage),
    io: opt(r.io, ioUsage),
  };
}

export function podSandboxStats(r: Raw): PodSandboxStats {
  return {
    attributes: opt(r.attributes, (a) => ({
      id: str(a.id), metadata: opt(a.metadata, podSandboxMetadata), labels: strMap(a.labels), annotations: strMap(a.annotations),
    })),
    linux: opt(r.linux, (l) => ({
      cpu: opt(l.cpu, cpuUsage),
      memory: opt(l.memory, memoryUsage),
      network: opt(l.network, networkUsage),
      process: opt(l.process, processUsage),
      containers: list(l.containers, containerStats),
      io: opt(l.io, ioUsage),
    })),
  };
}

// ------------------------------------------------------------------ images

export function image(r: Raw): Image {
  return {
    id: str(r.id),
    repoTags: strList(r.repoTags),
    repoDigests: strList(r.repoDigests),
    size: num(r.size),
    uid: opt(r.uid, (u) => ({ value: num(u.value) })),
    username: str(r.username),
    spec: opt(r.spec, imageSpec),
    pinned: bool(r.pinned),
  };
}

export const imageFsInfo = (r: Raw): ImageFsInfo => ({
  imageFilesystems: list(r.imageFilesystems, filesystemUsage),
  containerFilesystems: list(r.containerFilesystems, filesystemUsage),
});
