// Pure parts of pod volumes: payloads, downward API formatting, quantities, paths,
// /etc/hosts content, mountinfo parsing, subPath checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { goQuote, formatMap, fieldRefValue, resourceFieldValue } from '../../agent/pods/volumes/downward.js';
import { buildPayload, type PayloadSources } from '../../agent/pods/volumes/payload.js';
import { validatePayloadPath, timestampDirName } from '../../agent/pods/volumes/atomic-writer.js';
import { managedEtcHosts, hostNetworkEtcHosts, podHostnameAndDomain } from '../../agent/pods/volumes/etc-hosts.js';
import { parseMountInfo, mountsUnder } from '../../agent/pods/volumes/mounts.js';
import { expandVars, checkSubPath } from '../../agent/pods/volumes/container-mounts.js';
import { volumeKind } from '../../agent/pods/volumes/index.js';
import { podDir, volumeDir } from '../../agent/pods/volumes/paths.js';
import type { PodLike, VolumeSpec } from '../../agent/pods/volumes/types.js';

function pod(extra: Partial<PodLike['spec']> = {}): PodLike {
  return {
    metadata: { name: 'web', namespace: 'prod', uid: 'u-1', labels: { b: '2', a: 'x"y' }, annotations: { note: 'line1\nline2' } },
    spec: {
      containers: [{ name: 'app', resources: { limits: { cpu: '500m', memory: '64Mi' }, requests: { memory: '32Mi' } } }],
      ...extra,
    },
  };
}

const src = (objs: { cm?: Record<string, unknown>; secret?: Record<string, unknown> } = {}, extra: Partial<PayloadSources> = {}): PayloadSources => ({
  objects: {
    configMap: (ns, name) => (ns === 'prod' ? (objs.cm?.[name] as never) : undefined),
    secret: (ns, name) => (ns === 'prod' ? (objs.secret?.[name] as never) : undefined),
  },
  nodeAllocatable: { cpu: '4', memory: '8Gi' },
  ...extra,
});

const text = (p: Map<string, { data: Buffer; mode: number }>) => Object.fromEntries([...p].map(([k, v]) => [k, [v.data.toString(), v.mode.toString(8)]]));

test('goQuote matches Go %q for common cases', () => {
  assert.equal(goQuote('plain'), '"plain"');
  assert.equal(goQuote('a"b\\c'), '"a\\"b\\\\c"');
  assert.equal(goQuote('x\ny\tz'), '"x\\ny\\tz"');
  assert.equal(goQuote('\x01\x7f'), '"\\x01\\x7f"');
  assert.equal(goQuote('héllo ✓'), '"héllo ✓"');
  assert.equal(goQuote('\u00a0'), '"\\u00a0"');
});

test('formatMap sorts keys, quotes values, no trailing newline', () => {
  assert.equal(formatMap({ b: '2', a: '1' }), 'a="1"\nb="2"');
  assert.equal(formatMap({}), '');
  assert.equal(formatMap(undefined), '');
});

test('fieldRef values', () => {
  const p = pod();
  assert.equal(fieldRefValue(p, 'metadata.name'), 'web');
  assert.equal(fieldRefValue(p, 'metadata.namespace'), 'prod');
  assert.equal(fieldRefValue(p, 'metadata.uid'), 'u-1');
  assert.equal(fieldRefValue(p, 'metadata.labels'), 'a="x\\"y"\nb="2"');
  assert.equal(fieldRefValue(p, 'metadata.annotations'), 'note="line1\\nline2"');
  assert.equal(fieldRefValue(p, "metadata.labels['b']"), '2');
  assert.throws(() => fieldRefValue(p, 'spec.nodeName'), /unsupported fieldPath/);
});

