#!/usr/bin/env node
// Runs the compiled tests with node's test runner: unit tests in parallel,
// integration tests one file at a time (they share the host's kernel and containerd).
// Usage: run-tests.mjs [all|unit|integration] [FILTER...]
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const which = process.argv[2] ?? 'all';
const only = process.argv.slice(3);
function find(dir) {
  let out = [];
  let entries;
  try { entries = readdirSync(dir); } catch { return out; }
  for (const e of entries) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out = out.concat(find(p));
    else if (e.endsWith('.test.js') && (only.length === 0 || only.some((o) => p.includes(o)))) out.push(p);
  }
  return out.sort();
}

function runSuite(files, concurrency) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.on('data', (d) => { process.stdout.write(d); text += d; });
    child.on('close', (code) => {
      const count = (name) => Number((text.match(new RegExp(`ℹ ${name} (\\d+)`)) ?? [])[1] ?? 0);
      resolve({ code, pass: count('pass'), fail: count('fail'), skipped: count('skipped') + count('todo') });
    });
  });
}

let pass = 0, fail = 0, skipped = 0, status = 0, ran = 0;
for (const [kind, concurrency] of [['unit', 4], ['integration', 1]]) {
  if (which !== 'all' && which !== kind) continue;
  const files = find(join('dist/test', kind));
  if (files.length === 0) continue;
  console.log(`# ${kind} tests: ${files.length} files`);
  const r = await runSuite(files, concurrency);
  ran++;
  pass += r.pass; fail += r.fail; skipped += r.skipped;
  if (r.code !== 0) status = 1;
}
if (ran === 0) { console.error('no test files found; run npm run build first'); process.exit(1); }
console.log(`tests: ${pass} passed, ${fail} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(status || (fail ? 1 : 0));
