// restartPolicy, crash back-off and probes against real containers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nodePerFile, type PodJson } from '../harness/agent.js';

const node = nodePerFile('rst');


const pod = (name: string, spec: string) => `
apiVersion: v1
kind: Pod
metadata: { name: ${name} }
spec:
${spec.replace(/^/gm, '  ')}
`;
const c0 = (p: PodJson) => p.status.containerStatuses?.[0];
const ready = (p: PodJson) => p.status.conditions?.find((c) => c.type === 'Ready')?.status;

test('a crashing container restarts with back-off, shows CrashLoopBackOff and keeps its last state', async () => {
  node.agent.writeManifest('crash.yaml', pod('crash', `
terminationGracePeriodSeconds: 1
containers:
  - name: app
    image: localhost/kna/busybox:latest
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'echo run; exit 2']`));
  const p = await node.agent.waitPod('crash', (x) => (c0(x)?.restartCount ?? 0) >= 1 && c0(x)?.state.waiting?.reason === 'CrashLoopBackOff', 'CrashLoopBackOff after a restart', 90_000);
  assert.equal(p.status.phase, 'Running');
  assert.equal(c0(p)?.lastState.terminated?.exitCode, 2);
  assert.equal(c0(p)?.lastState.terminated?.reason, 'Error');
  assert.match(c0(p)?.state.waiting?.message ?? '', /back-off \d+s restarting failed container=app pod=crash_default/);
  // Previous instance's log is readable.
  const prev = await node.agent.kna(['logs', 'crash', '-p']);
  assert.match(String(prev.stdout), /^run$/m);
  node.agent.removeManifest('crash.yaml');
  await node.agent.waitFor('crash gone', async () => (await node.agent.pod('crash')) === undefined);
});

test('restartPolicy Never: a failed container makes the pod Failed; OnFailure: success makes it Succeeded', async () => {
  node.agent.writeManifest('never.yaml', pod('never', `
restartPolicy: Never
containers:
  - { name: ok, image: localhost/kna/busybox:latest, imagePullPolicy: IfNotPresent, command: [sh, -c, 'exit 0'] }
  - { name: bad, image: localhost/kna/busybox:latest, imagePullPolicy: IfNotPresent, command: [sh, -c, 'exit 7'] }`));
  node.agent.writeManifest('onfail.yaml', pod('onfail', `
restartPolicy: OnFailure
containers:
  - { name: ok, image: localhost/kna/busybox:latest, imagePullPolicy: IfNotPresent, command: [sh, -c, 'echo done'] }`));
  const never = await node.agent.waitPod('never', (x) => x.status.phase === 'Failed', 'Failed');
  const bad = never.status.containerStatuses?.find((c) => c.name === 'bad');
  assert.equal(bad?.state.terminated?.exitCode, 7);
  assert.equal(bad?.restartCount, 0);
  const onfail = await node.agent.waitPod('onfail', (x) => x.status.phase === 'Succeeded', 'Succeeded');
  assert.equal(c0(onfail)?.state.terminated?.reason, 'Completed');
  assert.equal(ready(onfail), 'False');
  node.agent.removeManifest('never.yaml');
  node.agent.removeManifest('onfail.yaml');
});

test('a readiness probe flips Ready both ways; a failing liveness probe restarts the container', async () => {
  node.agent.writeManifest('probed.yaml', pod('probed', `
terminationGracePeriodSeconds: 1
containers:
  - name: app
    image: localhost/kna/busybox:latest
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'touch /tmp/alive; exec sleep 100000']
    readinessProbe: { exec: { command: [test, -f, /tmp/ready] }, periodSeconds: 1 }
    livenessProbe: { exec: { command: [test, -f, /tmp/alive] }, periodSeconds: 1, failureThreshold: 2 }`));
  await node.agent.waitPod('probed', (x) => x.status.phase === 'Running' && ready(x) === 'False', 'Running, not Ready');
  await node.agent.kna(['exec', 'probed', '--', 'touch', '/tmp/ready']);
  await node.agent.waitPod('probed', (x) => ready(x) === 'True' && c0(x)?.ready === true, 'Ready');
  await node.agent.kna(['exec', 'probed', '--', 'rm', '/tmp/ready']);
  await node.agent.waitPod('probed', (x) => ready(x) === 'False', 'not Ready again');
  await node.agent.kna(['exec', 'probed', '--', 'rm', '/tmp/alive']);
  const restarted = await node.agent.waitPod('probed', (x) => (c0(x)?.restartCount ?? 0) >= 1, 'restarted by liveness', 60_000);
  assert.ok(c0(restarted)?.lastState.terminated, 'the killed instance is the last state');
  node.agent.removeManifest('probed.yaml');
});
