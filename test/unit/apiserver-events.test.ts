// kubelet's Events as client-go records them: the Event object, repeats patched
// (count, lastTimestamp) under the first one's name, similar messages combined,
// the per-object spam filter; and the pod machinery's probe events.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { apiTime, EventCorrelator, Lru, podEvent, TokenBucket, type CoreEvent } from '../../agent/apiserver/events.js';
import { containerFieldPath, formatPod, probeEventOf } from '../../agent/pods/events.js';

const POD = { metadata: { name: 'web', namespace: 'default', uid: 'u-1' } };
const T0 = Date.parse('2026-12-02T10:00:00Z');

function clock() {
  const c = { t: T0, now: () => c.t };
  return c;
}

const ev = (reason: string, message: string, at: number, pod = POD, fieldPath?: string): CoreEvent =>
  podEvent(pod, 'Normal', reason, message, 'node-1', at, fieldPath);

test('a pod event is a core/v1 Event about the pod, from kubelet on this node', () => {
  const e = podEvent({ metadata: { ...POD.metadata, resourceVersion: '42' } }, 'Warning', 'BackOff', 'Back-off restarting failed container c in pod web_default(u-1)', 'node-1', T0 + 1234, containerFieldPath(false, 'c'));
  assert.deepEqual(e, {
    apiVersion: 'v1', kind: 'Event',
    metadata: { name: '', namespace: 'default' },
    involvedObject: { kind: 'Pod', apiVersion: 'v1', namespace: 'default', name: 'web', uid: 'u-1', resourceVersion: '42', fieldPath: 'spec.containers{c}' },
    reason: 'BackOff', message: 'Back-off restarting failed container c in pod web_default(u-1)', type: 'Warning',
    source: { component: 'kubelet', host: 'node-1' },
    firstTimestamp: '2026-12-02T10:00:01Z', lastTimestamp: '2026-12-02T10:00:01Z', count: 1,
    eventTime: null, reportingComponent: 'kubelet', reportingInstance: 'node-1',
  });
  assert.equal(containerFieldPath(true, 'init'), 'spec.initContainers{init}');
  assert.equal(formatPod(POD), 'web_default(u-1)');
  assert.equal(apiTime(T0 + 999), '2026-12-02T10:00:00Z');
});

test('a new event gets <pod>.<16 hex digits of nanoseconds>, unique even within one millisecond', () => {
  const c = clock();
  const cor = new EventCorrelator({ now: c.now });
  const a = cor.correlate(ev('Created', 'Created container: a', c.t));
  const b = cor.correlate(ev('Created', 'Created container: b', c.t));
  assert.match(a.event.metadata.name, /^web\.[0-9a-f]{16}$/);
  assert.equal(BigInt(`0x${a.event.metadata.name.slice(4)}`), BigInt(T0) * 1_000_000n);
  assert.notEqual(a.event.metadata.name, b.event.metadata.name);
  assert.equal(a.patch, undefined);
  assert.equal(a.skip, false);
});

test('the same event again is a patch of the first one: its name, first time, count + 1, new lastTimestamp', () => {
  const c = clock();
  const cor = new EventCorrelator({ now: c.now });
  const msg = 'Back-off restarting failed container c in pod web_default(u-1)';
  const first = cor.correlate(ev('BackOff', msg, c.t));
  cor.updateState(first.key, { ...first.event, metadata: { ...first.event.metadata, resourceVersion: '7' } });
  c.t += 12_000;
  const second = cor.correlate(ev('BackOff', msg, c.t));
  assert.equal(second.event.metadata.name, first.event.metadata.name);
  assert.equal(second.event.count, 2);
  assert.equal(second.event.firstTimestamp, '2026-12-02T10:00:00Z');
  assert.deepEqual(second.patch, { count: 2, lastTimestamp: '2026-12-02T10:00:12Z', message: msg });
  // The server's count wins (another writer, or a create after the stored one was gone).
  cor.updateState(second.key, { ...second.event, count: 5 });
  c.t += 1000;
  assert.equal(cor.correlate(ev('BackOff', msg, c.t)).event.count, 6);
});

test('what tells events apart: the object, its field path, type, reason and message', () => {
  const c = clock();
  const cor = new EventCorrelator({ now: c.now });
  const base = cor.correlate(ev('Started', 'Started container c', c.t, POD, 'spec.containers{c}'));
  const others = [
    ev('Started', 'Started container c', c.t, { metadata: { ...POD.metadata, uid: 'u-2' } }, 'spec.containers{c}'),
    ev('Started', 'Started container c', c.t, POD, 'spec.initContainers{c}'),
    { ...ev('Started', 'Started container c', c.t, POD, 'spec.containers{c}'), type: 'Warning' as const },
    ev('Killing', 'Started container c', c.t, POD, 'spec.containers{c}'),
    ev('Started', 'Started container c2', c.t, POD, 'spec.containers{c}'),
  ];
  for (const o of others) {
    const r = cor.correlate(o);
    assert.equal(r.patch, undefined, `${JSON.stringify(o.involvedObject)} ${o.type} ${o.reason} ${o.message}: a new Event`);
    assert.notEqual(r.event.metadata.name, base.event.metadata.name);
  }
});

