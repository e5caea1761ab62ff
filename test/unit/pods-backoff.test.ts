import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff, crashBackoffKey, formatDuration } from '../../agent/pods/backoff.js';

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => { t += ms; } };
}

test('crash loop: first restart immediate, then 10s, 20s, 40s ... capped at 300s', () => {
  const ck = clock();
  const b = new Backoff({ now: ck.now });
  const key = crashBackoffKey('uid', 'web');
  let finished = ck.now();
  assert.equal(b.isInBackOffSince(key, finished), false, 'never backed off: restart now');
  b.next(key, finished);
  const seen: number[] = [];
  for (let i = 0; i < 7; i++) {
    ck.advance(1000); // runs 1 s, crashes again
    finished = ck.now();
    assert.equal(b.isInBackOffSince(key, finished), true);
    seen.push(b.get(key));
    assert.equal(b.remainingSince(key, finished), b.get(key));
    ck.advance(b.get(key) - 1);
    assert.equal(b.isInBackOffSince(key, finished), true, 'still inside the window');
    ck.advance(1);
    assert.equal(b.isInBackOffSince(key, finished), false, 'window over: restart');
    b.next(key, finished);
  }
  assert.deepEqual(seen, [10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000]);
});

test('back-off starts over after running 10 minutes without a crash', () => {
  const ck = clock();
  const b = new Backoff({ now: ck.now });
  b.next('k', ck.now());
  b.next('k', ck.now());
  b.next('k', ck.now());
  assert.equal(b.get('k'), 40_000);
  ck.advance(600_000); // exactly 10 min: not yet stable
  assert.equal(b.isInBackOffSince('k', ck.now() - 1), true);
  b.next('k', ck.now());
  assert.equal(b.get('k'), 80_000);
  ck.advance(600_001);
  const finished = ck.now();
  assert.equal(b.isInBackOffSince('k', finished), false);
  b.next('k', finished);
  assert.equal(b.get('k'), 10_000);
});

test('failed/remaining (image pulls), reset and gc', () => {
  const ck = clock();
  const b = new Backoff({ now: ck.now, initialMs: 1000, maxMs: 4000 });
  assert.equal(b.remaining('img'), 0);
  b.failed('img');
  assert.equal(b.remaining('img'), 1000);
  ck.advance(400);
  assert.equal(b.remaining('img'), 600);
  assert.equal(b.isInBackOffSinceUpdate('img'), true);
  ck.advance(600);
  assert.equal(b.remaining('img'), 0);
  b.failed('img');
  assert.equal(b.remaining('img'), 2000);
  b.reset('img');
  assert.equal(b.remaining('img'), 0);
  b.failed('a');
  ck.advance(8001);
  b.failed('b');
  b.gc();
  assert.equal(b.size, 1);
  assert.equal(b.get('a'), 0);
});

test('Go duration text', () => {
  assert.equal(formatDuration(10_000), '10s');
  assert.equal(formatDuration(20_000), '20s');
  assert.equal(formatDuration(80_000), '1m20s');
  assert.equal(formatDuration(160_000), '2m40s');
  assert.equal(formatDuration(300_000), '5m0s');
  assert.equal(formatDuration(3_600_000), '1h0m0s');
});
