import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { defaultPullPolicy } from '../../agent/pods/api-types.js';
import { parseManifestText, readManifestDir } from '../../agent/pods/manifest/reader.js';
import { canonicalJson, mirrorPodName, parseManifestDocument, staticUid } from '../../agent/pods/manifest/schema.js';
import { c, makePod, NODE } from './pods-fixtures.js';

const FILE = 'examples/web.yaml';

/** Errors of one document, as the message lines. */
function errorsOf(doc: unknown): string[] {
  const r = parseManifestDocument(doc, { file: FILE, nodeName: NODE });
  return r.errors.flatMap((e) => e.message.split('\n'));
}
const pod = (spec: Record<string, unknown>, metadata: Record<string, unknown> = { name: 'web' }) => ({ apiVersion: 'v1', kind: 'Pod', metadata, spec });
const expectError = (doc: unknown, line: string) => {
  const errs = errorsOf(doc);
  assert.ok(errs.includes(line), `expected:\n  ${line}\ngot:\n  ${errs.join('\n  ')}`);
};
const P = `${FILE}: Pod default/web: `;

test('errors name the file, the object and the field like kubectl', () => {
  const doc = pod({ containers: [c('web', { ports: [{ containerPort: 80 }, { containerPort: 70000 }] })] });
  assert.deepEqual(errorsOf(doc), [`${P}spec.containers[0].ports[1].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive`]);
});

test('API server defaults are applied', () => {
  const p = makePod({
    containers: [c('web', {
      ports: [{ containerPort: 8080 }],
      readinessProbe: { httpGet: { port: 8080 } },
      livenessProbe: { tcpSocket: { port: 'http' }, periodSeconds: 0 },
      resources: { limits: { cpu: '500m', memory: '64Mi' }, requests: { cpu: '100m' } },
    })],
    volumes: [{ name: 'scratch' }, { name: 'cfg', configMap: { name: 'cfg' } }, { name: 'tok', projected: { sources: [{ serviceAccountToken: { path: 't' } }] } }],
  }, { name: 'web' });
  assert.equal(p.metadata.namespace, 'default');
  assert.equal(p.spec.restartPolicy, 'Always');
  assert.equal(p.spec.terminationGracePeriodSeconds, 30);
  assert.equal(p.spec.dnsPolicy, 'ClusterFirst');
  assert.equal(p.spec.enableServiceLinks, true);
  assert.equal(p.spec.nodeName, NODE);
  assert.deepEqual(p.spec.securityContext, {});
  const w = p.spec.containers[0]!;
  assert.equal(w.imagePullPolicy, 'Always');
  assert.equal(w.terminationMessagePath, '/dev/termination-log');
  assert.equal(w.terminationMessagePolicy, 'File');
  assert.deepEqual(w.ports, [{ containerPort: 8080, protocol: 'TCP' }]);
  assert.deepEqual(w.resources, { limits: { cpu: '500m', memory: '64Mi' }, requests: { cpu: '100m', memory: '64Mi' } });
  const rp = w.readinessProbe!;
  assert.deepEqual([rp.periodSeconds, rp.timeoutSeconds, rp.successThreshold, rp.failureThreshold, rp.initialDelaySeconds], [10, 1, 1, 3, 0]);
  assert.deepEqual(rp.httpGet, { path: '/', port: 8080, scheme: 'HTTP' });
  assert.equal(w.livenessProbe!.periodSeconds, 10, 'zero means default');
  assert.deepEqual(p.spec.volumes[0], { name: 'scratch', emptyDir: { medium: '' } });
  assert.equal(p.spec.volumes[1]!.configMap!.defaultMode, 0o644);
  assert.equal(p.spec.volumes[2]!.projected!.sources[0]!.serviceAccountToken!.expirationSeconds, 3600);
});