test('ten different messages for one object and reason within 10 minutes: combined into one Event', () => {
  const c = clock();
  const cor = new EventCorrelator({ now: c.now });
  const names = new Set<string>();
  for (let i = 1; i <= 9; i++) {
    const r = cor.correlate(ev('Unhealthy', `Liveness probe failed: attempt ${i}`, c.t));
    assert.equal(r.patch, undefined);
    names.add(r.event.metadata.name);
    c.t += 1000;
  }
  const tenth = cor.correlate(ev('Unhealthy', 'Liveness probe failed: attempt 10', c.t));
  assert.equal(tenth.event.message, '(combined from similar events): Liveness probe failed: attempt 10');
  assert.equal(tenth.event.count, 1);
  assert.ok(!names.has(tenth.event.metadata.name));
  c.t += 1000;
  const eleventh = cor.correlate(ev('Unhealthy', 'Liveness probe failed: attempt 11', c.t));
  assert.equal(eleventh.event.metadata.name, tenth.event.metadata.name, 'later ones patch the combined Event');
  assert.deepEqual(eleventh.patch, { count: 2, lastTimestamp: apiTime(c.t), message: '(combined from similar events): Liveness probe failed: attempt 11' });
  // After a quiet 10 minutes the messages count from zero again.
  c.t += 601_000;
  assert.equal(cor.correlate(ev('Unhealthy', 'Liveness probe failed: later', c.t)).event.message, 'Liveness probe failed: later');
});

test('spam filter: 25 events per object at once, then one per 5 minutes; other objects unaffected; skipped repeats still count', () => {
  const c = clock();
  const cor = new EventCorrelator({ now: c.now });
  const results = Array.from({ length: 30 }, () => cor.correlate(ev('BackOff', 'same', c.t)));
  assert.equal(results.filter((r) => !r.skip).length, 25);
  assert.deepEqual(results.slice(25).map((r) => r.skip), [true, true, true, true, true]);
  assert.equal(cor.correlate(ev('BackOff', 'same', c.t, { metadata: { ...POD.metadata, name: 'other', uid: 'u-9' } })).skip, false);
  c.t += 299_000;
  assert.equal(cor.correlate(ev('BackOff', 'same', c.t)).skip, true);
  c.t += 2_000;
  const next = cor.correlate(ev('BackOff', 'same', c.t));
  assert.equal(next.skip, false);
  assert.equal(next.event.count, 32, 'the filtered ones were counted');
});

test('token bucket refills up to its burst; LRU forgets the least recently used', () => {
  const b = new TokenBucket(2, 1000, 0);
  assert.deepEqual([b.tryAccept(0), b.tryAccept(0), b.tryAccept(0)], [true, true, false]);
  assert.equal(b.tryAccept(999), false);
  assert.equal(b.tryAccept(1000), true);
  assert.deepEqual([b.tryAccept(100_000), b.tryAccept(100_000), b.tryAccept(100_000)], [true, true, false], 'never more than the burst');
  const l = new Lru<string, number>(2);
  l.set('a', 1);
  l.set('b', 2);
  l.get('a');
  l.set('c', 3);
  assert.deepEqual([l.get('a'), l.get('b'), l.get('c'), l.size], [1, undefined, 3, 2]);
});

test('probe attempts: Unhealthy for failures and errors, ProbeWarning for a redirect not followed, nothing for success', () => {
  assert.deepEqual(probeEventOf({ kind: 'liveness', result: 'Failure', output: 'HTTP probe failed with statuscode: 500' }),
    { type: 'Warning', reason: 'Unhealthy', message: 'Liveness probe failed: HTTP probe failed with statuscode: 500' });
  assert.deepEqual(probeEventOf({ kind: 'readiness', result: 'Unknown', output: 'exec probe failed to run: boom' }),
    { type: 'Warning', reason: 'Unhealthy', message: 'Readiness probe errored and resulted in unknown state: exec probe failed to run: boom' });
  assert.equal(probeEventOf({ kind: 'startup', result: 'Success', output: 'ok' }), undefined);
  assert.equal(probeEventOf({ kind: 'readiness', result: 'Success', output: 'Probe terminated redirects, Response body: x' })?.reason, 'ProbeWarning');
});
