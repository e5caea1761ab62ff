#!/usr/bin/env node
// Build: tsc type-checks and emits dist/ (agent, tests); esbuild bundles the CNI
// plugin into one executable file, dist/cni/kna-cni, because containerd starts it
// once per pod and a single pre-bundled file starts fastest; and the agent into
// dist/agent/kna.cjs, which dist/kna (the `kna` launcher) runs, for its memory.
// Built aside and swapped in whole, so a run of the tests never sees a half-built
// dist/ (nor files of deleted sources).
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { build } from 'esbuild';

/**
 * zod's `z.locales` re-exports every language's messages (~300 kB, 90% of zod's
 * bytes in the bundle) and `z` keeps them all reachable. The agent speaks English
 * only (z.locales is never called): the bundle gets a locales module with `en` alone.
 */
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (a) => (a.importer.includes('/node_modules/zod/') ? { path: join(dirname(a.importer), '../locales/index.js'), namespace: 'zod-locales' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (a) => ({ contents: `export { default as en } from ${JSON.stringify(join(dirname(a.path), 'en.js'))};`, loader: 'js', resolveDir: dirname(a.path) }));
  },
};

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
// The agent as one CommonJS file, dist/agent/kna.cjs, which the `kna` launcher runs:
// one minified source instead of a few hundred modules (a smaller heap, no ESM loader
// work), and require() of builtins, whose ESM facades would load eagerly what
// they only offer lazily (`import 'node:http'` evaluates all of undici for
// http.WebSocket). The per-file tsc output stays for tests and tools.
await build({
  entryPoints: ['agent/cli/main.ts'],
  outfile: `${out}/agent/kna.cjs`,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node24',
  // Whitespace and syntax only: names stay readable in stack traces and logs.
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  // Native addon: loaded from node_modules at run time (only the overlay needs it).
  external: ['netlink'],
  plugins: [zodEnglishOnly],
  // Code that finds package files from its own location sees the bundle's.
  define: { 'import.meta.url': '__knaBundleUrl' },
  banner: { js: 'const __knaBundleUrl = require("node:url").pathToFileURL(__filename).href;' },
  logLevel: 'warning',
});
// dist/kna: how `kna` starts, for users (/usr/local/bin/kna runs it) and tests alike:
// the node the build ran with (absolute, as for kna-cni) and the memory settings.
writeFileSync(`${out}/kna`, `#!/bin/sh
# Written by scripts/build.mjs: starts the bundled agent, dist/agent/kna.cjs, with
# settings measured by \`npm run bench -- pod-startup\` (README, \`pod-startup\` numbers):
#   --jitless                interpreter only: no compiler code paged in, no JIT code
#                            (~15 MB less RSS). The agent mostly waits on containerd;
#                            its own work per pod was not slower. CPU-heavy work is:
#                            the rules of a full proxy sync at 10k Services take ~2x
#                            as long (0.4 s more, beside iptables-restore's 7-8 s).
#   --max-semi-space-size=1  a 1 MiB young generation (~30 MB less RSS).
#   --expose-gc              for the heap trim after bursts (agent/util/heap-trim.ts).
#   --disable-warning=DEP0005  spdy-transport's buffer helpers (kna exec) still call
#                            Buffer(); users would see Node's deprecation warning.
#   MALLOC_ARENA_MAX=2       glibc makes up to 8 malloc arenas per core for the
#                            threads; each keeps freed memory (~4 MB less RSS).
# KNA_NODE_FLAGS adds or overrides node flags, e.g. --no-jitless on a node with
# thousands of Services.
export MALLOC_ARENA_MAX="\${MALLOC_ARENA_MAX:-2}"
# shellcheck disable=SC2086 # KNA_NODE_FLAGS holds several flags
exec ${JSON.stringify(process.execPath)} --max-semi-space-size=1 --jitless --expose-gc --disable-warning=DEP0005 \${KNA_NODE_FLAGS:-} "$(dirname "$(readlink -f "$0")")/agent/kna.cjs" "$@"
`, { mode: 0o755 });
const old = `dist.old-${process.pid}`;
if (existsSync('dist')) renameSync('dist', old);
renameSync(out, 'dist');
rmSync(old, { recursive: true, force: true });
