// The API server's validation of Pods, ConfigMaps and Secrets, for the rules that
// matter to a node (pkg/apis/core/validation, re-expressed): names, uniqueness,
// references between fields, ranges, quantities. Runs on defaulted objects, as the
// API server does. Each check reports with the API server's field path and words.
import type { ConfigMap, Container, LifecycleHandler, ObjectMeta, Pod, Probe, ResourceFieldSelector, Volume } from '../api-types.js';
import { VOLUME_SOURCES } from '../api-types.js';
import { Quantity, QuantityError, QUANTITY_FORMAT_MESSAGE } from '../quantity.js';
import { isExtendedResource } from '../resource-names.js';
import {
  child, duplicate, FieldError, forbidden, index, invalid, key, notFound, notSupported, required,
} from './field-errors.js';
import * as names from './names.js';

type Errs = FieldError[];

const each = (msgs: string[], field: string, value: unknown): Errs => msgs.map((m) => invalid(field, value, m));

// ------------------------------------------------------------------ metadata

export function validateObjectMeta(meta: ObjectMeta): Errs {
  const errs: Errs = [];
  if (!meta.name) errs.push(required('metadata.name', 'name or generateName is required'));
  else errs.push(...each(names.dns1123Subdomain(meta.name), 'metadata.name', meta.name));
  errs.push(...each(names.dns1123Label(meta.namespace), 'metadata.namespace', meta.namespace));
  errs.push(...validateLabels(meta.labels, 'metadata.labels'));
  for (const k of Object.keys(meta.annotations).sort()) errs.push(...each(names.qualifiedName(k.toLowerCase()), 'metadata.annotations', k));
  return errs;
}

export function validateLabels(labels: Record<string, string> | undefined, field: string): Errs {
  const errs: Errs = [];
  for (const [k, v] of Object.entries(labels ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))) {
    errs.push(...each(names.qualifiedName(k), field, k), ...each(names.labelValue(v), field, v));
  }
  return errs;
}

// ------------------------------------------------------------------ pod

export function validatePod(pod: Pod): Errs {
  const spec = pod.spec;
  const errs: Errs = [...validateObjectMeta(pod.metadata)];
  const { errors: volErrs, valid: volumes } = validateVolumes(spec.volumes, 'spec.volumes');
  errs.push(...volErrs);
  errs.push(...validateContainers(pod, volumes));
  errs.push(...validateInitContainers(pod, volumes));
  errs.push(...validateHostNetworkPorts(pod));

  if (!['Always', 'OnFailure', 'Never'].includes(spec.restartPolicy))
    errs.push(notSupported('spec.restartPolicy', spec.restartPolicy, ['Always', 'OnFailure', 'Never']));
  if (!['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None'].includes(spec.dnsPolicy))
    errs.push(notSupported('spec.dnsPolicy', spec.dnsPolicy, ['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None']));
  errs.push(...validateLabels(spec.nodeSelector, 'spec.nodeSelector'));
  errs.push(...validatePodSecurityContext(pod));
  errs.push(...validateDnsConfig(pod));
  (spec.readinessGates ?? []).forEach((g, i) =>
    errs.push(...each(names.qualifiedName(g.conditionType), child(index('spec.readinessGates', i), 'conditionType'), g.conditionType)));
  if (spec.serviceAccountName) errs.push(...each(names.dns1123Subdomain(spec.serviceAccountName), 'spec.serviceAccountName', spec.serviceAccountName));
  if (spec.nodeName) errs.push(...each(names.dns1123Subdomain(spec.nodeName), 'spec.nodeName', spec.nodeName));
  if (spec.activeDeadlineSeconds !== undefined && (spec.activeDeadlineSeconds < 1 || spec.activeDeadlineSeconds > 2147483647))
    errs.push(invalid('spec.activeDeadlineSeconds', spec.activeDeadlineSeconds, names.inclusiveRangeError(1, 2147483647)));
  if (spec.hostname) errs.push(...each(names.dns1123Label(spec.hostname), 'spec.hostname', spec.hostname));
  if (spec.subdomain) errs.push(...each(names.dns1123Label(spec.subdomain), 'spec.subdomain', spec.subdomain));
  (spec.hostAliases ?? []).forEach((h, i) => {
    const p = index('spec.hostAliases', i);
    errs.push(...each(names.ipAddress(h.ip), child(p, 'ip'), h.ip));
    for (const hn of h.hostnames) errs.push(...each(names.dns1123Subdomain(hn), child(p, 'hostnames'), hn));
  });
  if (spec.priorityClassName) errs.push(...each(names.dns1123Subdomain(spec.priorityClassName), 'spec.priorityClassName', spec.priorityClassName));
  return errs;
}

// ------------------------------------------------------------------ volumes

function validateVolumes(volumes: Volume[], path: string): { errors: Errs; valid: Map<string, Volume> } {
  const errors: Errs = [];
  const valid = new Map<string, Volume>();
  volumes.forEach((vol, i) => {
    const p = index(path, i);
    const el = validateVolumeSource(vol, p);
    if (!vol.name) el.push(required(child(p, 'name')));
    else el.push(...each(names.dns1123Label(vol.name), child(p, 'name'), vol.name));
    if (valid.has(vol.name)) el.push(duplicate(child(p, 'name'), vol.name));
    if (el.length === 0) valid.set(vol.name, vol);
    errors.push(...el);
  });
  return { errors, valid };
}

