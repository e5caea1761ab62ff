import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ContainerStatus, PodCondition, PodStatus } from '../../agent/pods/api-types.js';
import type { ContainerObservation, ProbeResults, SandboxObservation, Waiting } from '../../agent/pods/observations.js';
import { computePodStatus, rfc3339, type PodStatusInput } from '../../agent/pods/status.js';
import { c, exited, makePod, running, sandbox, T0 } from './pods-fixtures.js';

const HOST = ['192.168.1.10'];
const NOW = T0 + 60_000;

function status(pod: ReturnType<typeof makePod>, containers: ContainerObservation[], extra: Partial<PodStatusInput> = {}): PodStatus {
  return computePodStatus({ pod, sandboxes: [sandbox()], containers, hostIPs: HOST, now: NOW, ...extra });
}
const cond = (s: PodStatus, type: string): PodCondition => {
  const found = s.conditions.find((x) => x.type === type);
  assert.ok(found, `condition ${type}`);
  return found;
};
const cs = (s: PodStatus, name: string): ContainerStatus => {
  const found = [...s.containerStatuses, ...(s.initContainerStatuses ?? [])].find((x) => x.name === name);
  assert.ok(found, `status of ${name}`);
  return found;
};
const probes = (entries: Record<string, ProbeResults>) => new Map(Object.entries(entries));
const waits = (entries: Record<string, Waiting>) => new Map(Object.entries(entries));

test('timestamps are RFC 3339 with whole seconds', () => {
  assert.equal(rfc3339(Date.parse('2026-11-25T15:04:05.987Z')), '2026-11-25T15:04:05Z');
  assert.equal(rfc3339(0), null);
  assert.equal(rfc3339(undefined), null);
});

test('a new pod: Pending, ContainerCreating, conditions as kubelet words them', () => {
  const pod = makePod({ containers: [c('web'), c('log')] });
  const s = computePodStatus({ pod, sandboxes: [], containers: [], hostIPs: HOST, now: NOW });
  assert.equal(s.phase, 'Pending');
  assert.deepEqual(s.conditions.map((x) => [x.type, x.status]), [
    ['PodReadyToStartContainers', 'False'], ['Initialized', 'True'], ['Ready', 'False'], ['ContainersReady', 'False'], ['PodScheduled', 'True'],
  ]);
  assert.deepEqual(cond(s, 'Ready'), {
    type: 'Ready', status: 'False', lastProbeTime: null, lastTransitionTime: rfc3339(NOW), reason: 'ContainersNotReady', message: 'containers with unready status: [web log]',
  });
  assert.deepEqual(s.containerStatuses.map((x) => x.name), ['log', 'web'], 'sorted by name');
  assert.deepEqual(cs(s, 'web'), {
    name: 'web', state: { waiting: { reason: 'ContainerCreating' } }, lastState: {}, ready: false, restartCount: 0,
    image: 'localhost/kna/busybox:latest', imageID: '', started: false,
  });
  assert.equal(s.startTime, rfc3339(NOW));
  assert.equal(s.hostIP, '192.168.1.10');
  assert.deepEqual(s.hostIPs, [{ ip: '192.168.1.10' }]);
  assert.equal(s.podIP, undefined);
  assert.equal(s.qosClass, 'BestEffort');
  assert.equal(s.initContainerStatuses, undefined);
});

test('a running pod is Running and Ready; JSON shape matches the API', () => {
  const pod = makePod({ containers: [c('web')] });
  const s = status(pod, [running('web')]);
  assert.equal(s.phase, 'Running');
  assert.equal(cond(s, 'Ready').status, 'True');
  assert.equal(cond(s, 'ContainersReady').status, 'True');
  assert.equal(cond(s, 'PodReadyToStartContainers').status, 'True');
  assert.deepEqual(cs(s, 'web'), {
    name: 'web', state: { running: { startedAt: rfc3339(T0 + 1000) } }, lastState: {}, ready: true, restartCount: 0,
    image: 'localhost/kna/busybox:latest', imageID: 'sha256:abc', containerID: 'containerd://id-web', started: true,
  });
  assert.deepEqual(Object.keys(cs(s, 'web')), ['name', 'state', 'lastState', 'ready', 'restartCount', 'image', 'imageID', 'containerID', 'started']);
  assert.deepEqual(Object.keys(s), ['phase', 'conditions', 'hostIP', 'hostIPs', 'podIP', 'podIPs', 'startTime', 'containerStatuses', 'qosClass']);
  assert.equal(s.podIP, '10.88.0.5');
});

