// Pod volumes on the real file system: directories, real tmpfs mounts, atomic
// updates, subPath safety, teardown after a simulated crash. Runs as root under a
// kna-t temp root dir that is unmounted and removed afterwards.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdir, readFile, readlink, readdir, realpath, rm, stat, statfs, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import {
  prepareVolumes, updateVolumes, teardownVolumes, teardownOrphans, containerMounts, writeEtcHosts, readTerminationMessage,
  VolumeError, type PodLike, type VolumeContext, type ConfigMapLike, type SecretLike,
} from '../../agent/pods/volumes/index.js';
import { readMounts, unmountAllUnder } from '../../agent/pods/volumes/mounts.js';

const ROOT = `/tmp/kna-t-vol-${process.pid}`;

after(async () => {
  // Unmount whatever a failed test left, then remove the tree.
  const real = await realpath(ROOT).catch(() => undefined);
  if (real) {
    await unmountAllUnder(real);
    await rm(real, { recursive: true, force: true });
  }
});

async function mountsBelow(dir: string) {
  const real = await realpath(dir);
  return (await readMounts()).filter((m) => m.mountPoint === real || m.mountPoint.startsWith(real + '/'));
}

function world() {
  const configMaps = new Map<string, ConfigMapLike>([['app-config', { data: { 'app.conf': 'level=info\n', extra: 'x' } }]]);
  const secrets = new Map<string, SecretLike>([['db', { data: { password: Buffer.from('s3cret').toString('base64') } }]]);
  const ctx: VolumeContext = {
    rootDir: ROOT,
    objects: { configMap: (_ns, n) => configMaps.get(n), secret: (_ns, n) => secrets.get(n) },
    nodeAllocatable: { cpu: '2', memory: '2Gi' },
  };
  return { configMaps, secrets, ctx };
}

function samplePod(uid: string): PodLike {
  return {
    metadata: { name: 'web', namespace: 'default', uid, labels: { app: 'web', tier: 'front' } },
    spec: {
      containers: [{
        name: 'app',
        resources: { limits: { memory: '64Mi' } },
        volumeMounts: [
          { name: 'cache', mountPath: '/cache' },
          { name: 'cache', mountPath: '/logs', subPath: 'logs/app' },
          { name: 'cfg', mountPath: '/etc/app' },
          { name: 'sec', mountPath: '/secrets', readOnly: true },
        ],
      }],
      volumes: [
        { name: 'cache', emptyDir: {} },
        { name: 'mem', emptyDir: { medium: 'Memory', sizeLimit: '2Mi' } },
        { name: 'host', hostPath: { path: join(ROOT, 'host', 'made'), type: 'DirectoryOrCreate' } },
        { name: 'cfg', configMap: { name: 'app-config', items: [{ key: 'app.conf', path: 'conf/app.conf', mode: 0o600 }] } },
        { name: 'sec', secret: { secretName: 'db' } },
        { name: 'info', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }, { path: 'mem', resourceFieldRef: { containerName: 'app', resource: 'limits.memory', divisor: '1Mi' } }] } },
        { name: 'proj', projected: { sources: [{ configMap: { name: 'app-config' } }, { downwardAPI: { items: [{ path: 'name', fieldRef: { fieldPath: 'metadata.name' } }] } }] } },
      ],
    },
  };
}

