import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff } from '../../agent/pods/backoff.js';
import { sandboxChanged } from '../../agent/pods/observations.js';
import { commitBackoff, computePodActions, containerHash, type PodActionsInput } from '../../agent/pods/restart.js';
import { c, exited, makePod, running, sandbox, T0 } from './pods-fixtures.js';

type Pod = ReturnType<typeof makePod>;
const actions = (pod: Pod, containers: PodActionsInput['containers'], extra: Partial<PodActionsInput> = {}) =>
  computePodActions({ pod, sandboxes: [sandbox()], containers, ...extra });
const names = (starts: { name: string }[]) => starts.map((s) => s.name);
const hashed = (pod: Pod, o: ReturnType<typeof running>) => ({ ...o, hash: containerHash([...pod.spec.initContainers, ...pod.spec.containers].find((x) => x.name === o.name)!) });

test('a new pod: create the sandbox (attempt 0) and start every container', () => {
  const pod = makePod({ containers: [c('a'), c('b')] });
  const a = computePodActions({ pod, sandboxes: [], containers: [] });
  assert.equal(a.createSandbox, true);
  assert.equal(a.killPod, true, 'kubelet kills whatever is left before creating a sandbox');
  assert.equal(a.attempt, 0);
  assert.deepEqual(names(a.containersToStart), ['a', 'b']);
  assert.deepEqual(a.initContainersToStart, []);
  assert.deepEqual(a.containersToStart[0], { name: 'a', index: 0, init: false, backoffKey: 'uid-1/a' });
});

test('init containers run one at a time, in order, before app containers', () => {
  const pod = makePod({ initContainers: [c('i1'), c('i2')], containers: [c('web')] });
  let a = computePodActions({ pod, sandboxes: [], containers: [] });
  assert.deepEqual([names(a.initContainersToStart), names(a.containersToStart)], [['i1'], []]);
  a = actions(pod, [running('i1')]);
  assert.deepEqual([a.killPod, a.createSandbox, names(a.initContainersToStart), names(a.containersToStart)], [false, false, [], []], 'wait for i1');
  a = actions(pod, [exited('i1', 0)]);
  assert.deepEqual(names(a.initContainersToStart), ['i2']);
  a = actions(pod, [exited('i1', 0), exited('i2', 0)]);
  assert.deepEqual([names(a.initContainersToStart), names(a.containersToStart)], [[], ['web']]);
  a = actions(pod, [exited('i1', 0), exited('i2', 0), running('web')]);
  assert.deepEqual([a.killPod, names(a.initContainersToStart), names(a.containersToStart)], [false, [], []]);
  a = actions(pod, [running('web')]);
  assert.deepEqual(names(a.initContainersToStart), [], 'init containers forgotten by the runtime are not re-run');
});

test('a failed init container: Never kills the pod; otherwise it is retried', () => {
  const never = makePod({ restartPolicy: 'Never', initContainers: [c('i1')], containers: [c('web')] });
  const a = actions(never, [exited('i1', 1)]);
  assert.deepEqual([a.killPod, a.createSandbox, names(a.initContainersToStart), names(a.containersToStart)], [true, false, [], []]);
  const onFailure = makePod({ restartPolicy: 'OnFailure', initContainers: [c('i1')], containers: [c('web')] });
  assert.deepEqual(names(actions(onFailure, [exited('i1', 1)]).initContainersToStart), ['i1']);
  assert.deepEqual(names(actions(onFailure, [exited('i1', 0, { reason: 'OOMKilled' })]).initContainersToStart), ['i1'], 'OOMKilled counts as failed');
});

test('restart policies for exited app containers', () => {
  const always = makePod({ containers: [c('a'), c('b')] });
  assert.deepEqual(names(actions(always, [exited('a', 0), running('b')]).containersToStart), ['a']);
  const onFailure = makePod({ restartPolicy: 'OnFailure', containers: [c('a'), c('b')] });
  assert.deepEqual(names(actions(onFailure, [exited('a', 0), exited('b', 1)]).containersToStart), ['b']);
  const never = makePod({ restartPolicy: 'Never', containers: [c('a'), c('b')] });
  let a = actions(never, [exited('a', 1), running('b')]);
  assert.deepEqual([a.killPod, names(a.containersToStart)], [false, []]);
  a = actions(never, [exited('a', 1), exited('b', 0)]);
  assert.deepEqual([a.killPod, a.createSandbox, names(a.containersToStart)], [true, false, []], 'all done: tear the pod down');
  a = actions(onFailure, [exited('a', 0), exited('b', 0)]);
  assert.equal(a.killPod, true);
});

