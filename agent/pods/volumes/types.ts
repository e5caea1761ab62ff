// Minimal structural views of the Kubernetes v1 objects the volume code reads
// (camelCase JSON shape). The full zod-derived Pod types in agent/pods/api-types.ts
// are assignable to these, so this module does not depend on them.
import type { Logger } from 'pino';

export type Quantity = string | number;
export type IntOrString = number | string;

export interface ObjectMetaLike {
  name?: string;
  namespace?: string;
  uid?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface KeyToPath { key: string; path: string; mode?: number }

export interface ConfigMapVolumeSource { name?: string; items?: KeyToPath[]; defaultMode?: number; optional?: boolean }
export interface SecretVolumeSource { secretName?: string; items?: KeyToPath[]; defaultMode?: number; optional?: boolean }

export interface ObjectFieldSelector { apiVersion?: string; fieldPath: string }
export interface ResourceFieldSelector { containerName?: string; resource: string; divisor?: Quantity }
export interface DownwardAPIVolumeFile {
  path: string;
  fieldRef?: ObjectFieldSelector;
  resourceFieldRef?: ResourceFieldSelector;
  mode?: number;
}
export interface DownwardAPIVolumeSource { items?: DownwardAPIVolumeFile[]; defaultMode?: number }

export interface ServiceAccountTokenProjection { audience?: string; expirationSeconds?: number; path: string }
export interface VolumeProjection {
  configMap?: { name?: string; items?: KeyToPath[]; optional?: boolean };
  secret?: { name?: string; items?: KeyToPath[]; optional?: boolean };
  downwardAPI?: { items?: DownwardAPIVolumeFile[] };
  serviceAccountToken?: ServiceAccountTokenProjection;
}
export interface ProjectedVolumeSource { sources?: VolumeProjection[]; defaultMode?: number }

export interface EmptyDirVolumeSource { medium?: string; sizeLimit?: Quantity }
export interface HostPathVolumeSource { path: string; type?: string }

/** v1.Volume: `name` plus exactly one source. Unknown sources are reported as unsupported. */
export interface VolumeSpec {
  name: string;
  emptyDir?: EmptyDirVolumeSource;
  hostPath?: HostPathVolumeSource;
  configMap?: ConfigMapVolumeSource;
  secret?: SecretVolumeSource;
  downwardAPI?: DownwardAPIVolumeSource;
  projected?: ProjectedVolumeSource;
}

export interface VolumeMountLike {
  name: string;
  mountPath: string;
  readOnly?: boolean;
  subPath?: string;
  subPathExpr?: string;
  mountPropagation?: string;
}

export interface EnvVarLike { name: string; value?: string }

export interface ContainerLike {
  name: string;
  volumeMounts?: VolumeMountLike[];
  terminationMessagePath?: string;
  env?: EnvVarLike[];
  resources?: { limits?: Record<string, Quantity>; requests?: Record<string, Quantity> };
  securityContext?: { privileged?: boolean };
}

export interface HostAliasLike { ip: string; hostnames?: string[] }

export interface PodLike {
  metadata: ObjectMetaLike;
  spec: {
    containers: ContainerLike[];
    initContainers?: ContainerLike[];
    volumes?: VolumeSpec[];
    hostNetwork?: boolean;
    hostname?: string;
    subdomain?: string;
    hostAliases?: HostAliasLike[];
    serviceAccountName?: string;
    securityContext?: { fsGroup?: number };
  };
}

export interface ConfigMapLike { metadata?: ObjectMetaLike; data?: Record<string, string>; binaryData?: Record<string, string> }
/** `data` is base64 as in the API; `stringData` (plain text) is accepted for standalone manifests. */
export interface SecretLike { metadata?: ObjectMetaLike; data?: Record<string, string>; stringData?: Record<string, string> }

type MaybePromise<T> = T | Promise<T>;

/** Where configMap/secret objects come from (API cache, or the manifest folder in standalone mode). */
export interface ObjectLookup {
  configMap(namespace: string, name: string): MaybePromise<ConfigMapLike | undefined>;
  secret(namespace: string, name: string): MaybePromise<SecretLike | undefined>;
}

export interface TokenRequest {
  namespace: string;
  serviceAccountName: string;
  podName: string;
  podUid: string;
  audience: string | undefined;
  expirationSeconds: number;
}
export type TokenProvider = (req: TokenRequest) => Promise<string>;

export interface VolumeContext {
  /** kubelet --root-dir; pod dirs live in <rootDir>/pods/<uid>. */
  rootDir: string;
  objects?: ObjectLookup;
  tokenProvider?: TokenProvider;
  /** Node allocatable (e.g. {cpu: '2', memory: '4Gi'}): the value of unset limits in resourceFieldRef. */
  nodeAllocatable?: Record<string, Quantity>;
  log?: Logger;
}

/** What prepareVolumes returns per volume name. */
export interface PreparedVolume { hostPath: string; readOnly?: boolean }
export type PreparedVolumes = Map<string, PreparedVolume>;

export type MountPropagation = 'PROPAGATION_PRIVATE' | 'PROPAGATION_HOST_TO_CONTAINER' | 'PROPAGATION_BIDIRECTIONAL';

/** A CRI runtime.v1 Mount as a plain object (field names as the CRI client's proto-loader keepCase=false view). */
export interface CriMount {
  containerPath: string;
  hostPath: string;
  readonly: boolean;
  propagation: MountPropagation;
  selinuxRelabel: boolean;
}

/** A volume could not be set up; the message names the volume like kubelet's MountVolume.SetUp events. */
export class VolumeError extends Error {
  override readonly name = 'VolumeError';
  constructor(readonly volume: string, detail: string) {
    super(`MountVolume.SetUp failed for volume "${volume}": ${detail}`);
  }
}

/** A container's volumeMount could not be turned into a CRI mount. */
export class MountError extends Error {
  override readonly name = 'MountError';
  constructor(readonly container: string, detail: string) {
    super(`container "${container}": ${detail}`);
  }
}
