// kubelet's admission of a new pod (canAdmitPod's predicate handler): does it fit on
// this node next to the pods already admitted? The checks are the scheduler's own
// (its AdmissionCheck), so a pod the scheduler placed here passes unless the node
// changed meanwhile or the pod skipped the scheduler (spec.nodeName set by hand,
// static pods). A pod that does not fit is rejected once and for all: phase Failed
// with kubelet's reason and message, never started. Pure.
import type { Pod, PodPhase, PodStatus } from './api-types.js';
import { isApiPod } from './api-pod.js';
import { qosClass } from './qos.js';
import { Quantity } from './quantity.js';
import { isExtendedResource } from './resource-names.js';
import { rfc3339 } from './status.js';

export interface NodeTaint {
  key: string;
  value?: string;
  effect: string;
}

/** What admission needs to know of the node: as its Node object has it (or would). */
export interface AdmissionNode {
  name: string;
  labels: Readonly<Record<string, string>>;
  taints: readonly NodeTaint[];
  /** status.allocatable: cpu, memory, ephemeral-storage, pods, hugepages-*, extended resources */
  allocatable: Readonly<Record<string, string>>;
}

export type AdmitResult = { admit: true } | { admit: false; reason: string; message: string };

/** A pod already admitted, with its status when it has one (terminal pods no longer count). */
export interface AdmittedPod {
  spec: Pod['spec'];
  status?: { phase?: PodPhase | string } | undefined;
}

const RESOURCES = ['cpu', 'memory', 'ephemeral-storage'] as const;
/**
 * Requests per resource name: the three above always, and the scalar resources the pod
 * names (hugepages-*, extended resources such as example.com/gpu). cpu in millicores,
 * the rest in bytes or units, as the scheduler counts them.
 */
type Requests = Readonly<Record<string, number>>;

const amount = (r: string, q: string | number): number => (r === 'cpu' ? Quantity.parse(q).milliValue() : Quantity.parse(q).value());

const isScalarResource = (name: string): boolean => name.startsWith('hugepages-') || isExtendedResource(name);

interface ResourcesOf {
  resources?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> } | undefined;
  restartPolicy?: string | undefined;
}

function containerRequests(c: ResourcesOf): Requests {
  const out: Record<string, number> = { cpu: 0, memory: 0, 'ephemeral-storage': 0 };
  const names = new Set([...Object.keys(c.resources?.requests ?? {}), ...Object.keys(c.resources?.limits ?? {})]);
  for (const r of names) {
    if (!(RESOURCES as readonly string[]).includes(r) && !isScalarResource(r)) continue;
    // The API server defaults a missing request to the limit (static pods are defaulted the same way).
    const q = c.resources?.requests?.[r] ?? c.resources?.limits?.[r];
    if (q !== undefined) out[r] = amount(r, q);
  }
  return out;
}

const combine = (f: (x: number, y: number) => number) => (a: Requests, b: Requests): Requests => {
  const out: Record<string, number> = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = f(out[k] ?? 0, v);
  return out;
};
const add = combine((x, y) => x + y);
const max = combine(Math.max);
const ZERO: Requests = { cpu: 0, memory: 0, 'ephemeral-storage': 0 };

/**
 * The pod's effective requests as the scheduler computes them: the app containers and
 * sidecars (restartable init containers) add up; each regular init container runs alone
 * next to the sidecars started before it, and the pod needs the larger of the two;
 * spec.overhead (RuntimeClass) comes on top.
 */
export function podRequests(spec: { containers: ResourcesOf[]; initContainers?: ResourcesOf[]; overhead?: unknown }): Requests {
  let reqs = spec.containers.map(containerRequests).reduce(add, ZERO);
  let sidecars = ZERO;
  let init = ZERO;
  for (const ic of spec.initContainers ?? []) {
    const own = containerRequests(ic);
    if (ic.restartPolicy === 'Always') {
      reqs = add(reqs, own);
      sidecars = add(sidecars, own);
      init = max(init, sidecars);
    } else {
      init = max(init, add(own, sidecars));
    }
  }
  reqs = max(reqs, init);
  const overhead = spec.overhead;
  if (typeof overhead === 'object' && overhead !== null) {
    reqs = add(reqs, containerRequests({ resources: { requests: overhead as Record<string, string | number> } }));
  }
  return reqs;
}

