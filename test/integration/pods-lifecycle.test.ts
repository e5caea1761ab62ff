// A standalone node running real pods: init containers, emptyDir, env, readiness,
// logs, exec, and removal from the folder, all through the real binary and containerd.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { nodePerFile } from '../harness/agent.js';

const node = nodePerFile('life');



const BUSYBOX = 'localhost/kna/busybox:latest';

test('init container writes into an emptyDir the app serves; the pod gets Running, Ready and an IP', async () => {
  node.agent.writeManifest('web.yaml', `
apiVersion: v1
kind: Pod
metadata: { name: web, labels: { app: web } }
spec:
  terminationGracePeriodSeconds: 2
  initContainers:
    - name: page
      image: ${BUSYBOX}
      imagePullPolicy: IfNotPresent
      command: [sh, -c, 'echo "hello from $(POD_NAME) in $(POD_NS)" > /www/index.html']
      env:
        - { name: POD_NAME, valueFrom: { fieldRef: { fieldPath: metadata.name } } }
        - { name: POD_NS, valueFrom: { fieldRef: { fieldPath: metadata.namespace } } }
      volumeMounts: [{ name: www, mountPath: /www }]
  containers:
    - name: httpd
      image: ${BUSYBOX}
      imagePullPolicy: IfNotPresent
      command: [sh, -c, 'echo serving; exec httpd -f -v -p 8080 -h /www']
      ports: [{ name: http, containerPort: 8080 }]
      readinessProbe: { httpGet: { path: /, port: http }, periodSeconds: 1 }
      volumeMounts: [{ name: www, mountPath: /www }]
  volumes: [{ name: www, emptyDir: {} }]
`);
  const pod = await node.agent.waitPod('web', (p) => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false, 'Ready');
  assert.equal(pod.status.phase, 'Running');
  assert.match(pod.status.podIP ?? '', /^10\./);
  assert.ok(pod.status.startTime);
  const init = pod.status.initContainerStatuses?.[0];
  assert.equal(init?.state.terminated?.exitCode, 0);
  assert.equal(init?.state.terminated?.reason, 'Completed');
  const httpd = pod.status.containerStatuses?.[0];
  assert.equal(httpd?.ready, true);
  assert.equal(httpd?.restartCount, 0);
  assert.match(httpd?.containerID ?? '', /^containerd:\/\/[0-9a-f]{64}$/);
  assert.ok(httpd?.state.running?.startedAt);
  for (const type of ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready', 'PodReadyToStartContainers']) {
    assert.equal(pod.status.conditions?.find((c) => c.type === type)?.status, 'True', type);
  }

  // The page the init container wrote, fetched by an exec in the app container.
  const r = await node.agent.kna(['exec', 'web', '-c', 'httpd', '--', 'cat', '/www/index.html']);
  assert.equal(String(r.stdout).trim(), 'hello from web in default');
  const bad = await node.agent.kna(['exec', 'web', '--', 'sh', '-c', 'exit 3'], { reject: false });
  assert.equal(bad.exitCode, 3);
  // stdin reaches the command, and so does its end: `sh` reads to EOF, then answers.
  const input = `${'x'.repeat(200_000)}\nlast line\n`;
  const piped = await node.agent.kna(['exec', '-i', 'web', '-c', 'httpd', '--', 'sh', '-c', 'wc -c; echo done >&2; exit 4'], { input, reject: false });
  assert.deepEqual([String(piped.stdout).trim(), String(piped.stderr), piped.exitCode], [String(input.length), 'done', 4]);
  const echoed = await node.agent.kna(['exec', '-i', 'web', '--', 'cat'], { input: 'one\ntwo\n' });
  assert.equal(String(echoed.stdout), 'one\ntwo', 'execa drops the last newline');

  // port-forward: local ports carry connections to the pod's ports, several at once; a
  // port nothing listens on gets its connection closed and the reason printed.
  const pf = node.agent.kna(['port-forward', 'web', ':8080', ':9999'], { reject: false });
  let pfOut = '';
  const ports = await new Promise<number[]>((resolve, reject) => {
    pf.stdout!.on('data', (d: Buffer) => {
      pfOut += d;
      const m = [...pfOut.matchAll(/^Forwarding from 127\.0\.0\.1:(\d+) -> (8080|9999)$/gm)].map((x) => Number(x[1]));
      if (m.length === 2) resolve(m);
    });
    void pf.then((r) => reject(new Error(`kna port-forward ended (${r.exitCode}): ${pfOut} ${String(r.stderr)}`)));
  });
  try {
    const page = (): Promise<string> => fetch(`http://127.0.0.1:${ports[0]!}/`).then((r) => r.text());
    assert.deepEqual(await Promise.all([page(), page(), page()]), Array(3).fill('hello from web in default\n'));
    await assert.rejects(fetch(`http://127.0.0.1:${ports[1]!}/`));
  } finally {
    pf.kill();
  }
  assert.match(String((await pf).stderr), /an error occurred forwarding 9999: /);

  const logs = await node.agent.kna(['logs', 'web', '-c', 'httpd']);
  assert.match(String(logs.stdout), /^serving$/m);
  const table = await node.agent.kna(['get', 'pods', '-o', 'wide']);
  assert.match(String(table.stdout), new RegExp(`default\\s+web\\s+1/1\\s+Running\\s+0\\s+\\S+\\s+${pod.status.podIP!.replace(/\./g, '\\.')}`));
});

test('a pod removed from the folder is terminated and its sandbox, containers and volumes removed', async () => {
  const before = await node.agent.pod('web');
  assert.ok(before, 'the previous test leaves web running');
  const uid = before.metadata.uid;
  node.agent.removeManifest('web.yaml');
  await node.agent.waitFor('web gone', async () => (await node.agent.pod('web')) === undefined);
  await node.agent.waitFor('runtime has no sandbox for web', async () => (await node.containerd.cri.listPodSandbox({ labelSelector: { 'io.kubernetes.pod.uid': uid } })).length === 0);
  assert.equal((await node.containerd.cri.listContainers({ labelSelector: { 'io.kubernetes.pod.uid': uid } })).length, 0);
  assert.equal(existsSync(`${node.agent.rootDir}/pods/${uid}`), false);
});
