// Crash safety: the agent killed with -9 adopts its pods; containerd restarting is
// survived; containers removed behind the agent's back come back; bad manifests are
// reported without disturbing the others.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { nodePerFile } from '../harness/agent.js';

const node = nodePerFile('rec');

const podYaml = (name: string, container: string) => `
apiVersion: v1
kind: Pod
metadata: { name: ${name} }
spec:
  terminationGracePeriodSeconds: 1
  containers: [${container}]
`;
const BUSYBOX = 'image: localhost/kna/busybox:latest, imagePullPolicy: IfNotPresent';
const sleeper = (name: string) => podYaml(name, `{ name: app, ${BUSYBOX}, command: [sleep, '100000'] }`);
// Readiness from an exec probe: Ready only while probes run for the container.
const probed = (name: string) => podYaml(name, `{ name: app, ${BUSYBOX}, command: [sh, -c, 'touch /tmp/ready; exec sleep 100000'], readinessProbe: { exec: { command: [cat, /tmp/ready] }, periodSeconds: 1 } }`);
const running = (name: string) => node.agent.waitPod(name, (p) => p.status.phase === 'Running' && p.status.containerStatuses?.[0]?.state.running !== undefined, 'Running');
const podUid = (uid: string) => ({ labelSelector: { 'io.kubernetes.pod.uid': uid } });

const ready = (name: string) => node.agent.waitPod(name, (p) => p.status.containerStatuses?.[0]?.ready === true
  && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true, 'Ready');

test('kill -9 of the agent: on restart its pods are adopted, not duplicated, not restarted, and Ready again', async () => {
  node.agent.writeManifest('a.yaml', probed('adopted'));
  const before = await ready('adopted');
  const uid = before.metadata.uid;
  const cid = before.status.containerStatuses![0]!.containerID;
  await node.agent.kill9();
  node.agent.start();
  const after = await running('adopted');
  // Probes run for adopted containers too: readiness comes back without a restart.
  await ready('adopted');
  // Several relists later nothing has been recreated.
  await sleep(3000);
  const again = await node.agent.pod('adopted');
  assert.equal(after.metadata.uid, uid);
  assert.equal(again?.status.containerStatuses?.[0]?.containerID, cid);
  assert.equal(again?.status.containerStatuses?.[0]?.restartCount, 0);
  assert.equal((await node.containerd.cri.listPodSandbox(podUid(uid))).length, 1);
  assert.equal((await node.containerd.cri.listContainers(podUid(uid))).length, 1);
});

test('a container removed behind the agent\'s back comes back', async () => {
  const p = await running('adopted');
  const cid = p.status.containerStatuses![0]!.containerID!.replace('containerd://', '');
  await node.containerd.cri.stopContainer(cid, 0);
  await node.containerd.cri.removeContainer(cid);
  const back = await node.agent.waitPod('adopted', (x) => {
    const id = x.status.containerStatuses?.[0]?.containerID;
    return !!id && !id.endsWith(cid) && x.status.containerStatuses?.[0]?.state.running !== undefined;
  }, 'a new running container');
  assert.equal((await node.containerd.cri.listContainers(podUid(back.metadata.uid))).filter((c) => c.state === 'CONTAINER_RUNNING').length, 1);
});

test('containerd restarting is survived: pods keep running and new pods start afterwards', async () => {
  const before = await running('adopted');
  await node.containerd.restart();
  node.agent.writeManifest('b.yaml', sleeper('after-restart'));
  await running('after-restart');
  const same = await node.agent.pod('adopted');
  assert.equal(same?.status.containerStatuses?.[0]?.containerID, before.status.containerStatuses?.[0]?.containerID);
});

test('a malformed manifest is reported with file and field, and other pods keep running', async () => {
  node.agent.writeManifest('bad.yaml', `
apiVersion: v1
kind: Pod
metadata: { name: broken }
spec:
  containers:
    - name: app
      image: localhost/kna/busybox:latest
      ports: [{ containerPort: 70000 }]
`);
  node.agent.writeManifest('garbage.yaml', 'this: [is: not yaml');
  await node.agent.waitFor('errors logged', async () => /bad\.yaml.*spec\.containers\[0\]\.ports\[0\]\.containerPort/.test(node.agent.log()) && /garbage\.yaml/.test(node.agent.log()));
  await sleep(1500);
  assert.equal(await node.agent.pod('broken'), undefined);
  const p = await node.agent.pod('adopted');
  assert.equal(p?.status.phase, 'Running');
  assert.equal(p?.status.containerStatuses?.[0]?.restartCount, 0);
});

test('a manifest removed and put back while its pod terminates brings the pod back', async () => {
  const text = `
apiVersion: v1
kind: Pod
metadata: { name: flip }
spec:
  terminationGracePeriodSeconds: 3
  containers:
    - { name: app, image: localhost/kna/busybox:latest, imagePullPolicy: IfNotPresent, command: [sh, -c, 'trap "" TERM; while true; do sleep 0.2; done'] }
`;
  node.agent.writeManifest('flip.yaml', text);
  const first = await running('flip');
  node.agent.removeManifest('flip.yaml');
  await node.agent.waitFor('termination under way', async () => /"pod":"default\/flip".*"msg":"terminating pod"/.test(node.agent.log()));
  node.agent.writeManifest('flip.yaml', text);
  const back = await node.agent.waitPod('flip', (p) => p.status.phase === 'Running' && p.status.containerStatuses?.[0]?.state.running !== undefined
    && p.status.containerStatuses[0].containerID !== first.status.containerStatuses?.[0]?.containerID, 'running again in a new container', 60_000);
  assert.equal(back.metadata.uid, first.metadata.uid);
  node.agent.removeManifest('flip.yaml');
});
