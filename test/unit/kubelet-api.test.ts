import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import { resolveConfig } from '../../agent/config.js';
import { entryTime } from '../../agent/pods/cri-log.js';
import { logSince } from '../../agent/server/local-api.js';
import type { ContainerStats } from '../../agent/cri/types.js';
import { forbiddenMessage, nodeAttributes, userFromCertificate } from '../../agent/server/kubelet-auth.js';
import { selfSignedCertificate, usablePair } from '../../agent/server/serving-cert.js';
import { hostCpuNanos, podSummaries, resourceMetrics } from '../../agent/server/stats.js';
import { CertificateAuthority } from '../apiserver/ca.js';

test('kubelet API paths map to Node subresources and verbs as kubelet maps them', () => {
  const a = (m: string, p: string) => { const x = nodeAttributes(m, p, 'n1'); return `${x.verb} ${x.resource}/${x.subresource} ${x.name}`; };
  assert.equal(a('GET', '/pods'), 'get nodes/proxy n1');
  assert.equal(a('GET', '/containerLogs/ns/p/c'), 'get nodes/proxy n1');
  assert.equal(a('POST', '/exec/ns/p/c'), 'create nodes/proxy n1');
  assert.equal(a('GET', '/stats/summary'), 'get nodes/stats n1');
  assert.equal(a('GET', '/stats'), 'get nodes/stats n1');
  assert.equal(a('GET', '/statsx'), 'get nodes/proxy n1');
  assert.equal(a('GET', '/metrics'), 'get nodes/metrics n1');
  assert.equal(a('GET', '/metrics/resource'), 'get nodes/metrics n1');
  assert.equal(a('GET', '/logs/syslog'), 'get nodes/log n1');
  assert.equal(a('HEAD', '/healthz'), 'get nodes/proxy n1');
  assert.equal(a('DELETE', '/pods'), 'delete nodes/proxy n1');
  assert.equal(forbiddenMessage({ username: 'u', groups: [] }, nodeAttributes('GET', '/metrics', 'n1')), 'Forbidden (user=u, verb=get, resource=nodes, subresource=metrics)');
});

test('a client certificate subject becomes a user: CN name, O groups', () => {
  assert.deepEqual(userFromCertificate({ CN: 'alice', O: ['a', 'b'] }), { username: 'alice', groups: ['a', 'b', 'system:authenticated'] });
  assert.deepEqual(userFromCertificate({ CN: 'bob', O: 'x' }), { username: 'bob', groups: ['x', 'system:authenticated'] });
  assert.equal(userFromCertificate({ O: 'x' }), undefined);
});

test('self-signed serving certificate carries the SANs; only CA-issued pairs count as usable', () => {
  const p = selfSignedCertificate({ commonName: 'n1@1', altNames: { dnsNames: ['n1'], ipAddresses: ['10.0.0.5', '127.0.0.1'] } });
  const c = new X509Certificate(p.certPem);
  assert.equal(c.subjectAltName, 'DNS:n1, IP Address:10.0.0.5, IP Address:127.0.0.1');
  assert.ok(c.checkPrivateKey(createPrivateKey(p.keyPem)));
  assert.equal(c.checkHost('n1'), 'n1');
  const ca = CertificateAuthority.create('kna-t-ca');
  assert.equal(usablePair(p, ca.certPem), false);
  const signed = ca.issueKeyPair({ subject: { commonName: 'system:node:n1', organizations: ['system:nodes'] }, notAfter: new Date(Date.now() + 86400_000), usages: ['digital signature', 'server auth'] });
  assert.equal(usablePair(signed, ca.certPem), true);
  assert.equal(usablePair(signed, ca.certPem, Date.now(), 2 * 86400_000), false, 'too little life left');
});

const stat = (pod: string, uid: string, container: string, cpuNs: number, ws: number): ContainerStats => ({
  attributes: { id: `${uid}-${container}`, labels: { 'io.kubernetes.pod.name': pod, 'io.kubernetes.pod.namespace': 'default', 'io.kubernetes.pod.uid': uid, 'io.kubernetes.container.name': container }, annotations: {} },
  cpu: { timestamp: 1_700_000_000_000, usageCoreNanoSeconds: { value: cpuNs } },
  memory: { timestamp: 1_700_000_000_000, workingSetBytes: { value: ws } },
});

test('stats: containers grouped into pods with summed CPU and memory; resource metrics from them', () => {
  const pods = podSummaries([stat('b', 'u2', 'x', 5e9, 100), stat('a', 'u1', 'c1', 1e9, 10), stat('a', 'u1', 'c2', 2e9, 20), { attributes: { id: 'z', labels: {}, annotations: {} } }]);
  assert.deepEqual(pods.map((p) => [p.podRef.name, p.containers.map((c) => c.name), p.cpu?.usageCoreNanoSeconds, p.memory?.workingSetBytes]), [['a', ['c1', 'c2'], 3e9, 30], ['b', ['x'], 5e9, 100]]);
  const text = resourceMetrics({ node: { nodeName: 'n1', cpu: { time: '2023-11-14T22:13:20.000Z', usageCoreNanoSeconds: 4e9 } }, pods });
  assert.match(text, /^node_cpu_usage_seconds_total 4 1700000000000$/m);
  assert.match(text, /^pod_memory_working_set_bytes\{namespace="default",pod="a"\} 30 1700000000000$/m);
  assert.match(text, /^container_cpu_usage_seconds_total\{container="c2",namespace="default",pod="a"\} 2 1700000000000$/m);
  assert.doesNotMatch(text, /node_memory_working_set_bytes/, 'absent figures are left out');
  assert.equal(hostCpuNanos('cpu  100 1 50 9000 7 2 3 4 0 0\ncpu0 1 2 3'), (100 + 1 + 50 + 2 + 3 + 4) * 1e7);
  assert.equal(hostCpuNanos('nothing'), undefined);
});

test('--kubelet-address/--kubelet-port and the file\'s address/port', () => {
  assert.equal(resolveConfig({}).kubeletPort, 10250);
  assert.equal(resolveConfig({}).kubeletAddress, '0.0.0.0');
  const c = resolveConfig({ kubeletAddress: '127.0.0.1', kubeletPort: '12345' });
  assert.equal(c.kubeletPort, 12345);
  assert.equal(c.kubeletAddress, '127.0.0.1');
  assert.throws(() => resolveConfig({ kubeletPort: '70000' }), /--kubelet-port/);
  assert.throws(() => resolveConfig({ kubeletAddress: 'example' }), /--kubelet-address/);
});

test('log since: sinceSeconds relative to now, sinceTime absolute; CRI nanosecond times compare by millisecond', () => {
  const now = Date.parse('2026-01-01T00:00:10Z');
  assert.equal(logSince(new URLSearchParams('sinceSeconds=5'), now)?.toISOString(), '2026-01-01T00:00:05.000Z');
  assert.equal(logSince(new URLSearchParams('sinceTime=2026-01-01T00:00:01Z'), now)?.toISOString(), '2026-01-01T00:00:01.000Z');
  assert.equal(logSince(new URLSearchParams('tailLines=3'), now), undefined);
  assert.throws(() => logSince(new URLSearchParams('sinceSeconds=0')), /sinceSeconds must be a positive integer/);
  assert.throws(() => logSince(new URLSearchParams('sinceTime=yesterday')), /sinceTime must be an RFC 3339 time/);
  assert.equal(entryTime({ time: '2026-01-01T00:00:01.123456789Z', stream: 'stdout', text: '' }), Date.parse('2026-01-01T00:00:01.123Z'));
});
