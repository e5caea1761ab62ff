// The probe threshold state machine and timing defaults (pure).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ThresholdTracker, probeTiming, initialResult, holdsAfter } from '../../agent/pods/probes/state.js';
import { resolvePort, resolveHost, joinHostPort } from '../../agent/pods/probes/target.js';
import { buildHttpRequest } from '../../agent/pods/probes/http.js';
import type { ProbeResult } from '../../agent/pods/probes/types.js';

function feed(t: ThresholdTracker, rs: ProbeResult[]): (ProbeResult | undefined)[] {
  return rs.map((r) => t.observe(r));
}

test('initial results: readiness Failure, liveness Success, startup Unknown', () => {
  assert.equal(initialResult('readiness'), 'Failure');
  assert.equal(initialResult('liveness'), 'Success');
  assert.equal(initialResult('startup'), 'Unknown');
});

test('timing defaults and validation', () => {
  assert.deepEqual(probeTiming('readiness', {}), { initialDelayMs: 0, periodMs: 10_000, timeoutMs: 1000, successThreshold: 1, failureThreshold: 3 });
  assert.deepEqual(probeTiming('liveness', { initialDelaySeconds: 5, periodSeconds: 2, timeoutSeconds: 3, failureThreshold: 1 }),
    { initialDelayMs: 5000, periodMs: 2000, timeoutMs: 3000, successThreshold: 1, failureThreshold: 1 });
  assert.equal(probeTiming('readiness', { successThreshold: 3 }).successThreshold, 3);
  assert.throws(() => probeTiming('liveness', { successThreshold: 2 }), /livenessProbe.successThreshold must be 1/);
  assert.throws(() => probeTiming('startup', { successThreshold: 2 }), /startupProbe.successThreshold must be 1/);
  assert.throws(() => probeTiming('readiness', { periodSeconds: 0 }), /periodSeconds must be an integer >= 1/);
  assert.throws(() => probeTiming('readiness', { initialDelaySeconds: -1 }), /initialDelaySeconds/);
});

test('readiness: successThreshold successes in a row make it ready', () => {
  const t = new ThresholdTracker('readiness', { successThreshold: 2, failureThreshold: 3 });
  assert.deepEqual(feed(t, ['Success', 'Failure', 'Success', 'Success', 'Success']), [undefined, undefined, undefined, 'Success', undefined]);
  assert.equal(t.result, 'Success');
});

test('failureThreshold failures in a row flip it back; a success in between resets the count', () => {
  const t = new ThresholdTracker('readiness', { successThreshold: 1, failureThreshold: 3 });
  assert.equal(t.observe('Success'), 'Success');
  assert.deepEqual(feed(t, ['Failure', 'Failure', 'Success', 'Failure', 'Failure', 'Failure']), [undefined, undefined, undefined, undefined, undefined, 'Failure']);
  assert.equal(t.result, 'Failure');
});

test('liveness starts alive and fails after failureThreshold', () => {
  const t = new ThresholdTracker('liveness', { successThreshold: 1, failureThreshold: 2 });
  assert.deepEqual(feed(t, ['Success', 'Failure', 'Failure']), [undefined, undefined, 'Failure']);
  assert.equal(holdsAfter('liveness', 'Failure'), true);
  assert.equal(holdsAfter('startup', 'Failure'), true);
  assert.equal(holdsAfter('readiness', 'Failure'), false);
});

test('startup: first success publishes Success', () => {
  const t = new ThresholdTracker('startup', { successThreshold: 1, failureThreshold: 30 });
  assert.deepEqual(feed(t, ['Failure', 'Failure', 'Success']), [undefined, undefined, 'Success']);
});

test('Unknown results are discarded and do not break a run', () => {
  const t = new ThresholdTracker('readiness', { successThreshold: 2, failureThreshold: 3 });
  assert.deepEqual(feed(t, ['Success', 'Unknown', 'Success']), [undefined, undefined, 'Success']);
});

test('ports: numeric, numeric string, named', () => {
  const c = { ports: [{ name: 'http', containerPort: 8080 }] };
  assert.equal(resolvePort(80, c), 80);
  assert.equal(resolvePort('81', c), 81);
  assert.equal(resolvePort('http', c), 8080);
  assert.throws(() => resolvePort('grpc', c), /no port named "grpc"/);
  assert.throws(() => resolvePort(70000, c), /not within 1\.\.65535/);
  assert.equal(resolveHost(undefined, '10.1.2.3'), '10.1.2.3');
  assert.equal(resolveHost('example.com', '10.1.2.3'), 'example.com');
  assert.throws(() => resolveHost('bad host', '10.1.2.3'), /invalid host/);
  assert.throws(() => resolveHost(undefined, undefined), /no host given/);
  assert.equal(joinHostPort('fd00::1', 80), '[fd00::1]:80');
});

test('http request: URL, default and custom headers', () => {
  const c = { ports: [{ name: 'web', containerPort: 8080 }] };
  const r = buildHttpRequest({ port: 'web', path: 'healthz?x=1' }, { podIP: 'fd00::5', container: c, userAgent: 'kube-probe/1.31' });
  assert.equal(r.url.href, 'http://[fd00::5]:8080/healthz?x=1');
  assert.deepEqual(r.headers, { 'User-Agent': 'kube-probe/1.31', Accept: '*/*' });
  const h = buildHttpRequest({ port: 80, scheme: 'HTTPS', httpHeaders: [{ name: 'user-agent', value: 'mine' }, { name: 'X-A', value: '1' }, { name: 'x-a', value: '2' }, { name: 'Accept', value: '' }] },
    { podIP: '10.0.0.1', container: {}, userAgent: 'kube-probe/1.31' });
  assert.equal(h.url.href, 'https://10.0.0.1:80/');
  assert.deepEqual(h.headers, { 'user-agent': 'mine', 'X-A': ['1', '2'] });
  assert.throws(() => buildHttpRequest({ port: 80, scheme: 'FTP' }, { podIP: '10.0.0.1', container: {}, userAgent: 'x' }), /scheme must be HTTP or HTTPS/);
  assert.throws(() => buildHttpRequest({ port: 80, httpHeaders: [{ name: 'X', value: 'a\r\nEvil: 1' }] }, { podIP: '10.0.0.1', container: {}, userAgent: 'x' }), /invalid value/);
});
