import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEFAULTS, flagName, resolveConfig } from '../../agent/config.js';
import { ConfigError } from '../../agent/util/errors.js';

test('flags override the file, the file overrides defaults', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kna-t-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'kna.yaml');
  writeFileSync(file, 'kind: KubeletConfiguration\nstaticPodPath: /etc/kna/manifests\nclusterDNS: [10.96.0.10]\nclusterDomain: example.local\npodCIDR: 10.1.0.0/24\nhealthzPort: 12345\n');
  const cfg = resolveConfig({ podCIDR: '10.2.0.0/24' }, file);
  assert.equal(cfg.manifests, '/etc/kna/manifests');
  assert.deepEqual(cfg.clusterDNS, ['10.96.0.10']);
  assert.equal(cfg.clusterDomain, 'example.local');
  assert.equal(cfg.podCIDR, '10.2.0.0/24');
  assert.equal(cfg.healthzBindAddress, '127.0.0.1:12345');
  assert.equal(cfg.proxyMode, DEFAULTS.proxyMode);
});

test('bad values name the flag or the file field', (t) => {
  assert.throws(() => resolveConfig({ podCIDR: '10.0.0.0/33' }), (e: unknown) => e instanceof ConfigError && e.message.startsWith('--pod-cidr:'));
  assert.throws(() => resolveConfig({ clusterDNS: ['not-an-ip'] }), /--cluster-dns: must be an IP address/);
  const dir = mkdtempSync(join(tmpdir(), 'kna-t-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, 'clusterDomain: Not_Valid\n');
  assert.throws(() => resolveConfig({}, file), (e: unknown) => e instanceof ConfigError && e.message === `${file}: clusterDomain: must be a lowercase DNS-1123 subdomain`);
  writeFileSync(file, 'noSuchField: 1\n');
  assert.throws(() => resolveConfig({}, file), /noSuchField: unknown field/);
});

test('flag names are derived from field names', () => {
  assert.equal(flagName('serviceClusterIPRange'), 'service-cluster-ip-range');
  assert.equal(flagName('containerRuntimeEndpoint'), 'container-runtime-endpoint');
});

test('overlay flags: checked by name; an overlay needs --peers and a --cluster-cidr holding --pod-cidr', () => {
  const ok = { overlay: 'vxlan', peers: '/etc/kna/peers.yaml', clusterCIDR: '10.244.0.0/16', podCIDR: '10.244.3.0/24', overlayIface: 'eth0', nodeIP: '192.0.2.7' };
  const cfg = resolveConfig(ok);
  assert.deepEqual([cfg.overlay, cfg.peers, cfg.overlayIface, cfg.nodeIP], ['vxlan', '/etc/kna/peers.yaml', 'eth0', '192.0.2.7']);
  assert.equal(resolveConfig({}).overlay, 'none', 'no overlay by default');
  assert.throws(() => resolveConfig({ ...ok, nodeIP: '192.0.2' }), /^ConfigError: --node-ip: must be an IPv4 address/);
  assert.throws(() => resolveConfig({ ...ok, overlayIface: 'a-name-far-too-long' }), /--overlay-iface: must be a Linux interface name/);
  assert.throws(() => resolveConfig({ ...ok, peers: 'peers.yaml' }), /--peers: must be an absolute path/);
  assert.throws(() => resolveConfig({ ...ok, peers: undefined }), /--peers: required with --overlay vxlan/);
  assert.throws(() => resolveConfig({ ...ok, overlay: 'host-gw', clusterCIDR: undefined }), /--cluster-cidr: required with --overlay host-gw/);
  assert.throws(() => resolveConfig({ ...ok, clusterCIDR: '10.245.0.0/16' }), /--pod-cidr: 10\.244\.3\.0\/24 must lie inside --cluster-cidr 10\.245\.0\.0\/16/);
});

test('joined (--kubeconfig, or `kna join`): no --peers needed, and without --pod-cidr the Node\'s spec.podCIDR is used', (t) => {
  const joined = { overlay: 'vxlan', clusterCIDR: '10.240.0.0/16', kubeconfig: '/etc/kna/kubeconfig' };
  const cfg = resolveConfig(joined);
  assert.equal(cfg.peers, undefined);
  assert.equal(cfg.podCIDRSet, undefined, 'the default pod CIDR is not a given one');
  assert.doesNotThrow(() => resolveConfig({ overlay: 'vxlan', clusterCIDR: '10.240.0.0/16' }, undefined, true), 'kna join: the kubeconfig comes later');
  assert.throws(() => resolveConfig({ overlay: 'vxlan', clusterCIDR: '10.240.0.0/16' }), /--peers: required with --overlay vxlan in standalone mode/);
  assert.throws(() => resolveConfig({ overlay: 'vxlan', clusterCIDR: '10.240.0.0/16', peers: '/p.yaml' }), /--pod-cidr: 10\.244\.0\.0\/24 must lie inside/, 'standalone: the default is checked');
  // A given pod CIDR is checked when joined too, and marked as given (flag or file).
  assert.throws(() => resolveConfig({ ...joined, podCIDR: '10.99.0.0/24' }), /--pod-cidr: 10\.99\.0\.0\/24 must lie inside/);
  assert.equal(resolveConfig({ ...joined, podCIDR: '10.240.7.0/24' }).podCIDRSet, true);
  const dir = mkdtempSync(join(tmpdir(), 'kna-t-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'kna.yaml'), 'podCIDR: 10.240.8.0/24\n');
  assert.equal(resolveConfig(joined, join(dir, 'kna.yaml')).podCIDRSet, true);
});

test('node flags: --kube-reserved, --system-reserved, --register-with-taints, --node-labels, --max-pods, and their file fields', (t) => {
  const cfg = resolveConfig({
    kubeReserved: 'cpu=100m,memory=256Mi', systemReserved: 'ephemeral-storage=1Gi,pid=100',
    registerWithTaints: ['dedicated=infra:NoSchedule', 'gpu:NoExecute'], nodeLabels: ['zone=a,tier=', 'node.kubernetes.io/pool=x'], maxPods: '20',
  });
  assert.deepEqual(cfg.kubeReserved, { cpu: '100m', memory: '256Mi' });
  assert.deepEqual(cfg.systemReserved, { 'ephemeral-storage': '1Gi', pid: '100' });
  assert.deepEqual(cfg.registerWithTaints, [{ key: 'dedicated', value: 'infra', effect: 'NoSchedule' }, { key: 'gpu', effect: 'NoExecute' }]);
  assert.deepEqual(cfg.nodeLabels, { zone: 'a', tier: '', 'node.kubernetes.io/pool': 'x' });
  assert.equal(cfg.maxPods, 20);
  assert.equal(resolveConfig({}).maxPods, 110);

  const bad = (flags: Record<string, unknown>, re: RegExp) => assert.throws(() => resolveConfig(flags), (e: unknown) => e instanceof ConfigError && re.test(e.message), JSON.stringify(flags));
  bad({ kubeReserved: 'gpu=1' }, /^--kube-reserved: "gpu": only cpu, memory, ephemeral-storage and pid can be reserved$/);
  bad({ systemReserved: 'cpu=lots' }, /^--system-reserved: cpu=lots: /);
  bad({ kubeReserved: 'memory=-1Gi' }, /^--kube-reserved: memory=-1Gi: must be greater than or equal to 0$/);
  bad({ kubeReserved: 'cpu' }, /^--kube-reserved: "cpu" must be cpu\|memory\|ephemeral-storage\|pid=QUANTITY$/);
  bad({ registerWithTaints: ['a=b:Sometimes'] }, /^--register-with-taints: effect "Sometimes": must be one of NoSchedule/);
  bad({ registerWithTaints: ['bad key!:NoSchedule'] }, /^--register-with-taints: key "bad key!": name part must consist of alphanumeric/);
  bad({ nodeLabels: ['node-role.kubernetes.io/worker='] }, /^--node-labels: unknown 'kubernetes.io' or 'k8s.io' labels specified with --node-labels: \[node-role\.kubernetes\.io\/worker\]; .*allowed prefix \(kubelet\.kubernetes\.io, node\.kubernetes\.io\)/);
  bad({ nodeLabels: ['example.k8s.io/x=1'] }, /unknown 'kubernetes.io' or 'k8s.io' labels/);
  bad({ nodeLabels: ['zone=a b'] }, /^--node-labels: invalid node labels: 'a b' - a valid label must be/);
  bad({ nodeLabels: ['zone'] }, /^--node-labels: "zone" must be key=value$/);
  bad({ maxPods: 'many' }, /^--max-pods: must be a whole number, 0 or more$/);
  bad({ maxPods: '-1' }, /^--max-pods: must be a whole number, 0 or more$/);
  // Allowed in kubernetes.io: kubelet's own labels and namespaces.
  assert.deepEqual(resolveConfig({ nodeLabels: ['topology.kubernetes.io/zone=z1,kubelet.kubernetes.io/x=y,a.node.kubernetes.io/b=c'] }).nodeLabels,
    { 'topology.kubernetes.io/zone': 'z1', 'kubelet.kubernetes.io/x': 'y', 'a.node.kubernetes.io/b': 'c' });

  const dir = mkdtempSync(join(tmpdir(), 'kna-t-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'kubelet.yaml');
  writeFileSync(file, `kind: KubeletConfiguration
kubeReserved: { cpu: 200m, memory: 1Gi }
systemReserved: { cpu: "0.5" }
registerWithTaints: [{ key: dedicated, value: infra, effect: NoExecute }]
maxPods: 50
`);
  const fromFile = resolveConfig({ maxPods: '60' }, file);
  assert.deepEqual(fromFile.kubeReserved, { cpu: '200m', memory: '1Gi' });
  assert.deepEqual(fromFile.systemReserved, { cpu: '0.5' });
  assert.deepEqual(fromFile.registerWithTaints, [{ key: 'dedicated', value: 'infra', effect: 'NoExecute' }]);
  assert.equal(fromFile.maxPods, 60, 'the flag wins');
  writeFileSync(file, 'registerWithTaints: [{ key: dedicated, effect: Never }]\n');
  assert.throws(() => resolveConfig({}, file), (e: unknown) => e instanceof ConfigError && e.message === `${file}: registerWithTaints: effect "Never": must be one of NoSchedule, PreferNoSchedule, NoExecute`);
  writeFileSync(file, 'kubeReserved: 100m\n');
  assert.throws(() => resolveConfig({}, file), /kubeReserved: "100m" must be cpu\|memory/);
});