test('imagePullPolicy defaults on the tag', () => {
  assert.equal(defaultPullPolicy('busybox'), 'Always');
  assert.equal(defaultPullPolicy('busybox:latest'), 'Always');
  assert.equal(defaultPullPolicy('busybox:1.36'), 'IfNotPresent');
  assert.equal(defaultPullPolicy('localhost:5000/busybox'), 'Always');
  assert.equal(defaultPullPolicy('localhost:5000/busybox:v1'), 'IfNotPresent');
  assert.equal(defaultPullPolicy('busybox@sha256:0123'), 'IfNotPresent');
  assert.equal(defaultPullPolicy('busybox:latest@sha256:0123'), 'Always');
  const p = makePod({ containers: [c('a', { image: 'x:1', imagePullPolicy: 'Never' })] });
  assert.equal(p.spec.containers[0]!.imagePullPolicy, 'Never');
});

test('hostNetwork pods get hostPort = containerPort, and must keep them equal', () => {
  const p = makePod({ hostNetwork: true, containers: [c('a', { ports: [{ containerPort: 9000 }] })] });
  assert.equal(p.spec.containers[0]!.ports[0]!.hostPort, 9000);
  expectError(pod({ hostNetwork: true, containers: [c('a', { ports: [{ containerPort: 9000, hostPort: 9001 }] })] }),
    `${P}spec.containers[0].ports[0].hostPort: Invalid value: 9001: must match \`containerPort\` when \`hostNetwork\` is true`);
});

test('static pod UID: stable per content and node, new for any change', () => {
  const a = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web' }, spec: { containers: [c('web')] } };
  const reordered = { spec: { containers: [{ image: 'localhost/kna/busybox:latest', name: 'web' }] }, metadata: { name: 'web' }, kind: 'Pod', apiVersion: 'v1' };
  assert.equal(staticUid(a, NODE), staticUid(reordered, NODE));
  assert.match(staticUid(a, NODE), /^[0-9a-f]{32}$/);
  assert.notEqual(staticUid(a, NODE), staticUid(a, 'node-2'));
  assert.notEqual(staticUid(a, NODE), staticUid({ ...a, spec: { containers: [c('web', { args: ['x'] })] } }, NODE));
  assert.equal(staticUid({ ...a, metadata: { name: 'web', uid: 'given' } }, NODE), 'given');
  const r = parseManifestDocument(a, { file: FILE, nodeName: NODE });
  const p = r.objects[0]!.kind === 'Pod' ? r.objects[0]!.pod : undefined;
  assert.equal(p?.metadata.uid, staticUid(a, NODE));
  assert.equal(p?.metadata.annotations['kubernetes.io/config.hash'], p?.metadata.uid);
  assert.equal(p?.metadata.annotations['kubernetes.io/config.source'], 'file');
  assert.equal(canonicalJson({ b: 1, a: [{ d: 2, c: 'x' }] }), '{"a":[{"c":"x","d":2}],"b":1}');
  assert.equal(mirrorPodName('web', 'Node-1'), 'web-node-1');
});

test('names: pod subdomain, container label, namespace label', () => {
  expectError(pod({ containers: [c('web')] }, { name: 'Web' }),
    `${FILE}: Pod default/Web: metadata.name: Invalid value: "Web": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`);
  expectError(pod({ containers: [c('web.1')] }), `${P}spec.containers[0].name: Invalid value: "web.1": must not contain dots`);
  expectError(pod({ containers: [c('Web')] }),
    `${P}spec.containers[0].name: Invalid value: "Web": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`);
  expectError(pod({ containers: [c('web')] }, { name: 'web', namespace: 'a.b' }), `${FILE}: Pod a.b/web: metadata.namespace: Invalid value: "a.b": must not contain dots`);
  expectError(pod({ containers: [c('web')] }, {}), `${FILE}: Pod default/: metadata.name: Required value: name or generateName is required`);
  expectError(pod({ containers: [c('web')] }, { name: 'web', labels: { 'app/x/y': 'v' } }),
    `${P}metadata.labels: Invalid value: "app/x/y": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`);
});