test('liveness and startup failures kill the container, restarted unless Never', () => {
  const pod = makePod({ containers: [c('web', { livenessProbe: { exec: { command: ['true'] } } })] });
  let a = actions(pod, [running('web')], { probes: new Map([['web', { liveness: 'failure' }]]) });
  assert.deepEqual(a.containersToKill, [{ containerId: 'id-web', name: 'web', reason: 'LivenessProbe', message: 'Container web failed liveness probe, will be restarted' }]);
  assert.deepEqual(names(a.containersToStart), ['web']);
  a = actions(pod, [running('web')], { probes: new Map([['web', { liveness: 'failure', containerId: 'other' }]]) });
  assert.deepEqual(a.containersToKill, [], 'a result about another instance');
  a = actions(pod, [running('web')], { probes: new Map([['web', { startup: 'failure' }]]) });
  assert.equal(a.containersToKill[0]?.reason, 'StartupProbe');
  const never = makePod({ restartPolicy: 'Never', containers: [c('web')] });
  a = actions(never, [running('web')], { probes: new Map([['web', { liveness: 'failure' }]]) });
  assert.deepEqual([a.containersToKill[0]?.message, names(a.containersToStart)], ['Container web failed liveness probe', []]);
});

test('a changed container definition restarts it whatever the policy; unknown hash never does', () => {
  const pod = makePod({ restartPolicy: 'Never', containers: [c('web')] });
  let a = actions(pod, [running('web', { hash: 'deadbeef' })]);
  assert.deepEqual(a.containersToKill, [{ containerId: 'id-web', name: 'web', reason: 'SpecChanged', message: 'Container web definition changed, will be restarted' }]);
  assert.deepEqual(names(a.containersToStart), ['web']);
  a = actions(pod, [hashed(pod, running('web'))]);
  assert.deepEqual([a.containersToKill, a.containersToStart, a.killPod], [[], [], false]);
  a = actions(pod, [running('web')]);
  assert.deepEqual(a.containersToKill, []);
  assert.equal(containerHash({ name: 'web', image: 'a:1' }), containerHash({ name: 'web', image: 'a:1' }));
  assert.notEqual(containerHash({ name: 'web', image: 'a:1' }), containerHash({ name: 'web', image: 'a:2' }));
  assert.match(containerHash({ name: 'web', image: 'a:1' }), /^[0-9a-f]{1,8}$/);
});

test('a container in unknown state is killed before it is started again', () => {
  const pod = makePod({ containers: [c('web')] });
  const a = actions(pod, [running('web', { state: 'unknown' })]);
  assert.deepEqual(a.containersToKill, [{ containerId: 'id-web', name: 'web', reason: 'Unknown', message: 'Container is in "unknown" state, try killing it before restart' }]);
  assert.deepEqual(names(a.containersToStart), ['web']);
});

test('a dead sandbox: kill everything, new sandbox with attempt + 1, init containers again', () => {
  const pod = makePod({ initContainers: [c('i1')], containers: [c('web')] });
  const dead = [sandbox({ ready: false, attempt: 2 })];
  let a = computePodActions({ pod, sandboxes: dead, containers: [exited('i1', 0), exited('web', 137)] });
  assert.deepEqual([a.killPod, a.createSandbox, a.attempt, a.sandboxId], [true, true, 3, 'sb1']);
  assert.deepEqual([names(a.initContainersToStart), names(a.containersToStart)], [['i1'], []]);
  // once the new sandbox is up, the init containers of the old one do not count
  const fresh = [sandbox({ id: 'sb2', attempt: 3, createdAt: T0 + 100 }), ...dead];
  a = computePodActions({ pod, sandboxes: fresh, containers: [exited('i1', 0), exited('web', 137)] });
  assert.deepEqual([a.killPod, a.createSandbox, names(a.initContainersToStart), names(a.containersToStart)], [false, false, ['i1'], []]);
  a = computePodActions({ pod, sandboxes: fresh, containers: [exited('i1', 0), exited('i1', 0, { sandboxId: 'sb2', containerId: 'i1b', createdAt: T0 + 200 }), exited('web', 137)] });
  assert.deepEqual(names(a.containersToStart), ['web']);
  const never = makePod({ restartPolicy: 'Never', containers: [c('web')] });
  a = computePodActions({ pod: never, sandboxes: dead, containers: [running('web')] });
  assert.deepEqual([a.killPod, a.createSandbox], [true, false], 'Never: do not run it again');
  const onFailure = makePod({ restartPolicy: 'OnFailure', containers: [c('a'), c('b')] });
  a = computePodActions({ pod: onFailure, sandboxes: dead, containers: [exited('a', 0), exited('b', 0)] });
  assert.deepEqual([a.killPod, a.createSandbox], [true, false], 'all succeeded: nothing to run again');
  a = computePodActions({ pod: onFailure, sandboxes: dead, containers: [exited('a', 0), exited('b', 1)] });
  assert.deepEqual([a.createSandbox, names(a.containersToStart)], [true, ['b']]);
});

