// Kubernetes core/v1 objects a standalone node reads (Pod, ConfigMap, Secret), as zod
// schemas that also apply the API server's defaults, plus the PodStatus we report.
// Parsing is strict: an unknown field is an error (kubectl's strict decoding), except
// for the fields below marked `tolerated`: real manifests carry them and they concern
// the control plane (scheduling, admission), not what a node does with the pod.
// Rules that need context (DNS names, uniqueness, ranges) live in manifest/validate.ts.
import { z } from 'zod';

const tolerated = z.unknown().optional();
const int = z.number().int();
const str = z.string();
const bool = z.boolean();
const stringMap = z.record(z.string(), z.string());
/** Kept as the text written (numbers become their decimal text); validated later. */
const quantity = z.union([z.string(), z.number()], { error: 'must be a quantity (a string or a number)' }).transform((v) => (typeof v === 'number' ? numberText(v) : v));
const resourceList = z.record(z.string(), quantity);
const intOrString = z.union([int, str], { error: 'must be an integer or a string' });
/** Go defaults numeric fields when they are zero, not only when absent. */
const zeroDefault = (d: number) => int.optional().transform((v) => (v === undefined || v === 0 ? d : v));

function numberText(n: number): string {
  return Number.isInteger(n) && Math.abs(n) < 1e21 ? BigInt(n).toString() : String(n);
}

// ------------------------------------------------------------------ metadata

export const objectMetaSchema = z.strictObject({
  name: str.optional(),
  generateName: str.optional(),
  namespace: str.optional(),
  uid: str.optional(),
  labels: stringMap.optional(),
  annotations: stringMap.optional(),
  resourceVersion: tolerated,
  generation: tolerated,
  creationTimestamp: tolerated,
  deletionTimestamp: tolerated,
  deletionGracePeriodSeconds: tolerated,
  ownerReferences: tolerated,
  finalizers: tolerated,
  managedFields: tolerated,
  selfLink: tolerated,
});