const FILE_MODE_MSG = 'must be a number between 0 and 0777 (octal), both inclusive';
const HOST_PATH_TYPES = ['', 'BlockDevice', 'CharDevice', 'Directory', 'DirectoryOrCreate', 'File', 'FileOrCreate', 'Socket'];

function validateVolumeSource(vol: Volume, p: string): Errs {
  const errs: Errs = [];
  const present = VOLUME_SOURCES.filter((s) => vol[s] !== undefined);
  if (present.length === 0) return [required(p, 'must specify a volume type')];
  for (const extra of present.slice(1)) errs.push(forbidden(child(p, extra), 'may not specify more than 1 volume type'));
  const mode = (m: number | undefined, field: string) => {
    if (m !== undefined && (m < 0 || m > 0o777)) errs.push(invalid(field, m, FILE_MODE_MSG));
  };

  if (vol.persistentVolumeClaim !== undefined)
    errs.push(forbidden(child(p, 'persistentVolumeClaim'), 'persistentVolumeClaim volumes are not supported by kna: a standalone node has no control plane to bind claims (use hostPath or emptyDir)'));
  if (vol.emptyDir) {
    const e = vol.emptyDir;
    if (!['', 'Memory'].includes(e.medium)) errs.push(notSupported(child(p, 'emptyDir.medium'), e.medium, ['', 'Memory']));
    if (e.sizeLimit !== undefined) {
      const q = tryQuantity(e.sizeLimit);
      if (!q || q.sign() < 0) errs.push(forbidden(child(p, 'emptyDir.sizeLimit'), 'SizeLimit field must be a valid resource quantity'));
    }
  }
  if (vol.hostPath) {
    const h = vol.hostPath;
    const hp = child(p, 'hostPath');
    if (!h.path) errs.push(required(child(hp, 'path')));
    else errs.push(...noBacksteps(h.path, child(hp, 'path')));
    if (!HOST_PATH_TYPES.includes(h.type)) errs.push(notSupported(child(hp, 'type'), h.type, HOST_PATH_TYPES));
  }
  if (vol.secret) {
    const sp = child(p, 'secret');
    if (!vol.secret.secretName) errs.push(required(child(sp, 'secretName')));
    mode(vol.secret.defaultMode, child(sp, 'defaultMode'));
    (vol.secret.items ?? []).forEach((kp, i) => errs.push(...validateKeyToPath(kp, index(child(sp, 'items'), i))));
  }
  if (vol.configMap) {
    const cp = child(p, 'configMap');
    if (!vol.configMap.name) errs.push(required(child(cp, 'name')));
    mode(vol.configMap.defaultMode, child(cp, 'defaultMode'));
    (vol.configMap.items ?? []).forEach((kp, i) => errs.push(...validateKeyToPath(kp, index(child(cp, 'items'), i))));
  }
  if (vol.downwardAPI) {
    const dp = child(p, 'downwardAPI');
    mode(vol.downwardAPI.defaultMode, child(dp, 'defaultMode'));
    vol.downwardAPI.items.forEach((f, i) => errs.push(...validateDownwardFile(f, index(child(dp, 'items'), i))));
  }
  if (vol.projected) {
    const pp = child(p, 'projected');
    mode(vol.projected.defaultMode, child(pp, 'defaultMode'));
    const paths = new Set<string>();
    const uniquePath = (path: string, what: string) => {
      if (!path) return;
      if (paths.has(path)) errs.push(invalid(pp, what, 'conflicting duplicate paths'));
      paths.add(path);
    };
    vol.projected.sources.forEach((src, i) => {
      const srcPath = index(child(pp, 'sources'), i);
      let n = 0;
      for (const kind of ['secret', 'configMap'] as const) {
        const o = src[kind];
        if (!o) continue;
        n++;
        if (!o.name) errs.push(required(child(child(srcPath, kind), 'name')));
        (o.items ?? []).forEach((kp, j) => {
          errs.push(...validateKeyToPath(kp, index(child(child(srcPath, kind), 'items'), j)));
          uniquePath(kp.path, o.name);
        });
      }
      if (src.downwardAPI) {
        n++;
        src.downwardAPI.items.forEach((f, j) => {
          errs.push(...validateDownwardFile(f, index(child(child(srcPath, 'downwardAPI'), 'items'), j)));
          uniquePath(f.path, f.path);
        });
      }
      if (src.serviceAccountToken) {
        n++;
        const t = src.serviceAccountToken;
        const tp = child(srcPath, 'serviceAccountToken');
        if (t.expirationSeconds < 600) errs.push(invalid(child(tp, 'expirationSeconds'), t.expirationSeconds, 'may not specify a duration less than 10 minutes'));
        if (t.expirationSeconds > 2 ** 32) errs.push(invalid(child(tp, 'expirationSeconds'), t.expirationSeconds, 'may not specify a duration larger than 2^32 seconds'));
        if (!t.path) errs.push(required(child(pp, 'path')));
      }
      if (n > 1) errs.push(forbidden(srcPath, 'may not specify more than 1 volume type per source'));
    });
  }
  return errs;
}

