// The Node object this agent registers and the status it reports, computed from
// host facts, flags and the agent's own health. Pure: the loop that posts it is
// node.ts. Field names, reasons and messages are kubelet's, so tools that read
// them (kubectl describe, dashboards, the node lifecycle controller) work.
import { labelValue, qualifiedName } from '../pods/manifest/names.js';
import { Quantity } from '../pods/quantity.js';
import type { AdmissionNode } from '../pods/admission.js';
import type { HostFacts } from './host.js';

export type ResourceList = Record<string, string>;

export interface Taint {
  key: string;
  value?: string;
  effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

export interface NodeCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastHeartbeatTime: string;
  lastTransitionTime: string;
}

export interface NodeConfig {
  nodeName: string;
  labels?: Record<string, string>;
  taints?: Taint[];
  /** --kube-reserved / --system-reserved: cpu, memory, ephemeral-storage, pid */
  kubeReserved?: ResourceList;
  systemReserved?: ResourceList;
  maxPods?: number;
  /** the InternalIP(s) to report; default the host's addresses */
  nodeIPs?: string[];
  kubeletVersion: string;
  /** "containerd://1.6.20", from the CRI Version call */
  containerRuntimeVersion: string;
  kubeletPort?: number;
  /** hard eviction thresholds that set the pressure conditions (kubelet's defaults) */
  eviction?: { memoryAvailable?: string; nodefsAvailablePercent?: number; nodefsInodesFreePercent?: number; pidAvailablePercent?: number };
}

/** What the agent knows about its own health. */
export interface NodeHealth {
  /** the container runtime answers and says it is ready */
  runtimeReady: boolean;
  /** pod networking is configured (CNI config written, overlay up) */
  networkReady: boolean;
  /** anything else that makes the node unfit for pods */
  problems?: string[];
}

/** A bad --kube-reserved/--system-reserved, --register-with-taints or --node-labels value. */
export class ResourceListError extends Error {
  override readonly name = 'ResourceListError';
}

const RESERVABLE = ['cpu', 'memory', 'ephemeral-storage', 'pid'];

/** Checks a reserved resource list (--kube-reserved, the file's kubeReserved): known names, valid quantities. */
export function checkResourceList(list: Record<string, string | number>): ResourceList {
  const out: ResourceList = {};
  for (const [k, raw] of Object.entries(list)) {
    const v = String(raw);
    if (!RESERVABLE.includes(k)) throw new ResourceListError(`"${k}": only cpu, memory, ephemeral-storage and pid can be reserved`);
    let q: Quantity;
    try {
      q = Quantity.parse(v);
    } catch (err) {
      throw new ResourceListError(`${k}=${v}: ${(err as Error).message}`);
    }
    if (q.sign() < 0) throw new ResourceListError(`${k}=${v}: must be greater than or equal to 0`);
    out[k] = v;
  }
  return out;
}

/** Parses "cpu=100m,memory=1Gi,ephemeral-storage=1Gi,pid=1000" (the --kube-reserved syntax). */
export function parseResourceList(s: string): ResourceList {
  const list: Record<string, string> = {};
  for (const part of s.split(',').map((p) => p.trim()).filter(Boolean)) {
    const [k, v, ...rest] = part.split('=');
    if (!k || !v || rest.length) throw new ResourceListError(`"${part}" must be cpu|memory|ephemeral-storage|pid=QUANTITY`);
    list[k] = v;
  }
  return checkResourceList(list);
}

const sumReserved = (cfg: Pick<NodeConfig, 'kubeReserved' | 'systemReserved'>, res: string, unit: (q: Quantity) => number): number =>
  [cfg.kubeReserved?.[res], cfg.systemReserved?.[res]].reduce<number>((acc, v) => acc + (v ? unit(Quantity.parse(v)) : 0), 0);

/** Bytes as the API server prints them for memory: whole Ki when exact. */
const bytesText = (b: number): string => (b % 1024 === 0 ? `${b / 1024}Ki` : String(b));
const milliText = (m: number): string => (m % 1000 === 0 ? String(m / 1000) : `${m}m`);

const DEFAULT_EVICTION = { memoryAvailable: '100Mi', nodefsAvailablePercent: 10, nodefsInodesFreePercent: 5, pidAvailablePercent: 5 };