test('resourceFieldRef values round up and fall back to allocatable', () => {
  const p = pod();
  const alloc = { cpu: '4', memory: '8Gi' };
  assert.equal(resourceFieldValue(p, { containerName: 'app', resource: 'limits.cpu' }, alloc), '1');
  assert.equal(resourceFieldValue(p, { containerName: 'app', resource: 'limits.cpu', divisor: '1m' }, alloc), '500');
  assert.equal(resourceFieldValue(p, { containerName: 'app', resource: 'limits.memory', divisor: '1Mi' }, alloc), '64');
  assert.equal(resourceFieldValue(p, { containerName: 'app', resource: 'requests.memory' }, alloc), String(32 * 2 ** 20));
  assert.equal(resourceFieldValue(p, { containerName: 'app', resource: 'requests.cpu', divisor: '1m' }, alloc), '500'); // defaults to the limit
  const bare: PodLike = { metadata: {}, spec: { containers: [{ name: 'c' }] } };
  assert.equal(resourceFieldValue(bare, { containerName: 'c', resource: 'limits.memory', divisor: '1Gi' }, alloc), '8');
  assert.equal(resourceFieldValue(bare, { containerName: 'c', resource: 'requests.cpu' }, alloc), '0');
  assert.throws(() => resourceFieldValue(p, { containerName: 'nope', resource: 'limits.cpu' }, alloc), /does not name a container/);
  assert.throws(() => resourceFieldValue(p, { containerName: 'app', resource: 'limits.gpu' }, alloc), /unsupported resource/);
});

test('configMap payload: all keys with defaultMode, binaryData decoded', async () => {
  const cm = { data: { 'app.conf': 'x=1' }, binaryData: { 'bin': Buffer.from([0, 1, 2]).toString('base64') } };
  const vol: VolumeSpec = { name: 'cfg', configMap: { name: 'c1' } };
  const p = await buildPayload(pod(), vol, 'configMap', src({ cm: { c1: cm } }));
  assert.deepEqual(text(p)['app.conf'], ['x=1', '644']);
  assert.deepEqual([...p.get('bin')!.data], [0, 1, 2]);
});

test('configMap payload: items, per-item mode, optional', async () => {
  const cm = { data: { a: 'A', b: 'B' } };
  const vol: VolumeSpec = { name: 'cfg', configMap: { name: 'c1', defaultMode: 0o600, items: [{ key: 'a', path: 'dir/a.txt' }, { key: 'b', path: 'b', mode: 0o400 }] } };
  const p = await buildPayload(pod(), vol, 'configMap', src({ cm: { c1: cm } }));
  assert.deepEqual(text(p), { 'dir/a.txt': ['A', '600'], b: ['B', '400'] });

  const missingKey: VolumeSpec = { name: 'cfg', configMap: { name: 'c1', items: [{ key: 'zz', path: 'z' }] } };
  await assert.rejects(buildPayload(pod(), missingKey, 'configMap', src({ cm: { c1: cm } })), /configmap "c1" references non-existent key: zz/);
  const optionalKey: VolumeSpec = { name: 'cfg', configMap: { name: 'c1', optional: true, items: [{ key: 'zz', path: 'z' }] } };
  assert.equal((await buildPayload(pod(), optionalKey, 'configMap', src({ cm: { c1: cm } }))).size, 0);

  await assert.rejects(buildPayload(pod(), { name: 'cfg', configMap: { name: 'gone' } }, 'configMap', src()), /configmap "gone" not found in namespace "prod"/);
  assert.equal((await buildPayload(pod(), { name: 'cfg', configMap: { name: 'gone', optional: true } }, 'configMap', src())).size, 0);
  await assert.rejects(buildPayload(pod(), { name: 'cfg', configMap: { name: 'c1', defaultMode: 0o1777 } }, 'configMap', src({ cm: { c1: cm } })), /defaultMode/);
});

