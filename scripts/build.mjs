#!/usr/bin/env node
// Build: tsc type-checks and emits dist/ (agent, tests); esbuild bundles the CNI
// plugin into one executable file, dist/cni/kna-cni, because containerd starts it
// once per pod and a single pre-bundled file starts fastest.
// Built aside and swapped in whole, so a run of the tests never sees a half-built
// dist/ (nor files of deleted sources).
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

const out = `dist.next-${process.pid}`;
rmSync(out, { recursive: true, force: true });
execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json', '--outDir', out], { stdio: 'inherit' });
if (existsSync('cni/main.ts')) {
  mkdirSync(`${out}/cni`, { recursive: true });
  await build({
    entryPoints: ['cni/main.ts'],
    outfile: `${out}/cni/kna-cni`,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    minify: false,
    // Absolute interpreter: containerd execs plugins with a minimal PATH.
    banner: { js: `#!${process.execPath}` },
    logLevel: 'warning',
  });
  chmodSync(`${out}/cni/kna-cni`, 0o755);
}
const old = `dist.old-${process.pid}`;
if (existsSync('dist')) renameSync('dist', old);
renameSync(out, 'dist');
rmSync(old, { recursive: true, force: true });