export function capacityOf(f: HostFacts, cfg: Pick<NodeConfig, 'kubeReserved' | 'systemReserved' | 'maxPods' | 'eviction'>): { capacity: ResourceList; allocatable: ResourceList } {
  const memKi = Math.floor(f.memoryTotal / 1024) * 1024;
  const fsKi = Math.floor(f.fsCapacity / 1024) * 1024;
  const pods = cfg.maxPods ?? 110;
  const capacity: ResourceList = {
    cpu: String(f.cpus),
    'ephemeral-storage': bytesText(fsKi),
    'hugepages-1Gi': '0',
    'hugepages-2Mi': '0',
    memory: bytesText(memKi),
    pods: String(pods),
  };
  const ev = { ...DEFAULT_EVICTION, ...cfg.eviction };
  // Allocatable = capacity - kube-reserved - system-reserved - hard eviction threshold, as kubelet computes it.
  const cpu = Math.max(0, f.cpus * 1000 - sumReserved(cfg, 'cpu', (q) => q.milliValue()));
  const memory = Math.max(0, memKi - sumReserved(cfg, 'memory', (q) => q.value()) - Quantity.parse(ev.memoryAvailable).value());
  const storage = Math.max(0, fsKi - sumReserved(cfg, 'ephemeral-storage', (q) => q.value()) - Math.floor((fsKi * ev.nodefsAvailablePercent) / 100));
  const allocatable: ResourceList = { ...capacity, cpu: milliText(cpu), memory: bytesText(memory), 'ephemeral-storage': String(storage) };
  return { capacity, allocatable };
}

type Verdict = { status: 'True' | 'False'; reason: string; message: string };

