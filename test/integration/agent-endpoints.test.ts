// The agent's own endpoints: /healthz, Prometheus /metrics with kubelet names, the
// root-only local socket, `kna logs -f`, and clear errors for bad flags.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { test } from 'node:test';
import { execa } from 'execa';
import { nodePerFile } from '../harness/agent.js';
import { freePort } from '../harness/proxy-lab.js';

let healthz: number;
let metrics: number;
const node = nodePerFile('ep', async () => {
  healthz = await freePort();
  metrics = await freePort();
  return ['--healthz-bind-address', `127.0.0.1:${healthz}`, '--metrics-bind-address', `127.0.0.1:${metrics}`];
});

test('healthz answers ok and metrics carry kubelet names once a pod runs', async () => {
  node.agent.writeManifest('ticker.yaml', `
apiVersion: v1
kind: Pod
metadata: { name: ticker }
spec:
  terminationGracePeriodSeconds: 0
  containers:
    - { name: main, image: localhost/kna/busybox:latest, imagePullPolicy: IfNotPresent, command: [sh, -c, 'i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.3; done'] }
`);
  await node.agent.waitPod('ticker', (p) => p.status.phase === 'Running', 'Running');
  const h = await fetch(`http://127.0.0.1:${healthz}/healthz`);
  assert.equal(h.status, 200);
  assert.equal(await h.text(), 'ok\n');
  const wanted = [
    /^kubelet_pod_start_duration_seconds_count 1$/m,
    /^kubelet_running_pods 1$/m,
    /^kubelet_running_containers\{container_state="running"\} 1$/m,
    /^kubelet_pleg_relist_duration_seconds_count [1-9]\d*$/m,
    /^kubelet_runtime_operations_total\{operation_type="run_podsandbox"\} 1$/m,
    /^kubelet_runtime_operations_total\{operation_type="list_containers"\} [1-9]\d*$/m,
  ];
  // Gauges follow the relist loop, so give it a moment after the pod runs.
  await node.agent.waitFor('pod metrics', async () => {
    const t = await (await fetch(`http://127.0.0.1:${metrics}/metrics`)).text();
    return wanted.every((re) => re.test(t));
  });
});

test('the local API socket is root-only, and `kna logs -f` streams new lines', async () => {
  assert.equal(statSync(`${node.agent.rootDir}/kna.sock`).mode & 0o777, 0o600);
  const follow = node.agent.kna(['logs', 'ticker', '-f'], { reject: false });
  let out = '';
  follow.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  await node.agent.waitFor('several streamed ticks', async () => (out.match(/^tick \d+$/gm) ?? []).length >= 4, 20_000);
  const before = (out.match(/^tick \d+$/gm) ?? []).length;
  await node.agent.waitFor('more ticks while following', async () => (out.match(/^tick \d+$/gm) ?? []).length > before + 2, 20_000);
  follow.kill();
  await follow;
  const tail = await node.agent.kna(['logs', 'ticker', '--tail', '2']);
  assert.equal(String(tail.stdout).trim().split('\n').length, 2);
});

test('bad flags and unknown pods give clear errors', async () => {
  const bad = await execa(process.execPath, ['dist/agent/cli/main.js', 'run', '--pod-cidr', '10.0.0.0/99'], { reject: false });
  assert.equal(bad.exitCode, 2);
  assert.match(String(bad.stderr), /--pod-cidr: must be a CIDR/);
  const missing = await node.agent.kna(['logs', 'nope'], { reject: false });
  assert.notEqual(missing.exitCode, 0);
  assert.match(String(missing.stderr), /pod "nope" not found in namespace "default"/);
});