/** Metadata after defaulting: namespace "default", uid filled in (static pod UID). */
export interface ObjectMeta {
  name: string;
  namespace: string;
  uid: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

// ------------------------------------------------------------------ container parts

const objectFieldSelector = z.strictObject({ apiVersion: str.default('v1'), fieldPath: str });
const resourceFieldSelector = z.strictObject({ containerName: str.optional(), resource: str, divisor: quantity.optional() });
const keySelector = z.strictObject({ name: str.default(''), key: str, optional: bool.optional() });

const envVarSchema = z.strictObject({
  name: str,
  value: str.optional(),
  valueFrom: z
    .strictObject({
      fieldRef: objectFieldSelector.optional(),
      resourceFieldRef: resourceFieldSelector.optional(),
      configMapKeyRef: keySelector.optional(),
      secretKeyRef: keySelector.optional(),
    })
    .optional(),
});

const envFromRef = z.strictObject({ name: str.default(''), optional: bool.optional() });
const envFromSchema = z.strictObject({
  prefix: str.optional(),
  configMapRef: envFromRef.optional(),
  secretRef: envFromRef.optional(),
});

const containerPortSchema = z.strictObject({
  name: str.optional(),
  containerPort: int.default(0),
  hostPort: int.optional(),
  hostIP: str.optional(),
  protocol: str.default('TCP'),
});

const volumeMountSchema = z.strictObject({
  name: str.default(''),
  mountPath: str.default(''),
  subPath: str.optional(),
  readOnly: bool.default(false),
  mountPropagation: str.optional(),
  recursiveReadOnly: tolerated,
});

const execAction = z.strictObject({ command: z.array(str).optional() });
const httpGetAction = z.strictObject({
  path: str.optional().transform((p) => p || '/'),
  port: intOrString,
  host: str.optional(),
  scheme: str.optional().transform((s) => s || 'HTTP'),
  httpHeaders: z.array(z.strictObject({ name: str, value: str })).optional(),
});
const tcpSocketAction = z.strictObject({ port: intOrString, host: str.optional() });
const grpcAction = z.strictObject({ port: int, service: str.optional() });
const sleepAction = z.strictObject({ seconds: int });

const probeSchema = z.strictObject({
  exec: execAction.optional(),
  httpGet: httpGetAction.optional(),
  tcpSocket: tcpSocketAction.optional(),
  grpc: grpcAction.optional(),
  initialDelaySeconds: int.default(0),
  timeoutSeconds: zeroDefault(1),
  periodSeconds: zeroDefault(10),
  successThreshold: zeroDefault(1),
  failureThreshold: zeroDefault(3),
  terminationGracePeriodSeconds: int.optional(),
});

const lifecycleHandlerSchema = z.strictObject({
  exec: execAction.optional(),
  httpGet: httpGetAction.optional(),
  tcpSocket: tcpSocketAction.optional(),
  sleep: sleepAction.optional(),
});

const securityContextSchema = z.strictObject({
  runAsUser: int.optional(),
  runAsGroup: int.optional(),
  runAsNonRoot: bool.optional(),
  readOnlyRootFilesystem: bool.optional(),
  privileged: bool.optional(),
  allowPrivilegeEscalation: bool.optional(),
  capabilities: z.strictObject({ add: z.array(str).optional(), drop: z.array(str).optional() }).optional(),
  procMount: tolerated,
  seccompProfile: tolerated,
  seLinuxOptions: tolerated,
  appArmorProfile: tolerated,
  windowsOptions: tolerated,
});

/** limits and requests, requests defaulting to limits per resource as the API server does. */
const resourcesSchema = z
  .strictObject({ limits: resourceList.optional(), requests: resourceList.optional(), claims: tolerated })
  .optional()
  .transform((r) => {
    const limits = { ...(r?.limits ?? {}) };
    const requests = { ...(r?.requests ?? {}) };
    for (const [k, v] of Object.entries(limits)) if (!(k in requests)) requests[k] = v;
    return { limits, requests };
  });

export const containerSchema = z
  .strictObject({
    name: str.default(''),
    image: str.default(''),
    imagePullPolicy: str.optional(),
    command: z.array(str).optional(),
    args: z.array(str).optional(),
    workingDir: str.optional(),
    ports: z.array(containerPortSchema).default([]),
    env: z.array(envVarSchema).default([]),
    envFrom: z.array(envFromSchema).default([]),
    resources: resourcesSchema,
    volumeMounts: z.array(volumeMountSchema).default([]),
    livenessProbe: probeSchema.optional(),
    readinessProbe: probeSchema.optional(),
    startupProbe: probeSchema.optional(),
    lifecycle: z
      .strictObject({ postStart: lifecycleHandlerSchema.optional(), preStop: lifecycleHandlerSchema.optional(), stopSignal: tolerated })
      .optional(),
    securityContext: securityContextSchema.optional(),
    terminationMessagePath: str.optional().transform((p) => p || '/dev/termination-log'),
    terminationMessagePolicy: str.optional().transform((p) => p || 'File'),
    stdin: bool.default(false),
    stdinOnce: bool.default(false),
    tty: bool.default(false),
    /** only "Always", and only on init containers: a sidecar */
    restartPolicy: str.optional(),
    resizePolicy: tolerated,
  })
  .transform((c) => ({ ...c, imagePullPolicy: c.imagePullPolicy || defaultPullPolicy(c.image) }));

/** Always for ":latest" or no tag (and no digest), else IfNotPresent. */
export function defaultPullPolicy(image: string): 'Always' | 'IfNotPresent' {
  const at = image.indexOf('@');
  const name = at >= 0 ? image.slice(0, at) : image;
  const last = name.slice(name.lastIndexOf('/') + 1);
  const colon = last.indexOf(':');
  const tag = colon >= 0 ? last.slice(colon + 1) : at >= 0 ? '' : 'latest';
  return tag === 'latest' ? 'Always' : 'IfNotPresent';
}

// ------------------------------------------------------------------ volumes

const keyToPath = z.strictObject({ key: str, path: str, mode: int.optional() });
const downwardFile = z.strictObject({
  path: str,
  fieldRef: objectFieldSelector.optional(),
  resourceFieldRef: resourceFieldSelector.optional(),
  mode: int.optional(),
});
const projectedObject = z.strictObject({ name: str.default(''), items: z.array(keyToPath).optional(), optional: bool.optional() });

export const volumeSchema = z
  .strictObject({
    name: str.default(''),
    emptyDir: z.strictObject({ medium: str.default(''), sizeLimit: quantity.optional() }).optional(),
    hostPath: z.strictObject({ path: str.default(''), type: str.default('') }).optional(),
    configMap: z
      .strictObject({ name: str.default(''), items: z.array(keyToPath).optional(), defaultMode: int.default(0o644), optional: bool.optional() })
      .optional(),
    secret: z
      .strictObject({ secretName: str.default(''), items: z.array(keyToPath).optional(), defaultMode: int.default(0o644), optional: bool.optional() })
      .optional(),
    downwardAPI: z.strictObject({ items: z.array(downwardFile).default([]), defaultMode: int.default(0o644) }).optional(),
    projected: z
      .strictObject({
        sources: z
          .array(
            z.strictObject({
              configMap: projectedObject.optional(),
              secret: projectedObject.optional(),
              downwardAPI: z.strictObject({ items: z.array(downwardFile).default([]) }).optional(),
              serviceAccountToken: z
                .strictObject({ audience: str.optional(), expirationSeconds: int.default(3600), path: str.default('') })
                .optional(),
            }),
          )
          .default([]),
        defaultMode: int.default(0o644),
      })
      .optional(),
    /** present only to be rejected with a clear message by validation */
    persistentVolumeClaim: z.unknown().optional(),
  })
  .transform((v) => {
    const sources = VOLUME_SOURCES.filter((s) => v[s] !== undefined);
    return sources.length === 0 ? { ...v, emptyDir: { medium: '' } } : v;
  });

export const VOLUME_SOURCES = ['emptyDir', 'hostPath', 'configMap', 'secret', 'downwardAPI', 'projected', 'persistentVolumeClaim'] as const;

// ------------------------------------------------------------------ pod

const podSecurityContextSchema = z.strictObject({
  runAsUser: int.optional(),
  runAsGroup: int.optional(),
  runAsNonRoot: bool.optional(),
  fsGroup: int.optional(),
  supplementalGroups: z.array(int).optional(),
  sysctls: z.array(z.strictObject({ name: str, value: str })).optional(),
  fsGroupChangePolicy: tolerated,
  seccompProfile: tolerated,
  seLinuxOptions: tolerated,
  seLinuxChangePolicy: tolerated,
  appArmorProfile: tolerated,
  windowsOptions: tolerated,
  supplementalGroupsPolicy: tolerated,
});

export const podSpecSchema = z
  .strictObject({
    containers: z.array(containerSchema).default([]),
    initContainers: z.array(containerSchema).default([]),
    volumes: z.array(volumeSchema).default([]),
    restartPolicy: str.default('Always'),
    /** a negative value is stored as 1, as the API server does */
    terminationGracePeriodSeconds: int.default(30).transform((v) => (v < 0 ? 1 : v)),
    activeDeadlineSeconds: int.optional(),
    dnsPolicy: str.default('ClusterFirst'),
    dnsConfig: z
      .strictObject({
        nameservers: z.array(str).optional(),
        searches: z.array(str).optional(),
        options: z.array(z.strictObject({ name: str, value: str.optional() })).optional(),
      })
      .optional(),
    hostNetwork: bool.default(false),
    hostPID: bool.default(false),
    hostIPC: bool.default(false),
    hostname: str.optional(),
    subdomain: str.optional(),
    setHostnameAsFQDN: bool.optional(),
    hostAliases: z.array(z.strictObject({ ip: str, hostnames: z.array(str).default([]) })).optional(),
    nodeName: str.optional(),
    nodeSelector: stringMap.optional(),
    serviceAccountName: str.optional(),
    /** deprecated alias of serviceAccountName */
    serviceAccount: str.optional(),
    securityContext: podSecurityContextSchema.default({}),
    priority: int.optional(),
    priorityClassName: str.optional(),
    enableServiceLinks: bool.default(true),
    shareProcessNamespace: bool.optional(),
    readinessGates: z.array(z.strictObject({ conditionType: str })).optional(),
    affinity: tolerated,
    tolerations: tolerated,
    imagePullSecrets: tolerated,
    schedulerName: tolerated,
    topologySpreadConstraints: tolerated,
    preemptionPolicy: tolerated,
    automountServiceAccountToken: tolerated,
    runtimeClassName: tolerated,
    os: tolerated,
    schedulingGates: tolerated,
    overhead: tolerated,
    hostUsers: tolerated,
  })
  .transform((s) => {
    const serviceAccountName = s.serviceAccountName ?? s.serviceAccount;
    // With the host's network a container port is a host port: the API server says so.
    const withHostPorts = (cs: typeof s.containers) =>
      s.hostNetwork ? cs.map((c) => ({ ...c, ports: c.ports.map((p) => ({ ...p, hostPort: p.hostPort || p.containerPort })) })) : cs;
    return {
      ...s,
      containers: withHostPorts(s.containers),
      initContainers: withHostPorts(s.initContainers),
      ...(serviceAccountName !== undefined ? { serviceAccountName } : {}),
    };
  });

export const podSchema = z.strictObject({
  apiVersion: str,
  kind: z.literal('Pod'),
  metadata: objectMetaSchema.default({}),
  spec: podSpecSchema,
  status: tolerated,
});

export type PodSpec = z.output<typeof podSpecSchema>;
export type Container = z.output<typeof containerSchema>;
export type ContainerPort = Container['ports'][number];
export type EnvVar = Container['env'][number];
export type EnvFromSource = Container['envFrom'][number];
export type VolumeMount = Container['volumeMounts'][number];
export type Probe = z.output<typeof probeSchema>;
export type LifecycleHandler = z.output<typeof lifecycleHandlerSchema>;
export type Volume = z.output<typeof volumeSchema>;
export type ResourceRequirements = Container['resources'];
export type ObjectFieldSelector = z.output<typeof objectFieldSelector>;
export type ResourceFieldSelector = z.output<typeof resourceFieldSelector>;

export interface Pod {
  apiVersion: 'v1';
  kind: 'Pod';
  metadata: ObjectMeta;
  spec: PodSpec;
  status?: PodStatus;
}

// ------------------------------------------------------------------ ConfigMap, Secret

export const configMapSchema = z.strictObject({
  apiVersion: str,
  kind: z.literal('ConfigMap'),
  metadata: objectMetaSchema.default({}),
  data: stringMap.default({}),
  /** base64, as in the API */
  binaryData: stringMap.default({}),
  immutable: bool.optional(),
});

export const secretSchema = z.strictObject({
  apiVersion: str,
  kind: z.literal('Secret'),
  metadata: objectMetaSchema.default({}),
  /** base64, as in the API; stringData is merged in (it wins) and dropped, as the API server does */
  data: stringMap.default({}),
  stringData: stringMap.optional(),
  type: str.optional().transform((t) => t || 'Opaque'),
  immutable: bool.optional(),
});

export interface ConfigMap {
  apiVersion: 'v1';
  kind: 'ConfigMap';
  metadata: ObjectMeta;
  data: Record<string, string>;
  binaryData: Record<string, string>;
  immutable?: boolean;
}

export interface Secret {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: ObjectMeta;
  /** base64-encoded values */
  data: Record<string, string>;
  type: string;
  immutable?: boolean;
}

/** Service / EndpointSlice: typed envelope, body passed through for the proxy to validate. */
export interface RawObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  raw: unknown;
}