function validateKeyToPath(kp: { key: string; path: string; mode?: number | undefined }, p: string): Errs {
  const errs: Errs = [];
  if (!kp.key) errs.push(required(child(p, 'key')));
  if (!kp.path) errs.push(required(child(p, 'path')));
  errs.push(...localNonReservedPath(kp.path, child(p, 'path')));
  if (kp.mode !== undefined && (kp.mode < 0 || kp.mode > 0o777)) errs.push(invalid(child(p, 'mode'), kp.mode, FILE_MODE_MSG));
  return errs;
}

type DownwardFile = NonNullable<Volume['downwardAPI']>['items'][number];

const VOLUME_FIELD_PATHS = ['metadata.annotations', 'metadata.labels', 'metadata.name', 'metadata.namespace', 'metadata.uid'];
export const ENV_FIELD_PATHS = ['metadata.name', 'metadata.namespace', 'metadata.uid', 'spec.nodeName', 'spec.serviceAccountName', 'status.hostIP', 'status.hostIPs', 'status.podIP', 'status.podIPs'];
const RESOURCE_FIELDS = ['limits.cpu', 'limits.ephemeral-storage', 'limits.memory', 'requests.cpu', 'requests.ephemeral-storage', 'requests.memory'];

function validateDownwardFile(f: DownwardFile, p: string): Errs {
  const errs: Errs = [];
  if (!f.path) errs.push(required(child(p, 'path')));
  errs.push(...localNonReservedPath(f.path, child(p, 'path')));
  if (f.fieldRef) {
    errs.push(...validateFieldSelector(f.fieldRef, VOLUME_FIELD_PATHS, child(p, 'fieldRef')));
    if (f.resourceFieldRef) errs.push(invalid(p, 'resource', 'fieldRef and resourceFieldRef can not be specified simultaneously'));
  } else if (f.resourceFieldRef) {
    errs.push(...validateResourceFieldSelector(f.resourceFieldRef, child(p, 'resourceFieldRef'), true));
  } else {
    errs.push(required(p, 'one of fieldRef and resourceFieldRef is required'));
  }
  if (f.mode !== undefined && (f.mode < 0 || f.mode > 0o777)) errs.push(invalid(child(p, 'mode'), f.mode, FILE_MODE_MSG));
  return errs;
}

/** Every fieldPath the API converts for pods (what is then allowed depends on the use). */
const CONVERTIBLE_FIELD_PATHS = new Set([
  'metadata.annotations', 'metadata.labels', 'metadata.name', 'metadata.namespace', 'metadata.uid', 'spec.nodeName',
  'spec.restartPolicy', 'spec.serviceAccountName', 'spec.schedulerName', 'status.phase', 'status.hostIP', 'status.hostIPs',
  'status.podIP', 'status.podIPs',
]);

/** "metadata.labels['app']" -> ["metadata.labels", "app"]. */
export function splitSubscript(fieldPath: string): [string, string] | undefined {
  const m = /^(.*)\['(.*)'\]$/.exec(fieldPath);
  return m ? [m[1]!, m[2]!] : undefined;
}

function validateFieldSelector(fs: { apiVersion: string; fieldPath: string }, allowed: string[], p: string): Errs {
  if (!fs.apiVersion) return [required(child(p, 'apiVersion'))];
  if (!fs.fieldPath) return [required(child(p, 'fieldPath'))];
  if (fs.apiVersion !== 'v1') return [invalid(child(p, 'fieldPath'), fs.fieldPath, `error converting fieldPath: unsupported pod version: ${fs.apiVersion}`)];
  const sub = splitSubscript(fs.fieldPath);
  if (sub) {
    const [path, subscript] = sub;
    if (path === 'metadata.annotations') return each(names.qualifiedName(subscript.toLowerCase()), p, subscript.toLowerCase());
    if (path === 'metadata.labels') return each(names.qualifiedName(subscript), p, subscript);
    return [invalid(p, path, 'does not support subscript')];
  }
  const path = fs.fieldPath === 'spec.host' ? 'spec.nodeName' : fs.fieldPath;
  if (!CONVERTIBLE_FIELD_PATHS.has(path)) return [invalid(child(p, 'fieldPath'), fs.fieldPath, `error converting fieldPath: field label not supported: ${fs.fieldPath}`)];
  if (!allowed.includes(path)) return [notSupported(child(p, 'fieldPath'), path, allowed)];
  return [];
}

const CPU_DIVISORS = ['1m', '1'];
const MEMORY_DIVISORS = ['1', '1k', '1M', '1G', '1T', '1P', '1E', '1Ki', '1Mi', '1Gi', '1Ti', '1Pi', '1Ei'];