test('prepareVolumes lays out every volume kind like kubelet', async () => {
  const { ctx } = world();
  const pod = samplePod('kna-t-uid-1');
  const vols = await prepareVolumes(pod, ctx);
  const base = join(ROOT, 'pods', 'kna-t-uid-1', 'volumes');
  assert.deepEqual(Object.fromEntries(vols), {
    cache: { hostPath: join(base, 'kubernetes.io~empty-dir/cache'), readOnly: false },
    mem: { hostPath: join(base, 'kubernetes.io~empty-dir/mem'), readOnly: false },
    host: { hostPath: join(ROOT, 'host', 'made'), readOnly: false },
    cfg: { hostPath: join(base, 'kubernetes.io~configmap/cfg'), readOnly: true },
    sec: { hostPath: join(base, 'kubernetes.io~secret/sec'), readOnly: true },
    info: { hostPath: join(base, 'kubernetes.io~downward-api/info'), readOnly: true },
    proj: { hostPath: join(base, 'kubernetes.io~projected/proj'), readOnly: true },
  });

  assert.equal((await stat(vols.get('cache')!.hostPath)).mode & 0o777, 0o777);
  assert.ok((await stat(join(ROOT, 'host', 'made'))).isDirectory());

  // tmpfs where kubelet uses one (memory emptyDir, secret, downwardAPI, projected), not for configMap.
  const fs = new Map((await mountsBelow(join(ROOT, 'pods', 'kna-t-uid-1'))).map((m) => [m.mountPoint, m.fsType]));
  for (const v of ['mem', 'sec', 'info', 'proj']) assert.equal(fs.get(vols.get(v)!.hostPath), 'tmpfs', v);
  assert.equal(fs.has(vols.get('cfg')!.hostPath), false);
  const sf = await statfs(vols.get('mem')!.hostPath);
  assert.equal(sf.blocks * sf.bsize, 2 * 1024 * 1024);

  // Atomic-writer layout: ..data -> version dir, user-visible symlinks through ..data.
  const cfg = vols.get('cfg')!.hostPath;
  assert.match(await readlink(join(cfg, '..data')), /^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d{9}$/);
  assert.equal(await readlink(join(cfg, 'conf')), '..data/conf');
  assert.equal(await readFile(join(cfg, 'conf/app.conf'), 'utf8'), 'level=info\n');
  assert.equal((await stat(join(cfg, 'conf/app.conf'))).mode & 0o777, 0o600);
  const sec = vols.get('sec')!.hostPath;
  assert.equal(await readFile(join(sec, 'password'), 'utf8'), 's3cret');
  assert.equal((await stat(join(sec, 'password'))).mode & 0o777, 0o644);
  const info = vols.get('info')!.hostPath;
  assert.equal(await readFile(join(info, 'labels'), 'utf8'), 'app="web"\ntier="front"');
  assert.equal(await readFile(join(info, 'mem'), 'utf8'), '64');
  const proj = vols.get('proj')!.hostPath;
  assert.deepEqual((await readdir(proj)).filter((n) => !n.startsWith('..')).sort(), ['app.conf', 'extra', 'name']);

  // Idempotent: a second call (agent restart) mounts nothing twice.
  const before = (await mountsBelow(join(ROOT, 'pods', 'kna-t-uid-1'))).length;
  await prepareVolumes(pod, ctx);
  assert.equal((await mountsBelow(join(ROOT, 'pods', 'kna-t-uid-1'))).length, before);

  await teardownVolumes('kna-t-uid-1', ctx);
  assert.equal((await mountsBelow(ROOT)).length, 0);
  await assert.rejects(stat(join(ROOT, 'pods', 'kna-t-uid-1')), { code: 'ENOENT' });
});