test('readiness and startup probes decide ready and started', () => {
  const pod = makePod({ containers: [c('web', { readinessProbe: { exec: { command: ['true'] } }, startupProbe: { exec: { command: ['true'] } } })] });
  let s = status(pod, [running('web')]);
  assert.deepEqual([cs(s, 'web').started, cs(s, 'web').ready], [false, false], 'no results yet');
  s = status(pod, [running('web')], { probes: probes({ web: { startup: 'success' } }) });
  assert.deepEqual([cs(s, 'web').started, cs(s, 'web').ready], [true, false], 'started, readiness pending');
  s = status(pod, [running('web')], { probes: probes({ web: { startup: 'success', readiness: 'success' } }) });
  assert.deepEqual([cs(s, 'web').started, cs(s, 'web').ready], [true, true]);
  assert.equal(s.phase, 'Running');
  s = status(pod, [running('web')], { probes: probes({ web: { startup: 'success', readiness: 'failure' } }) });
  assert.equal(cs(s, 'web').ready, false);
  assert.equal(cond(s, 'Ready').message, 'containers with unready status: [web]');
  s = status(pod, [running('web')], { probes: probes({ web: { containerId: 'older', startup: 'success', readiness: 'success' } }) });
  assert.deepEqual([cs(s, 'web').started, cs(s, 'web').ready], [false, false], 'results of another instance are ignored');
});

test('restartPolicy Never: one failed, one succeeded -> Failed', () => {
  const pod = makePod({ restartPolicy: 'Never', containers: [c('a'), c('b')] });
  const s = status(pod, [exited('a', 1), exited('b', 0)]);
  assert.equal(s.phase, 'Failed');
  assert.deepEqual([cond(s, 'Ready').status, cond(s, 'Ready').reason], ['False', 'PodFailed']);
  assert.deepEqual([cond(s, 'ContainersReady').status, cond(s, 'ContainersReady').reason], ['False', 'PodFailed']);
  assert.deepEqual(cs(s, 'a').state, { terminated: { exitCode: 1, reason: 'Error', startedAt: rfc3339(T0 + 1000), finishedAt: rfc3339(T0 + 5000), containerID: 'containerd://id-a' } });
  assert.equal(status(pod, [exited('a', 0), exited('b', 0)]).phase, 'Succeeded');
  assert.equal(status(pod, [exited('a', 1), running('b')]).phase, 'Running');
});

test('restartPolicy OnFailure: all succeeded -> Succeeded; a failure restarts -> Running', () => {
  const pod = makePod({ restartPolicy: 'OnFailure', containers: [c('a'), c('b')] });
  const s = status(pod, [exited('a', 0), exited('b', 0)]);
  assert.equal(s.phase, 'Succeeded');
  assert.deepEqual([cond(s, 'Ready').status, cond(s, 'Ready').reason], ['False', 'PodCompleted']);
  assert.deepEqual([cond(s, 'Initialized').status, cond(s, 'Initialized').reason], ['True', 'PodCompleted']);
  assert.equal(status(pod, [exited('a', 0), exited('b', 2)]).phase, 'Running');
});

test('restartPolicy Always: terminated containers -> Running; a terminal pod gets its final phase', () => {
  const pod = makePod({ containers: [c('a'), c('b')] });
  assert.equal(status(pod, [exited('a', 0), running('b')]).phase, 'Running');
  assert.equal(status(pod, [exited('a', 0), exited('b', 1)]).phase, 'Running');
  assert.equal(status(pod, [exited('a', 0), exited('b', 0)], { terminal: true }).phase, 'Succeeded');
  assert.equal(status(pod, [exited('a', 0), exited('b', 137)], { terminal: true }).phase, 'Failed');
  assert.equal(status(pod, [running('a')]).phase, 'Pending', 'b not created yet');
});

test('CrashLoopBackOff: waiting with the back-off message, last state terminated, phase Running', () => {
  const pod = makePod({ containers: [c('web')] });
  const message = 'back-off 20s restarting failed container=web pod=web_default(uid-1)';
  const s = status(pod, [exited('web', 1, { restartCount: 2 })], { waiting: waits({ web: { reason: 'CrashLoopBackOff', message } }) });
  assert.equal(s.phase, 'Running');
  const w = cs(s, 'web');
  assert.deepEqual(w.state, { waiting: { reason: 'CrashLoopBackOff', message } });
  assert.equal(w.lastState.terminated?.exitCode, 1);
  assert.equal(w.lastState.terminated?.reason, 'Error');
  assert.equal(w.restartCount, 2);
  assert.equal(w.ready, false);
  // with Never the container stays terminated: the reason does not apply
  const never = makePod({ restartPolicy: 'Never', containers: [c('web')] });
  const n = status(never, [exited('web', 1)], { waiting: waits({ web: { reason: 'CrashLoopBackOff', message } }) });
  assert.equal(cs(n, 'web').state.terminated?.exitCode, 1);
  assert.equal(n.phase, 'Failed');
});