test('secret payload: base64 data, stringData wins, default mode 0644', async () => {
  const s = { data: { user: Buffer.from('admin').toString('base64'), pw: Buffer.from('old').toString('base64') }, stringData: { pw: 'new' } };
  const p = await buildPayload(pod(), { name: 's', secret: { secretName: 's1' } }, 'secret', src({ secret: { s1: s } }));
  assert.deepEqual(text(p), { user: ['admin', '644'], pw: ['new', '644'] });
  await assert.rejects(buildPayload(pod(), { name: 's', secret: { secretName: 'bad' } }, 'secret', src({ secret: { bad: { data: { k: '!!!' } } } })), /not valid base64/);
});

test('downwardAPI and projected payloads', async () => {
  const dvol: VolumeSpec = {
    name: 'info',
    downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }, { path: 'cpu', resourceFieldRef: { containerName: 'app', resource: 'limits.cpu', divisor: '1m' }, mode: 0o444 }] },
  };
  assert.deepEqual(text(await buildPayload(pod(), dvol, 'downwardAPI', src())), { labels: ['a="x\\"y"\nb="2"', '644'], cpu: ['500', '444'] });

  const proj: VolumeSpec = {
    name: 'all',
    projected: {
      defaultMode: 0o640,
      sources: [
        { configMap: { name: 'c1', items: [{ key: 'a', path: 'cm/a' }] } },
        { secret: { name: 's1' } },
        { downwardAPI: { items: [{ path: 'name', fieldRef: { fieldPath: 'metadata.name' } }] } },
      ],
    },
  };
  const objs = { cm: { c1: { data: { a: 'A' } } }, secret: { s1: { stringData: { token: 't' } } } };
  assert.deepEqual(text(await buildPayload(pod(), proj, 'projected', src(objs))), { 'cm/a': ['A', '640'], token: ['t', '640'], name: ['web', '640'] });
});

test('projected serviceAccountToken needs a token provider', async () => {
  const vol: VolumeSpec = { name: 'kube-api-access', projected: { sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 600, audience: 'api' } }] } };
  await assert.rejects(buildPayload(pod(), vol, 'projected', src()), /serviceAccountToken is not supported without a token provider/);
  const seen: unknown[] = [];
  const p = await buildPayload(pod({ serviceAccountName: 'robot' }), vol, 'projected', src({}, {
    tokenProvider: async (req) => {
      seen.push(req);
      return 'jwt';
    },
  }));
  assert.deepEqual(text(p), { token: ['jwt', '644'] });
  assert.deepEqual(seen, [{ namespace: 'prod', serviceAccountName: 'robot', podName: 'web', podUid: 'u-1', audience: 'api', expirationSeconds: 600 }]);
});

test('payload paths are validated like AtomicWriter', () => {
  assert.equal(validatePayloadPath('a/./b//c'), 'a/b/c');
  assert.equal(validatePayloadPath('.dockerconfigjson'), '.dockerconfigjson');
  for (const bad of ['', '/abs', '../x', 'a/../b', '..data', '..2026_x', 'a\0b', 'x/'.repeat(3000)]) {
    assert.throws(() => validatePayloadPath(bad), Error, bad);
  }
});

test('timestamped version dir name', () => {
  assert.equal(timestampDirName(new Date(Date.UTC(2026, 10, 25, 15, 4, 5)), 123456789), '..2026_11_25_15_04_05.123456789');
  assert.equal(timestampDirName(new Date(Date.UTC(2026, 0, 2, 3, 4, 5)), 42), '..2026_01_02_03_04_05.000000042');
});

test('pod dir layout and name checks', () => {
  assert.equal(podDir('/var/lib/kna', 'abc-1'), '/var/lib/kna/pods/abc-1');
  assert.equal(volumeDir('/r', 'u', 'downwardAPI', 'info'), '/r/pods/u/volumes/kubernetes.io~downward-api/info');
  assert.equal(volumeDir('/r', 'u', 'emptyDir', 'cache'), '/r/pods/u/volumes/kubernetes.io~empty-dir/cache');
  assert.throws(() => podDir('/r', '../etc'), /not usable/);
  assert.throws(() => volumeDir('/r', 'u', 'secret', 'a/b'), /not usable/);
});