/** kubelet's filterOutInactivePods: pods that finished free their share of the node. */
export const isActive = (p: AdmittedPod): boolean => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed';

interface HostPort {
  ip: string;
  protocol: string;
  port: number;
}

function hostPorts(spec: AdmittedPod['spec']): HostPort[] {
  const sidecars = (spec.initContainers ?? []).filter((c) => c.restartPolicy === 'Always');
  return [...spec.containers, ...sidecars].flatMap((c) => c.ports
    .filter((p) => (p.hostPort ?? 0) > 0)
    .map((p) => ({ ip: p.hostIP || '0.0.0.0', protocol: p.protocol || 'TCP', port: p.hostPort! })));
}

/** The scheduler's NodePorts check: one protocol and port, on the same address or on any (0.0.0.0). */
const portsConflict = (a: HostPort, b: HostPort): boolean =>
  a.port === b.port && a.protocol === b.protocol && (a.ip === b.ip || a.ip === '0.0.0.0' || b.ip === '0.0.0.0');

// ------------------------------------------------------------------ node affinity

interface SelectorRequirement {
  key?: unknown;
  operator?: unknown;
  values?: unknown;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
const requirements = (v: unknown): SelectorRequirement[] => (Array.isArray(v) ? v.filter(isRecord) : []);

/** One matchExpressions entry against the labels; an invalid one matches nothing, as the API's LazyErrorNodeSelector. */
function labelRequirementMatches(req: SelectorRequirement, labels: Readonly<Record<string, string>>): boolean {
  const key = typeof req.key === 'string' ? req.key : '';
  const values = strings(req.values);
  const has = Object.hasOwn(labels, key);
  switch (req.operator) {
    case 'In': return values.length > 0 && has && values.includes(labels[key]!);
    case 'NotIn': return values.length > 0 && (!has || !values.includes(labels[key]!));
    case 'Exists': return values.length === 0 && has;
    case 'DoesNotExist': return values.length === 0 && !has;
    case 'Gt':
    case 'Lt': {
      if (values.length !== 1 || !/^-?\d+$/.test(values[0]!) || !has || !/^-?\d+$/.test(labels[key]!)) return false;
      const [want, have] = [BigInt(values[0]!), BigInt(labels[key]!)];
      return req.operator === 'Gt' ? have > want : have < want;
    }
    default: return false;
  }
}

/** matchFields: only metadata.name, with In or NotIn and exactly one value. */
function fieldRequirementMatches(req: SelectorRequirement, nodeName: string): boolean {
  const values = strings(req.values);
  if (req.key !== 'metadata.name' || values.length !== 1) return false;
  if (req.operator === 'In') return values[0] === nodeName;
  if (req.operator === 'NotIn') return values[0] !== nodeName;
  return false;
}

/** The pod's nodeSelector and required node affinity (terms ORed; an empty term matches nothing). */
export function matchesNodeAffinity(pod: { spec: { nodeSelector?: Record<string, string> | undefined; affinity?: unknown } }, node: AdmissionNode): boolean {
  for (const [k, v] of Object.entries(pod.spec.nodeSelector ?? {})) if (node.labels[k] !== v) return false;
  const affinity = pod.spec.affinity;
  const nodeAffinity = isRecord(affinity) ? affinity.nodeAffinity : undefined;
  const required = isRecord(nodeAffinity) ? nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution : undefined;
  if (!isRecord(required)) return true;
  const terms = Array.isArray(required.nodeSelectorTerms) ? required.nodeSelectorTerms.filter(isRecord) : [];
  return terms.some((term) => {
    const exprs = requirements(term.matchExpressions);
    const fields = requirements(term.matchFields);
    if (exprs.length === 0 && fields.length === 0) return false;
    return exprs.every((r) => labelRequirementMatches(r, node.labels)) && fields.every((r) => fieldRequirementMatches(r, node.name));
  });
}

// ------------------------------------------------------------------ taints

interface Toleration {
  key?: unknown;
  operator?: unknown;
  value?: unknown;
  effect?: unknown;
}

/** v1.Toleration.ToleratesTaint. */
export function tolerates(t: Toleration, taint: NodeTaint): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.key && t.key !== taint.key) return false;
  if (t.operator === 'Exists') return true;
  if (t.operator === undefined || t.operator === '' || t.operator === 'Equal') return (t.value ?? '') === (taint.value ?? '');
  return false;
}

