// Graceful termination: preStop before SIGTERM, and the grace period's end kills.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { nodePerFile } from '../harness/agent.js';

const node = nodePerFile('term');

let shared: string;
before(async () => {
  shared = mkdtempSync('/tmp/kna-t-term-');
});
after(async () => {
  rmSync(shared, { recursive: true, force: true });
});

test('preStop runs before SIGTERM reaches the container', async () => {
  node.agent.writeManifest('stop.yaml', `
apiVersion: v1
kind: Pod
metadata: { name: stopper }
spec:
  terminationGracePeriodSeconds: 20
  containers:
    - name: app
      image: localhost/kna/busybox:latest
      imagePullPolicy: IfNotPresent
      command: [sh, -c, 'trap "echo term >> /shared/events; exit 0" TERM; while true; do sleep 0.2; done']
      lifecycle:
        preStop: { exec: { command: [sh, -c, 'echo prestop >> /shared/events'] } }
      volumeMounts: [{ name: shared, mountPath: /shared }]
  volumes: [{ name: shared, hostPath: { path: ${shared}, type: Directory } }]
`);
  await node.agent.waitPod('stopper', (p) => p.status.phase === 'Running' && p.status.containerStatuses?.[0]?.state.running !== undefined, 'Running');
  node.agent.removeManifest('stop.yaml');
  await node.agent.waitFor('stopper gone', async () => (await node.agent.pod('stopper')) === undefined);
  assert.deepEqual(readFileSync(`${shared}/events`, 'utf8').trim().split('\n'), ['prestop', 'term']);
});

test('a container that ignores SIGTERM is killed (exit 137) when the grace period ends', async () => {
  // A liveness failure kills with the pod's grace period and keeps the killed
  // instance as lastState, so its exit code can be read.
  node.agent.writeManifest('stubborn.yaml', `
apiVersion: v1
kind: Pod
metadata: { name: stubborn }
spec:
  terminationGracePeriodSeconds: 2
  containers:
    - name: app
      image: localhost/kna/busybox:latest
      imagePullPolicy: IfNotPresent
      command: [sh, -c, 'trap "" TERM; touch /tmp/alive; while true; do sleep 0.2; done']
      livenessProbe: { exec: { command: [test, -f, /tmp/alive] }, periodSeconds: 1, failureThreshold: 1 }
`);
  await node.agent.waitPod('stubborn', (x) => x.status.phase === 'Running' && x.status.containerStatuses?.[0]?.state.running !== undefined, 'Running');
  await node.agent.kna(['exec', 'stubborn', '--', 'rm', '/tmp/alive']);
  const p = await node.agent.waitPod('stubborn', (x) => (x.status.containerStatuses?.[0]?.restartCount ?? 0) >= 1, 'restarted', 60_000);
  assert.equal(p.status.containerStatuses?.[0]?.lastState.terminated?.exitCode, 137);
  node.agent.removeManifest('stubborn.yaml');
  await node.agent.waitFor('stubborn gone', async () => (await node.agent.pod('stubborn')) === undefined);
});

test('postStart runs once the container starts; a failing postStart kills it and it restarts', async () => {
  node.agent.writeManifest('hooks.yaml', `
apiVersion: v1
kind: Pod
metadata: { name: hooked }
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: ok
      image: localhost/kna/busybox:latest
      imagePullPolicy: IfNotPresent
      command: [sleep, '100000']
      lifecycle:
        postStart: { exec: { command: [sh, -c, 'echo started > /tmp/poststart'] } }
    - name: bad
      image: localhost/kna/busybox:latest
      imagePullPolicy: IfNotPresent
      command: [sleep, '100000']
      lifecycle:
        postStart: { exec: { command: [sh, -c, 'exit 1'] } }
`);
  await node.agent.waitPod('hooked', (p) => p.status.containerStatuses?.find((c) => c.name === 'ok')?.state.running !== undefined, 'ok running');
  assert.equal(String((await node.agent.kna(['exec', 'hooked', '-c', 'ok', '--', 'cat', '/tmp/poststart'])).stdout).trim(), 'started');
  await node.agent.waitPod('hooked', (p) => (p.status.containerStatuses?.find((c) => c.name === 'bad')?.restartCount ?? 0) >= 1, 'bad restarted', 60_000);
  assert.match(node.agent.log(), /"container":"bad".*FailedPostStartHook/);
  node.agent.removeManifest('hooks.yaml');
  await node.agent.waitFor('hooked gone', async () => (await node.agent.pod('hooked')) === undefined);
});
