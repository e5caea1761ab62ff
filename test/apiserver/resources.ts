// The resource types the test control plane serves, and what discovery says
// about them. One table so routing, discovery, field selectors and authorization
// agree.

export interface ResourceType {
  group: string;
  version: string;
  /** plural, as in URLs */
  resource: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  verbs: string[];
  shortNames?: string[];
  subresources: Record<string, { kind: string; verbs: string[] }>;
  /** field selector labels beyond metadata.name / metadata.namespace */
  fields?: string[];
  /** field labels that read another path (Events' `source` is source.component) */
  fieldPaths?: Record<string, string>;
  /** PUT/PATCH of the main resource ignores status (it has a status subresource) */
  statusSubresource?: boolean;
  /** "create"-only virtual resources (reviews): no storage */
  virtual?: boolean;
}

const CRUD = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];
const STATUS = { kind: '', verbs: ['get', 'patch', 'update'] };

function rt(r: Omit<ResourceType, 'verbs' | 'subresources'> & Partial<Pick<ResourceType, 'verbs' | 'subresources'>>): ResourceType {
  const subresources = Object.fromEntries(Object.entries(r.subresources ?? {}).map(([k, v]) => [k, { ...v, kind: v.kind || r.kind }]));
  return { verbs: CRUD, ...r, subresources };
}

export const RESOURCES: ResourceType[] = [
  rt({ group: '', version: 'v1', resource: 'namespaces', singular: 'namespace', kind: 'Namespace', namespaced: false, shortNames: ['ns'], subresources: { status: STATUS, finalize: { kind: '', verbs: ['update'] } }, statusSubresource: true, fields: ['status.phase'] }),
  rt({ group: '', version: 'v1', resource: 'nodes', singular: 'node', kind: 'Node', namespaced: false, shortNames: ['no'], subresources: { status: STATUS }, statusSubresource: true, fields: ['spec.unschedulable'] }),
  rt({
    group: '', version: 'v1', resource: 'pods', singular: 'pod', kind: 'Pod', namespaced: true, shortNames: ['po'],
    subresources: { status: STATUS, binding: { kind: 'Binding', verbs: ['create'] }, eviction: { kind: 'Eviction', verbs: ['create'] } },
    statusSubresource: true,
    fields: ['spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName', 'spec.hostNetwork', 'status.phase', 'status.podIP', 'status.nominatedNodeName'],
  }),
  rt({ group: '', version: 'v1', resource: 'configmaps', singular: 'configmap', kind: 'ConfigMap', namespaced: true, shortNames: ['cm'] }),
  rt({ group: '', version: 'v1', resource: 'secrets', singular: 'secret', kind: 'Secret', namespaced: true, fields: ['type'] }),
  rt({ group: '', version: 'v1', resource: 'services', singular: 'service', kind: 'Service', namespaced: true, shortNames: ['svc'], subresources: { status: STATUS }, statusSubresource: true, fields: ['spec.clusterIP', 'spec.type'] }),
  rt({ group: '', version: 'v1', resource: 'endpoints', singular: 'endpoints', kind: 'Endpoints', namespaced: true, shortNames: ['ep'] }),
  rt({
    group: '', version: 'v1', resource: 'events', singular: 'event', kind: 'Event', namespaced: true, shortNames: ['ev'],
    fields: ['involvedObject.kind', 'involvedObject.namespace', 'involvedObject.name', 'involvedObject.uid', 'involvedObject.apiVersion', 'involvedObject.resourceVersion', 'involvedObject.fieldPath', 'reason', 'reportingComponent', 'source', 'type'],
    fieldPaths: { source: 'source.component' },
  }),
  rt({ group: '', version: 'v1', resource: 'serviceaccounts', singular: 'serviceaccount', kind: 'ServiceAccount', namespaced: true, shortNames: ['sa'], subresources: { token: { kind: 'TokenRequest', verbs: ['create'] } } }),
  rt({ group: 'coordination.k8s.io', version: 'v1', resource: 'leases', singular: 'lease', kind: 'Lease', namespaced: true }),
  rt({ group: 'discovery.k8s.io', version: 'v1', resource: 'endpointslices', singular: 'endpointslice', kind: 'EndpointSlice', namespaced: true, fields: ['addressType'] }),
  rt({
    group: 'certificates.k8s.io', version: 'v1', resource: 'certificatesigningrequests', singular: 'certificatesigningrequest', kind: 'CertificateSigningRequest',
    namespaced: false, shortNames: ['csr'], subresources: { approval: STATUS, status: STATUS }, statusSubresource: true, fields: ['spec.signerName'],
  }),
  rt({ group: 'authentication.k8s.io', version: 'v1', resource: 'tokenreviews', singular: 'tokenreview', kind: 'TokenReview', namespaced: false, verbs: ['create'], virtual: true }),
  rt({ group: 'authentication.k8s.io', version: 'v1', resource: 'selfsubjectreviews', singular: 'selfsubjectreview', kind: 'SelfSubjectReview', namespaced: false, verbs: ['create'], virtual: true }),
  rt({ group: 'authorization.k8s.io', version: 'v1', resource: 'subjectaccessreviews', singular: 'subjectaccessreview', kind: 'SubjectAccessReview', namespaced: false, verbs: ['create'], virtual: true }),
  rt({ group: 'authorization.k8s.io', version: 'v1', resource: 'selfsubjectaccessreviews', singular: 'selfsubjectaccessreview', kind: 'SelfSubjectAccessReview', namespaced: false, verbs: ['create'], virtual: true }),
];