/** The first NoExecute taint no toleration of the pod matches (kubelet looks at NoExecute only). */
export function untoleratedNoExecute(tolerations: unknown, taints: readonly NodeTaint[]): NodeTaint | undefined {
  const list: Toleration[] = Array.isArray(tolerations) ? tolerations.filter(isRecord) : [];
  return taints.find((taint) => taint.effect === 'NoExecute' && !list.some((t) => tolerates(t, taint)));
}

// ------------------------------------------------------------------ the decision

const predicate = (name: string, desc: string): AdmitResult => ({ admit: false, reason: name, message: `Predicate ${name} failed: ${desc}` });
const allocatable = (node: AdmissionNode, r: string): number => {
  const v = node.allocatable[r];
  if (v === undefined) return 0;
  return r === 'pods' ? Quantity.parse(v).value() : amount(r, v);
};

/**
 * Whether `pod` may run next to `others` (the pods admitted before; terminal ones are
 * skipped). The first failure wins, in kubelet's order: OS, resources (pods count, cpu,
 * memory, ephemeral-storage, then hugepages and extended resources), node affinity, node name, host ports, NoExecute taints
 * (not for static pods).
 */
export function admitPod(pod: Pod, others: readonly AdmittedPod[], node: AdmissionNode): AdmitResult {
  const os = pod.metadata.labels['kubernetes.io/os'];
  if (os !== undefined && os !== (node.labels['kubernetes.io/os'] ?? 'linux')) {
    return { admit: false, reason: 'PodOSSelectorNodeLabelDoesNotMatch', message: "Failed to admit pod as the `kubernetes.io/os` label doesn't match node label" };
  }
  const osField = (pod.spec as { os?: unknown }).os;
  if (isRecord(osField) && osField.name !== 'linux') {
    return { admit: false, reason: 'PodOSNotSupported', message: "Failed to admit pod as the OS field doesn't match node OS" };
  }

  const active = others.filter(isActive);
  const allowedPods = allocatable(node, 'pods');
  if (active.length + 1 > allowedPods) return insufficient('pods', 1, active.length, allowedPods);
  const want = podRequests(pod.spec);
  // An extended resource the node does not offer at all is left out, as kubelet's
  // removeMissingExtendedResources does: it may be a cluster-level resource.
  const checked = [...RESOURCES, ...Object.keys(want).filter(isScalarResource).sort()]
    .filter((r) => (want[r] ?? 0) > 0 && !(isExtendedResource(r) && node.allocatable[r] === undefined));
  if (checked.length > 0) {
    const used = active.map((p) => podRequests(p.spec)).reduce(add, ZERO);
    for (const r of checked) {
      const cap = allocatable(node, r);
      if (want[r]! > cap - (used[r] ?? 0)) return insufficient(r, want[r]!, used[r] ?? 0, cap);
    }
  }

  if (!matchesNodeAffinity(pod, node)) return predicate('NodeAffinity', "node(s) didn't match Pod's node affinity/selector");
  if (pod.spec.nodeName && pod.spec.nodeName !== node.name) return predicate('NodeName', "node(s) didn't match the requested node name");
  const taken = active.flatMap((p) => hostPorts(p.spec));
  if (hostPorts(pod.spec).some((p) => taken.some((q) => portsConflict(p, q)))) {
    return predicate('NodePorts', "node(s) didn't have free ports for the requested pod ports");
  }
  if (isApiPod(pod) && untoleratedNoExecute(pod.spec.tolerations, node.taints)) {
    return predicate('TaintToleration', "node(s) had taints that the pod didn't tolerate");
  }
  return { admit: true };
}

function insufficient(resource: string, requested: number, used: number, capacity: number): AdmitResult {
  return { admit: false, reason: `OutOf${resource}`, message: `Node didn't have enough resource: ${resource}, requested: ${requested}, used: ${used}, capacity: ${capacity}` };
}

/** kubelet's rejectPod: the status of a pod that was not admitted. */
export function rejectedStatus(pod: Pod, reason: string, message: string, now = Date.now()): PodStatus {
  return { phase: 'Failed', reason, message: `Pod was rejected: ${message}`, qosClass: qosClass(pod), startTime: rfc3339(now), conditions: [], containerStatuses: [] };
}
