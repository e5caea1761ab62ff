// Standalone mode has no EndpointSlice controller: compute the slices of a Service with
// a selector from the local pods, with the controller's rules for which pods count
// and how ready / serving / terminating are set.
import { createHash } from 'node:crypto';
import type { V1EndpointSlice, V1Pod, V1Service, V1ServicePort } from './api.js';
import { MANAGED_BY_LABEL, SERVICE_NAME_LABEL } from './api.js';
import { parseIP } from './ip.js';

export const MANAGED_BY = 'kna.standalone';
const MAX_ENDPOINTS_PER_SLICE = 100;

type SlicePort = { name: string; port: number; protocol: string; appProtocol?: string };
type SliceEndpoint = NonNullable<V1EndpointSlice['endpoints']>[number];

/** Pod condition Ready is True. */
export function isPodReady(pod: V1Pod): boolean {
  return (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/** In any slice at all: not finished (Succeeded/Failed) and has an IP. Terminating pods stay, flagged. */
export function shouldBeInEndpoints(pod: V1Pod): boolean {
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return false;
  return Boolean(pod.status?.podIP) || (pod.status?.podIPs ?? []).some((p) => Boolean(p.ip));
}

function selects(selector: Record<string, string>, pod: V1Pod): boolean {
  const labels = pod.metadata?.labels ?? {};
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** The container port a Service port's targetPort means for this pod; undefined when a named port is missing. */
export function resolveTargetPort(sp: V1ServicePort, pod: V1Pod): number | undefined {
  const tp = sp.targetPort;
  if (tp === undefined || tp === 0 || tp === '') return sp.port;
  if (typeof tp === 'number') return tp;
  const protocol = sp.protocol || 'TCP';
  const containers = [
    ...(pod.spec?.containers ?? []),
    // Sidecars (restartable init containers) serve like app containers.
    ...(pod.spec?.initContainers ?? []).filter((c) => c.restartPolicy === 'Always'),
  ];
  for (const c of containers) {
    for (const p of c.ports ?? []) {
      if (p.name === tp && (p.protocol || 'TCP') === protocol) return p.containerPort;
    }
  }
  return undefined;
}

function addressTypes(service: V1Service): Array<'IPv4' | 'IPv6'> {
  const families = (service.spec?.ipFamilies ?? []).filter((f): f is 'IPv4' | 'IPv6' => f === 'IPv4' || f === 'IPv6');
  if (families.length > 0) return families;
  return parseIP(service.spec?.clusterIP ?? '')?.family === 6 ? ['IPv6'] : ['IPv4'];
}

function podIP(pod: V1Pod, type: 'IPv4' | 'IPv6'): string | undefined {
  const want = type === 'IPv4' ? 4 : 6;
  const ips = [pod.status?.podIP, ...(pod.status?.podIPs ?? []).map((p) => p.ip)];
  for (const ip of ips) {
    const p = ip ? parseIP(ip) : undefined;
    if (p?.family === want) return p.text;
  }
  return undefined;
}

const shortHash = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 8);

/**
 * The EndpointSlices the controller would keep for `service` given `pods` (any
 * namespace; only the Service's own are considered). Services without a selector
 * have hand-written slices: none are computed.
 */
export function endpointSlicesForService(service: V1Service, pods: readonly V1Pod[], managedBy = MANAGED_BY): V1EndpointSlice[] {
  const selector = service.spec?.selector;
  const namespace = service.metadata?.namespace || 'default';
  const svcName = service.metadata?.name ?? '';
  if (!selector || Object.keys(selector).length === 0 || service.spec?.type === 'ExternalName') return [];

  const groups = new Map<string, { type: 'IPv4' | 'IPv6'; ports: SlicePort[]; endpoints: SliceEndpoint[] }>();
  const candidates = pods
    .filter((p) => (p.metadata?.namespace || 'default') === namespace && selects(selector, p) && shouldBeInEndpoints(p))
    .sort((a, b) => ((a.metadata?.name ?? '') < (b.metadata?.name ?? '') ? -1 : 1));
  const types = addressTypes(service);
  for (const type of types) groups.set(`${type}|[]`, { type, ports: [], endpoints: [] });

  for (const pod of candidates) {
    const ports: SlicePort[] = [];
    for (const sp of service.spec?.ports ?? []) {
      const port = resolveTargetPort(sp, pod);
      if (port === undefined) continue; // named port this pod does not have
      ports.push({ name: sp.name ?? '', port, protocol: sp.protocol || 'TCP', ...(sp.appProtocol ? { appProtocol: sp.appProtocol } : {}) });
    }
    const serving = isPodReady(pod);
    const terminating = Boolean(pod.metadata?.deletionTimestamp);
    // "ready" is never true for a terminating pod, unless the Service publishes not-ready addresses.
    const ready = Boolean(service.spec?.publishNotReadyAddresses) || (serving && !terminating);
    for (const type of types) {
      const ip = podIP(pod, type);
      if (!ip) continue;
      const key = `${type}|${JSON.stringify(ports)}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { type, ports, endpoints: [] }));
      const spec = pod.spec ?? {};
      g.endpoints.push({
        addresses: [ip],
        conditions: { ready, serving, terminating },
        ...(spec.nodeName ? { nodeName: spec.nodeName } : {}),
        ...(spec.hostname && spec.subdomain === svcName ? { hostname: spec.hostname } : {}),
        targetRef: { kind: 'Pod', namespace, name: pod.metadata?.name ?? '', ...(pod.metadata?.uid ? { uid: pod.metadata.uid } : {}) },
      });
    }
  }

  const slices: V1EndpointSlice[] = [];
  for (const [key, g] of groups) {
    // The empty placeholder only stays when the Service has no endpoints of that type at all.
    if (g.endpoints.length === 0 && [...groups.values()].some((o) => o.type === g.type && o.endpoints.length > 0)) continue;
    const chunks = g.endpoints.length === 0 ? [[]] : chunk(g.endpoints, MAX_ENDPOINTS_PER_SLICE);
    chunks.forEach((endpoints, i) => {
      slices.push({
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: {
          name: `${svcName}-${shortHash(`${key}|${i}`)}`,
          namespace,
          labels: { [SERVICE_NAME_LABEL]: svcName, [MANAGED_BY_LABEL]: managedBy },
          ...(service.metadata?.uid
            ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: svcName, uid: service.metadata.uid, controller: true }] }
            : {}),
        },
        addressType: g.type,
        endpoints,
        ports: g.ports,
      });
    });
  }
  return slices;
}

function chunk<T>(list: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

/** The computed slices of every Service with a selector (standalone mode's whole set). */
export function endpointSlicesForServices(services: readonly V1Service[], pods: readonly V1Pod[], managedBy = MANAGED_BY): V1EndpointSlice[] {
  return services.flatMap((s) => endpointSlicesForService(s, pods, managedBy));
}