test('unique container names across init and app containers, unique volumes, mounts must exist', () => {
  expectError(pod({ containers: [c('a'), c('a')] }), `${P}spec.containers[1].name: Duplicate value: "a"`);
  expectError(pod({ initContainers: [c('a')], containers: [c('a')] }), `${P}spec.initContainers[0].name: Duplicate value: "a"`);
  expectError(pod({ containers: [c('a')], volumes: [{ name: 'v', emptyDir: {} }, { name: 'v', emptyDir: {} }] }), `${P}spec.volumes[1].name: Duplicate value: "v"`);
  expectError(pod({ containers: [c('a', { volumeMounts: [{ name: 'data', mountPath: '/data' }] })] }), `${P}spec.containers[0].volumeMounts[0].name: Not found: "data"`);
  expectError(pod({ containers: [c('a', { volumeMounts: [{ name: 'v', mountPath: '/d' }, { name: 'v', mountPath: '/d' }] })], volumes: [{ name: 'v', emptyDir: {} }] }),
    `${P}spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/d": must be unique`);
  expectError(pod({ containers: [c('a', { volumeMounts: [{ name: 'v', mountPath: '/d', subPath: '../x' }] })], volumes: [{ name: 'v', emptyDir: {} }] }),
    `${P}spec.containers[0].volumeMounts.subPath: Invalid value: "../x": must not contain '..'`);
  expectError(pod({ containers: [c('a', { volumeMounts: [{ name: 'v', mountPath: '/d', mountPropagation: 'Bidirectional' }] })], volumes: [{ name: 'v', emptyDir: {} }] }),
    `${P}spec.containers[0].volumeMounts.mountPropagation: Forbidden: Bidirectional mount propagation is available only to privileged containers`);
  expectError(pod({ containers: [] }), `${P}spec.containers: Required value`);
});

test('volumes: one source each, persistentVolumeClaim rejected clearly', () => {
  expectError(pod({ containers: [c('a')], volumes: [{ name: 'v', emptyDir: {}, hostPath: { path: '/x' } }] }),
    `${P}spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type`);
  const errs = errorsOf(pod({ containers: [c('a')], volumes: [{ name: 'v', persistentVolumeClaim: { claimName: 'c' } }] }));
  assert.equal(errs.length, 1);
  assert.match(errs[0]!, /spec\.volumes\[0\]\.persistentVolumeClaim: Forbidden: persistentVolumeClaim volumes are not supported/);
  expectError(pod({ containers: [c('a')], volumes: [{ name: 'v', hostPath: { path: '/x', type: 'Dir' } }] }),
    `${P}spec.volumes[0].hostPath.type: Unsupported value: "Dir": supported values: "", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket"`);
  expectError(pod({ containers: [c('a')], volumes: [{ name: 'v', secret: {} }] }), `${P}spec.volumes[0].secret.secretName: Required value`);
  expectError(pod({ containers: [c('a')], volumes: [{ name: 'v', configMap: { name: 'x', defaultMode: 1000 } }] }),
    `${P}spec.volumes[0].configMap.defaultMode: Invalid value: 1000: must be a number between 0 and 0777 (octal), both inclusive`);
  expectError(pod({ containers: [c('a')], volumes: [{ name: 'v', emptyDir: { medium: 'HugePages' } }] }),
    `${P}spec.volumes[0].emptyDir.medium: Unsupported value: "HugePages": supported values: "", "Memory"`);
  expectError(pod({ containers: [c('a')], volumes: [{ name: 'v', downwardAPI: { items: [{ path: 'x', fieldRef: { fieldPath: 'spec.nodeName' } }] } }] }),
    `${P}spec.volumes[0].downwardAPI.items[0].fieldRef.fieldPath: Unsupported value: "spec.nodeName": supported values: "metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid"`);
});

