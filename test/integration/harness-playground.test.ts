// The `harness up/down` playground as a user runs it: `up` starts 2 standalone nodes and
// exits, their processes live on; a pod dropped into node 1's folder runs and `kna get
// pods` through `ip netns exec` shows it; `down` leaves no process, namespace or folder.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import type { PlaygroundState } from '../harness/playground.js';
import { listNetns } from '../harness/netns.js';

const HARNESS = resolve('dist/test/harness/main.js');
const KNA = resolve('dist/agent/cli/main.js');
const DIR = `/var/lib/kna-t/playground-${process.pid}`;
const harness = (args: string[]) => execa(process.execPath, [HARNESS, ...args], { reject: false, all: true });

/** Running, not a zombie waiting for pid 1 to reap it. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

after(async () => {
  // On failure: down whatever is recorded (no-op once the test's own down ran).
  if (existsSync(`${DIR}/nodes.json`)) await harness(['down', '--dir', DIR]);
});

test('harness up/down: two detached nodes, a pod runs, down removes everything', { timeout: 90_000 }, async () => {
  mkdirSync('/var/lib/kna-t', { recursive: true });
  const up = await harness(['up', '--nodes', '2', '--dir', DIR]);
  assert.equal(up.exitCode, 0, up.all);
  const state = JSON.parse(readFileSync(`${DIR}/nodes.json`, 'utf8')) as PlaygroundState;
  assert.equal(state.nodes.length, 2);
  const pids = state.nodes.flatMap((n) => [n.agentPid, n.containerd.pid]);
  for (const pid of pids) assert.ok(alive(pid), `pid ${pid} outlives \`harness up\``);
  for (const n of state.nodes) {
    for (const key of ['name', 'netns', 'nodeIP', 'podCIDR', 'rootDir', 'manifests'] as const) assert.ok(n[key], `nodes.json: ${key}`);
  }

  const [n1] = state.nodes;
  writeFileSync(`${n1!.manifests}/hello.yaml`, JSON.stringify({
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'hello' },
    spec: { terminationGracePeriodSeconds: 0, containers: [{ name: 'main', image: 'localhost/kna/busybox:latest', imagePullPolicy: 'IfNotPresent', command: ['sleep', '3600'] }] },
  }));
  let seen = '';
  for (let i = 0; i < 120; i++) {
    // What a user types: ip netns exec NETNS kna get pods --root-dir ROOT (kna = node main.js).
    const r = await execa('ip', ['netns', 'exec', n1!.netns, process.execPath, KNA, 'get', 'pods', '--root-dir', n1!.rootDir, '-o', 'wide'], { reject: false });
    seen = `${r.stdout}${r.stderr}`;
    if (/hello\s+1\/1\s+Running/.test(seen) && seen.includes(n1!.podCIDR.replace(/0\/24$/, ''))) break;
    await sleep(250);
  }
  assert.match(seen, /hello\s+1\/1\s+Running/);
  assert.ok(seen.includes(n1!.podCIDR.replace(/0\/24$/, '')), `pod IP in ${n1!.podCIDR}:\n${seen}`);

  const down = await harness(['down', '--dir', DIR]);
  assert.equal(down.exitCode, 0, down.all);
  for (const pid of pids) assert.ok(!alive(pid), `pid ${pid} stopped`);
  const left = await listNetns();
  assert.deepEqual(state.namespaces.filter((ns) => left.includes(ns)), [], 'namespaces removed');
  assert.ok(!existsSync(DIR), `${DIR} removed: ${existsSync(DIR) ? readdirSync(DIR).join(', ') : ''}`);
  for (const n of state.nodes) {
    assert.ok(!existsSync(n.containerd.root), 'containerd root removed');
    assert.ok(!existsSync(n.containerd.state), 'containerd state removed');
  }
});
