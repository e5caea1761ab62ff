#!/usr/bin/env node
// Builds the two local images (busybox from Debian's busybox-static, and our static
// pause binary) as OCI layouts and imports them into containerd's k8s.io namespace,
// where CRI sees them at once. Idempotent: builds and imports only what is missing.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync, copyFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { out: { type: 'string' }, address: { type: 'string' } } });
const out = values.out ?? '/var/lib/kna/images';
const address = values.address ?? '/run/kna/containerd/containerd.sock';
const here = dirname(new URL(import.meta.url).pathname);
const sha = (buf) => createHash('sha256').update(buf).digest('hex');
const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], ...opts });

function buildRootfs(kind, dir) {
  for (const d of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev', 'root', 'var/run', 'usr/bin', 'usr/sbin', 'sbin']) mkdirSync(join(dir, d), { recursive: true });
  chmodSync(join(dir, 'tmp'), 0o1777);
  if (kind === 'pause') {
    run('gcc', ['-static', '-Os', '-o', join(dir, 'pause'), join(here, 'pause.c')]);
    return { Entrypoint: ['/pause'] };
  }
  copyFileSync('/bin/busybox', join(dir, 'bin/busybox'));
  chmodSync(join(dir, 'bin/busybox'), 0o755);
  const applets = run('/bin/busybox', ['--list-full']).toString().split('\n').filter(Boolean);
  for (const a of applets) {
    const p = join(dir, a);
    if (a === 'bin/busybox' || existsSync(p)) continue;
    mkdirSync(dirname(p), { recursive: true });
    symlinkSync('/bin/busybox', p);
  }
  writeFileSync(join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  writeFileSync(join(dir, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
  return { Cmd: ['sh'] };
}

function buildLayout(kind, name) {
  const work = mkdtempSync(join(tmpdir(), `kna-image-${kind}-`));
  try {
    const rootfs = join(work, 'rootfs');
    mkdirSync(rootfs);
    const cfg = buildRootfs(kind, rootfs);
    const layout = join(work, 'layout');
    mkdirSync(join(layout, 'blobs/sha256'), { recursive: true });
    const blob = (buf) => { const d = sha(buf); writeFileSync(join(layout, 'blobs/sha256', d), buf); return { digest: `sha256:${d}`, size: buf.length }; };
    const layer = run('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-C', rootfs, '-cf', '-', '.'], { maxBuffer: 1 << 30 });
    const layerDesc = blob(layer);
    const config = Buffer.from(JSON.stringify({
      architecture: 'amd64', os: 'linux',
      config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], WorkingDir: '/', ...cfg },
      rootfs: { type: 'layers', diff_ids: [layerDesc.digest] },
    }));
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...blob(config) },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layerDesc }],
    }));
    const index = {
      schemaVersion: 2,
      manifests: [{
        mediaType: 'application/vnd.oci.image.manifest.v1+json', ...blob(manifest),
        platform: { architecture: 'amd64', os: 'linux' },
        annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': 'latest' },
      }],
    };
    writeFileSync(join(layout, 'index.json'), JSON.stringify(index));
    writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    const tarPath = join(out, `${kind}.oci.tar`);
    run('tar', ['-C', layout, '-cf', tarPath + '.tmp', '.']);
    run('mv', ['-f', tarPath + '.tmp', tarPath]);
    return tarPath;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

mkdirSync(out, { recursive: true });
const present = run('ctr', ['-a', address, '-n', 'k8s.io', 'images', 'ls', '-q']).toString().split('\n');
for (const [kind, name] of [['busybox', 'localhost/kna/busybox:latest'], ['pause', 'localhost/kna/pause:latest']]) {
  if (present.includes(name)) continue;
  const tar = existsSync(join(out, `${kind}.oci.tar`)) ? join(out, `${kind}.oci.tar`) : buildLayout(kind, name);
  process.stderr.write(`==> importing ${name}\n`);
  run('ctr', ['-a', address, '-n', 'k8s.io', 'images', 'import', tar], { stdio: ['ignore', 'ignore', 'inherit'] });
}