test('ports, protocols and host ports', () => {
  expectError(pod({ containers: [c('a', { ports: [{ containerPort: 80, protocol: 'ICMP' }] })] }),
    `${P}spec.containers[0].ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"`);
  expectError(pod({ containers: [c('a', { ports: [{}] })] }), `${P}spec.containers[0].ports[0].containerPort: Required value`);
  expectError(pod({ containers: [c('a', { ports: [{ containerPort: 80, hostPort: 8080 }] }), c('b', { ports: [{ containerPort: 81, hostPort: 8080 }] })] }),
    `${P}spec.containers[1].ports[0].hostPort: Duplicate value: "TCP//8080"`);
  expectError(pod({ containers: [c('a', { ports: [{ containerPort: 80, name: 'http' }, { containerPort: 81, name: 'http' }] })] }),
    `${P}spec.containers[0].ports[1].name: Duplicate value: "http"`);
  expectError(pod({ containers: [c('a', { ports: [{ containerPort: 80, hostIP: '1.2.3' }] })] }),
    `${P}spec.containers[0].ports[0].hostIP: Invalid value: "1.2.3": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)`);
});

test('probes: thresholds, handlers, init container rules', () => {
  expectError(pod({ containers: [c('a', { livenessProbe: { exec: { command: ['true'] }, successThreshold: 2 } })] }),
    `${P}spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1`);
  expectError(pod({ containers: [c('a', { startupProbe: { exec: { command: ['true'] }, successThreshold: 3 } })] }),
    `${P}spec.containers[0].startupProbe.successThreshold: Invalid value: 3: must be 1`);
  assert.deepEqual(errorsOf(pod({ containers: [c('a', { readinessProbe: { exec: { command: ['true'] }, successThreshold: 3 } })] })), []);
  expectError(pod({ containers: [c('a', { livenessProbe: { httpGet: { port: 80 }, tcpSocket: { port: 80 } } })] }),
    `${P}spec.containers[0].livenessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type`);
  expectError(pod({ containers: [c('a', { readinessProbe: { periodSeconds: 5 } })] }), `${P}spec.containers[0].readinessProbe: Required value: must specify a handler type`);
  expectError(pod({ containers: [c('a', { readinessProbe: { httpGet: { port: 0 } } })] }),
    `${P}spec.containers[0].readinessProbe.httpGet.port: Invalid value: 0: must be between 1 and 65535, inclusive`);
  expectError(pod({ containers: [c('a', { readinessProbe: { tcpSocket: { port: '8080' } } })] }),
    `${P}spec.containers[0].readinessProbe.tcpSocket.port: Invalid value: "8080": must contain at least one letter (a-z)`);
  expectError(pod({ containers: [c('a', { readinessProbe: { grpc: { port: 70000 } } })] }),
    `${P}spec.containers[0].readinessProbe.grpc.port: Invalid value: 70000: must be between 1 and 65535, inclusive`);
  expectError(pod({ initContainers: [c('init', { readinessProbe: { exec: { command: ['true'] } } })], containers: [c('a')] }),
    `${P}spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers without restartPolicy=Always`);
  assert.deepEqual(errorsOf(pod({ initContainers: [c('side', { restartPolicy: 'Always', readinessProbe: { exec: { command: ['true'] } } })], containers: [c('a')] })), []);
  expectError(pod({ initContainers: [c('side', { restartPolicy: 'OnFailure' })], containers: [c('a')] }),
    `${P}spec.initContainers[0].restartPolicy: Unsupported value: "OnFailure": supported values: "Always"`);
  expectError(pod({ containers: [c('a', { restartPolicy: 'Always' })] }), `${P}spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers`);
  expectError(pod({ containers: [c('a', { lifecycle: { preStop: { sleep: { seconds: 60 } } } })] }),
    `${P}spec.containers[0].lifecycle.preStop.sleep: Invalid value: 60: must be non-negative and less than terminationGracePeriodSeconds (30)`);
});

test('resources: quantities must parse, requests within limits', () => {
  expectError(pod({ containers: [c('a', { resources: { limits: { memory: '1Gb' } } })] }),
    `${P}spec.containers[0].resources.limits[memory]: Invalid value: "1Gb": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`);
  expectError(pod({ containers: [c('a', { resources: { limits: { cpu: '1' }, requests: { cpu: '2000m' } } })] }),
    `${P}spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1`);
  expectError(pod({ containers: [c('a', { resources: { requests: { cpu: '-1' } } })] }),
    `${P}spec.containers[0].resources.requests[cpu]: Invalid value: "-1": must be greater than or equal to 0`);
  expectError(pod({ containers: [c('a', { resources: { requests: { gpu: '1' } } })] }),
    `${P}spec.containers[0].resources.requests[gpu]: Invalid value: "gpu": must be a standard resource for containers`);
  assert.deepEqual(errorsOf(pod({ containers: [c('a', { resources: { limits: { cpu: 2, memory: '1Gi' } } })] })), []);
});