test('volumeKind names the unsupported source', () => {
  assert.equal(volumeKind({ name: 'x', emptyDir: {} }), 'emptyDir');
  assert.throws(() => volumeKind({ name: 'data', persistentVolumeClaim: { claimName: 'c' } } as unknown as VolumeSpec), /volume "data".*persistentVolumeClaim is not supported/);
  assert.throws(() => volumeKind({ name: 'none' }), /exactly one volume source, found none/);
});

test('/etc/hosts content like kubelet', () => {
  const p = pod({ hostAliases: [{ ip: '10.0.0.9', hostnames: ['db', 'db.local'] }] });
  assert.equal(managedEtcHosts(p, ['10.244.1.5']), [
    '# Kubernetes-managed hosts file.',
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'fe00::0\tip6-mcastprefix',
    'fe00::1\tip6-allnodes',
    'fe00::2\tip6-allrouters',
    '10.244.1.5\tweb',
    '',
    '# Entries added by HostAliases.',
    '10.0.0.9\tdb',
    '10.0.0.9\tdb.local',
    '',
  ].join('\n'));
  const sub = pod({ hostname: 'h1', subdomain: 'svc1' });
  assert.match(managedEtcHosts(sub, ['10.244.1.5', 'fd00::5'], 'cluster.local'), /10\.244\.1\.5\th1\.svc1\.prod\.svc\.cluster\.local\th1\nfd00::5\th1\.svc1/);
  assert.throws(() => managedEtcHosts(pod(), ['not-an-ip']), /invalid IP/);
  assert.equal(hostNetworkEtcHosts(pod(), '127.0.0.1 localhost'), '# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n');
  const long: PodLike = { metadata: { name: 'a'.repeat(62) + '-b' + 'c'.repeat(10) }, spec: { containers: [] } };
  assert.equal(podHostnameAndDomain(long).hostname, 'a'.repeat(62));
});

test('mountinfo parsing and mounts below a dir', () => {
  const info = [
    '22 1 0:21 / /proc rw,nosuid - proc proc rw',
    '100 22 0:50 / /var/lib/kna/pods/u1/volumes/kubernetes.io~secret/s rw,relatime shared:1 - tmpfs tmpfs rw,size=1024k',
    '101 22 0:51 / /var/lib/kna/pods/u1/volumes/kubernetes.io~empty-dir/with\\040space rw - tmpfs tmpfs rw',
    '102 100 0:52 / /var/lib/kna/pods/u1/volumes/kubernetes.io~secret/s/inner rw - tmpfs tmpfs rw',
    '103 22 0:53 / /var/lib/kna/pods/u10 rw - tmpfs tmpfs rw',
  ].join('\n');
  const m = parseMountInfo(info);
  assert.equal(m.length, 5);
  assert.equal(m[2]!.mountPoint, '/var/lib/kna/pods/u1/volumes/kubernetes.io~empty-dir/with space');
  assert.equal(m[1]!.fsType, 'tmpfs');
  assert.deepEqual(mountsUnder(m, '/var/lib/kna/pods/u1'), [
    '/var/lib/kna/pods/u1/volumes/kubernetes.io~secret/s/inner',
    '/var/lib/kna/pods/u1/volumes/kubernetes.io~empty-dir/with space',
    '/var/lib/kna/pods/u1/volumes/kubernetes.io~secret/s',
  ]);
});

test('subPath checks and subPathExpr expansion', () => {
  assert.deepEqual(checkSubPath('a/./b/', 'c'), ['a', 'b']);
  assert.throws(() => checkSubPath('/etc', 'c'), /must be a relative path/);
  assert.throws(() => checkSubPath('a/../../etc', 'c'), /must not contain '\.\.'/);
  assert.equal(expandVars('logs/$(POD_NAME)/$(MISSING)/$$(POD_NAME)', { POD_NAME: 'web' }), 'logs/web/$(MISSING)/$(POD_NAME)');
});
