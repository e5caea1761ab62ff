// Lifecycle hooks with a fake execSync (exec, sleep, invalid handlers).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runHook, remainingGracePeriod, type HookContext } from '../../agent/pods/lifecycle/hooks.js';
import type { ExecSyncFn } from '../../agent/pods/probes/types.js';

function ctx(execSync: ExecSyncFn, extra: Partial<HookContext> = {}): HookContext {
  return {
    execSync,
    containerId: 'cid-1',
    podIP: '10.0.0.5',
    container: { name: 'app' },
    pod: { metadata: { name: 'web', namespace: 'default', uid: 'u-1' } },
    timeoutSec: 30,
    ...extra,
  };
}

test('exec hook: exit 0 is ok, non-zero fails with kubelet-like text and reason', async () => {
  const calls: unknown[] = [];
  const ok = await runHook({ exec: { command: ['touch', '/ready'] } }, ctx((id, cmd, t) => {
    calls.push([id, cmd, t]);
    return { exitCode: 0, stdout: '', stderr: '' };
  }));
  assert.equal(ok.ok, true);
  assert.equal(ok.message, '');
  assert.deepEqual(calls, [['cid-1', ['touch', '/ready'], 30]]);

  const bad = await runHook({ exec: { command: ['sh', '-c', 'exit 3'] } }, ctx(() => ({ exitCode: 3, stdout: 'o', stderr: 'boom' }), { kind: 'PostStart' }));
  assert.equal(bad.ok, false);
  assert.equal(bad.reason, 'FailedPostStartHook');
  assert.equal(bad.message, `Exec lifecycle hook ([sh -c exit 3]) for Container "app" in Pod "web_default(u-1)" failed - error: command 'sh -c exit 3' exited with 3: boom, message: "oboom"`);
  const noPod = await runHook({ exec: { command: ['false'] } }, ctx(() => ({ exitCode: 1, stdout: '', stderr: '' }), { pod: undefined }));
  assert.equal(noPod.message, `Exec lifecycle hook ([false]) for Container "app" failed - error: command 'false' exited with 1: , message: ""`);
});

test('exec hook: timeout and cancellation', async () => {
  const hang: ExecSyncFn = () => new Promise(() => {});
  const r = await runHook({ exec: { command: ['sleep', '99'] } }, ctx(hang, { timeoutSec: 0, kind: 'PreStop' }));
  assert.equal(r.ok, false);
  assert.equal(r.reason, 'FailedPreStopHook');
  assert.match(r.message, /not completed within 0s/);

  const ac = new AbortController();
  const p = runHook({ exec: { command: ['sleep', '99'] } }, ctx(hang, { signal: ac.signal }));
  ac.abort();
  assert.match((await p).message, /cancelled/);
});

test('sleep hook: completes, or reports being cut short', async () => {
  const none: ExecSyncFn = () => ({ exitCode: 0, stdout: '', stderr: '' });
  assert.equal((await runHook({ sleep: { seconds: 0 } }, ctx(none))).ok, true);
  const cut = await runHook({ sleep: { seconds: 60 } }, ctx(none, { timeoutSec: 0 }));
  assert.equal(cut.ok, false);
  assert.equal(cut.message, 'Sleep lifecycle hook (60) for Container "app" in Pod "web_default(u-1)" failed - error: container terminated before sleep hook finished');
});

test('tcpSocket and empty handlers cannot run', async () => {
  const none: ExecSyncFn = () => ({ exitCode: 0, stdout: '', stderr: '' });
  assert.match((await runHook({ tcpSocket: { port: 80 } }, ctx(none))).message, /^Cannot run handler: invalid handler: tcpSocket/);
  assert.match((await runHook({}, ctx(none))).message, /^Cannot run handler: invalid handler: expected exactly one/);
});

test('preStop time counts against the grace period, never below 2 s', () => {
  assert.equal(remainingGracePeriod(30, 12_500), 18);
  assert.equal(remainingGracePeriod(30, 29_000), 2);
  assert.equal(remainingGracePeriod(5, 60_000), 2);
});