/** Storage key of a resource type: "pods", "leases.coordination.k8s.io". */
export const keyOf = (r: ResourceType): string => (r.group ? `${r.resource}.${r.group}` : r.resource);
export const apiVersionOf = (r: ResourceType): string => (r.group ? `${r.group}/${r.version}` : r.version);

export function findResource(group: string, version: string, resource: string): ResourceType | undefined {
  return RESOURCES.find((r) => r.group === group && r.version === version && r.resource === resource);
}

export function resourceByKey(key: string): ResourceType {
  const r = RESOURCES.find((x) => keyOf(x) === key);
  if (!r) throw new Error(`unknown resource ${key}`);
  return r;
}

export const GROUPS = [...new Set(RESOURCES.filter((r) => r.group).map((r) => r.group))];

export function apiResourceList(group: string, version: string): unknown {
  const resources = RESOURCES.filter((r) => r.group === group && r.version === version).flatMap((r) => [
    { name: r.resource, singularName: r.singular, namespaced: r.namespaced, kind: r.kind, verbs: r.verbs, ...(r.shortNames ? { shortNames: r.shortNames } : {}) },
    ...Object.entries(r.subresources).map(([sub, s]) => ({
      name: `${r.resource}/${sub}`, singularName: '', namespaced: r.namespaced, kind: s.kind, verbs: s.verbs,
      ...(s.kind === 'TokenRequest' ? { group: 'authentication.k8s.io', version: 'v1' } : {}),
      ...(s.kind === 'Eviction' ? { group: 'policy', version: 'v1' } : {}),
    })),
  ]);
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version, resources };
}

export function apiGroup(group: string): unknown {
  const gv = { groupVersion: `${group}/v1`, version: 'v1' };
  return { kind: 'APIGroup', apiVersion: 'v1', name: group, versions: [gv], preferredVersion: gv };
}

export function apiGroupList(): unknown {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: GROUPS.map((g) => { const { kind: _k, apiVersion: _a, ...rest } = apiGroup(g) as Record<string, unknown>; return rest; }) };
}

/** Field selector labels a resource supports; others are a 400, as on a real API server. */
export function supportedFields(r: ResourceType): Set<string> {
  return new Set(['metadata.name', 'metadata.namespace', ...(r.fields ?? [])]);
}
