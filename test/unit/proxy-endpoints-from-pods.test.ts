import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Pod, V1Service } from '../../agent/proxy/api.js';
import { endpointSlicesForService, resolveTargetPort } from '../../agent/proxy/endpoints-from-pods.js';

const service = (spec: V1Service['spec'] = {}): V1Service => ({
  metadata: { name: 'web', namespace: 'default', uid: 'svc-uid' },
  spec: { clusterIP: '10.96.0.10', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }], ...spec },
});

function pod(name: string, o: { ip?: string; ready?: boolean; deleting?: boolean; phase?: string; labels?: Record<string, string>; ns?: string; port?: number; ips?: string[] } = {}): V1Pod {
  return {
    metadata: { name, namespace: o.ns ?? 'default', uid: `${name}-uid`, labels: o.labels ?? { app: 'web' }, ...(o.deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}) },
    spec: { nodeName: 'node-a', containers: [{ name: 'c', ports: o.port === undefined ? [{ name: 'http', containerPort: 8080 }] : (o.port ? [{ name: 'http', containerPort: o.port }] : []) }] },
    status: {
      phase: o.phase ?? 'Running',
      ...(o.ip === '' ? {} : { podIP: o.ip ?? '10.244.1.2' }),
      ...(o.ips ? { podIPs: o.ips.map((ip) => ({ ip })) } : {}),
      conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }],
    },
  };
}

const conditions = (s: ReturnType<typeof endpointSlicesForService>): unknown[] =>
  s.flatMap((x) => (x.endpoints ?? []).map((e) => [e.targetRef?.name, e.conditions]));

test('ready / serving / terminating as the EndpointSlice controller sets them', () => {
  const slices = endpointSlicesForService(service(), [
    pod('a', { ip: '10.244.1.2' }),
    pod('b', { ip: '10.244.1.3', ready: false }),
    pod('c', { ip: '10.244.1.4', deleting: true }),
    pod('d', { ip: '10.244.1.5', deleting: true, ready: false }),
  ]);
  assert.equal(slices.length, 1);
  assert.deepEqual(conditions(slices), [
    ['a', { ready: true, serving: true, terminating: false }],
    ['b', { ready: false, serving: false, terminating: false }],
    ['c', { ready: false, serving: true, terminating: true }],
    ['d', { ready: false, serving: false, terminating: true }],
  ]);
  const s = slices[0]!;
  assert.deepEqual(s.ports, [{ name: 'http', port: 8080, protocol: 'TCP' }]);
  assert.equal(s.addressType, 'IPv4');
  assert.deepEqual(s.metadata?.labels, { 'kubernetes.io/service-name': 'web', 'endpointslice.kubernetes.io/managed-by': 'kna.standalone' });
  assert.deepEqual(s.metadata?.ownerReferences, [{ apiVersion: 'v1', kind: 'Service', name: 'web', uid: 'svc-uid', controller: true }]);
  assert.deepEqual(s.endpoints![0]!.nodeName, 'node-a');
});

test('publishNotReadyAddresses makes every endpoint ready', () => {
  const slices = endpointSlicesForService(service({ publishNotReadyAddresses: true }), [pod('b', { ready: false }), pod('c', { deleting: true })]);
  assert.deepEqual(conditions(slices).map((c) => (c as [string, { ready: boolean }])[1].ready), [true, true]);
});

test('finished pods, pods without an IP, other namespaces and other labels stay out', () => {
  const slices = endpointSlicesForService(service(), [
    pod('done', { phase: 'Succeeded' }), pod('failed', { phase: 'Failed' }), pod('noip', { ip: '' }),
    pod('other-ns', { ns: 'kube-system' }), pod('other-app', { labels: { app: 'db' } }),
  ]);
  // Only the controller's placeholder: the Service is managed but has no endpoints.
  assert.equal(slices.length, 1);
  assert.deepEqual([slices[0]!.endpoints, slices[0]!.ports], [[], []]);
});

test('named targetPorts are resolved per pod; pods with other port numbers get their own slice', () => {
  const slices = endpointSlicesForService(service(), [pod('a', { port: 8080 }), pod('b', { port: 9090, ip: '10.244.1.3' }), pod('c', { port: 0, ip: '10.244.1.4' })]);
  const byPorts = new Map(slices.map((s) => [JSON.stringify(s.ports), (s.endpoints ?? []).map((e) => e.targetRef?.name)]));
  assert.deepEqual(byPorts, new Map([
    ['[{"name":"http","port":8080,"protocol":"TCP"}]', ['a']],
    ['[{"name":"http","port":9090,"protocol":"TCP"}]', ['b']],
    ['[]', ['c']], // no port named http: in a slice without that port
  ]));
  assert.equal(new Set(slices.map((s) => s.metadata?.name)).size, 3);
});

test('targetPort: absent means the port, a number is used as is, a name must match the protocol', () => {
  const p = pod('a');
  assert.equal(resolveTargetPort({ port: 80 }, p), 80);
  assert.equal(resolveTargetPort({ port: 80, targetPort: 9000 }, p), 9000);
  assert.equal(resolveTargetPort({ port: 80, targetPort: 'http' }, p), 8080);
  assert.equal(resolveTargetPort({ port: 80, protocol: 'UDP', targetPort: 'http' }, p), undefined);
});

test('Services without a selector get no computed slices; big ones are split by 100; dual stack', () => {
  assert.deepEqual(endpointSlicesForService(service({ selector: null }), [pod('a')]), []);
  const many = Array.from({ length: 250 }, (_, i) => pod(`p${String(i).padStart(3, '0')}`, { ip: `10.244.${i >> 8}.${i & 255}` }));
  assert.deepEqual(endpointSlicesForService(service(), many).map((s) => s.endpoints!.length), [100, 100, 50]);
  const dual = endpointSlicesForService(service({ ipFamilies: ['IPv4', 'IPv6'] }), [pod('a', { ips: ['10.244.1.2', 'fd00::2'] })]);
  assert.deepEqual(dual.map((s) => [s.addressType, s.endpoints![0]!.addresses]), [['IPv4', ['10.244.1.2']], ['IPv6', ['fd00::2']]]);
});