test('env: value or one source, field paths, key selectors', () => {
  expectError(pod({ containers: [c('a', { env: [{ name: 'X', value: 'v', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }] })] }),
    `${P}spec.containers[0].env[0].valueFrom: Invalid value: "": may not be specified when \`value\` is not empty`);
  expectError(pod({ containers: [c('a', { env: [{ name: 'X', valueFrom: {} }] })] }),
    `${P}spec.containers[0].env[0].valueFrom: Invalid value: "": must specify one of: \`fieldRef\`, \`resourceFieldRef\`, \`configMapKeyRef\` or \`secretKeyRef\``);
  expectError(pod({ containers: [c('a', { env: [{ name: 'X', valueFrom: { fieldRef: { fieldPath: 'status.phase' } } }] })] }),
    `${P}spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: Unsupported value: "status.phase": supported values: "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"`);
  expectError(pod({ containers: [c('a', { env: [{ name: 'X', valueFrom: { resourceFieldRef: { resource: 'limits.cpu', divisor: '2' } } }] })] }),
    `${P}spec.containers[0].env[0].valueFrom.resourceFieldRef.divisor: Invalid value: "limits.cpu": only divisor's values 1m and 1 are supported with the cpu resource`);
  expectError(pod({ containers: [c('a', { env: [{ name: 'A=B', value: 'x' }] })] }),
    `${P}spec.containers[0].env[0].name: Invalid value: "A=B": a valid environment variable name must consist only of printable ASCII characters other than '='`);
  expectError(pod({ containers: [c('a', { envFrom: [{ configMapRef: {} }] })] }), `${P}spec.containers[0].envFrom[0].configMapRef.name: Required value`);
  assert.deepEqual(errorsOf(pod({ containers: [c('a', { env: [
    { name: 'L', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
    { name: 'K', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'k' } } },
    { name: 'M', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
  ] })] })), []);
});

test('pod-level fields: restartPolicy, dnsPolicy, deadlines, sysctls', () => {
  expectError(pod({ restartPolicy: 'Sometimes', containers: [c('a')] }),
    `${P}spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"`);
  expectError(pod({ dnsPolicy: 'None', containers: [c('a')] }), `${P}spec.dnsConfig: Required value: must provide \`dnsConfig\` when \`dnsPolicy\` is None`);
  expectError(pod({ activeDeadlineSeconds: 0, containers: [c('a')] }), `${P}spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive`);
  expectError(pod({ securityContext: { sysctls: [{ name: 'net.ipv4.ip_forward', value: '1' }] }, hostNetwork: true, containers: [c('a')] }),
    `${P}spec.securityContext.sysctls[0].name: Invalid value: "net.ipv4.ip_forward": may not be specified when 'hostNetwork' is true`);
  expectError(pod({ dnsConfig: { nameservers: ['1.1.1.1', '8.8.8.8', '9.9.9.9', '1.0.0.1'] }, containers: [c('a')] }),
    `${P}spec.dnsConfig.nameservers: Invalid value: ["1.1.1.1","8.8.8.8","9.9.9.9","1.0.0.1"]: must not have more than 3 nameservers`);
  expectError(pod({ containers: [c('a', { securityContext: { privileged: true, allowPrivilegeEscalation: false } })] }),
    `${P}spec.containers[0].securityContext: Invalid value: {"privileged":true,"allowPrivilegeEscalation":false}: cannot set \`allowPrivilegeEscalation\` to false and \`privileged\` to true`);
});