// ------------------------------------------------------------------ status (what we report)

/** RFC 3339 with second precision, UTC ("2026-11-25T15:04:05Z"); null when unset. */
export type Time = string | null;

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';
export type QOSClass = 'Guaranteed' | 'Burstable' | 'BestEffort';
export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface PodCondition {
  type: string;
  status: ConditionStatus;
  lastProbeTime: Time;
  lastTransitionTime: Time;
  reason?: string;
  message?: string;
}

export interface ContainerStateWaiting {
  reason?: string;
  message?: string;
}
export interface ContainerStateRunning {
  startedAt: Time;
}
export interface ContainerStateTerminated {
  exitCode: number;
  signal?: number;
  reason?: string;
  message?: string;
  startedAt: Time;
  finishedAt: Time;
  containerID?: string;
}
export interface ContainerState {
  waiting?: ContainerStateWaiting;
  running?: ContainerStateRunning;
  terminated?: ContainerStateTerminated;
}

export interface ContainerStatus {
  name: string;
  state: ContainerState;
  lastState: ContainerState;
  ready: boolean;
  restartCount: number;
  image: string;
  imageID: string;
  containerID?: string;
  started?: boolean;
}

export interface PodStatus {
  phase: PodPhase;
  conditions: PodCondition[];
  message?: string;
  reason?: string;
  hostIP?: string;
  hostIPs?: { ip: string }[];
  podIP?: string;
  podIPs?: { ip: string }[];
  startTime?: Time;
  initContainerStatuses?: ContainerStatus[];
  containerStatuses: ContainerStatus[];
  qosClass: QOSClass;
}
