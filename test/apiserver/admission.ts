// What the API server does to an object between decoding and storage, for the
// types a node touches: create-time defaults (pods, services, namespaces, CSRs),
// the ServiceAccount admission plugin, ClusterIP/NodePort allocation, and
// NodeRestriction (a node may only write objects about itself).
import { randomBytes } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import { nodeNameOf, type UserInfo } from './auth.js';
import { CsrError, parseCsr } from './ca.js';
import type { ResourceType } from './resources.js';
import { forbidden, HttpError, invalid } from './status.js';
import type { Obj, Store } from './store.js';
import type { Loose as Any } from './store.js';


export interface AdmissionOptions {
  serviceCIDR: string;
  /** add the kube-api-access projected volume to pods (the ServiceAccount admission plugin) */
  serviceAccountAdmission: boolean;
}

export interface Request {
  rt: ResourceType;
  subresource: string;
  user: UserInfo;
  store: Store;
  opts: AdmissionOptions;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function validateName(rt: ResourceType, name: string): void {
  const label = rt.resource === 'namespaces' || rt.resource === 'services';
  const ok = label ? DNS_LABEL.test(name) && name.length <= 63 : DNS_SUBDOMAIN.test(name) && name.length <= 253;
  // Events and CSRs accept any path-safe name on a real server; keep to the common rule otherwise.
  if (!ok && !['events', 'certificatesigningrequests', 'leases'].includes(rt.resource)) {
    throw invalid(rt, name, [{ field: 'metadata.name', message: `Invalid value: "${name}": a lowercase RFC 1123 ${label ? 'label' : 'subdomain'} must consist of lower case alphanumeric characters, '-' or '.'` }]);
  }
  if (!name || /[/%]/.test(name) || name === '.' || name === '..') throw invalid(rt, name, [{ field: 'metadata.name', message: 'Invalid value' }]);
}

// ------------------------------------------------------------------ create

export function admitCreate(r: Request, o: Obj): void {
  nodeRestriction(r, 'create', undefined, o);
  switch (r.rt.resource) {
    case 'pods': return createPod(r, o as Any);
    case 'services': return createService(r, o as Any);
    case 'namespaces':
      o.spec = { finalizers: ['kubernetes'] };
      o.status = { phase: 'Active' };
      return;
    case 'certificatesigningrequests': return createCsr(r, o as Any);
  }
}

function createPod(r: Request, pod: Any): void {
  const spec = (pod.spec ??= {});
  spec.restartPolicy ??= 'Always';
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.schedulerName ??= 'default-scheduler';
  spec.securityContext ??= {};
  spec.enableServiceLinks ??= true;
  spec.priority ??= 0;
  spec.tolerations ??= [];
  for (const key of ['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable']) {
    if (!spec.tolerations.some((t: Any) => t.key === key)) spec.tolerations.push({ key, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 });
  }
  for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])] as Any[]) {
    c.terminationMessagePath ??= '/dev/termination-log';
    c.terminationMessagePolicy ??= 'File';
    c.resources ??= {};
    c.imagePullPolicy ??= /:latest$/.test(c.image ?? '') || !/:[^/]+$/.test(c.image ?? '') ? 'Always' : 'IfNotPresent';
  }
  const mirror = pod.metadata.annotations?.['kubernetes.io/config.mirror'] !== undefined;
  if (!mirror) spec.serviceAccountName ??= spec.serviceAccount ?? 'default';
  if (spec.serviceAccountName) spec.serviceAccount = spec.serviceAccountName;
  if (r.opts.serviceAccountAdmission && !mirror && spec.automountServiceAccountToken !== false) {
    const sa = r.store.get('serviceaccounts', pod.metadata.namespace, spec.serviceAccountName);
    if (!sa) throw new HttpError(403, 'Forbidden', `pods "${pod.metadata.name}" is forbidden: error looking up service account ${pod.metadata.namespace}/${spec.serviceAccountName}: serviceaccount "${spec.serviceAccountName}" not found`);
    if ((sa as Any).automountServiceAccountToken !== false) addServiceAccountVolume(spec);
  }
  pod.status = { phase: 'Pending', qosClass: qosClass(spec) };
}

