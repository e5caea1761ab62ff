// What a pod's containers see: ConfigMaps and Secrets from the folder (volumes, env,
// envFrom, updates), downward API, resource limits in the cgroup, security context,
// hostNetwork, and kubelet's reasons when an image cannot be pulled.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nodePerFile } from '../harness/agent.js';

const node = nodePerFile('cfg');


const running = (name: string) => node.agent.waitPod(name, (p) => p.status.phase === 'Running' && p.status.containerStatuses?.every((c) => c.state.running) === true, 'Running');
const sh = async (pod: string, script: string) => String((await node.agent.kna(['exec', pod, '--', 'sh', '-c', script])).stdout).trim();

const objects = (greeting: string) => `
apiVersion: v1
kind: ConfigMap
metadata: { name: settings }
data: { greeting: ${greeting}, mode: fast }
---
apiVersion: v1
kind: Secret
metadata: { name: creds }
stringData: { password: s3cret }
`;

test('ConfigMap and Secret reach volumes, env and envFrom; a changed ConfigMap updates the mounted file', async () => {
  node.agent.writeManifest('objects.yaml', objects('hello'));
  node.agent.writeManifest('app.yaml', `
apiVersion: v1
kind: Pod
metadata: { name: app, labels: { tier: backend } }
spec:
  terminationGracePeriodSeconds: 0
  containers:
    - name: main
      image: localhost/kna/busybox:latest
      imagePullPolicy: IfNotPresent
      command: [sleep, '100000']
      env:
        - { name: GREETING, valueFrom: { configMapKeyRef: { name: settings, key: greeting } } }
        - { name: PASSWORD, valueFrom: { secretKeyRef: { name: creds, key: password } } }
        - { name: MEM_LIMIT, valueFrom: { resourceFieldRef: { resource: limits.memory, divisor: 1Mi } } }
        - { name: MESSAGE, value: '$(GREETING) world' }
      envFrom: [{ prefix: CFG_, configMapRef: { name: settings } }]
      resources: { limits: { memory: 48Mi, cpu: 250m } }
      volumeMounts:
        - { name: settings, mountPath: /etc/settings }
        - { name: creds, mountPath: /etc/creds }
        - { name: info, mountPath: /etc/podinfo }
  volumes:
    - { name: settings, configMap: { name: settings } }
    - { name: creds, secret: { secretName: creds, defaultMode: 0400 } }
    - name: info
      downwardAPI:
        items:
          - { path: labels, fieldRef: { fieldPath: metadata.labels } }
          - { path: name, fieldRef: { fieldPath: metadata.name } }
`);
  const pod = await running('app');
  assert.equal(pod.status.qosClass, 'Guaranteed');
  assert.equal(await sh('app', 'echo "$GREETING|$PASSWORD|$MEM_LIMIT|$MESSAGE|$CFG_mode"'), 'hello|s3cret|48|hello world|fast');
  assert.equal(await sh('app', 'cat /etc/settings/greeting'), 'hello');
  assert.equal(await sh('app', 'cat /etc/creds/password; echo; stat -L -c %a /etc/creds/password'), 's3cret\n400');
  assert.equal(await sh('app', 'cat /etc/podinfo/labels; echo; cat /etc/podinfo/name'), 'tier="backend"\napp');
  assert.equal(await sh('app', 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes'), String(48 * 1024 * 1024));
  assert.equal(await sh('app', 'cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us'), '25000');
  assert.notEqual((await node.agent.kna(['exec', 'app', '--', 'touch', '/etc/settings/x'], { reject: false })).exitCode, 0, 'configMap volumes are read-only');

  node.agent.writeManifest('objects.yaml', objects('bonjour'));
  await node.agent.waitFor('the mounted file follows the ConfigMap', async () => (await sh('app', 'cat /etc/settings/greeting')) === 'bonjour', 60_000);
  node.agent.removeManifest('app.yaml');
});

test('securityContext: runAsUser/runAsGroup and a read-only root filesystem', async () => {
  node.agent.writeManifest('secure.yaml', `
apiVersion: v1
kind: Pod
metadata: { name: secure }
spec:
  terminationGracePeriodSeconds: 0
  securityContext: { runAsUser: 1000, runAsGroup: 3000 }
  containers:
    - name: main
      image: localhost/kna/busybox:latest
      imagePullPolicy: IfNotPresent
      command: [sleep, '100000']
      securityContext: { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: [ALL] } }
`);
  await running('secure');
  assert.equal(await sh('secure', 'id -u; id -g'), '1000\n3000');
  assert.notEqual((await node.agent.kna(['exec', 'secure', '--', 'touch', '/root-file'], { reject: false })).exitCode, 0);
  assert.match(await sh('secure', 'grep CapEff /proc/self/status'), /CapEff:\s+0+$/);
  node.agent.removeManifest('secure.yaml');
});

test('a hostNetwork pod gets the node\'s network and IP', async () => {
  node.agent.writeManifest('hostnet.yaml', `
apiVersion: v1
kind: Pod
metadata: { name: hostnet }
spec:
  terminationGracePeriodSeconds: 0
  hostNetwork: true
  containers:
    - { name: main, image: localhost/kna/busybox:latest, imagePullPolicy: IfNotPresent, command: [sleep, '100000'] }
`);
  const pod = await running('hostnet');
  assert.ok(pod.status.podIP);
  assert.equal(pod.status.podIP, pod.status.hostIP);
  assert.match(await sh('hostnet', 'ip -o addr'), new RegExp(pod.status.podIP!.replace(/\./g, '\\.')));
  node.agent.removeManifest('hostnet.yaml');
});

test('an image that cannot be pulled shows ErrImagePull, then ImagePullBackOff', async () => {
  node.agent.writeManifest('nopull.yaml', `
apiVersion: v1
kind: Pod
metadata: { name: nopull }
spec:
  terminationGracePeriodSeconds: 0
  containers:
    - { name: main, image: 'localhost/kna/does-not-exist:v1', command: [sleep, '1'] }
`);
  const seen = new Set<string>();
  await node.agent.waitFor('both pull reasons', async () => {
    const reason = (await node.agent.pod('nopull'))?.status.containerStatuses?.[0]?.state.waiting?.reason;
    if (reason) seen.add(reason);
    return seen.has('ErrImagePull') && seen.has('ImagePullBackOff');
  }, 60_000);
  const p = await node.agent.pod('nopull');
  assert.equal(p?.status.phase, 'Pending');
  node.agent.removeManifest('nopull.yaml');
});
