// Pod → CRI PodSandboxConfig (pure). Hostname, DNS, port mappings, cgroup parent by
// QoS class, namespaces, and the labels that let a restarted agent find the pod again.
import type { DnsConfig, PodSandboxConfig, PortMapping } from '../cri/types.js';
import type { Pod } from './api-types.js';
import { L, MANAGED_BY } from './labels.js';
import { cgroupParent, qosClass } from './qos.js';

export interface NodeContext {
  nodeName: string;
  /** kubelet's --root-dir */
  rootDir: string;
  clusterDNS: string[];
  clusterDomain: string;
  /** The host's resolv.conf, for dnsPolicy Default (and ClusterFirst without cluster DNS). */
  hostDNS: { servers: string[]; searches: string[]; options: string[] };
  hostname: string;
}

export const podLogDir = (rootDir: string, pod: Pod) =>
  `${rootDir}/logs/pods/${pod.metadata.namespace}_${pod.metadata.name}_${pod.metadata.uid}`;

/** Merges a pod's dnsConfig into a base, as kubelet does (servers and searches appended, options by name). */
function mergeDns(base: Required<DnsConfig>, extra: Pod['spec']['dnsConfig']): Required<DnsConfig> {
  if (!extra) return base;
  const uniq = (xs: string[]) => [...new Set(xs)];
  const opts = new Map(base.options.map((o) => [o.split(':')[0]!, o]));
  for (const o of extra.options ?? []) opts.set(o.name, o.value !== undefined ? `${o.name}:${o.value}` : o.name);
  return {
    servers: uniq([...base.servers, ...(extra.nameservers ?? [])]),
    searches: uniq([...base.searches, ...(extra.searches ?? [])]),
    options: [...opts.values()],
  };
}

/** The resolv.conf a pod gets, from dnsPolicy (kubelet's rules, including its fallbacks). */
export function podDnsConfig(pod: Pod, node: NodeContext): DnsConfig {
  let policy = pod.spec.dnsPolicy ?? 'ClusterFirst';
  if (policy === 'ClusterFirst' && pod.spec.hostNetwork) policy = 'Default';
  if (policy === 'ClusterFirstWithHostNet') policy = 'ClusterFirst';
  if (policy === 'ClusterFirst' && node.clusterDNS.length === 0) policy = 'Default'; // kubelet falls back too
  let base: Required<DnsConfig>;
  if (policy === 'None') base = { servers: [], searches: [], options: [] };
  else if (policy === 'Default') base = { ...node.hostDNS };
  else {
    const d = node.clusterDomain;
    base = {
      servers: [...node.clusterDNS],
      searches: [`${pod.metadata.namespace}.svc.${d}`, `svc.${d}`, d, ...node.hostDNS.searches],
      options: ['ndots:5'],
    };
  }
  const merged = mergeDns(base, pod.spec.dnsConfig);
  merged.searches = merged.searches.slice(0, 32); // the limit kubelet enforces
  return merged;
}

export function portMappings(pod: Pod): PortMapping[] {
  const out: PortMapping[] = [];
  for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
    for (const p of c.ports ?? []) {
      if (!p.hostPort) continue;
      out.push({ protocol: (p.protocol ?? 'TCP') as PortMapping['protocol'], containerPort: p.containerPort, hostPort: p.hostPort, ...(p.hostIP ? { hostIp: p.hostIP } : {}) });
    }
  }
  return out;
}

/**
 * The pod's hostname: spec.hostname, else the pod name (63 chars at most). A
 * hostNetwork pod shares the node's UTS namespace, so it gets none of its own (runc
 * refuses to set one there) and sees the node's name.
 */
export function podHostname(pod: Pod): string {
  if (pod.spec.hostNetwork) return '';
  return (pod.spec.hostname ?? pod.metadata.name).slice(0, 63).replace(/[-.]+$/, '');
}

export function sandboxConfig(pod: Pod, attempt: number, node: NodeContext): PodSandboxConfig {
  const m = pod.metadata;
  const sc = pod.spec.securityContext ?? {};
  const ns = (host: boolean | undefined, fallback: 'POD' | 'CONTAINER') => (host ? 'NODE' as const : fallback);
  return {
    metadata: { name: m.name, namespace: m.namespace, uid: m.uid, attempt },
    hostname: podHostname(pod),
    logDirectory: podLogDir(node.rootDir, pod),
    dnsConfig: podDnsConfig(pod, node),
    portMappings: portMappings(pod),
    labels: { ...(m.labels ?? {}), [L.podName]: m.name, [L.podNamespace]: m.namespace, [L.podUid]: m.uid, [L.managedBy]: MANAGED_BY, [L.node]: node.nodeName },
    annotations: { ...(m.annotations ?? {}) },
    linux: {
      cgroupParent: cgroupParent(qosClass(pod), m.uid),
      sysctls: Object.fromEntries((sc.sysctls ?? []).map((s) => [s.name, s.value])),
      securityContext: {
        namespaceOptions: {
          network: ns(pod.spec.hostNetwork, 'POD'),
          pid: pod.spec.hostPID ? 'NODE' : pod.spec.shareProcessNamespace ? 'POD' : 'CONTAINER',
          ipc: ns(pod.spec.hostIPC, 'POD'),
        },
        ...(sc.runAsUser !== undefined ? { runAsUser: { value: sc.runAsUser } } : {}),
        ...(sc.runAsGroup !== undefined ? { runAsGroup: { value: sc.runAsGroup } } : {}),
        supplementalGroups: [...(sc.supplementalGroups ?? []), ...(sc.fsGroup !== undefined ? [sc.fsGroup] : [])],
      },
    },
  };
}

/** Parses resolv.conf text (nameserver/search/options lines). */
export function parseResolvConf(text: string): NodeContext['hostDNS'] {
  const out: NodeContext['hostDNS'] = { servers: [], searches: [], options: [] };
  for (const line of text.split('\n')) {
    const [key, ...rest] = line.replace(/[#;].*/, '').trim().split(/\s+/);
    if (key === 'nameserver' && rest[0]) out.servers.push(rest[0]);
    else if (key === 'search' || key === 'domain') out.searches = rest;
    else if (key === 'options') out.options.push(...rest);
  }
  return out;
}
