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