function validateResourceFieldSelector(fs: ResourceFieldSelector, p: string, volume: boolean): Errs {
  const errs: Errs = [];
  if (volume && !fs.containerName) errs.push(required(child(p, 'containerName')));
  else if (!fs.resource) errs.push(required(child(p, 'resource')));
  else if (!RESOURCE_FIELDS.includes(fs.resource) && !/^(requests|limits)\.hugepages-/.test(fs.resource))
    errs.push(notSupported(child(p, 'resource'), fs.resource, RESOURCE_FIELDS));
  if (fs.divisor === undefined) return errs;
  const d = tryQuantity(fs.divisor);
  if (!d) return [...errs, invalid(child(p, 'divisor'), fs.divisor, QUANTITY_FORMAT_MESSAGE)];
  if (d.isZero()) return errs;
  const text = d.toString();
  if (/\.cpu$/.test(fs.resource) && !CPU_DIVISORS.includes(text))
    errs.push(invalid(child(p, 'divisor'), fs.resource, "only divisor's values 1m and 1 are supported with the cpu resource"));
  if (/\.memory$/.test(fs.resource) && !MEMORY_DIVISORS.includes(text))
    errs.push(invalid(child(p, 'divisor'), fs.resource, `only divisor's values ${MEMORY_DIVISORS.join(', ')} are supported with the memory resource`));
  if (/\.ephemeral-storage$/.test(fs.resource) && !MEMORY_DIVISORS.includes(text))
    errs.push(invalid(child(p, 'divisor'), fs.resource, `only divisor's values ${MEMORY_DIVISORS.join(', ')} are supported with the local ephemeral storage resource`));
  return errs;
}

// ------------------------------------------------------------------ containers

function validateContainers(pod: Pod, volumes: Map<string, Volume>): Errs {
  const { containers } = pod.spec;
  if (containers.length === 0) return [required('spec.containers')];
  const errs: Errs = [];
  const seen = new Set<string>();
  containers.forEach((c, i) => {
    const p = index('spec.containers', i);
    errs.push(...validateContainerCommon(c, volumes, p));
    if (seen.has(c.name)) errs.push(duplicate(child(p, 'name'), c.name));
    seen.add(c.name);
    errs.push(...validateLifecycleAndProbes(pod, c, p));
    if (c.restartPolicy !== undefined) errs.push(forbidden(child(p, 'restartPolicy'), 'may not be set for non-init containers'));
  });
  errs.push(...uniqueHostPorts(containers, 'spec.containers'));
  return errs;
}

function validateInitContainers(pod: Pod, volumes: Map<string, Volume>): Errs {
  const errs: Errs = [];
  const seen = new Set(pod.spec.containers.map((c) => c.name));
  pod.spec.initContainers.forEach((c, i) => {
    const p = index('spec.initContainers', i);
    errs.push(...validateContainerCommon(c, volumes, p));
    let sidecar = false;
    if (c.restartPolicy !== undefined) {
      if (c.restartPolicy !== 'Always') errs.push(notSupported(child(p, 'restartPolicy'), c.restartPolicy, ['Always']));
      sidecar = c.restartPolicy === 'Always';
    }
    if (seen.has(c.name)) errs.push(duplicate(child(p, 'name'), c.name));
    else if (c.name) seen.add(c.name);
    // Init containers run one by one, so their host ports are checked one container at a time.
    errs.push(...uniqueHostPorts([c], 'spec.initContainers'));
    if (sidecar) {
      errs.push(...validateLifecycleAndProbes(pod, c, p));
    } else {
      for (const f of ['lifecycle', 'livenessProbe', 'readinessProbe', 'startupProbe'] as const) {
        if (c[f] !== undefined) errs.push(forbidden(child(p, f), 'may not be set for init containers without restartPolicy=Always'));
      }
    }
  });
  return errs;
}

function validateContainerCommon(c: Container, volumes: Map<string, Volume>, p: string): Errs {
  const errs: Errs = [];
  if (!c.name) errs.push(required(child(p, 'name')));
  else errs.push(...each(names.dns1123Label(c.name), child(p, 'name'), c.name));
  if (!c.image) errs.push(required(child(p, 'image')));
  else if (c.image.trim() !== c.image) errs.push(invalid(child(p, 'image'), c.image, 'must not have leading or trailing whitespace'));
  if (!['File', 'FallbackToLogsOnError'].includes(c.terminationMessagePolicy))
    errs.push(notSupported(child(p, 'terminationMessagePolicy'), c.terminationMessagePolicy, ['File', 'FallbackToLogsOnError']));
  errs.push(...validatePorts(c, child(p, 'ports')));
  errs.push(...validateEnv(c, child(p, 'env')));
  errs.push(...validateEnvFrom(c, child(p, 'envFrom')));
  errs.push(...validateVolumeMounts(c, volumes, child(p, 'volumeMounts')));
  if (!['Always', 'IfNotPresent', 'Never'].includes(c.imagePullPolicy))
    errs.push(notSupported(child(p, 'imagePullPolicy'), c.imagePullPolicy, ['Always', 'IfNotPresent', 'Never']));
  errs.push(...validateResources(c, child(p, 'resources')));
  errs.push(...validateSecurityContext(c, child(p, 'securityContext')));
  return errs;
}

