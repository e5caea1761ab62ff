// ProbeManager scheduling and semantics on a fake clock, with exec probes through
// a fake execSync (the CRI client provides the real one).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProbeManager, type ProbeEvent } from '../../agent/pods/probes/manager.js';
import type { Clock } from '../../agent/pods/probes/clock.js';
import type { ExecSyncResult, ProbedContainer, ProbeSpec } from '../../agent/pods/probes/types.js';

const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

class FakeClock implements Clock {
  t = 1_000_000;
  private seq = 0;
  private timers = new Map<number, { at: number; fn: () => void }>();
  now(): number { return this.t; }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(h: unknown): void { this.timers.delete(h as number); }
  pending(): number { return this.timers.size; }
  /** Moves time forward, firing due timers in order and letting async probe code settle. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await flush();
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = end;
    await flush();
  }
}

/** execSync whose exit code per command comes from a mutable table; records calls. */
function fakeExec() {
  const codes = new Map<string, number | 'hang' | 'throw'>();
  const calls: { at: number; cmd: string }[] = [];
  let clock: FakeClock | undefined;
  const fn = (_id: string, cmd: string[]): Promise<ExecSyncResult> => {
    const key = cmd.join(' ');
    calls.push({ at: clock?.now() ?? 0, cmd: key });
    const c = codes.get(key) ?? 0;
    if (c === 'hang') return new Promise(() => {});
    if (c === 'throw') return Promise.reject(new Error('runtime unavailable'));
    return Promise.resolve({ exitCode: c, stdout: `out:${key}`, stderr: '' });
  };
  return { fn, codes, calls, bind: (c: FakeClock) => { clock = c; } };
}

const execProbe = (cmd: string, extra: Partial<ProbeSpec> = {}): ProbeSpec => ({ exec: { command: ['sh', '-c', cmd] }, ...extra });
const pod = { metadata: { uid: 'uid-1', name: 'web', namespace: 'default' } };

function setup() {
  const clock = new FakeClock();
  const exec = fakeExec();
  exec.bind(clock);
  const mgr = new ProbeManager({ execSync: exec.fn, clock });
  const results: ProbeEvent[] = [];
  const probes: ProbeEvent[] = [];
  mgr.on('result', (e) => results.push(e));
  mgr.on('probe', (e) => probes.push(e));
  return { clock, exec, mgr, results, probes };
}

test('readiness: not ready until the probe succeeds; flips after failureThreshold', async () => {
  const { clock, exec, mgr, results } = setup();
  const c: ProbedContainer = { name: 'app', readinessProbe: execProbe('ready', { periodSeconds: 5, failureThreshold: 2 }) };
  mgr.addContainer(pod, c, 'cid-1', '10.0.0.5');
  assert.equal(mgr.readiness('uid-1', 'app'), false);
  await clock.advance(0);
  assert.equal(mgr.readiness('uid-1', 'app'), true);
  assert.deepEqual(results.map((r) => [r.kind, r.result, r.containerId, r.output]), [['readiness', 'Success', 'cid-1', 'out:sh -c ready']]);

  exec.codes.set('sh -c ready', 1);
  await clock.advance(5000);
  assert.equal(mgr.readiness('uid-1', 'app'), true); // one failure is below the threshold
  await clock.advance(5000);
  assert.equal(mgr.readiness('uid-1', 'app'), false);
  assert.equal(results.at(-1)!.result, 'Failure');
  assert.deepEqual(exec.calls.map((x) => x.at - 1_000_000), [0, 5000, 10000]);
  mgr.stop();
});

test('no readiness probe: ready as soon as the container is added', () => {
  const { mgr } = setup();
  assert.equal(mgr.readiness('uid-1', 'app'), false);
  mgr.addContainer(pod, { name: 'app' }, 'cid-1', '10.0.0.5');
  assert.equal(mgr.readiness('uid-1', 'app'), true);
  assert.equal(mgr.started('uid-1', 'app'), true);
  mgr.removeContainer('uid-1', 'app');
  assert.equal(mgr.readiness('uid-1', 'app'), false);
});

test('initialDelaySeconds counts from container start', async () => {
  const { clock, exec, mgr } = setup();
  mgr.addContainer(pod, { name: 'app', livenessProbe: execProbe('live', { initialDelaySeconds: 30, periodSeconds: 10 }) }, 'cid-1', undefined, { startedAt: clock.now() - 10_000 });
  await clock.advance(19_999);
  assert.equal(exec.calls.length, 0);
  await clock.advance(1);
  assert.equal(exec.calls.length, 1);
  mgr.stop();
});

test('liveness failure: event after failureThreshold, then hold until a new container id', async () => {
  const { clock, exec, mgr, results } = setup();
  const c: ProbedContainer = { name: 'app', livenessProbe: execProbe('live', { periodSeconds: 1, failureThreshold: 3 }) };
  exec.codes.set('sh -c live', 1);
  mgr.addContainer(pod, c, 'cid-1', undefined);
  assert.equal(mgr.result('uid-1', 'app', 'liveness'), 'Success');
  await clock.advance(2000);
  assert.equal(results.length, 1);
  assert.deepEqual({ kind: results[0]!.kind, result: results[0]!.result, containerId: results[0]!.containerId }, { kind: 'liveness', result: 'Failure', containerId: 'cid-1' });
  assert.equal(mgr.livenessFailed('uid-1', 'app'), true);
  assert.equal(mgr.startupFailed('uid-1', 'app'), false);
  await clock.advance(10_000);
  assert.equal(exec.calls.length, 3, 'no probing while the restart is pending');

  exec.codes.set('sh -c live', 0);
  mgr.addContainer(pod, c, 'cid-2', undefined);
  assert.equal(mgr.result('uid-1', 'app', 'liveness'), 'Success');
  assert.equal(mgr.livenessFailed('uid-1', 'app'), false);
  await clock.advance(3000);
  assert.equal(exec.calls.length, 7);
  assert.equal(results.length, 1);
  mgr.stop();
});

test('startup gates liveness and readiness until it succeeds', async () => {
  const { clock, exec, mgr, results } = setup();
  const c: ProbedContainer = {
    name: 'app',
    startupProbe: execProbe('started', { periodSeconds: 2, failureThreshold: 10 }),
    livenessProbe: execProbe('live', { periodSeconds: 10 }),
    readinessProbe: execProbe('ready', { periodSeconds: 10 }),
  };
  exec.codes.set('sh -c started', 1);
  mgr.addContainer(pod, c, 'cid-1', undefined);
  await clock.advance(4000);
  assert.deepEqual(exec.calls.map((x) => x.cmd), ['sh -c started', 'sh -c started', 'sh -c started']);
  assert.equal(mgr.started('uid-1', 'app'), false);
  assert.equal(mgr.readiness('uid-1', 'app'), false);

  exec.codes.set('sh -c started', 0);
  await clock.advance(2000);
  assert.equal(mgr.started('uid-1', 'app'), true);
  // liveness and readiness run at once after startup succeeded; startup stops.
  assert.deepEqual(exec.calls.slice(4).map((x) => x.cmd).sort(), ['sh -c live', 'sh -c ready']);
  assert.equal(mgr.readiness('uid-1', 'app'), true);
  await clock.advance(20_000);
  assert.equal(exec.calls.filter((x) => x.cmd === 'sh -c started').length, 4);
  assert.deepEqual(results.map((r) => `${r.kind}:${r.result}`).sort(), ['readiness:Success', 'startup:Success']);
  mgr.stop();
});

test('startup failure after failureThreshold is reported (container must restart)', async () => {
  const { clock, exec, mgr, results } = setup();
  exec.codes.set('sh -c started', 1);
  mgr.addContainer(pod, { name: 'app', startupProbe: execProbe('started', { periodSeconds: 1, failureThreshold: 2 }), livenessProbe: execProbe('live') }, 'cid-1', undefined);
  await clock.advance(5000);
  assert.deepEqual(results.map((r) => `${r.kind}:${r.result}`), ['startup:Failure']);
  assert.equal(mgr.startupFailed('uid-1', 'app'), true);
  assert.equal(mgr.ready('uid-1', 'app'), false);
  assert.equal(exec.calls.length, 2);
  mgr.stop();
});

test('exec timeout is a Failure; runtime errors are discarded (Unknown)', async () => {
  const { clock, exec, mgr, probes, results } = setup();
  exec.codes.set('sh -c slow', 'hang');
  exec.codes.set('sh -c broken', 'throw');
  mgr.addContainer(pod, { name: 'a', readinessProbe: execProbe('slow', { timeoutSeconds: 2, periodSeconds: 5, failureThreshold: 1 }) }, 'cid-a', undefined);
  mgr.addContainer(pod, { name: 'b', livenessProbe: execProbe('broken', { periodSeconds: 5, failureThreshold: 1 }) }, 'cid-b', undefined);
  await clock.advance(1999);
  assert.equal(probes.filter((p) => p.container === 'a').length, 0);
  await clock.advance(1);
  const a = probes.find((p) => p.container === 'a')!;
  assert.equal(a.result, 'Failure');
  assert.match(a.output, /timed out/);
  const b = probes.find((p) => p.container === 'b')!;
  assert.equal(b.result, 'Unknown');
  assert.match(b.output, /runtime unavailable/);
  assert.equal(mgr.result('uid-1', 'b', 'liveness'), 'Success');
  assert.deepEqual(results, []); // readiness was already Failure; liveness unchanged
  mgr.stop();
});

test('podTerminating stops liveness but keeps readiness; removePod stops everything', async () => {
  const { clock, exec, mgr } = setup();
  mgr.addContainer(pod, { name: 'app', livenessProbe: execProbe('live', { periodSeconds: 1 }), readinessProbe: execProbe('ready', { periodSeconds: 1 }) }, 'cid-1', undefined);
  await clock.advance(0);
  mgr.podTerminating('uid-1');
  exec.calls.length = 0;
  await clock.advance(3000);
  assert.deepEqual([...new Set(exec.calls.map((c) => c.cmd))], ['sh -c ready']);
  mgr.removePod('uid-1');
  exec.calls.length = 0;
  await clock.advance(5000);
  assert.equal(exec.calls.length, 0);
  assert.equal(clock.pending(), 0);
});

test('re-adding the same container id keeps state; invalid specs throw without side effects', async () => {
  const { clock, mgr } = setup();
  const c: ProbedContainer = { name: 'app', readinessProbe: execProbe('ready', { periodSeconds: 1 }) };
  mgr.addContainer(pod, c, 'cid-1', '10.0.0.1');
  await clock.advance(0);
  mgr.addContainer(pod, c, 'cid-1', '10.0.0.2');
  assert.equal(mgr.readiness('uid-1', 'app'), true);
  assert.throws(() => mgr.addContainer(pod, { name: 'app', livenessProbe: execProbe('x', { successThreshold: 3 }) }, 'cid-2', undefined), /successThreshold must be 1/);
  assert.equal(mgr.readiness('uid-1', 'app'), true);
  mgr.stop();
});