test('image pull and config errors show as waiting reasons on containers never started', () => {
  const pod = makePod({ containers: [c('web'), c('side')] });
  const s = status(pod, [running('side')], {
    waiting: waits({ web: { reason: 'ErrImagePull', message: 'Failed to pull image "x": not found' }, side: { reason: 'CreateContainerConfigError', message: 'x' } }),
  });
  assert.equal(s.phase, 'Pending');
  assert.deepEqual(cs(s, 'web').state, { waiting: { reason: 'ErrImagePull', message: 'Failed to pull image "x": not found' } });
  assert.ok(cs(s, 'side').state.running, 'a running container ignores stale reasons');
});

test('init containers: running init -> Pending with PodInitializing on app containers', () => {
  const pod = makePod({ initContainers: [c('init1'), c('init2')], containers: [c('web')] });
  let s = status(pod, [running('init1')]);
  assert.equal(s.phase, 'Pending');
  assert.deepEqual(cs(s, 'web').state, { waiting: { reason: 'PodInitializing' } });
  assert.deepEqual(cond(s, 'Initialized'), {
    type: 'Initialized', status: 'False', lastProbeTime: null, lastTransitionTime: rfc3339(NOW), reason: 'ContainersNotInitialized', message: 'containers with incomplete status: [init1 init2]',
  });
  assert.deepEqual(s.initContainerStatuses?.map((x) => x.name), ['init1', 'init2'], 'spec order');
  assert.deepEqual(cs(s, 'init2').state, { waiting: { reason: 'PodInitializing' } });

  s = status(pod, [exited('init1', 0), exited('init2', 0), running('web')]);
  assert.equal(s.phase, 'Running');
  assert.equal(cond(s, 'Initialized').status, 'True');
  assert.deepEqual([cs(s, 'init1').ready, cs(s, 'init1').state.terminated?.reason], [true, 'Completed']);
  assert.equal(cond(s, 'Ready').status, 'True');
});

test('a failed init container: Never -> Failed; Always -> Pending while it retries', () => {
  const never = makePod({ restartPolicy: 'Never', initContainers: [c('init')], containers: [c('web')] });
  assert.equal(status(never, [exited('init', 1)]).phase, 'Failed');
  const always = makePod({ initContainers: [c('init')], containers: [c('web')] });
  const s = status(always, [exited('init', 1)], { waiting: waits({ init: { reason: 'CrashLoopBackOff', message: 'back-off' } }) });
  assert.equal(s.phase, 'Pending');
  assert.equal(cs(s, 'init').state.waiting?.reason, 'CrashLoopBackOff');
  assert.equal(cs(s, 'init').lastState.terminated?.exitCode, 1);
});

test('sidecar init containers: started sidecar lets the pod run, its readiness counts', () => {
  const pod = makePod({ initContainers: [c('proxy', { restartPolicy: 'Always', readinessProbe: { exec: { command: ['true'] } } })], containers: [c('web')] });
  let s = status(pod, [running('proxy')]);
  assert.equal(s.phase, 'Pending', 'app container not created yet');
  assert.equal(cond(s, 'Initialized').status, 'True', 'sidecar started');
  s = status(pod, [running('proxy'), running('web')]);
  assert.equal(s.phase, 'Running');
  assert.equal(cond(s, 'ContainersReady').message, 'containers with unready status: [proxy]');
  s = status(pod, [running('proxy'), running('web')], { probes: probes({ proxy: { readiness: 'success' } }) });
  assert.equal(cond(s, 'Ready').status, 'True');
  // the app finished and the pod may not restart it: the sidecar does not keep it Running
  const job = makePod({ restartPolicy: 'Never', initContainers: [c('proxy', { restartPolicy: 'Always' })], containers: [c('web')] });
  assert.equal(status(job, [running('proxy'), exited('web', 0)]).phase, 'Running', 'sidecar still running');
  assert.equal(status(job, [exited('proxy', 137), exited('web', 0)]).phase, 'Succeeded');
});