function addServiceAccountVolume(spec: Any): void {
  const mountPath = '/var/run/secrets/kubernetes.io/serviceaccount';
  const all = [...(spec.containers ?? []), ...(spec.initContainers ?? [])] as Any[];
  if (all.some((c) => (c.volumeMounts ?? []).some((m: Any) => m.mountPath === mountPath))) return;
  const name = `kube-api-access-${randomBytes(3).toString('hex').slice(0, 5)}`;
  (spec.volumes ??= []).push({
    name,
    projected: {
      defaultMode: 420,
      sources: [
        { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
        { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
      ],
    },
  });
  for (const c of all) (c.volumeMounts ??= []).push({ name, readOnly: true, mountPath });
}

/** The pod QoS class from container requests and limits. */
export function qosClass(spec: Any): 'Guaranteed' | 'Burstable' | 'BestEffort' {
  const cs = [...(spec.containers ?? []), ...(spec.initContainers ?? [])] as Any[];
  let any = false;
  let guaranteed = true;
  for (const c of cs) {
    const req = c.resources?.requests ?? {};
    const lim = c.resources?.limits ?? {};
    if (Object.keys(req).length || Object.keys(lim).length) any = true;
    for (const res of ['cpu', 'memory']) {
      if (lim[res] === undefined || (req[res] !== undefined && String(req[res]) !== String(lim[res]))) guaranteed = false;
    }
  }
  return !any ? 'BestEffort' : guaranteed ? 'Guaranteed' : 'Burstable';
}

function createService(r: Request, svc: Any): void {
  const spec = (svc.spec ??= {});
  spec.type ??= 'ClusterIP';
  spec.sessionAffinity ??= 'None';
  spec.internalTrafficPolicy ??= 'Cluster';
  if (spec.type === 'NodePort' || spec.type === 'LoadBalancer') spec.externalTrafficPolicy ??= 'Cluster';
  const taken = new Set(r.store.list('services').flatMap((s) => ((s as Any).spec?.clusterIPs ?? []) as string[]));
  if (spec.type !== 'ExternalName') {
    if (spec.clusterIP === undefined || spec.clusterIP === '') spec.clusterIP = allocateIP(r.opts.serviceCIDR, taken);
    else if (spec.clusterIP !== 'None' && taken.has(spec.clusterIP)) {
      throw invalid(r.rt, svc.metadata.name, [{ field: 'spec.clusterIPs', message: `Invalid value: ["${spec.clusterIP}"]: failed to allocate IP ${spec.clusterIP}: provided IP is already allocated` }]);
    }
    spec.clusterIPs = [spec.clusterIP];
    spec.ipFamilies ??= spec.clusterIP === 'None' ? ['IPv4'] : [ipaddr.parse(spec.clusterIP).kind() === 'ipv6' ? 'IPv6' : 'IPv4'];
    spec.ipFamilyPolicy ??= 'SingleStack';
  }
  const usedPorts = new Set(r.store.list('services').flatMap((s) => ((s as Any).spec?.ports ?? []).map((p: Any) => p.nodePort)).filter(Boolean));
  for (const p of (spec.ports ?? []) as Any[]) {
    p.protocol ??= 'TCP';
    p.targetPort ??= p.port;
    if ((spec.type === 'NodePort' || spec.type === 'LoadBalancer') && !p.nodePort) {
      let port = 30000 + Math.floor(Math.random() * 2768);
      while (usedPorts.has(port)) port = port >= 32767 ? 30000 : port + 1;
      usedPorts.add(port);
      p.nodePort = port;
    }
  }
  svc.status = { loadBalancer: {} };
}

function allocateIP(cidr: string, taken: Set<string>): string {
  const [net, bits] = ipaddr.parseCIDR(cidr);
  const bytes = net.toByteArray();
  const size = 2 ** Math.min(32, bytes.length * 8 - bits);
  for (let i = 10; i < size - 1; i++) {
    const b = [...bytes];
    let carry = i;
    for (let j = b.length - 1; j >= 0 && carry > 0; j--) {
      const v = b[j]! + (carry & 0xff);
      b[j] = v & 0xff;
      carry = (carry >>> 8) + (v >> 8);
    }
    const ip = ipaddr.fromByteArray(b).toString();
    if (!taken.has(ip)) return ip;
  }
  throw new HttpError(500, 'InternalError', `no free ClusterIP left in ${cidr}`);
}

function createCsr(r: Request, csr: Any): void {
  const spec = (csr.spec ??= {});
  const name = csr.metadata.name;
  if (!spec.signerName) throw invalid(r.rt, name, [{ field: 'spec.signerName', message: 'Required value' }]);
  if (!Array.isArray(spec.usages) || spec.usages.length === 0) throw invalid(r.rt, name, [{ field: 'spec.usages', message: 'Required value' }]);
  try {
    parseCsr(Buffer.from(String(spec.request ?? ''), 'base64').toString('utf8'));
  } catch (err) {
    throw invalid(r.rt, name, [{ field: 'spec.request', message: `Invalid value: ${err instanceof CsrError ? err.message : String(err)}` }]);
  }
  spec.username = r.user.username;
  if (r.user.uid) spec.uid = r.user.uid;
  spec.groups = r.user.groups;
  if (r.user.extra) spec.extra = r.user.extra;
  csr.status = {};
}

// ------------------------------------------------------------------ update

/**
 * The object to store for an update of `old` to `next` through `subresource`
 * ('' for the main resource). The main resource keeps the old status where a status
 * subresource exists; /status keeps the old spec and metadata; /approval only
 * changes conditions.
 */
export function admitUpdate(r: Request, old: Obj, next: Obj): Obj {
  nodeRestriction(r, 'update', old, next);
  const out: Any = structuredClone(next);
  const m = out.metadata;
  for (const k of ['uid', 'creationTimestamp', 'name', 'namespace', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generation']) {
    if ((old.metadata as Record<string, unknown>)[k] === undefined) delete m[k];
    else m[k] = (old.metadata as Record<string, unknown>)[k];
  }
  if (r.subresource === 'status') {
    const keep: Any = structuredClone(old);
    keep.status = out.status;
    return keep;
  }
  if (r.subresource === 'approval') {
    const keep: Any = structuredClone(old);
    const conditions = ((out.status?.conditions ?? []) as Record<string, string>[]).map((c) => ({ status: 'True', lastUpdateTime: now(), lastTransitionTime: now(), ...c }));
    const types = new Set(conditions.map((c) => (c as Record<string, string>).type));
    if (types.has('Approved') && types.has('Denied')) throw invalid(r.rt, old.metadata.name, [{ field: 'status.conditions', message: 'Approved and Denied conditions are mutually exclusive' }]);
    keep.status = { ...(keep.status ?? {}), conditions };
    return keep;
  }
  if (r.rt.statusSubresource) {
    if ((old as Any).status === undefined) delete out.status;
    else out.status = structuredClone((old as Any).status);
  }
  if (r.rt.resource === 'certificatesigningrequests') out.spec = structuredClone((old as Any).spec);
  if (r.rt.resource === 'services') {
    const s = out.spec ?? {};
    const o = (old as Any).spec ?? {};
    if (s.clusterIP === undefined || s.clusterIP === '') { s.clusterIP = o.clusterIP; s.clusterIPs = o.clusterIPs; }
  }
  return out;
}

export const now = (): string => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

// ------------------------------------------------------------------ NodeRestriction

/** A node (system:node:<name>) may only create or change objects about itself. */
export function nodeRestriction(r: Request, verb: string, old: Obj | undefined, next: Obj | undefined): void {
  const node = nodeNameOf(r.user);
  if (!node) return;
  const o = (next ?? old)! as Any;
  const deny = (why: string) => forbidden(r.user.username, { verb, apiGroup: r.rt.group, resource: r.rt.resource, subresource: r.subresource, namespace: o.metadata?.namespace ?? '', name: o.metadata?.name ?? '' }, why);
  switch (r.rt.resource) {
    case 'nodes':
      if (o.metadata.name !== node) throw deny(`node "${node}" is not allowed to modify node "${o.metadata.name}"`);
      return;
    case 'leases':
      if (o.metadata.namespace !== 'kube-node-lease' || o.metadata.name !== node) throw deny(`can only access node lease with the same name as the requesting node`);
      return;
    case 'pods': {
      if (verb === 'create' && !r.subresource) return mirrorPodCreate(r, o, node, deny);
      // The pod itself: create (above) and delete only; its status: update and patch.
      if (!r.subresource && verb !== 'delete') throw deny(`unexpected operation "${verb}", node "${node}" can only create and delete mirror pods`);
      const bound = (old as Any | undefined)?.spec?.nodeName ?? o.spec?.nodeName;
      if (bound !== node) throw deny(`node "${node}" can only ${verb} pods with spec.nodeName set to itself`);
      return;
    }
  }
}

/**
 * NodeRestriction's admitPodCreate: a node creates only mirror pods, bound to itself,
 * owned by its own Node (one controller reference with the Node's uid, not blocking
 * deletion), and referencing no other API object it could read through the pod.
 */
function mirrorPodCreate(r: Request, pod: Any, node: string, deny: (why: string) => HttpError): void {
  if (pod.metadata.annotations?.['kubernetes.io/config.mirror'] === undefined) throw deny(`pod does not have "kubernetes.io/config.mirror" annotation, node "${node}" can only create mirror pods`);
  if (pod.spec?.nodeName !== node) throw deny(`node "${node}" can only create pods with spec.nodeName set to itself`);
  const owners = (pod.metadata.ownerReferences ?? []) as Any[];
  if (owners.length > 1) throw deny(`node "${node}" can only create pods with a single owner reference set to itself`);
  const owner = owners[0];
  if (!owner || owner.apiVersion !== 'v1' || owner.kind !== 'Node' || owner.name !== node) throw deny(`node "${node}" can only create pods with an owner reference set to itself`);
  if (owner.controller !== true) throw deny(`node "${node}" can only create pods with a controller owner reference set to itself`);
  if (owner.blockOwnerDeletion === true) throw deny(`node "${node}" must not set blockOwnerDeletion on an owner reference`);
  const self = r.store.get('nodes', undefined, node);
  if (!self) throw new HttpError(404, 'NotFound', `nodes "${node}" not found`, { name: node, kind: 'nodes' });
  if (owner.uid !== self.metadata.uid) throw deny(`node ${node} UID mismatch: expected ${String(owner.uid)} got ${String(self.metadata.uid)}`);
  const spec = pod.spec ?? {};
  if (spec.serviceAccountName || spec.serviceAccount) throw deny(`node "${node}" can not create pods that reference a service account`);
  const refs = podReferences(spec);
  if (refs.secrets) throw deny(`node "${node}" can not create pods that reference secrets`);
  if (refs.configMaps) throw deny(`node "${node}" can not create pods that reference configmaps`);
  if (refs.clusterTrustBundles) throw deny(`node "${node}" can not create pods that reference clustertrustbundles`);
  if (refs.pvcs) throw deny(`node "${node}" can not create pods that reference persistentvolumeclaims`);
}

/** Which kinds of API object a pod spec names (volumes, env, envFrom, image pull secrets). */
function podReferences(spec: Any): { secrets: boolean; configMaps: boolean; clusterTrustBundles: boolean; pvcs: boolean } {
  const out = { secrets: (spec.imagePullSecrets ?? []).length > 0, configMaps: false, clusterTrustBundles: false, pvcs: false };
  for (const v of (spec.volumes ?? []) as Any[]) {
    if (v.secret || v.azureFile || v.cephfs?.secretRef || v.cinder?.secretRef || v.flexVolume?.secretRef || v.rbd?.secretRef || v.scaleIO?.secretRef || v.iscsi?.secretRef || v.storageos?.secretRef || v.csi?.nodePublishSecretRef) out.secrets = true;
    if (v.configMap) out.configMaps = true;
    if (v.persistentVolumeClaim) out.pvcs = true;
    for (const src of (v.projected?.sources ?? []) as Any[]) {
      if (src.secret) out.secrets = true;
      if (src.configMap) out.configMaps = true;
      if (src.clusterTrustBundle) out.clusterTrustBundles = true;
    }
  }
  for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? []), ...(spec.ephemeralContainers ?? [])] as Any[]) {
    for (const e of (c.envFrom ?? []) as Any[]) {
      if (e.secretRef) out.secrets = true;
      if (e.configMapRef) out.configMaps = true;
    }
    for (const e of (c.env ?? []) as Any[]) {
      if (e.valueFrom?.secretKeyRef) out.secrets = true;
      if (e.valueFrom?.configMapKeyRef) out.configMaps = true;
    }
  }
  return out;
}