export function conditionVerdicts(f: HostFacts, cfg: NodeConfig, h: NodeHealth): Record<string, Verdict> {
  const ev = { ...DEFAULT_EVICTION, ...cfg.eviction };
  const memPressure = f.memoryAvailable < Quantity.parse(ev.memoryAvailable).value();
  const diskPressure = f.fsAvailable < (f.fsCapacity * ev.nodefsAvailablePercent) / 100 || (f.fsInodes > 0 && f.fsInodesFree < (f.fsInodes * ev.nodefsInodesFreePercent) / 100);
  const pidReserved = sumReserved(cfg, 'pid', (q) => q.value());
  const pidPressure = f.pidMax - f.pidsInUse - pidReserved < (f.pidMax * ev.pidAvailablePercent) / 100;
  const problems = [
    ...(h.runtimeReady ? [] : ['container runtime is down']),
    ...(h.networkReady ? [] : ['container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized']),
    ...(h.problems ?? []),
  ];
  return {
    MemoryPressure: memPressure
      ? { status: 'True', reason: 'KubeletHasInsufficientMemory', message: 'kubelet has insufficient memory available' }
      : { status: 'False', reason: 'KubeletHasSufficientMemory', message: 'kubelet has sufficient memory available' },
    DiskPressure: diskPressure
      ? { status: 'True', reason: 'KubeletHasDiskPressure', message: 'kubelet has disk pressure' }
      : { status: 'False', reason: 'KubeletHasNoDiskPressure', message: 'kubelet has no disk pressure' },
    PIDPressure: pidPressure
      ? { status: 'True', reason: 'KubeletHasInsufficientPID', message: 'kubelet has insufficient PID available' }
      : { status: 'False', reason: 'KubeletHasSufficientPID', message: 'kubelet has sufficient PID available' },
    Ready: problems.length
      ? { status: 'False', reason: 'KubeletNotReady', message: problems.join(', ') }
      : { status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' },
    // Set by the network part, as flannel does; the agent owns pod networking here.
    NetworkUnavailable: h.networkReady
      ? { status: 'False', reason: 'KnaNetworkReady', message: 'kna pod network is configured on this node' }
      : { status: 'True', reason: 'KnaNetworkNotReady', message: 'kna pod network is not configured yet' },
  };
}

const CONDITION_ORDER = ['MemoryPressure', 'DiskPressure', 'PIDPressure', 'Ready', 'NetworkUnavailable'];

/** Conditions with heartbeat `now`; a transition time moves only when the status does. */
export function conditionsOf(f: HostFacts, cfg: NodeConfig, h: NodeHealth, previous: NodeCondition[] | undefined, now: string): NodeCondition[] {
  const v = conditionVerdicts(f, cfg, h);
  return CONDITION_ORDER.map((type) => {
    const prev = previous?.find((c) => c.type === type);
    const { status, reason, message } = v[type]!;
    return { type, status, reason, message, lastHeartbeatTime: now, lastTransitionTime: prev && prev.status === status ? prev.lastTransitionTime : now };
  });
}

export function addressesOf(f: HostFacts, cfg: NodeConfig): { type: string; address: string }[] {
  const ips = cfg.nodeIPs?.length ? cfg.nodeIPs : f.addresses.slice(0, 1);
  return [...ips.map((address) => ({ type: 'InternalIP', address })), { type: 'Hostname', address: f.hostname }];
}

export function nodeStatusOf(f: HostFacts, cfg: NodeConfig, h: NodeHealth, previous: NodeCondition[] | undefined, now: string): Record<string, unknown> {
  return {
    ...capacityOf(f, cfg),
    conditions: conditionsOf(f, cfg, h, previous, now),
    addresses: addressesOf(f, cfg),
    daemonEndpoints: { kubeletEndpoint: { Port: cfg.kubeletPort ?? 10250 } },
    nodeInfo: {
      machineID: f.machineID,
      systemUUID: f.systemUUID,
      bootID: f.bootID,
      kernelVersion: f.kernelVersion,
      osImage: f.osImage,
      containerRuntimeVersion: cfg.containerRuntimeVersion,
      kubeletVersion: cfg.kubeletVersion,
      kubeProxyVersion: cfg.kubeletVersion,
      operatingSystem: 'linux',
      architecture: f.architecture,
    },
  };
}

/** Labels kubelet sets on its Node, plus the user's (--node-labels). */
export function nodeLabels(f: HostFacts, cfg: Pick<NodeConfig, 'nodeName' | 'labels'>): Record<string, string> {
  return {
    'beta.kubernetes.io/arch': f.architecture,
    'beta.kubernetes.io/os': 'linux',
    'kubernetes.io/arch': f.architecture,
    'kubernetes.io/hostname': cfg.nodeName,
    'kubernetes.io/os': 'linux',
    ...(cfg.labels ?? {}),
  };
}

/** The node as pod admission sees it, from what this agent registers (standalone, or before the Node is seen). */
export function admissionNodeOf(f: HostFacts, cfg: Pick<NodeConfig, 'nodeName' | 'labels' | 'taints' | 'kubeReserved' | 'systemReserved' | 'maxPods'>): AdmissionNode {
  return { name: cfg.nodeName, labels: nodeLabels(f, cfg), taints: cfg.taints ?? [], allocatable: capacityOf(f, cfg).allocatable };
}

/**
 * The same from the Node in the API, as kubelet admits against its Node: labels and
 * taints added there (kubectl label, kubectl taint) count. `fallback` fills what it lacks.
 */
export function admissionNodeFromObject(node: { metadata: { name: string; labels?: Record<string, string> }; spec?: unknown; status?: unknown }, fallback: AdmissionNode): AdmissionNode {
  const record = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
  const taints = record(node.spec).taints;
  const allocatable = record(record(node.status).allocatable);
  return {
    name: node.metadata.name,
    labels: node.metadata.labels ?? {},
    taints: Array.isArray(taints) ? (taints as Taint[]) : [],
    allocatable: Object.keys(allocatable).length ? (allocatable as Record<string, string>) : fallback.allocatable,
  };
}

export function nodeObject(f: HostFacts, cfg: NodeConfig, h: NodeHealth, now: string): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: cfg.nodeName,
      labels: nodeLabels(f, cfg),
      annotations: { 'volumes.kubernetes.io/controller-managed-attach-detach': 'true' },
    },
    spec: cfg.taints?.length ? { taints: cfg.taints } : {},
    status: nodeStatusOf(f, cfg, h, undefined, now),
  };
}

/** Does the status differ in anything but heartbeat times? */
export function statusDiffers(a: Record<string, unknown> | undefined, b: Record<string, unknown>): boolean {
  const strip = (s: Record<string, unknown> | undefined) =>
    JSON.stringify({ ...s, conditions: ((s?.conditions ?? []) as NodeCondition[]).map(({ lastHeartbeatTime: _h, ...c }) => c) });
  return strip(a) !== strip(b);
}

/** Kubernetes' version string for this agent: v1.31.0-kna.<our version>. */
export function kubeletVersionString(ours: string, compat = '1.31.0'): string {
  return `v${compat}-kna.${ours}`;
}

const TAINT_EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'];