function validatePorts(c: Container, p: string): Errs {
  const errs: Errs = [];
  const seen = new Set<string>();
  c.ports.forEach((port, i) => {
    const ip = index(p, i);
    if (port.name) {
      const msgs = names.portName(port.name);
      if (msgs.length) errs.push(...each(msgs, child(ip, 'name'), port.name));
      else if (seen.has(port.name)) errs.push(duplicate(child(ip, 'name'), port.name));
      else seen.add(port.name);
    }
    if (port.containerPort === 0) errs.push(required(child(ip, 'containerPort')));
    else errs.push(...each(names.portNumber(port.containerPort), child(ip, 'containerPort'), port.containerPort));
    if (port.hostPort) errs.push(...each(names.portNumber(port.hostPort), child(ip, 'hostPort'), port.hostPort));
    if (port.hostIP) errs.push(...each(names.ipAddress(port.hostIP), child(ip, 'hostIP'), port.hostIP));
    if (!port.protocol) errs.push(required(child(ip, 'protocol')));
    else if (!['SCTP', 'TCP', 'UDP'].includes(port.protocol)) errs.push(notSupported(child(ip, 'protocol'), port.protocol, ['SCTP', 'TCP', 'UDP']));
  });
  return errs;
}

function uniqueHostPorts(containers: Container[], path: string): Errs {
  const errs: Errs = [];
  const seen = new Set<string>();
  containers.forEach((c, ci) =>
    c.ports.forEach((port, pi) => {
      if (!port.hostPort) return;
      const id = `${port.protocol}/${port.hostIP ?? ''}/${port.hostPort}`;
      if (seen.has(id)) errs.push(duplicate(child(index(child(index(path, ci), 'ports'), pi), 'hostPort'), id));
      seen.add(id);
    }),
  );
  return errs;
}

function validateHostNetworkPorts(pod: Pod): Errs {
  if (!pod.spec.hostNetwork) return [];
  const errs: Errs = [];
  for (const [list, path] of [[pod.spec.containers, 'spec.containers'], [pod.spec.initContainers, 'spec.initContainers']] as const) {
    list.forEach((c, ci) =>
      c.ports.forEach((port, pi) => {
        if ((port.hostPort ?? 0) !== port.containerPort)
          errs.push(invalid(child(index(child(index(path, ci), 'ports'), pi), 'hostPort'), port.hostPort ?? 0, 'must match `containerPort` when `hostNetwork` is true'));
      }),
    );
  }
  return errs;
}

function validateEnv(c: Container, p: string): Errs {
  const errs: Errs = [];
  c.env.forEach((ev, i) => {
    const ip = index(p, i);
    if (!ev.name) errs.push(required(child(ip, 'name')));
    else errs.push(...each(names.envVarName(ev.name), child(ip, 'name'), ev.name));
    const from = ev.valueFrom;
    if (!from) return;
    const vp = child(ip, 'valueFrom');
    let n = 0;
    if (from.fieldRef) {
      n++;
      errs.push(...validateFieldSelector(from.fieldRef, ENV_FIELD_PATHS, child(vp, 'fieldRef')));
    }
    if (from.resourceFieldRef) {
      n++;
      errs.push(...validateResourceFieldSelector(from.resourceFieldRef, child(vp, 'resourceFieldRef'), false));
    }
    for (const k of ['configMapKeyRef', 'secretKeyRef'] as const) {
      const sel = from[k];
      if (!sel) continue;
      n++;
      errs.push(...each(names.dns1123Subdomain(sel.name), child(child(vp, k), 'name'), sel.name));
      if (!sel.key) errs.push(required(child(child(vp, k), 'key')));
      else errs.push(...each(names.configMapKey(sel.key), child(child(vp, k), 'key'), sel.key));
    }
    if (n === 0) errs.push(invalid(vp, '', 'must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`'));
    else if (ev.value) errs.push(invalid(vp, '', 'may not be specified when `value` is not empty'));
    else if (n > 1) errs.push(invalid(vp, '', 'may not have more than one field specified at a time'));
  });
  return errs;
}

function validateEnvFrom(c: Container, p: string): Errs {
  const errs: Errs = [];
  c.envFrom.forEach((ef, i) => {
    const ip = index(p, i);
    if (ef.prefix) errs.push(...each(names.envVarName(ef.prefix), child(ip, 'prefix'), ef.prefix));
    let n = 0;
    for (const k of ['configMapRef', 'secretRef'] as const) {
      const ref = ef[k];
      if (!ref) continue;
      n++;
      if (!ref.name) errs.push(required(child(child(ip, k), 'name')));
      else errs.push(...each(names.dns1123Subdomain(ref.name), child(child(ip, k), 'name'), ref.name));
    }
    if (n === 0) errs.push(invalid(p, '', 'must specify one of: `configMapRef` or `secretRef`'));
    else if (n > 1) errs.push(invalid(p, '', 'may not have more than one field specified at a time'));
  });
  return errs;
}