test('structural errors: unknown fields, types, kinds, versions', () => {
  expectError(pod({ containers: [c('a', { imagee: 'x' })] }), `${P}unknown field "spec.containers[0].imagee"`);
  expectError(pod({ containers: [c('a', { env: [{ name: 'X', value: 3 }] })] }), `${P}spec.containers[0].env[0].value: Invalid value: 3: must be a string`);
  expectError(pod({ containers: [c('a', { ports: [{ containerPort: 80.5 }] })] }), `${P}spec.containers[0].ports[0].containerPort: Invalid value: 80.5: must be an integer`);
  expectError(pod({ containers: [c('a', { readinessProbe: { tcpSocket: { port: true } } })] }),
    `${P}spec.containers[0].readinessProbe.tcpSocket.port: Invalid value: true: must be an integer or a string`);
  expectError({ apiVersion: 'apps/v1', kind: 'Pod', metadata: { name: 'web' }, spec: {} }, `${P}no matches for kind "Pod" in version "apps/v1"`);
  expectError({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' } },
    `${FILE}: Deployment default/d: kind "Deployment" is not supported by a standalone node (supported: Pod, ConfigMap, Secret, Service, EndpointSlice)`);
  expectError({ apiVersion: 'v1', metadata: { name: 'x' } }, `${FILE}: document 1: kind: Required value`);
  expectError('just text', `${FILE}: document 1: expected a Kubernetes object (a mapping with apiVersion and kind)`);
  // scheduling fields are tolerated
  assert.deepEqual(errorsOf(pod({ containers: [c('a')], tolerations: [{ operator: 'Exists' }], affinity: {}, priorityClassName: 'high', imagePullSecrets: [{ name: 'r' }] })), []);
});

test('ConfigMap, Secret, Service, EndpointSlice and List', () => {
  const r = parseManifestDocument({
    apiVersion: 'v1', kind: 'List', items: [
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'apps' }, data: { 'a.conf': 'x' }, binaryData: { bin: 'AAEC' } },
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, data: { user: Buffer.from('admin').toString('base64') }, stringData: { pass: 'hunter2' } },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'svc' }, spec: { ports: [{ port: 80 }] } },
      { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'svc-1', labels: { 'kubernetes.io/service-name': 'svc' } }, endpoints: [] },
    ],
  }, { file: FILE, nodeName: NODE });
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.objects.map((o) => o.kind), ['ConfigMap', 'Secret', 'Service', 'EndpointSlice']);
  const [cm, secret, svc, eps] = r.objects;
  assert.ok(cm?.kind === 'ConfigMap' && cm.configMap.metadata.namespace === 'apps' && cm.configMap.data['a.conf'] === 'x');
  assert.ok(secret?.kind === 'Secret');
  assert.equal(secret.secret.type, 'Opaque');
  assert.equal(Buffer.from(secret.secret.data.pass!, 'base64').toString(), 'hunter2');
  assert.equal(Buffer.from(secret.secret.data.user!, 'base64').toString(), 'admin');
  assert.ok(svc?.kind === 'Service' && svc.service.metadata.name === 'svc' && (svc.service.raw as { spec: unknown }).spec !== undefined);
  assert.ok(eps?.kind === 'EndpointSlice' && eps.endpointSlice.metadata.labels['kubernetes.io/service-name'] === 'svc');

  expectError({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, data: { k: 'not base64!' } },
    `${FILE}: Secret default/s: data[k]: Invalid value: "not base64!": illegal base64 data at input byte 3`);
  expectError({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { 'a b': 'x' } },
    `${FILE}: ConfigMap default/c: data[a b]: Invalid value: "a b": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')`);
  expectError({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { k: 'x' }, binaryData: { k: 'AA==' } },
    `${FILE}: ConfigMap default/c: data[k]: Invalid value: "k": duplicate of key present in binaryData`);
});