test('updateVolumes swaps changed content atomically and leaves unchanged volumes alone', async () => {
  const { ctx, configMaps } = world();
  const pod = samplePod('kna-t-uid-2');
  const vols = await prepareVolumes(pod, ctx);
  const proj = vols.get('proj')!.hostPath;
  const oldVersion = await readlink(join(proj, '..data'));
  const oldInfoVersion = await readlink(join(vols.get('info')!.hostPath, '..data'));

  assert.deepEqual((await updateVolumes(pod, ctx)).changed, []);
  assert.equal(await readlink(join(proj, '..data')), oldVersion);

  configMaps.set('app-config', { data: { 'app.conf': 'level=debug\n' } }); // 'extra' removed
  pod.metadata.labels = { app: 'web', tier: 'back' };
  const res = await updateVolumes(pod, ctx);
  assert.deepEqual(res.errors, []);
  assert.deepEqual(res.changed.sort(), ['cfg', 'info', 'proj']);

  const newVersion = await readlink(join(proj, '..data'));
  assert.notEqual(newVersion, oldVersion);
  const entries = await readdir(proj);
  assert.ok(!entries.includes(oldVersion), 'old version dir removed');
  assert.ok(!entries.includes('extra'), 'removed key no longer visible');
  assert.ok(!entries.includes('..data_tmp'));
  assert.equal(await readFile(join(proj, 'app.conf'), 'utf8'), 'level=debug\n');
  assert.ok((await lstat(join(proj, 'app.conf'))).isSymbolicLink());
  const info = vols.get('info')!.hostPath;
  assert.notEqual(await readlink(join(info, '..data')), oldInfoVersion);
  assert.equal(await readFile(join(info, 'labels'), 'utf8'), 'app="web"\ntier="back"');

  // A missing configMap does not wipe the volume: the error is reported, old content stays.
  configMaps.delete('app-config');
  const bad = await updateVolumes(pod, ctx);
  assert.deepEqual(bad.errors.map((e) => e.volume).sort(), ['cfg', 'proj']);
  assert.match(bad.errors[0]!.message, /MountVolume.SetUp failed for volume "(cfg|proj)": configmap "app-config" not found/);
  assert.equal(await readFile(join(proj, 'app.conf'), 'utf8'), 'level=debug\n');

  await teardownVolumes('kna-t-uid-2', ctx);
});

test('hostPath type checks name the volume', async () => {
  const { ctx } = world();
  const dir = join(ROOT, 'hp');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'file'), 'x');
  const mk = (type: string, path: string): PodLike => ({ metadata: { uid: 'kna-t-uid-hp' }, spec: { containers: [], volumes: [{ name: `v-${type || 'none'}`, hostPath: { path, type } }] } });

  await assert.rejects(prepareVolumes(mk('File', join(dir, 'missing')), ctx), (e: unknown) => e instanceof VolumeError && e.volume === 'v-File' && /does not exist/.test(e.message));
  await assert.rejects(prepareVolumes(mk('Directory', join(dir, 'file')), ctx), /volume "v-Directory".*is not a directory/);
  await assert.rejects(prepareVolumes(mk('Socket', join(dir, 'file')), ctx), /is not a socket file/);
  await assert.rejects(prepareVolumes(mk('BlockDevice', '/dev/null'), ctx), /is not a block device/);
  await assert.rejects(prepareVolumes(mk('Bogus', dir), ctx), /hostPath.type "Bogus"/);
  assert.equal((await prepareVolumes(mk('CharDevice', '/dev/null'), ctx)).get('v-CharDevice')!.hostPath, '/dev/null');
  assert.equal((await prepareVolumes(mk('', join(dir, 'anything')), ctx)).get('v-none')!.hostPath, join(dir, 'anything'));
  await prepareVolumes(mk('FileOrCreate', join(dir, 'new-file')), ctx);
  assert.ok((await stat(join(dir, 'new-file'))).isFile());
  await assert.rejects(prepareVolumes(mk('FileOrCreate', join(dir, 'no-dir', 'f')), ctx), /parent directory/);
  await teardownVolumes('kna-t-uid-hp', ctx);
});