function validateVolumeMounts(c: Container, volumes: Map<string, Volume>, p: string): Errs {
  const errs: Errs = [];
  const mountPoints = new Set<string>();
  c.volumeMounts.forEach((m, i) => {
    const ip = index(p, i);
    if (!m.name) errs.push(required(child(ip, 'name')));
    if (!volumes.has(m.name)) errs.push(notFound(child(ip, 'name'), m.name));
    if (!m.mountPath) errs.push(required(child(ip, 'mountPath')));
    if (mountPoints.has(m.mountPath)) errs.push(invalid(child(ip, 'mountPath'), m.mountPath, 'must be unique'));
    mountPoints.add(m.mountPath);
    // The API server reports these two without the index; kept as it is.
    if (m.subPath) errs.push(...localDescendingPath(m.subPath, child(p, 'subPath')));
    if (m.mountPropagation !== undefined) {
      const mp = child(p, 'mountPropagation');
      if (!['Bidirectional', 'HostToContainer', 'None'].includes(m.mountPropagation))
        errs.push(notSupported(mp, m.mountPropagation, ['Bidirectional', 'HostToContainer', 'None']));
      if (m.mountPropagation === 'Bidirectional' && c.securityContext?.privileged !== true)
        errs.push(forbidden(mp, 'Bidirectional mount propagation is available only to privileged containers'));
    }
  });
  return errs;
}

const STANDARD_CONTAINER_RESOURCES = ['cpu', 'memory', 'ephemeral-storage'];

function validateResources(c: Container, p: string): Errs {
  const errs: Errs = [];
  const limPath = child(p, 'limits');
  const reqPath = child(p, 'requests');
  const checkName = (name: string, field: string) => {
    errs.push(...each(names.qualifiedName(name), field, name));
    if (!name.includes('/')) {
      if (!STANDARD_CONTAINER_RESOURCES.includes(name) && !name.startsWith('hugepages-'))
        errs.push(invalid(field, name, 'must be a standard resource for containers'));
    }
  };
  const checkValue = (name: string, raw: string, field: string): Quantity | undefined => {
    const q = tryQuantity(raw);
    if (!q) {
      errs.push(invalid(field, raw, QUANTITY_FORMAT_MESSAGE));
      return undefined;
    }
    if (q.sign() < 0) errs.push(invalid(field, q.toString(), 'must be greater than or equal to 0'));
    if (isExtendedResource(name) && q.milliValue() % 1000 !== 0) errs.push(invalid(field, q.toString(), 'must be an integer'));
    return q;
  };
  const limits = new Map<string, Quantity>();
  for (const name of Object.keys(c.resources.limits).sort()) {
    const field = key(limPath, name);
    checkName(name, field);
    const q = checkValue(name, c.resources.limits[name]!, field);
    if (q) limits.set(name, q);
  }
  for (const name of Object.keys(c.resources.requests).sort()) {
    const field = key(reqPath, name);
    checkName(name, field);
    const q = checkValue(name, c.resources.requests[name]!, field);
    if (!q) continue;
    const lim = limits.get(name);
    const overcommit = !isExtendedResource(name) && !name.startsWith('hugepages-');
    if (lim) {
      if (!overcommit && q.cmp(lim) !== 0)
        errs.push(invalid(reqPath, q.toString(), `must be equal to ${name} limit of ${lim.toString()}`));
      else if (q.cmp(lim) > 0)
        errs.push(invalid(reqPath, q.toString(), `must be less than or equal to ${name} limit of ${lim.toString()}`));
    } else if (!overcommit && c.resources.limits[name] === undefined) {
      errs.push(required(limPath, 'Limit must be set for non overcommitable resources'));
    }
  }
  return errs;
}

/** "example.com/gpu": a resource outside the kubernetes.io domain. */

function validateSecurityContext(c: Container, p: string): Errs {
  const sc = c.securityContext;
  if (!sc) return [];
  const errs: Errs = [];
  if (sc.runAsUser !== undefined) errs.push(...each(names.userId(sc.runAsUser), child(p, 'runAsUser'), sc.runAsUser));
  if (sc.runAsGroup !== undefined) errs.push(...each(names.userId(sc.runAsGroup), child(p, 'runAsGroup'), sc.runAsGroup));
  if (sc.allowPrivilegeEscalation === false) {
    if (sc.privileged) errs.push(invalid(p, sc, 'cannot set `allowPrivilegeEscalation` to false and `privileged` to true'));
    if ((sc.capabilities?.add ?? []).includes('CAP_SYS_ADMIN'))
      errs.push(invalid(p, sc, 'cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN'));
  }
  return errs;
}

// ------------------------------------------------------------------ probes and hooks

