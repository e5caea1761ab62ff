import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Pod } from '../../agent/pods/api-types.js';
import { parseManifestText } from '../../agent/pods/manifest/reader.js';
import { parseResolvConf, podDnsConfig, portMappings, sandboxConfig, type NodeContext } from '../../agent/pods/sandbox-config.js';
import { containerConfig, securityContext } from '../../agent/pods/container-config.js';

const node: NodeContext = {
  nodeName: 'n1', rootDir: '/var/lib/kna', clusterDNS: ['10.96.0.10'], clusterDomain: 'cluster.local', hostname: 'host1',
  hostDNS: { servers: ['192.0.2.53'], searches: ['corp.example'], options: ['timeout:2'] },
};

function pod(yaml: string): Pod {
  const r = parseManifestText(yaml, 'test.yaml', 'n1');
  assert.deepEqual(r.errors.map((e) => e.message), []);
  const o = r.objects[0]!;
  assert.equal(o.kind, 'Pod');
  return (o as { pod: Pod }).pod;
}
const base = (spec: string) => pod(`apiVersion: v1\nkind: Pod\nmetadata: { name: web, namespace: shop }\nspec:\n${spec}`);
const c = '  containers: [{ name: app, image: busybox }]\n';

test('ClusterFirst uses the cluster DNS with the namespace search path and ndots:5', () => {
  assert.deepEqual(podDnsConfig(base(c), node), {
    servers: ['10.96.0.10'],
    searches: ['shop.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'corp.example'],
    options: ['ndots:5'],
  });
});

test('Default, hostNetwork and ClusterFirst without cluster DNS fall back to the host resolv.conf', () => {
  assert.deepEqual(podDnsConfig(base(`  dnsPolicy: Default\n${c}`), node), node.hostDNS);
  assert.deepEqual(podDnsConfig(base(`  hostNetwork: true\n${c}`), node), node.hostDNS);
  assert.deepEqual(podDnsConfig(base(c), { ...node, clusterDNS: [] }), node.hostDNS);
  assert.equal(podDnsConfig(base(`  hostNetwork: true\n  dnsPolicy: ClusterFirstWithHostNet\n${c}`), node).servers?.[0], '10.96.0.10');
});

test('dnsPolicy None takes only dnsConfig; dnsConfig merges into others with options by name', () => {
  const none = base(`  dnsPolicy: None\n  dnsConfig: { nameservers: [1.1.1.1], searches: [a.example], options: [{ name: ndots, value: '2' }] }\n${c}`);
  assert.deepEqual(podDnsConfig(none, node), { servers: ['1.1.1.1'], searches: ['a.example'], options: ['ndots:2'] });
  const merged = base(`  dnsConfig: { options: [{ name: ndots, value: '1' }, { name: edns0 }] }\n${c}`);
  assert.deepEqual(podDnsConfig(merged, node).options, ['ndots:1', 'edns0']);
});

test('sandbox config: hostPort mappings, cgroup parent by QoS, namespaces, labels', () => {
  const p = base(`  containers:\n    - name: app\n      image: busybox\n      ports: [{ containerPort: 80, hostPort: 8080 }, { containerPort: 53, protocol: UDP }]\n      resources: { limits: { cpu: 100m, memory: 10Mi } }\n`);
  assert.deepEqual(portMappings(p), [{ protocol: 'TCP', containerPort: 80, hostPort: 8080 }]);
  const cfg = sandboxConfig(p, 2, node);
  assert.equal(cfg.metadata.attempt, 2);
  assert.equal(cfg.hostname, 'web');
  assert.equal(cfg.linux?.cgroupParent, `/kubepods/pod${p.metadata.uid}`);
  assert.deepEqual(cfg.linux?.securityContext?.namespaceOptions, { network: 'POD', pid: 'CONTAINER', ipc: 'POD' });
  assert.equal(cfg.labels?.['io.kubernetes.pod.uid'], p.metadata.uid);
  assert.equal(cfg.logDirectory, `/var/lib/kna/logs/pods/shop_web_${p.metadata.uid}`);
  const host = sandboxConfig(base(`  hostNetwork: true\n  shareProcessNamespace: true\n${c}`), 0, node);
  assert.equal(host.hostname, '');
  assert.deepEqual(host.linux?.securityContext?.namespaceOptions, { network: 'NODE', pid: 'POD', ipc: 'POD' });
});

test('container security context: user from pod unless the container overrides, masked paths unless privileged', () => {
  const p = base(`  securityContext: { runAsUser: 1000, runAsGroup: 2000 }\n  containers:\n    - name: app\n      image: busybox\n      securityContext: { runAsUser: 7, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { add: [NET_ADMIN], drop: [ALL] } }\n    - name: priv\n      image: busybox\n      securityContext: { privileged: true }\n`);
  const sc = securityContext(p, p.spec.containers[0]!);
  assert.deepEqual([sc.runAsUser, sc.runAsGroup, sc.readonlyRootfs, sc.noNewPrivs], [{ value: 7 }, { value: 2000 }, true, true]);
  assert.deepEqual(sc.capabilities, { addCapabilities: ['NET_ADMIN'], dropCapabilities: ['ALL'] });
  assert.ok(sc.maskedPaths!.includes('/proc/kcore'));
  const priv = securityContext(p, p.spec.containers[1]!);
  assert.equal(priv.privileged, true);
  assert.deepEqual(priv.maskedPaths, []);
  const cfg = containerConfig(p, p.spec.containers[0]!, 'app', 3, { envs: [], mounts: [], resources: {}, hash: 'h' }, 'n1');
  assert.equal(cfg.logPath, 'app/3.log');
  assert.equal(cfg.annotations?.['io.kubernetes.container.restartCount'], '3');
  assert.equal(cfg.labels?.['kna.io/node'], 'n1');
});

test('resolv.conf parsing', () => {
  assert.deepEqual(parseResolvConf('# c\nnameserver 10.0.0.2\nnameserver 10.0.0.3 \nsearch a b\noptions ndots:2 rotate\n'), {
    servers: ['10.0.0.2', '10.0.0.3'], searches: ['a', 'b'], options: ['ndots:2', 'rotate'],
  });
});