test('sandbox checks: several ready, no IP, network mode changed', () => {
  const spec = { hostNetwork: false };
  assert.deepEqual(sandboxChanged(spec, [sandbox()]), { changed: false, attempt: 0, sandboxId: 'sb1' });
  assert.deepEqual(sandboxChanged(spec, [sandbox(), sandbox({ id: 'sb0', createdAt: T0 - 1 })]), { changed: true, attempt: 1, sandboxId: 'sb1' });
  assert.deepEqual(sandboxChanged(spec, [sandbox({ podIPs: [] })]), { changed: true, attempt: 1, sandboxId: 'sb1' });
  assert.deepEqual(sandboxChanged({ hostNetwork: true }, [sandbox({ podIPs: [] })]), { changed: false, attempt: 0, sandboxId: 'sb1' });
  assert.deepEqual(sandboxChanged(spec, [sandbox({ hostNetwork: true })]), { changed: true, attempt: 1 });
  assert.deepEqual(sandboxChanged(spec, [sandbox({ id: 'new', ready: true, attempt: 4, createdAt: T0 + 10 }), sandbox({ id: 'old', ready: false, attempt: 3 })]),
    { changed: false, attempt: 4, sandboxId: 'new' });
});

test('crash back-off holds restarts back with kubelet\'s message, and commitBackoff records restarts', () => {
  let now = T0 + 6000;
  const backoff = new Backoff({ now: () => now });
  const pod = makePod({ containers: [c('web')] });
  // first crash (finished at T0+5000): restart at once
  let a = actions(pod, [exited('web', 1)], { backoff });
  assert.deepEqual(names(a.containersToStart), ['web']);
  assert.equal(a.containersToStart[0]!.restartAfter, T0 + 5000);
  commitBackoff(a.containersToStart, backoff);
  // second crash 2 s later: back off 10 s from its finish
  now = T0 + 8000;
  a = actions(pod, [exited('web', 1, { finishedAt: T0 + 7000, restartCount: 1 })], { backoff });
  assert.deepEqual(a.containersToStart, []);
  assert.deepEqual(a.backoff, [{ name: 'web', init: false, reason: 'CrashLoopBackOff', message: 'back-off 10s restarting failed container=web pod=web_default(uid-1)', waitMs: 9000 }]);
  assert.equal(a.killPod, false, 'a container backing off keeps the pod');
  now = T0 + 17_000;
  a = actions(pod, [exited('web', 1, { finishedAt: T0 + 7000, restartCount: 1 })], { backoff });
  assert.deepEqual(names(a.containersToStart), ['web']);
  commitBackoff(a.containersToStart, backoff);
  now = T0 + 20_000;
  a = actions(pod, [exited('web', 1, { finishedAt: T0 + 19_000, restartCount: 2 })], { backoff });
  assert.equal(a.backoff[0]?.message, 'back-off 20s restarting failed container=web pod=web_default(uid-1)');
  // init containers back off too
  const withInit = makePod({ initContainers: [c('i1')], containers: [c('web')] });
  backoff.next('uid-1/i1', T0 + 19_000);
  a = actions(withInit, [exited('i1', 1, { finishedAt: T0 + 19_000 })], { backoff });
  assert.deepEqual([names(a.initContainersToStart), a.backoff.map((b) => [b.name, b.init])], [[], [['i1', true]]]);
});

test('sidecars: started sidecar lets the next init container run, and is kept running', () => {
  const pod = makePod({ initContainers: [c('proxy', { restartPolicy: 'Always', startupProbe: { exec: { command: ['true'] } } }), c('i2')], containers: [c('web')] });
  let a = actions(pod, [running('proxy')]);
  assert.deepEqual(names(a.initContainersToStart), [], 'waiting for the startup probe');
  a = actions(pod, [running('proxy')], { probes: new Map([['proxy', { startup: 'success' }]]) });
  assert.deepEqual(names(a.initContainersToStart), ['i2']);
  a = actions(pod, [running('proxy')], { probes: new Map([['proxy', { startup: 'failure' }]]) });
  assert.deepEqual([a.containersToKill.map((k) => k.reason), names(a.initContainersToStart)], [['StartupProbe'], ['proxy']]);
  const ok = new Map([['proxy', { startup: 'success' as const }]]);
  a = actions(pod, [running('proxy'), exited('i2', 0)], { probes: ok });
  assert.deepEqual([names(a.initContainersToStart), names(a.containersToStart)], [[], ['web']]);
  a = actions(pod, [exited('proxy', 1), exited('i2', 0), running('web')], { probes: ok });
  assert.deepEqual([names(a.initContainersToStart), a.killPod], [['proxy'], false], 'a stopped sidecar is restarted');
  const job = makePod({ restartPolicy: 'Never', initContainers: [c('proxy', { restartPolicy: 'Always' })], containers: [c('web')] });
  a = actions(job, [running('proxy'), exited('web', 0)]);
  assert.deepEqual([a.killPod, names(a.initContainersToStart)], [true, []], 'the job is done: the sidecar does not keep the pod');
});