function validateLifecycleAndProbes(pod: Pod, c: Container, p: string): Errs {
  const grace = pod.spec.terminationGracePeriodSeconds;
  const errs: Errs = [];
  if (c.lifecycle?.postStart) errs.push(...validateHandler(c.lifecycle.postStart, grace, child(child(p, 'lifecycle'), 'postStart')));
  if (c.lifecycle?.preStop) errs.push(...validateHandler(c.lifecycle.preStop, grace, child(child(p, 'lifecycle'), 'preStop')));
  for (const kind of ['livenessProbe', 'readinessProbe', 'startupProbe'] as const) {
    const probe = c[kind];
    if (!probe) continue;
    const pp = child(p, kind);
    errs.push(...validateProbe(probe, grace, pp));
    if (kind !== 'readinessProbe' && probe.successThreshold !== 1) errs.push(invalid(child(pp, 'successThreshold'), probe.successThreshold, 'must be 1'));
    if (kind === 'readinessProbe' && probe.terminationGracePeriodSeconds !== undefined)
      errs.push(invalid(child(pp, 'terminationGracePeriodSeconds'), probe.terminationGracePeriodSeconds, 'must not be set for readinessProbes'));
  }
  return errs;
}

function validateProbe(probe: Probe, grace: number, p: string): Errs {
  const errs = validateHandler(probe, grace, p);
  for (const f of ['initialDelaySeconds', 'timeoutSeconds', 'periodSeconds', 'successThreshold', 'failureThreshold'] as const) {
    if (probe[f] < 0) errs.push(invalid(child(p, f), probe[f], 'must be greater than or equal to 0'));
  }
  if (probe.terminationGracePeriodSeconds !== undefined && probe.terminationGracePeriodSeconds <= 0)
    errs.push(invalid(child(p, 'terminationGracePeriodSeconds'), probe.terminationGracePeriodSeconds, 'must be greater than 0'));
  return errs;
}

type Handler = Partial<Pick<Probe, 'exec' | 'httpGet' | 'tcpSocket' | 'grpc'>> & Partial<Pick<LifecycleHandler, 'sleep'>>;

function validateHandler(h: Handler, grace: number, p: string): Errs {
  const errs: Errs = [];
  let n = 0;
  const one = (kind: string, check: () => Errs) => {
    if (n > 0) errs.push(forbidden(child(p, kind), 'may not specify more than 1 handler type'));
    else {
      n++;
      errs.push(...check());
    }
  };
  if (h.exec) one('exec', () => (h.exec!.command?.length ? [] : [required(child(child(p, 'exec'), 'command'))]));
  if (h.httpGet)
    one('httpGet', () => {
      const g = h.httpGet!;
      const gp = child(p, 'httpGet');
      const out = portNumOrName(g.port, child(gp, 'port'));
      if (!['HTTP', 'HTTPS'].includes(g.scheme)) out.push(notSupported(child(gp, 'scheme'), g.scheme, ['HTTP', 'HTTPS']));
      for (const hd of g.httpHeaders ?? []) out.push(...each(names.httpHeaderName(hd.name), child(gp, 'httpHeaders'), hd.name));
      return out;
    });
  if (h.tcpSocket) one('tcpSocket', () => portNumOrName(h.tcpSocket!.port, child(child(p, 'tcpSocket'), 'port')));
  if (h.grpc) one('grpc', () => each(names.portNumber(h.grpc!.port), child(child(p, 'grpc'), 'port'), h.grpc!.port));
  if (h.sleep)
    one('sleep', () => {
      const s = h.sleep!.seconds;
      return s < 0 || s > grace ? [invalid(child(p, 'sleep'), s, `must be non-negative and less than terminationGracePeriodSeconds (${grace})`)] : [];
    });
  if (n === 0) errs.push(required(p, 'must specify a handler type'));
  return errs;
}

function portNumOrName(port: number | string, p: string): Errs {
  return typeof port === 'number' ? each(names.portNumber(port), p, port) : each(names.portName(port), p, port);
}

// ------------------------------------------------------------------ pod-level parts

function validatePodSecurityContext(pod: Pod): Errs {
  const sc = pod.spec.securityContext;
  const p = 'spec.securityContext';
  const errs: Errs = [];
  if (sc.fsGroup !== undefined) errs.push(...each(names.userId(sc.fsGroup), child(p, 'fsGroup'), sc.fsGroup));
  if (sc.runAsUser !== undefined) errs.push(...each(names.userId(sc.runAsUser), child(p, 'runAsUser'), sc.runAsUser));
  if (sc.runAsGroup !== undefined) errs.push(...each(names.userId(sc.runAsGroup), child(p, 'runAsGroup'), sc.runAsGroup));
  (sc.supplementalGroups ?? []).forEach((g, i) => errs.push(...each(names.userId(g), index(child(p, 'supplementalGroups'), i), g)));
  if (pod.spec.shareProcessNamespace && pod.spec.hostPID)
    errs.push(invalid(child(p, 'shareProcessNamespace'), true, 'ShareProcessNamespace and HostPID cannot both be enabled'));
  const seen = new Set<string>();
  (sc.sysctls ?? []).forEach((s, i) => {
    const np = child(index(child(p, 'sysctls'), i), 'name');
    if (!s.name) errs.push(required(np));
    else if (names.sysctlName(s.name).length) errs.push(...each(names.sysctlName(s.name), np, s.name));
    else if (seen.has(s.name)) errs.push(duplicate(np, s.name));
    seen.add(s.name);
    if (pod.spec.hostNetwork && /^net[./]/.test(s.name)) errs.push(invalid(np, s.name, "may not be specified when 'hostNetwork' is true"));
    if (pod.spec.hostIPC && /^(kernel[./](shm|msg|sem)|fs[./]mqueue[./])/.test(s.name))
      errs.push(invalid(np, s.name, "may not be specified when 'hostIPC' is true"));
  });
  return errs;
}