/** A taint as the API server validates it: a qualified-name key, a label-value value, a known effect. */
export function checkTaint(t: { key?: unknown; value?: unknown; effect?: unknown }): Taint {
  const key = typeof t.key === 'string' ? t.key : '';
  const value = t.value === undefined || t.value === null ? '' : String(t.value);
  const errs = [...qualifiedName(key).map((m) => `key "${key}": ${m}`), ...(value ? labelValue(value).map((m) => `value "${value}": ${m}`) : [])];
  if (!TAINT_EFFECTS.includes(String(t.effect))) errs.push(`effect "${String(t.effect ?? '')}": must be one of NoSchedule, PreferNoSchedule, NoExecute`);
  if (errs.length) throw new ResourceListError(errs.join('; '));
  return { key, ...(value ? { value } : {}), effect: t.effect as Taint['effect'] };
}

/** Parses --register-with-taints "key=value:Effect,key:Effect". */
export function parseTaints(s: string): Taint[] {
  return s.split(',').map((p) => p.trim()).filter(Boolean).map((p) => {
    const m = /^([^=:]+)(?:=([^:]*))?:([^:]*)$/.exec(p);
    if (!m) throw new ResourceListError(`"${p}" must be key[=value]:NoSchedule|PreferNoSchedule|NoExecute`);
    return checkTaint({ key: m[1], value: m[2], effect: m[3] });
  });
}

/**
 * Labels a kubelet may put on its own Node (kubelet's IsKubeletLabel, what the
 * NodeRestriction admission plugin lets a node set): outside the kubernetes.io and
 * k8s.io namespaces anything goes; inside them only these namespaces and labels.
 * node-role.kubernetes.io/* is not among them: set roles with kubectl label.
 */
export const KUBELET_LABEL_NAMESPACES = ['kubelet.kubernetes.io', 'node.kubernetes.io'];
export const KUBELET_LABELS = [
  'beta.kubernetes.io/arch', 'beta.kubernetes.io/instance-type', 'beta.kubernetes.io/os',
  'failure-domain.beta.kubernetes.io/region', 'failure-domain.beta.kubernetes.io/zone',
  'kubernetes.io/arch', 'kubernetes.io/hostname', 'kubernetes.io/os',
  'node.kubernetes.io/instance-type', 'topology.kubernetes.io/region', 'topology.kubernetes.io/zone',
];

const inNamespace = (ns: string, of: string) => ns === of || ns.endsWith('.' + of);

export function isKubeletLabel(key: string): boolean {
  const ns = key.includes('/') ? key.slice(0, key.indexOf('/')) : '';
  if (!inNamespace(ns, 'kubernetes.io') && !inNamespace(ns, 'k8s.io')) return true;
  return KUBELET_LABELS.includes(key) || KUBELET_LABEL_NAMESPACES.some((allowed) => inNamespace(ns, allowed));
}

/** Checks --node-labels as kubelet's ValidateKubeletFlags does, with its messages. */
export function checkNodeLabels(labels: Record<string, string>): Record<string, string> {
  const unknown = Object.keys(labels).filter((k) => !isKubeletLabel(k)).sort();
  if (unknown.length) {
    throw new ResourceListError(`unknown 'kubernetes.io' or 'k8s.io' labels specified with --node-labels: [${unknown.join(' ')}]; --node-labels in the 'kubernetes.io' namespace must begin with an allowed prefix (${KUBELET_LABEL_NAMESPACES.join(', ')}) or be in the specifically allowed set (${KUBELET_LABELS.join(', ')})`);
  }
  const invalid = Object.entries(labels).flatMap(([k, v]) => [
    ...(qualifiedName(k).length ? [`'${k}' - ${qualifiedName(k).join(', ')}`] : []),
    ...(labelValue(v).length ? [`'${v}' - ${labelValue(v).join(', ')}`] : []),
  ]);
  if (invalid.length) throw new ResourceListError(`invalid node labels: ${invalid.join('; ')}`);
  return labels;
}

/** Parses --node-labels "key=value,key2=value2" (a value may be empty). */
export function parseNodeLabels(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of s.split(',').map((p) => p.trim()).filter(Boolean)) {
    const i = part.indexOf('=');
    if (i < 0) throw new ResourceListError(`"${part}" must be key=value`);
    out[part.slice(0, i)] = part.slice(i + 1);
  }
  return checkNodeLabels(out);
}
