// TypeScript shapes of the CRI runtime.v1 messages in proto/runtime.proto.
//
// Field names are the proto names in camelCase (pod_sandbox_id -> podSandboxId),
// which is also what @grpc/proto-loader encodes, so request objects go on the wire
// as they are. Enums travel as their proto names ('SANDBOX_READY', 'POD', ...).
//
// Numbers: int64/uint64 fields are plain `number`s. The exception is every
// nanosecond timestamp (`createdAt`, `startedAt`, `finishedAt`, and `timestamp` in
// stats and status responses): nanoseconds since the epoch exceed 2^53, so the client
// converts them exactly to MILLISECONDS since the epoch (integer), 0 meaning unset.
// Counters such as usageCoreNanoSeconds stay in their proto unit (precise up to 2^53).

// ------------------------------------------------------------------ enums

/** PodSandboxState as its proto names; use PodSandboxState.READY etc. */
export const PodSandboxState = { READY: 'SANDBOX_READY', NOTREADY: 'SANDBOX_NOTREADY' } as const;
export type PodSandboxState = (typeof PodSandboxState)[keyof typeof PodSandboxState];

/** ContainerState as its proto names; use ContainerState.RUNNING etc. */
export const ContainerState = {
  CREATED: 'CONTAINER_CREATED',
  RUNNING: 'CONTAINER_RUNNING',
  EXITED: 'CONTAINER_EXITED',
  UNKNOWN: 'CONTAINER_UNKNOWN',
} as const;
export type ContainerState = (typeof ContainerState)[keyof typeof ContainerState];

export type NamespaceMode = 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';
export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export type MountPropagation = 'PROPAGATION_PRIVATE' | 'PROPAGATION_HOST_TO_CONTAINER' | 'PROPAGATION_BIDIRECTIONAL';
export type SupplementalGroupsPolicy = 'Merge' | 'Strict';
export type ContainerEventType =
  | 'CONTAINER_CREATED_EVENT' | 'CONTAINER_STARTED_EVENT' | 'CONTAINER_STOPPED_EVENT' | 'CONTAINER_DELETED_EVENT';
/** Signal enum names: 'RUNTIME_DEFAULT', 'SIGTERM', 'SIGKILL', 'SIGRTMINPLUS1', ... */
export type StopSignal = string;

export type StringMap = Record<string, string>;

// ------------------------------------------------------------------ shared pieces

export interface Int64Value { value: number }
export interface UInt64Value { value: number }
export interface KeyValue { key: string; value: string }

export interface DnsConfig { servers?: string[]; searches?: string[]; options?: string[] }

export interface PortMapping { protocol?: Protocol; containerPort: number; hostPort?: number; hostIp?: string }

export interface IdMapping { hostId: number; containerId: number; length: number }

export interface ImageSpec {
  image: string;
  annotations?: StringMap;
  userSpecifiedImage?: string;
  runtimeHandler?: string;
  imageRef?: string;
}

export interface Mount {
  containerPath: string;
  hostPath: string;
  readonly?: boolean;
  selinuxRelabel?: boolean;
  propagation?: MountPropagation;
  uidMappings?: IdMapping[];
  gidMappings?: IdMapping[];
  recursiveReadOnly?: boolean;
  image?: ImageSpec;
  imageSubPath?: string;
}

export interface Device { containerPath: string; hostPath: string; permissions: string }

export interface UserNamespace { mode: NamespaceMode; uids?: IdMapping[]; gids?: IdMapping[] }

export interface NamespaceOption {
  network?: NamespaceMode;
  pid?: NamespaceMode;
  ipc?: NamespaceMode;
  targetId?: string;
  usernsOptions?: UserNamespace;
}

export interface SeLinuxOption { user?: string; role?: string; type?: string; level?: string }

export interface SecurityProfile { profileType: 'RuntimeDefault' | 'Unconfined' | 'Localhost'; localhostRef?: string }

export interface Capability { addCapabilities?: string[]; dropCapabilities?: string[]; addAmbientCapabilities?: string[] }

export interface HugepageLimit { pageSize: string; limit: number }

export interface LinuxContainerResources {
  cpuPeriod?: number;
  cpuQuota?: number;
  cpuShares?: number;
  memoryLimitInBytes?: number;
  oomScoreAdj?: number;
  cpusetCpus?: string;
  cpusetMems?: string;
  hugepageLimits?: HugepageLimit[];
  unified?: StringMap;
  memorySwapLimitInBytes?: number;
}

// ------------------------------------------------------------------ pod sandboxes

export interface PodSandboxMetadata { name: string; uid: string; namespace: string; attempt?: number }

export interface LinuxSandboxSecurityContext {
  namespaceOptions?: NamespaceOption;
  selinuxOptions?: SeLinuxOption;
  runAsUser?: Int64Value;
  runAsGroup?: Int64Value;
  readonlyRootfs?: boolean;
  supplementalGroups?: number[];
  supplementalGroupsPolicy?: SupplementalGroupsPolicy;
  privileged?: boolean;
  seccomp?: SecurityProfile;
  apparmor?: SecurityProfile;
}

