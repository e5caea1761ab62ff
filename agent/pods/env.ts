// A container's environment as kubelet builds it (makeEnvironmentVariables): envFrom
// first, then env in order overriding it; `$(VAR)` references expanded against what
// is defined so far; downward API fields and resources; ConfigMap and Secret keys.
// Service-link variables (FOO_SERVICE_HOST...) are deliberately not generated:
// enableServiceLinks is accepted and ignored, since pods are expected to use DNS.
// Pure: the ConfigMaps and Secrets come in as maps, the IPs as lists.
import { Quantity } from './quantity.js';

export interface EnvVar {
  name: string;
  value: string;
}

/** The failure kubelet reports as waiting reason CreateContainerConfigError. */
export class EnvError extends Error {
  override readonly name = 'EnvError';
  readonly reason = 'CreateContainerConfigError';
}

type QuantityText = string | number;

/** The container fields env resolution reads (the parsed api-types Container fits). */
export interface EnvContainer {
  name: string;
  command?: string[] | undefined;
  args?: string[] | undefined;
  env?: {
    name: string;
    value?: string | undefined;
    valueFrom?: {
      fieldRef?: { apiVersion?: string; fieldPath: string } | undefined;
      resourceFieldRef?: { containerName?: string | undefined; resource: string; divisor?: QuantityText | undefined } | undefined;
      configMapKeyRef?: { name: string; key: string; optional?: boolean | undefined } | undefined;
      secretKeyRef?: { name: string; key: string; optional?: boolean | undefined } | undefined;
    } | undefined;
  }[];
  envFrom?: {
    prefix?: string | undefined;
    configMapRef?: { name: string; optional?: boolean | undefined } | undefined;
    secretRef?: { name: string; optional?: boolean | undefined } | undefined;
  }[];
  resources?: { limits?: Record<string, QuantityText>; requests?: Record<string, QuantityText> };
}

