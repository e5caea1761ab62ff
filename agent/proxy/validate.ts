// v1 Service / discovery.k8s.io/v1 EndpointSlice JSON -> validated internal form.
// Errors read like the API server's ("spec.ports[0].port: Invalid value: 0: ...") and
// name the object, so one bad Service is reported and skipped without blocking others.
import type { V1EndpointSlice, V1Service } from './api.js';
import { SERVICE_NAME_LABEL, TRIGGER_TIME_ANNOTATION } from './api.js';
import { parseCIDR, parseIP } from './ip.js';
import type {
  AddressType, EndpointSliceInfo, EndpointSlicePort, IPFamily, Protocol, ServiceInfo, ServicePort, SliceEndpoint,
} from './types.js';

export const DEFAULT_AFFINITY_TIMEOUT_SECONDS = 10800;
const MAX_AFFINITY_TIMEOUT_SECONDS = 86400;
const PROTOCOLS: readonly Protocol[] = ['SCTP', 'TCP', 'UDP'];
const SOURCE_RANGES_ANNOTATION = 'service.beta.kubernetes.io/load-balancer-source-ranges';

export interface FieldError { readonly field: string; readonly message: string }

/** A Service or EndpointSlice the proxy refuses; message names the object and each bad field. */
export class ProxyValidationError extends Error {
  override readonly name = 'ProxyValidationError';
  constructor(readonly kind: string, readonly namespace: string, readonly objectName: string, readonly errors: readonly FieldError[]) {
    super(`${kind} ${namespace}/${objectName}: ${errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`);
  }
}

const show = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : String(v));

/** Collects field errors in the API server's wording. */
class Errors {
  readonly list: FieldError[] = [];
  invalid(field: string, value: unknown, detail: string): void {
    this.list.push({ field, message: `Invalid value: ${show(value)}: ${detail}` });
  }
  required(field: string): void { this.list.push({ field, message: 'Required value' }); }
  unsupported(field: string, value: unknown, supported: readonly string[]): void {
    this.list.push({ field, message: `Unsupported value: ${show(value)}: supported values: ${supported.map((s) => JSON.stringify(s)).join(', ')}` });
  }
  duplicate(field: string, value: unknown): void { this.list.push({ field, message: `Duplicate value: ${show(value)}` }); }
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const IANA_SVC_NAME = /^(?=.*[a-z])[a-z0-9]([a-z0-9]|-(?!-))*[a-z0-9]?$/;

function checkLabel(errs: Errors, field: string, v: unknown, re: RegExp): v is string {
  if (typeof v !== 'string' || v === '') { errs.required(field); return false; }
  if (v.length > 63 || !re.test(v)) {
    errs.invalid(field, v, "must consist of lower case alphanumeric characters or '-', start and end with an alphanumeric character, at most 63 characters");
    return false;
  }
  return true;
}

function isPort(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535;
}

function checkPort(errs: Errors, field: string, v: unknown, allowZero: boolean): number {
  if (v === undefined || v === null || (allowZero && v === 0)) {
    if (!allowZero) errs.required(field);
    return 0;
  }
  if (!isPort(v)) { errs.invalid(field, v, 'must be between 1 and 65535, inclusive'); return 0; }
  return v;
}

function checkProtocol(errs: Errors, field: string, v: unknown): Protocol {
  if (v === undefined || v === null || v === '') return 'TCP';
  if (typeof v === 'string' && (PROTOCOLS as readonly string[]).includes(v)) return v as Protocol;
  errs.unsupported(field, v, PROTOCOLS);
  return 'TCP';
}

function checkEnum(errs: Errors, field: string, v: unknown, values: readonly string[], dflt: string): string {
  if (v === undefined || v === null || v === '') return dflt;
  if (typeof v === 'string' && values.includes(v)) return v;
  errs.unsupported(field, v, values);
  return dflt;
}

function stringList(errs: Errors, field: string, v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) { errs.invalid(field, typeof v, 'must be a list of strings'); return []; }
  return v as string[];
}