export interface LinuxPodSandboxConfig {
  /** cgroupfs syntax, e.g. /kubepods/besteffort/pod<uid>; containerd's pod stats need it. */
  cgroupParent?: string;
  securityContext?: LinuxSandboxSecurityContext;
  sysctls?: StringMap;
  overhead?: LinuxContainerResources;
  resources?: LinuxContainerResources;
}

export interface PodSandboxConfig {
  metadata: PodSandboxMetadata;
  hostname?: string;
  logDirectory?: string;
  dnsConfig?: DnsConfig;
  portMappings?: PortMapping[];
  labels?: StringMap;
  annotations?: StringMap;
  linux?: LinuxPodSandboxConfig;
}

/** ListPodSandbox filter; `state` is unwrapped from PodSandboxStateValue. */
export interface PodSandboxFilter { id?: string; state?: PodSandboxState; labelSelector?: StringMap }

export interface PodIp { ip: string }

export interface PodSandboxNetworkStatus { ip: string; additionalIps: PodIp[] }

export interface PodSandboxStatus {
  id: string;
  metadata?: PodSandboxMetadata;
  state: PodSandboxState;
  /** milliseconds since the epoch */
  createdAt: number;
  network?: PodSandboxNetworkStatus;
  linux?: { namespaces?: { options?: NamespaceOption } };
  labels: StringMap;
  annotations: StringMap;
  runtimeHandler: string;
}

export interface PodSandboxStatusResult {
  status: PodSandboxStatus;
  /** Runtime-specific JSON strings, only when asked for verbose status. */
  info?: StringMap;
  containersStatuses: ContainerStatus[];
  /** milliseconds since the epoch, 0 when the runtime does not set it */
  timestamp: number;
}

export interface PodSandbox {
  id: string;
  metadata?: PodSandboxMetadata;
  state: PodSandboxState;
  /** milliseconds since the epoch */
  createdAt: number;
  labels: StringMap;
  annotations: StringMap;
  runtimeHandler: string;
}

// ------------------------------------------------------------------ containers

export interface LinuxContainerSecurityContext {
  capabilities?: Capability;
  privileged?: boolean;
  namespaceOptions?: NamespaceOption;
  selinuxOptions?: SeLinuxOption;
  runAsUser?: Int64Value;
  runAsGroup?: Int64Value;
  runAsUsername?: string;
  readonlyRootfs?: boolean;
  supplementalGroups?: number[];
  supplementalGroupsPolicy?: SupplementalGroupsPolicy;
  noNewPrivs?: boolean;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  seccomp?: SecurityProfile;
  apparmor?: SecurityProfile;
}

export interface LinuxContainerConfig {
  resources?: LinuxContainerResources;
  securityContext?: LinuxContainerSecurityContext;
}

export interface ContainerMetadata { name: string; attempt?: number }

export interface ContainerConfig {
  metadata: ContainerMetadata;
  image: ImageSpec;
  /** The entrypoint (Kubernetes `command`). */
  command?: string[];
  /** Arguments to it (Kubernetes `args`). */
  args?: string[];
  workingDir?: string;
  envs?: KeyValue[];
  mounts?: Mount[];
  devices?: Device[];
  labels?: StringMap;
  annotations?: StringMap;
  /** Relative to PodSandboxConfig.logDirectory, e.g. `web/0.log`. */
  logPath?: string;
  stdin?: boolean;
  stdinOnce?: boolean;
  tty?: boolean;
  linux?: LinuxContainerConfig;
  /** proto `CDI_devices` (proto-loader's camelCase of it) */
  CDIDevices?: { name: string }[];
  stopSignal?: StopSignal;
}

/** ListContainers filter; `state` is unwrapped from ContainerStateValue. */
export interface ContainerFilter { id?: string; state?: ContainerState; podSandboxId?: string; labelSelector?: StringMap }

export interface Container {
  id: string;
  podSandboxId: string;
  metadata?: ContainerMetadata;
  image?: ImageSpec;
  imageRef: string;
  state: ContainerState;
  /** milliseconds since the epoch */
  createdAt: number;
  labels: StringMap;
  annotations: StringMap;
  imageId: string;
}

export interface LinuxContainerUser { uid: number; gid: number; supplementalGroups: number[] }

export interface ContainerStatus {
  id: string;
  metadata?: ContainerMetadata;
  state: ContainerState;
  /** milliseconds since the epoch */
  createdAt: number;
  /** milliseconds since the epoch, 0 = not started */
  startedAt: number;
  /** milliseconds since the epoch, 0 = not finished */
  finishedAt: number;
  exitCode: number;
  image?: ImageSpec;
  imageRef: string;
  /** e.g. 'Completed', 'Error', 'OOMKilled' */
  reason: string;
  message: string;
  labels: StringMap;
  annotations: StringMap;
  mounts: Mount[];
  logPath: string;
  resources?: { linux?: LinuxContainerResources };
  imageId: string;
  user?: { linux?: LinuxContainerUser };
  stopSignal: StopSignal;
}