export interface EnvPod {
  metadata: { name: string; namespace: string; uid: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: { nodeName?: string | undefined; serviceAccountName?: string | undefined; containers: EnvContainer[]; initContainers?: EnvContainer[] };
}

export interface EnvContext {
  /** the pod's IPs, primary first ([] before the sandbox has one, or for none) */
  podIPs: string[];
  /** the node's IPs, primary first */
  hostIPs: string[];
  /** ConfigMaps of the pod's namespace, by name */
  configMaps?: ReadonlyMap<string, { data?: Record<string, string> }>;
  /** Secrets of the pod's namespace, by name: `data` base64 as in the API, `stringData` plain */
  secrets?: ReadonlyMap<string, { data?: Record<string, string>; stringData?: Record<string, string> }>;
  /** node allocatable ({cpu: '2', memory: '4Gi', 'ephemeral-storage': ...}): the value of an unset limit */
  nodeAllocatable?: Record<string, QuantityText>;
}

/** The env list handed to the runtime; throws EnvError on a missing ConfigMap/Secret/key. */
export function resolveEnv(pod: EnvPod, container: EnvContainer, ctx: EnvContext): EnvVar[] {
  const ns = pod.metadata.namespace;
  const env = new Map<string, string>();

  for (const from of container.envFrom ?? []) {
    const prefix = from.prefix ?? '';
    if (from.configMapRef) {
      const cm = ctx.configMaps?.get(from.configMapRef.name);
      if (!cm) {
        if (from.configMapRef.optional) continue;
        throw new EnvError(`configmap "${from.configMapRef.name}" not found`);
      }
      for (const [k, v] of Object.entries(cm.data ?? {})) env.set(prefix + k, v);
    } else if (from.secretRef) {
      const s = ctx.secrets?.get(from.secretRef.name);
      if (!s) {
        if (from.secretRef.optional) continue;
        throw new EnvError(`secret "${from.secretRef.name}" not found`);
      }
      for (const [k, v] of Object.entries(secretData(s))) env.set(prefix + k, v);
    }
  }

  for (const ev of container.env ?? []) {
    let value = ev.value ?? '';
    const from = ev.valueFrom;
    if (value !== '') {
      value = expand(value, (name) => env.get(name));
    } else if (from?.fieldRef) {
      value = fieldRefValue(pod, from.fieldRef.fieldPath, ctx);
    } else if (from?.resourceFieldRef) {
      value = resourceFieldValue(pod, container, from.resourceFieldRef, ctx.nodeAllocatable ?? {});
    } else if (from?.configMapKeyRef) {
      const { name, key, optional } = from.configMapKeyRef;
      const cm = ctx.configMaps?.get(name);
      if (!cm) {
        if (optional) continue;
        throw new EnvError(`configmap "${name}" not found`);
      }
      const v = cm.data?.[key];
      if (v === undefined) {
        if (optional) continue;
        throw new EnvError(`couldn't find key ${key} in ConfigMap ${ns}/${name}`);
      }
      value = v;
    } else if (from?.secretKeyRef) {
      const { name, key, optional } = from.secretKeyRef;
      const s = ctx.secrets?.get(name);
      if (!s) {
        if (optional) continue;
        throw new EnvError(`secret "${name}" not found`);
      }
      const v = secretData(s)[key];
      if (v === undefined) {
        if (optional) continue;
        throw new EnvError(`couldn't find key ${key} in Secret ${ns}/${name}`);
      }
      value = v;
    }
    env.set(ev.name, value);
  }
  return [...env].map(([name, value]) => ({ name, value }));
}

/** command and args with `$(VAR)` expanded against the final env (absent stays absent). */
export function resolveCommand(container: Pick<EnvContainer, 'command' | 'args'>, env: readonly EnvVar[]): { command?: string[]; args?: string[] } {
  const vars = new Map(env.map((e) => [e.name, e.value]));
  const lookup = (name: string) => vars.get(name);
  return {
    ...(container.command ? { command: container.command.map((s) => expand(s, lookup)) } : {}),
    ...(container.args ? { args: container.args.map((s) => expand(s, lookup)) } : {}),
  };
}

/**
 * Kubernetes `$(VAR)` expansion: a defined VAR is replaced, an undefined one is left
 * as written, `$$` is a literal `$`, and a `$` not starting a reference is kept.
 */
export function expand(input: string, lookup: (name: string) => string | undefined): string {
  let out = '';
  let i = 0;
  while (i < input.length) {
    const ch = input[i]!;
    if (ch !== '$' || i + 1 >= input.length) {
      out += ch;
      i++;
      continue;
    }
    const next = input[i + 1]!;
    if (next === '$') {
      out += '$';
      i += 2;
    } else if (next === '(') {
      const close = input.indexOf(')', i + 2);
      if (close < 0) {
        out += '$(';
        i += 2;
      } else {
        const name = input.slice(i + 2, close);
        out += lookup(name) ?? `$(${name})`;
        i = close + 1;
      }
    } else {
      out += `$${next}`;
      i += 2;
    }
  }
  return out;
}

/** A downward API fieldPath's value for env: labels/annotations by subscript, names, IPs. */
export function fieldRefValue(pod: EnvPod, fieldPath: string, ips: { podIPs: string[]; hostIPs: string[] }): string {
  const sub = /^metadata\.(labels|annotations)\['(.*)'\]$/.exec(fieldPath);
  if (sub) return (sub[1] === 'labels' ? pod.metadata.labels : pod.metadata.annotations)?.[sub[2]!] ?? '';
  switch (fieldPath) {
    case 'metadata.name': return pod.metadata.name;
    case 'metadata.namespace': return pod.metadata.namespace;
    case 'metadata.uid': return pod.metadata.uid;
    case 'metadata.labels': return formatMap(pod.metadata.labels ?? {});
    case 'metadata.annotations': return formatMap(pod.metadata.annotations ?? {});
    case 'spec.nodeName':
    case 'spec.host': return pod.spec.nodeName ?? '';
    case 'spec.serviceAccountName': return pod.spec.serviceAccountName ?? '';
    case 'status.hostIP': return ips.hostIPs[0] ?? '';
    case 'status.hostIPs': return ips.hostIPs.join(',');
    case 'status.podIP': return ips.podIPs[0] ?? '';
    case 'status.podIPs': return ips.podIPs.join(',');
  }
  throw new EnvError(`unsupported fieldPath: ${fieldPath}`);
}

/** Labels/annotations as the downward API writes a whole map: sorted `key="value"` lines. */
export function formatMap(m: Record<string, string>): string {
  return Object.keys(m).sort().map((k) => `${k}=${JSON.stringify(m[k])}`).join('\n');
}

/**
 * resourceFieldRef as kubelet computes it: cpu in units of the divisor rounded up
 * (millicores / divisor millicores), memory and storage in divisor units rounded up;
 * a limit the container does not set is the node's allocatable, as kubelet defaults it.
 */
export function resourceFieldValue(
  pod: EnvPod,
  container: EnvContainer,
  ref: { containerName?: string | undefined; resource: string; divisor?: QuantityText | undefined },
  allocatable: Record<string, QuantityText>,
): string {
  let target = container;
  if (ref.containerName) {
    const found = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].find((c) => c.name === ref.containerName);
    if (!found) throw new EnvError(`container ${ref.containerName} not found`);
    target = found;
  }
  const dot = ref.resource.indexOf('.');
  const kind = ref.resource.slice(0, dot);
  const resource = ref.resource.slice(dot + 1);
  if (dot < 0 || (kind !== 'limits' && kind !== 'requests')) throw new EnvError(`unsupported container resource : ${ref.resource}`);
  let raw = target.resources?.[kind]?.[resource];
  if (kind === 'limits' && (raw === undefined || Quantity.parse(raw).isZero())) raw = allocatable[resource];
  const value = Quantity.parse(raw ?? 0);
  const divisor = ref.divisor === undefined || Quantity.parse(ref.divisor).isZero() ? Quantity.parse(1) : Quantity.parse(ref.divisor);
  if (resource === 'cpu') return String(Math.ceil(value.milliValue() / divisor.milliValue()));
  if (resource === 'memory' || resource === 'ephemeral-storage' || resource.startsWith('hugepages-'))
    return String(Math.ceil(value.value() / divisor.value()));
  throw new EnvError(`unsupported container resource : ${ref.resource}`);
}

/** Which ConfigMaps and Secrets a container's env needs (so the caller fetches just those). */
export function envReferences(container: EnvContainer): { configMaps: string[]; secrets: string[] } {
  const configMaps = new Set<string>();
  const secrets = new Set<string>();
  for (const f of container.envFrom ?? []) {
    if (f.configMapRef) configMaps.add(f.configMapRef.name);
    if (f.secretRef) secrets.add(f.secretRef.name);
  }
  for (const e of container.env ?? []) {
    if (e.valueFrom?.configMapKeyRef) configMaps.add(e.valueFrom.configMapKeyRef.name);
    if (e.valueFrom?.secretKeyRef) secrets.add(e.valueFrom.secretKeyRef.name);
  }
  return { configMaps: [...configMaps], secrets: [...secrets] };
}

function secretData(s: { data?: Record<string, string>; stringData?: Record<string, string> }): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.data ?? {})) out[k] = Buffer.from(v, 'base64').toString('utf8');
  return { ...out, ...(s.stringData ?? {}) };
}