test('previous status: transition times, start time, lastState and terminal phases are kept', () => {
  const pod = makePod({ containers: [c('web')] });
  const first = status(pod, [running('web')]);
  const later = status(pod, [running('web')], { previous: first, now: NOW + 30_000 });
  assert.equal(cond(later, 'Ready').lastTransitionTime, rfc3339(NOW), 'unchanged status keeps its time');
  assert.equal(later.startTime, first.startTime);
  const flipped = status(pod, [exited('web', 1, { restartCount: 0 })], { previous: later, now: NOW + 45_000 });
  assert.equal(cond(flipped, 'Ready').lastTransitionTime, rfc3339(NOW + 45_000));
  // the runtime removed the old instance: lastState comes from what we reported
  const restarted = status(pod, [running('web', { containerId: 'id-web-2', restartCount: 1, createdAt: NOW + 50_000 })], { previous: flipped, now: NOW + 50_000 });
  assert.equal(restarted.containerStatuses[0]!.lastState.terminated?.containerID, 'containerd://id-web');
  assert.equal(restarted.containerStatuses[0]!.restartCount, 1);
  const again = status(pod, [running('web', { containerId: 'id-web-2', restartCount: 1, createdAt: NOW + 50_000 })], { previous: restarted, now: NOW + 55_000 });
  assert.equal(again.containerStatuses[0]!.lastState.terminated?.containerID, 'containerd://id-web', 'kept while the same instance runs');
  // terminal phases stick
  const done = { ...first, phase: 'Succeeded' as const };
  assert.equal(status(pod, [running('web')], { previous: done }).phase, 'Succeeded');
});

test('lastState from the previous runtime instance', () => {
  const pod = makePod({ containers: [c('web')] });
  const s = status(pod, [running('web', { restartCount: 1, previous: { containerId: 'old', exitCode: 2, reason: 'Error', startedAt: T0, finishedAt: T0 + 500 } })]);
  assert.deepEqual(cs(s, 'web').lastState, { terminated: { exitCode: 2, reason: 'Error', startedAt: rfc3339(T0), finishedAt: rfc3339(T0 + 500), containerID: 'containerd://old' } });
  // older instances passed as separate observations work too
  const s2 = status(pod, [exited('web', 3, { containerId: 'old', createdAt: T0 - 10_000 }), running('web', { containerId: 'new', restartCount: 1 })]);
  assert.equal(cs(s2, 'web').lastState.terminated?.exitCode, 3);
  assert.equal(cs(s2, 'web').containerID, 'containerd://new');
});

test('a container that vanished while running is reported terminated (ContainerStatusUnknown)', () => {
  const pod = makePod({ containers: [c('web')] });
  const before = status(pod, [running('web')]);
  const s = status(pod, [], { previous: before });
  assert.deepEqual(cs(s, 'web').lastState.terminated?.reason, 'ContainerStatusUnknown');
  assert.equal(cs(s, 'web').restartCount, 1);
  assert.equal(s.phase, 'Running');
  const unknown = status(pod, [running('web', { state: 'unknown' })], { previous: before });
  assert.deepEqual(cs(unknown, 'web').state.terminated?.exitCode, 137);
});

test('activeDeadlineSeconds exceeded -> Failed with DeadlineExceeded', () => {
  const pod = makePod({ activeDeadlineSeconds: 30, containers: [c('web')] });
  // The pod started (its sandbox was made) at NOW; the deadline counts from there.
  const sandboxes = [sandbox({ createdAt: NOW })];
  const first = status(pod, [running('web')], { sandboxes });
  assert.equal(first.phase, 'Running');
  const s = status(pod, [running('web')], { sandboxes, previous: first, now: NOW + 30_000 });
  assert.deepEqual([s.phase, s.reason, s.message], ['Failed', 'DeadlineExceeded', 'Pod was active on the node longer than the specified deadline']);
});

test('pod IPs: node family first; host network pods use the node IPs; readiness gates', () => {
  const pod = makePod({ containers: [c('web')] });
  const s = status(pod, [running('web')], { sandboxes: [sandbox({ podIPs: ['fd00::5', '10.88.0.5', '10.88.0.6'] })] });
  assert.deepEqual(s.podIPs, [{ ip: '10.88.0.5' }, { ip: 'fd00::5' }]);
  const notReady = status(pod, [running('web')], { sandboxes: [sandbox({ ready: false })] });
  assert.equal(notReady.podIP, undefined);
  assert.equal(cond(notReady, 'PodReadyToStartContainers').status, 'False');
  const host = makePod({ hostNetwork: true, containers: [c('web')] });
  assert.equal(status(host, [running('web')], { sandboxes: [sandbox({ podIPs: [] })] }).podIP, '192.168.1.10');
  const gated = makePod({ readinessGates: [{ conditionType: 'example.com/lb' }], containers: [c('web')] });
  const g = status(gated, [running('web')]);
  assert.deepEqual([cond(g, 'Ready').status, cond(g, 'Ready').reason, cond(g, 'Ready').message],
    ['False', 'ReadinessGatesNotReady', 'corresponding condition of pod readiness gate "example.com/lb" does not exist.']);
  const prev: PodStatus = { ...g, conditions: [...g.conditions, { type: 'example.com/lb', status: 'True', lastProbeTime: null, lastTransitionTime: null }] };
  const g2 = status(gated, [running('web')], { previous: prev });
  assert.equal(cond(g2, 'Ready').status, 'True');
  assert.equal(g2.conditions[0]!.type, 'example.com/lb', 'foreign conditions kept, first');
});