test('YAML is read as YAML 1.1 (octal modes, yes/no) and bad documents do not stop others', () => {
  const text = [
    'apiVersion: v1', 'kind: Pod', 'metadata: {name: a, annotations: {when: 2024-01-01}}', 'spec:', '  terminationGracePeriodSeconds: -5',
    '  containers: [{name: a, image: x:1, tty: yes, env: [{name: T, value: 12:30}]}]',
    '  volumes: [{name: v, secret: {secretName: s, defaultMode: 0400}}]',
    '---',
    'apiVersion: v1', 'kind: Pod', 'metadata: {name: b}', 'spec: {containers: [{name: b, image: x:1, ports: [{containerPort: 0x10000}]}]}',
    '---',
    'key: [unclosed',
    '---',
    '# only a comment',
    '---',
    'apiVersion: v1', 'kind: ConfigMap', 'metadata: {name: cfg}', 'data: {k: v}',
  ].join('\n');
  const r = parseManifestText(text, 'm/all.yaml', NODE);
  assert.deepEqual(r.objects.map((o) => o.kind), ['Pod', 'ConfigMap']);
  const p = r.objects[0]!.kind === 'Pod' ? r.objects[0]!.pod : undefined;
  assert.equal(p?.spec.volumes[0]!.secret!.defaultMode, 0o400);
  assert.equal(p?.spec.containers[0]!.tty, true);
  assert.equal(p?.spec.containers[0]!.env[0]!.value, '12:30', 'no base-60 numbers');
  assert.equal(p?.metadata.annotations.when, '2024-01-01', 'dates stay strings');
  assert.equal(p?.spec.terminationGracePeriodSeconds, 1, 'negative grace period is stored as 1');
  assert.equal(r.errors.length, 2);
  assert.equal(r.errors[0]!.message, 'm/all.yaml: Pod default/b: spec.containers[0].ports[0].containerPort: Invalid value: 65536: must be between 1 and 65535, inclusive');
  assert.match(r.errors[1]!.message, /^m\/all\.yaml: document 3: invalid YAML: /);
});

test('readManifestDir: yaml/yml/json files only, hidden files and folders skipped, duplicates reported', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kna-t-manifests-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const podYaml = (name: string) => `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}}\nspec: {containers: [{name: c, image: "x:1"}]}\n`;
  await writeFile(join(dir, 'a.yaml'), `${podYaml('a')}---\n${podYaml('Bad')}`);
  await writeFile(join(dir, 'b.yml'), podYaml('b'));
  await writeFile(join(dir, 'c.json'), JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg' }, data: { k: 'v' } }));
  await writeFile(join(dir, 'd.json'), '{ nope');
  await writeFile(join(dir, 'e.yaml'), podYaml('a'));
  await writeFile(join(dir, '.hidden.yaml'), podYaml('hidden'));
  await writeFile(join(dir, 'notes.txt'), podYaml('txt'));
  await mkdir(join(dir, 'sub.yaml'));
  await writeFile(join(dir, 'sub.yaml', 'x.yaml'), podYaml('nested'));
  await symlink(join(dir, 'b.yml'), join(dir, 'link.yaml'));

  const r = await readManifestDir(dir, NODE);
  const names = r.objects.map((o) => (o.kind === 'Pod' ? `pod/${o.pod.metadata.name}` : `${o.kind}`));
  assert.deepEqual(names, ['pod/a', 'pod/b', 'ConfigMap']);
  const msgs = r.errors.map((e) => e.message);
  assert.equal(msgs.length, 4, msgs.join('\n'));
  assert.ok(msgs.some((m) => m.startsWith(`${join(dir, 'a.yaml')}: Pod default/Bad: metadata.name: Invalid value: "Bad"`)));
  assert.ok(msgs.some((m) => m.startsWith(`${join(dir, 'd.json')}: document 1: invalid JSON`)));
  assert.ok(msgs.includes(`${join(dir, 'e.yaml')}: Pod default/a: metadata.name: Duplicate value: "a": already defined in ${join(dir, 'a.yaml')}`));
  assert.ok(msgs.includes(`${join(dir, 'link.yaml')}: Pod default/b: metadata.name: Duplicate value: "b": already defined in ${join(dir, 'b.yml')}`));
  await assert.rejects(readManifestDir(join(dir, 'missing'), NODE));
});