test('containerMounts: subPath inside the volume, escapes refused, termination file, /etc/hosts', async () => {
  const { ctx } = world();
  const pod = samplePod('kna-t-uid-3');
  const vols = await prepareVolumes(pod, ctx);
  const etcHosts = await writeEtcHosts(pod, ['10.244.0.7'], ROOT);
  assert.match(await readFile(etcHosts, 'utf8'), /10\.244\.0\.7\tweb\n$/);

  const mounts = await containerMounts(pod, pod.spec.containers[0]!, vols, { rootDir: ROOT, etcHostsPath: etcHosts });
  const cache = vols.get('cache')!.hostPath;
  assert.deepEqual(mounts.slice(0, 5), [
    { containerPath: '/cache', hostPath: cache, readonly: false, propagation: 'PROPAGATION_PRIVATE', selinuxRelabel: false },
    { containerPath: '/logs', hostPath: join(cache, 'logs/app'), readonly: false, propagation: 'PROPAGATION_PRIVATE', selinuxRelabel: false },
    { containerPath: '/etc/app', hostPath: vols.get('cfg')!.hostPath, readonly: true, propagation: 'PROPAGATION_PRIVATE', selinuxRelabel: false },
    { containerPath: '/secrets', hostPath: vols.get('sec')!.hostPath, readonly: true, propagation: 'PROPAGATION_PRIVATE', selinuxRelabel: false },
    { containerPath: '/etc/hosts', hostPath: etcHosts, readonly: false, propagation: 'PROPAGATION_PRIVATE', selinuxRelabel: false },
  ]);
  assert.ok((await stat(join(cache, 'logs/app'))).isDirectory(), 'subPath created');
  const term = mounts[5]!;
  assert.equal(term.containerPath, '/dev/termination-log');
  assert.match(term.hostPath, new RegExp(`^${ROOT}/pods/kna-t-uid-3/containers/app/[0-9a-f]{8}$`));
  assert.equal((await stat(term.hostPath)).mode & 0o777, 0o666);
  await writeFile(term.hostPath, 'x'.repeat(5000) + 'END');
  assert.equal((await readTerminationMessage(term.hostPath)).length, 4096);
  assert.ok((await readTerminationMessage(term.hostPath)).endsWith('END'));

  // A symlink planted in the volume that points outside must not be followed.
  const outside = join(ROOT, 'outside');
  await mkdir(outside, { recursive: true });
  await symlink(outside, join(cache, 'evil'));
  await symlink('../../../../../../../../etc', join(cache, 'evil2'));
  const withSub = (subPath: string) => ({ name: 'x', volumeMounts: [{ name: 'cache', mountPath: '/m', subPath }] });
  await assert.rejects(containerMounts(pod, withSub('evil/inner'), vols, { rootDir: ROOT }), /resolves outside its volume/);
  await assert.rejects(containerMounts(pod, withSub('evil2'), vols, { rootDir: ROOT }), /resolves outside its volume/);
  assert.deepEqual(await readdir(outside), [], 'nothing created through the symlink');
  await assert.rejects(containerMounts(pod, withSub('../../etc'), vols, { rootDir: ROOT }), /must not contain '\.\.'/);
  await symlink('logs', join(cache, 'inside-link'));
  const ok = await containerMounts(pod, { name: 'x', terminationMessagePath: '', volumeMounts: [{ name: 'cache', mountPath: '/m', subPath: 'inside-link/app' }] }, vols, { rootDir: ROOT });
  assert.deepEqual(ok.map((m) => m.hostPath), [join(cache, 'logs/app')]);

  // Without etcHostsPath, a pod IP means "mount the etc-hosts file writeEtcHosts made".
  const byIP = await containerMounts(pod, { name: 'x', terminationMessagePath: '' }, vols, { rootDir: ROOT, podIP: '10.244.0.7' });
  assert.deepEqual(byIP.map((m) => [m.containerPath, m.hostPath]), [['/etc/hosts', etcHosts]]);
  assert.deepEqual(await containerMounts(pod, { name: 'x', terminationMessagePath: '' }, vols, { rootDir: ROOT }), []);

  const expr = await containerMounts(pod, { name: 'x', terminationMessagePath: '', env: [{ name: 'POD', value: 'web' }], volumeMounts: [{ name: 'cache', mountPath: '/m', subPathExpr: 'per-pod/$(POD)' }] }, vols, { rootDir: ROOT });
  assert.equal(expr[0]!.hostPath, join(cache, 'per-pod/web'));

  await assert.rejects(containerMounts(pod, { name: 'x', volumeMounts: [{ name: 'cache', mountPath: '/m', mountPropagation: 'Bidirectional' }] }, vols, { rootDir: ROOT }), /only to privileged containers/);
  const bidi = await containerMounts(pod, { name: 'x', terminationMessagePath: '', securityContext: { privileged: true }, volumeMounts: [{ name: 'cache', mountPath: '/m', mountPropagation: 'Bidirectional' }, { name: 'cfg', mountPath: '/c', mountPropagation: 'HostToContainer' }] }, vols, { rootDir: ROOT });
  assert.deepEqual(bidi.map((m) => m.propagation), ['PROPAGATION_BIDIRECTIONAL', 'PROPAGATION_HOST_TO_CONTAINER']);
  await assert.rejects(containerMounts(pod, { name: 'x', volumeMounts: [{ name: 'nope', mountPath: '/m' }] }, vols, { rootDir: ROOT }), /volumeMount "nope" refers to a volume/);

  await teardownVolumes('kna-t-uid-3', ctx);
});