export interface ContainerStatusResult { status: ContainerStatus; info?: StringMap }

export interface ExecSyncResult { stdout: Buffer; stderr: Buffer; exitCode: number }

export interface ExecRequest {
  containerId: string;
  cmd: string[];
  tty?: boolean;
  stdin?: boolean;
  stdout?: boolean;
  stderr?: boolean;
}

export interface AttachRequest {
  containerId: string;
  tty?: boolean;
  stdin?: boolean;
  stdout?: boolean;
  stderr?: boolean;
}

export interface StreamingUrl { url: string }

export interface ContainerEvent {
  containerId: string;
  containerEventType: ContainerEventType;
  /** milliseconds since the epoch */
  createdAt: number;
  podSandboxStatus?: PodSandboxStatus;
  containersStatuses: ContainerStatus[];
}

// ------------------------------------------------------------------ stats

export interface PsiData { Total: number; Avg10: number; Avg60: number; Avg300: number }
export interface PsiStats { Full?: PsiData; Some?: PsiData }

/** `timestamp` fields below are milliseconds since the epoch. */
export interface CpuUsage {
  timestamp: number;
  usageCoreNanoSeconds?: UInt64Value;
  usageNanoCores?: UInt64Value;
  psi?: PsiStats;
}

export interface MemoryUsage {
  timestamp: number;
  workingSetBytes?: UInt64Value;
  availableBytes?: UInt64Value;
  usageBytes?: UInt64Value;
  rssBytes?: UInt64Value;
  pageFaults?: UInt64Value;
  majorPageFaults?: UInt64Value;
  psi?: PsiStats;
}

export interface SwapUsage { timestamp: number; swapAvailableBytes?: UInt64Value; swapUsageBytes?: UInt64Value }
export interface IoUsage { timestamp: number; psi?: PsiStats }

export interface NetworkInterfaceUsage {
  name: string;
  rxBytes?: UInt64Value;
  rxErrors?: UInt64Value;
  txBytes?: UInt64Value;
  txErrors?: UInt64Value;
}

export interface NetworkUsage { timestamp: number; defaultInterface?: NetworkInterfaceUsage; interfaces: NetworkInterfaceUsage[] }
export interface ProcessUsage { timestamp: number; processCount?: UInt64Value }

export interface FilesystemUsage {
  timestamp: number;
  fsId?: { mountpoint: string };
  usedBytes?: UInt64Value;
  inodesUsed?: UInt64Value;
}

export interface ContainerAttributes { id: string; metadata?: ContainerMetadata; labels: StringMap; annotations: StringMap }

export interface ContainerStats {
  attributes?: ContainerAttributes;
  cpu?: CpuUsage;
  memory?: MemoryUsage;
  writableLayer?: FilesystemUsage;
  swap?: SwapUsage;
  io?: IoUsage;
}

export interface ContainerStatsFilter { id?: string; podSandboxId?: string; labelSelector?: StringMap }

export interface PodSandboxAttributes { id: string; metadata?: PodSandboxMetadata; labels: StringMap; annotations: StringMap }

export interface LinuxPodSandboxStats {
  cpu?: CpuUsage;
  memory?: MemoryUsage;
  network?: NetworkUsage;
  process?: ProcessUsage;
  containers: ContainerStats[];
  io?: IoUsage;
}

export interface PodSandboxStats { attributes?: PodSandboxAttributes; linux?: LinuxPodSandboxStats }

export interface PodSandboxStatsFilter { id?: string; labelSelector?: StringMap }

// ------------------------------------------------------------------ runtime, images

export interface VersionInfo { version: string; runtimeName: string; runtimeVersion: string; runtimeApiVersion: string }

export interface RuntimeCondition { type: string; status: boolean; reason: string; message: string }

export interface RuntimeHandler { name: string; features?: { recursiveReadOnlyMounts: boolean; userNamespaces: boolean } }

export interface RuntimeStatusResult {
  conditions: RuntimeCondition[];
  info: StringMap;
  runtimeHandlers: RuntimeHandler[];
  features?: { supplementalGroupsPolicy: boolean; userNamespacesHostNetwork: boolean };
}

export interface Image {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  size: number;
  uid?: Int64Value;
  username: string;
  spec?: ImageSpec;
  pinned: boolean;
}

export interface AuthConfig {
  username?: string;
  password?: string;
  auth?: string;
  serverAddress?: string;
  identityToken?: string;
  registryToken?: string;
}

export interface ImageFsInfo { imageFilesystems: FilesystemUsage[]; containerFilesystems: FilesystemUsage[] }
