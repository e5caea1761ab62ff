import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { HeapTrimmer } from '../../agent/util/heap-trim.js';
import { packagePath, packageRoot } from '../../agent/util/package-path.js';

const log = pino({ level: 'silent' });
const MB = 1 << 20;

test('trim collects when the heap grew enough since the last trim', () => {
  const calls: unknown[] = [];
  let total = 26 * MB;
  const h = new HeapTrimmer(log, { gc: (o) => { calls.push(o); total = 15 * MB; }, heapStats: () => ({ total_heap_size: total }), minGrowthBytes: 4 * MB });
  assert.equal(h.trim(), 11 * MB, 'the first one always: freed is the size before less after');
  assert.deepEqual(calls, [{ type: 'major', execution: 'sync', flavor: 'last-resort' }]);
  total = 18 * MB;
  assert.equal(h.trim(), 0, 'grew 3 MB since: not worth a collection');
  assert.equal(calls.length, 1);
  total = 19 * MB;
  assert.equal(h.trim(), 4 * MB);
  assert.equal(calls.length, 2);
});

test('activity: one trim once things are quiet, at most one per interval', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
  let trims = 0;
  let total = 30 * MB;
  const h = new HeapTrimmer(log, { gc: () => { trims++; total = 10 * MB; }, heapStats: () => ({ total_heap_size: total }), quietMs: 10_000, minIntervalMs: 30_000 });
  h.activity();
  t.mock.timers.tick(9_000);
  h.activity(); // still busy: the quiet time starts again
  t.mock.timers.tick(9_000);
  assert.equal(trims, 0);
  t.mock.timers.tick(1_000);
  assert.equal(trims, 1, '10 s after the last activity');
  total = 30 * MB;
  h.activity();
  t.mock.timers.tick(29_999);
  assert.equal(trims, 1, 'quiet again, but within 30 s of the last trim: waits');
  t.mock.timers.tick(1);
  assert.equal(trims, 2);
  h.stop();
});

test('without --expose-gc it does nothing', () => {
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined', 'the test runner exposes no gc');
  const h = new HeapTrimmer(log);
  assert.equal(h.enabled, false);
  h.activity();
  assert.equal(h.trim(), 0);
});

test('with the launcher\'s --expose-gc, V8 really gives the free heap back', () => {
  // Garbage that grew the heap, then a trim: the heap's total size must shrink.
  const script = `
    import { HeapTrimmer } from ${JSON.stringify(resolve('dist/agent/util/heap-trim.js'))};
    import { getHeapStatistics } from 'node:v8';
    let keep = [];
    for (let i = 0; i < 200; i++) { keep.push(new Array(20000).fill(i)); if (keep.length > 20) keep = keep.slice(10); }
    keep = null;
    const before = getHeapStatistics().total_heap_size;
    const freed = new HeapTrimmer({ debug() {} }).trim();
    console.log(JSON.stringify({ before, after: getHeapStatistics().total_heap_size, freed }));`;
  const out = JSON.parse(execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8' })) as { before: number; after: number; freed: number };
  assert.ok(out.after < out.before, `heap ${out.before} → ${out.after}`);
  assert.equal(out.freed, out.before - out.after);
});

test('package files are found from the code\'s own place', () => {
  assert.equal(packageRoot(), process.cwd(), 'tests run from the package root');
  assert.equal(packagePath('proto', 'runtime.proto'), resolve('proto/runtime.proto'));
});