test('teardown after a crash finds leftover mounts in mountinfo and never deletes through them', async () => {
  const { ctx } = world();
  const pod = samplePod('kna-t-uid-4');
  await prepareVolumes(pod, ctx);
  const podDir = join(ROOT, 'pods', 'kna-t-uid-4');
  // A leftover tmpfs nested inside a volume, and a bind mount of precious host data.
  const nested = join(podDir, 'volumes/kubernetes.io~empty-dir/cache/nested');
  await mkdir(nested);
  await execa('mount', ['-t', 'tmpfs', 'tmpfs', nested]);
  const precious = join(ROOT, 'precious');
  await mkdir(precious, { recursive: true });
  await writeFile(join(precious, 'keep'), 'do not delete');
  const bind = join(podDir, 'volume-subpaths/x');
  await mkdir(bind, { recursive: true });
  await execa('mount', ['--bind', precious, bind]);
  assert.ok((await mountsBelow(podDir)).length >= 6);

  // A new agent process knows nothing: only the uid. teardownOrphans finds it from the dir list.
  const removed = await teardownOrphans(['some-active-uid'], ctx);
  assert.ok(removed.includes('kna-t-uid-4'));
  assert.equal((await mountsBelow(ROOT)).length, 0);
  await assert.rejects(stat(podDir), { code: 'ENOENT' });
  assert.equal(await readFile(join(precious, 'keep'), 'utf8'), 'do not delete');
  await teardownVolumes('kna-t-uid-4', ctx); // idempotent
});

test('unsupported volume sources and missing objects fail with the volume named', async () => {
  const { ctx } = world();
  const mk = (vol: object): PodLike => ({ metadata: { uid: 'kna-t-uid-5', namespace: 'default' }, spec: { containers: [], volumes: [vol as never] } });
  await assert.rejects(prepareVolumes(mk({ name: 'claim', persistentVolumeClaim: { claimName: 'c' } }), ctx), /volume "claim": volume type persistentVolumeClaim is not supported/);
  await assert.rejects(prepareVolumes(mk({ name: 'gone', secret: { secretName: 'nope' } }), ctx), /volume "gone": secret "nope" not found/);
  await assert.rejects(prepareVolumes(mk({ name: 'tok', projected: { sources: [{ serviceAccountToken: { path: 'token' } }] } }), ctx), /volume "tok".*token provider/);
  const okPod = mk({ name: 'tok', projected: { sources: [{ serviceAccountToken: { path: 'token' } }] } });
  const vols = await prepareVolumes(okPod, { ...ctx, tokenProvider: async () => 'header.payload.sig' });
  assert.equal(await readFile(join(vols.get('tok')!.hostPath, 'token'), 'utf8'), 'header.payload.sig');
  await teardownVolumes('kna-t-uid-5', ctx);
});