function metaOf(obj: unknown): { namespace: string; name: string; meta: Record<string, unknown> } {
  const meta = (typeof obj === 'object' && obj !== null ? (obj as { metadata?: unknown }).metadata : undefined) ?? {};
  const m = (typeof meta === 'object' && meta !== null ? meta : {}) as Record<string, unknown>;
  const namespace = typeof m.namespace === 'string' && m.namespace !== '' ? m.namespace : 'default';
  const name = typeof m.name === 'string' && m.name !== '' ? m.name : '<unnamed>';
  return { namespace, name, meta: m };
}

/**
 * Validates a v1 Service and returns its ports for one IP family.
 * Headless, ExternalName and Services without a cluster IP of `family` come back with no
 * ports and a `skipped` reason (not an error, like kube-proxy).
 */
export function parseService(obj: unknown, family: IPFamily): ServiceInfo {
  const { namespace, name, meta } = metaOf(obj);
  const errs = new Errors();
  checkLabel(errs, 'metadata.name', meta.name, DNS1035_LABEL);
  if (meta.namespace !== undefined) checkLabel(errs, 'metadata.namespace', meta.namespace, DNS1123_LABEL);
  const svc = (typeof obj === 'object' && obj !== null ? obj : {}) as V1Service;
  const spec = svc.spec ?? {};
  const fail = (): never => { throw new ProxyValidationError('Service', namespace, name, errs.list); };

  const type = checkEnum(errs, 'spec.type', spec.type, ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'], 'ClusterIP');

  // Cluster IPs: "" (not allocated), "None" (headless) or addresses, one per family.
  const clusterIPs = spec.clusterIPs?.length ? stringList(errs, 'spec.clusterIPs', spec.clusterIPs) : (spec.clusterIP ? [spec.clusterIP] : []);
  if (spec.clusterIP && spec.clusterIPs?.length && spec.clusterIPs[0] !== spec.clusterIP) {
    errs.invalid('spec.clusterIPs[0]', spec.clusterIPs[0], 'must match spec.clusterIP');
  }
  const parsedClusterIPs = clusterIPs.map((ip, i) => {
    if (ip === 'None' && i === 0) return undefined;
    const p = parseIP(ip);
    if (!p) errs.invalid(spec.clusterIPs?.length ? `spec.clusterIPs[${i}]` : 'spec.clusterIP', ip, 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)');
    return p;
  });

  const rawPorts = Array.isArray(spec.ports) ? spec.ports : [];
  if (spec.ports !== undefined && !Array.isArray(spec.ports)) errs.invalid('spec.ports', typeof spec.ports, 'must be a list');
  const seenNames = new Set<string>();
  const seenPorts = new Set<string>();
  const ports = rawPorts.map((p, i) => {
    const f = `spec.ports[${i}]`;
    const portName = p?.name ?? '';
    if (rawPorts.length > 1 || portName !== '') {
      if (checkLabel(errs, `${f}.name`, portName, DNS1123_LABEL)) {
        if (seenNames.has(portName)) errs.duplicate(`${f}.name`, portName);
        seenNames.add(portName);
      }
    }
    const port = checkPort(errs, `${f}.port`, p?.port, false);
    const protocol = checkProtocol(errs, `${f}.protocol`, p?.protocol);
    const key = `${port}/${protocol}`;
    if (port && seenPorts.has(key)) errs.duplicate(f, key);
    seenPorts.add(key);
    const nodePort = checkPort(errs, `${f}.nodePort`, p?.nodePort, true);
    const tp = p?.targetPort;
    if (typeof tp === 'string' ? !(tp.length <= 15 && IANA_SVC_NAME.test(tp)) && !/^\d+$/.test(tp) : tp !== undefined && !isPort(tp)) {
      errs.invalid(`${f}.targetPort`, tp, typeof tp === 'string' ? 'must be a valid port name (IANA_SVC_NAME)' : 'must be between 1 and 65535, inclusive');
    }
    return { portName, port, protocol, nodePort };
  });

  const externalIPs = stringList(errs, 'spec.externalIPs', spec.externalIPs).map((ip, i) => {
    const p = parseIP(ip);
    if (!p) errs.invalid(`spec.externalIPs[${i}]`, ip, 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)');
    return p;
  });

  let rangeField = 'spec.loadBalancerSourceRanges';
  let ranges = stringList(errs, rangeField, spec.loadBalancerSourceRanges);
  const annotations = (meta.annotations ?? {}) as Record<string, unknown>;
  const annotated = annotations[SOURCE_RANGES_ANNOTATION];
  if (ranges.length === 0 && typeof annotated === 'string' && annotated.trim() !== '') {
    rangeField = `metadata.annotations[${SOURCE_RANGES_ANNOTATION}]`;
    ranges = annotated.split(',').map((s) => s.trim());
  }
  const sourceRanges = ranges.map((r, i) => {
    const c = parseCIDR(r);
    if (!c) errs.invalid(`${rangeField}[${i}]`, r, 'must be a valid CIDR (e.g. 10.0.0.0/8)');
    return c;
  });

  const ingress = Array.isArray(svc.status?.loadBalancer?.ingress) ? svc.status.loadBalancer.ingress : [];
  const lbIPs = ingress.map((ing, i) => {
    if (ing?.ip === undefined || ing.ip === '') return undefined; // hostname-only ingress
    const p = parseIP(ing.ip);
    if (!p) errs.invalid(`status.loadBalancer.ingress[${i}].ip`, ing.ip, 'must be a valid IP address');
    // ipMode Proxy: the load balancer delivers to the node, not to the VIP (kube-proxy skips it).
    return ing.ipMode === 'Proxy' ? undefined : p;
  });

  const affinity = checkEnum(errs, 'spec.sessionAffinity', spec.sessionAffinity, ['ClientIP', 'None'], 'None');
  let timeout = 0;
  if (affinity === 'ClientIP') {
    const t = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds;
    timeout = t ?? DEFAULT_AFFINITY_TIMEOUT_SECONDS;
    if (!Number.isInteger(timeout) || timeout < 1 || timeout > MAX_AFFINITY_TIMEOUT_SECONDS) {
      errs.invalid('spec.sessionAffinityConfig.clientIP.timeoutSeconds', t, `must be greater than 0 and less than ${MAX_AFFINITY_TIMEOUT_SECONDS}`);
    }
  }
  const etp = checkEnum(errs, 'spec.externalTrafficPolicy', spec.externalTrafficPolicy, ['Cluster', 'Local'], 'Cluster');
  const itp = checkEnum(errs, 'spec.internalTrafficPolicy', spec.internalTrafficPolicy, ['Cluster', 'Local'], 'Cluster');
  const hcnp = checkPort(errs, 'spec.healthCheckNodePort', spec.healthCheckNodePort, true);

  if (errs.list.length > 0) fail();

  const base = { namespace, name };
  if (type === 'ExternalName') return { ...base, ports: [], skipped: 'type ExternalName' };
  if (clusterIPs.length === 0 || clusterIPs[0] === '') return { ...base, ports: [], skipped: 'no cluster IP allocated' };
  if (clusterIPs[0] === 'None') return { ...base, ports: [], skipped: 'headless (clusterIP None)' };
  const clusterIP = parsedClusterIPs.find((p) => p?.family === family);
  if (!clusterIP) return { ...base, ports: [], skipped: `no IPv${family} cluster IP` };

  const ofFamily = <T extends { family: IPFamily; text: string }>(l: Array<T | undefined>): string[] =>
    [...new Set(l.filter((p): p is T => p?.family === family).map((p) => p.text))];
  const isLB = type === 'LoadBalancer';
  const lb = isLB ? ofFamily(lbIPs) : [];
  const ext = ofFamily(externalIPs);
  const allowed = ofFamily(sourceRanges);
  const externallyAccessible = isLB || type === 'NodePort' || ext.length > 0;
  const out: ServicePort[] = ports.map((p) => ({
    id: `${namespace}/${name}${p.portName ? `:${p.portName}` : ''}`,
    service: base,
    portName: p.portName,
    protocol: p.protocol,
    clusterIP: clusterIP.text,
    port: p.port,
    nodePort: isLB || type === 'NodePort' ? p.nodePort : 0,
    externalIPs: ext,
    loadBalancerIPs: lb,
    // Ranges of the other family are ignored, as kube-proxy does.
    loadBalancerSourceRanges: allowed,
    affinityTimeoutSeconds: timeout,
    externalPolicyLocal: externallyAccessible && etp === 'Local',
    internalPolicyLocal: itp === 'Local',
    healthCheckNodePort: isLB && etp === 'Local' ? hcnp : 0,
  }));
  return { ...base, ports: out };
}

/** Validates a discovery.k8s.io/v1 EndpointSlice. Ports without a number are dropped, as kube-proxy does. */
export function parseEndpointSlice(obj: unknown): EndpointSliceInfo {
  const { namespace, name, meta } = metaOf(obj);
  const errs = new Errors();
  checkLabel(errs, 'metadata.name', meta.name, /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
  const slice = (typeof obj === 'object' && obj !== null ? obj : {}) as V1EndpointSlice;
  const labels = (meta.labels ?? {}) as Record<string, unknown>;
  const serviceName = labels[SERVICE_NAME_LABEL];
  checkLabel(errs, `metadata.labels[${SERVICE_NAME_LABEL}]`, serviceName, DNS1035_LABEL);

  let addressType: AddressType = 'IPv4';
  if (slice.addressType === undefined) errs.required('addressType');
  else addressType = checkEnum(errs, 'addressType', slice.addressType, ['FQDN', 'IPv4', 'IPv6'], 'IPv4') as AddressType;

  const ports: EndpointSlicePort[] = [];
  (Array.isArray(slice.ports) ? slice.ports : []).forEach((p, i) => {
    const protocol = checkProtocol(errs, `ports[${i}].protocol`, p?.protocol);
    if (p?.port === null || p?.port === undefined) return;
    const port = checkPort(errs, `ports[${i}].port`, p.port, false);
    ports.push({ name: p.name ?? '', port, protocol });
  });

  const endpoints: SliceEndpoint[] = [];
  (Array.isArray(slice.endpoints) ? slice.endpoints : []).forEach((ep, i) => {
    const addresses = Array.isArray(ep?.addresses) ? ep.addresses : [];
    if (addresses.length === 0) { errs.required(`endpoints[${i}].addresses`); return; }
    // kube-proxy uses only the first address of an endpoint.
    let address = addresses[0];
    if (addressType !== 'FQDN') {
      const p = parseIP(address);
      if (!p || p.family !== (addressType === 'IPv4' ? 4 : 6)) {
        errs.invalid(`endpoints[${i}].addresses[0]`, address, `must be a valid ${addressType} address`);
        return;
      }
      address = p.text;
    }
    const c = ep.conditions ?? {};
    // API semantics: a nil ready means ready; nil serving means "same as ready".
    const ready = c.ready ?? true;
    endpoints.push({
      address,
      ready,
      serving: c.serving ?? ready,
      terminating: c.terminating ?? false,
      ...(typeof ep.nodeName === 'string' && ep.nodeName !== '' ? { nodeName: ep.nodeName } : {}),
    });
  });

  if (errs.list.length > 0) throw new ProxyValidationError('EndpointSlice', namespace, name, errs.list);
  const trigger = Date.parse(String(((meta.annotations ?? {}) as Record<string, unknown>)[TRIGGER_TIME_ANNOTATION] ?? ''));
  return {
    namespace, name, serviceName: serviceName as string, addressType, ports, endpoints,
    ...(Number.isFinite(trigger) ? { triggerTime: trigger } : {}),
  };
}
