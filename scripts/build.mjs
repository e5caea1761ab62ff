#!/usr/bin/env node
// Build: tsc type-checks and emits dist/ (agent, tests); esbuild bundles the CNI
// plugin into one executable file, dist/cni/kna-cni, because containerd starts it
// once per pod and a single pre-bundled file starts fastest.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

rmSync('dist', { recursive: true, force: true });
execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
if (existsSync('cni/main.ts')) {
  mkdirSync('dist/cni', { recursive: true });
  await build({
    entryPoints: ['cni/main.ts'],
    outfile: 'dist/cni/kna-cni',
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    minify: false,
    // Absolute interpreter: containerd execs plugins with a minimal PATH.
    banner: { js: `#!${process.execPath}` },
    logLevel: 'warning',
  });
  chmodSync('dist/cni/kna-cni', 0o755);
}