function validateDnsConfig(pod: Pod): Errs {
  const { dnsConfig: dc, dnsPolicy } = pod.spec;
  const p = 'spec.dnsConfig';
  if (dnsPolicy === 'None') {
    if (!dc) return [required(p, 'must provide `dnsConfig` when `dnsPolicy` is None')];
    if (!dc.nameservers?.length) return [required(child(p, 'nameservers'), 'must provide at least one DNS nameserver when `dnsPolicy` is None')];
  }
  if (!dc) return [];
  const errs: Errs = [];
  const servers = dc.nameservers ?? [];
  if (servers.length > 3) errs.push(invalid(child(p, 'nameservers'), servers, 'must not have more than 3 nameservers'));
  servers.forEach((ns, i) => errs.push(...each(names.ipAddress(ns), index(child(p, 'nameservers'), i), ns)));
  const searches = dc.searches ?? [];
  if (searches.length > 32) errs.push(invalid(child(p, 'searches'), searches, 'must not have more than 32 search paths'));
  if (searches.join(' ').length > 2048)
    errs.push(invalid(child(p, 'searches'), searches, 'must not have more than 2048 characters (including spaces) in the search list'));
  searches.forEach((s, i) => {
    if (s === '.') return;
    const trimmed = s.replace(/\.$/, '');
    errs.push(...each(names.dns1123Subdomain(trimmed), index(child(p, 'searches'), i), trimmed));
  });
  (dc.options ?? []).forEach((o, i) => {
    if (!o.name) errs.push(required(index(child(p, 'options'), i), 'Option.Name must not be empty'));
  });
  return errs;
}

// ------------------------------------------------------------------ ConfigMap, Secret

export function validateConfigMap(cm: ConfigMap): Errs {
  const errs = validateObjectMeta(cm.metadata);
  let size = 0;
  for (const k of Object.keys(cm.data).sort()) {
    errs.push(...each(names.configMapKey(k), key('data', k), k));
    if (k in cm.binaryData) errs.push(invalid(key('data', k), k, 'duplicate of key present in binaryData'));
    size += cm.data[k]!.length;
  }
  for (const k of Object.keys(cm.binaryData).sort()) {
    errs.push(...each(names.configMapKey(k), key('binaryData', k), k));
    errs.push(...base64Errors(cm.binaryData[k]!, key('binaryData', k)));
    size += Math.floor((cm.binaryData[k]!.length * 3) / 4);
  }
  if (size > 1024 * 1024) errs.push(new FieldError('Too long', '', 'ConfigMap', `must have at most ${1024 * 1024} bytes`));
  return errs;
}

/** data (base64) after stringData was merged in. */
export function validateSecretData(data: Record<string, string>): Errs {
  const errs: Errs = [];
  let size = 0;
  for (const k of Object.keys(data).sort()) {
    errs.push(...each(names.configMapKey(k), key('data', k), k));
    errs.push(...base64Errors(data[k]!, key('data', k)));
    size += Math.floor((data[k]!.length * 3) / 4);
  }
  if (size > 1024 * 1024) errs.push(new FieldError('Too long', 'data', '', `must have at most ${1024 * 1024} bytes`));
  return errs;
}

/** Standard base64 with padding, as Go's encoding/json decodes []byte. */
function base64Errors(v: string, field: string): Errs {
  const bad = /[^A-Za-z0-9+/=]/.exec(v);
  if (bad) return [invalid(field, v, `illegal base64 data at input byte ${bad.index}`)];
  const pad = v.indexOf('=');
  if (v.length % 4 !== 0 || (pad >= 0 && (pad < v.length - 2 || /[^=]/.test(v.slice(pad)))))
    return [invalid(field, v, `illegal base64 data at input byte ${pad >= 0 ? pad : v.length - (v.length % 4)}`)];
  return [];
}

// ------------------------------------------------------------------ helpers

function tryQuantity(raw: string): Quantity | undefined {
  try {
    return Quantity.parse(raw);
  } catch (err) {
    if (err instanceof QuantityError) return undefined;
    throw err;
  }
}

function noBacksteps(path: string, field: string): Errs {
  return path.split('/').includes('..') ? [invalid(field, path, "must not contain '..'")] : [];
}

function localDescendingPath(path: string, field: string): Errs {
  const errs: Errs = [];
  if (path.startsWith('/')) errs.push(invalid(field, path, 'must be a relative path'));
  errs.push(...noBacksteps(path, field));
  return errs;
}

function localNonReservedPath(path: string, field: string): Errs {
  const errs = localDescendingPath(path, field);
  if (path.startsWith('..') && !path.startsWith('../')) errs.push(invalid(field, path, "must not start with '..'"));
  return errs;
}
