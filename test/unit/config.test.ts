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
