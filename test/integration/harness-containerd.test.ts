// The private-containerd harness cleans up after itself: a pod still running at
// stop() (even after containerd died) leaves no process, mount, netns, cgroup,
// bridge or directory behind.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import type { PodSandboxConfig } from '../../agent/cri/types.js';
import { startContainerd, type Containerd } from '../harness/containerd.js';

function pidsMentioning(text: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(text)) out.push(Number(e));
    } catch { /* gone */ }
  }
  return out;
}

const mounted = (prefix: string): boolean => readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${prefix}`);

async function runBusyboxPod(ctd: Containerd): Promise<{ netns: string; cgroup: string }> {
  const uid = randomUUID();
  const config: PodSandboxConfig = {
    metadata: { name: 'kna-t-left', namespace: 'default', uid },
    hostname: 'kna-t-left',
    logDirectory: join(dirname(ctd.root), 'pods', uid),
    linux: { cgroupParent: `/kubepods/besteffort/pod${uid}`, securityContext: { namespaceOptions: { pid: 'CONTAINER' } } },
  };
  const podId = await ctd.cri.runPodSandbox(config);
  const cid = await ctd.cri.createContainer(podId, {
    metadata: { name: 'app' }, image: { image: 'localhost/kna/busybox:latest' }, command: ['sleep', '1000'], logPath: 'app/0.log',
  }, config);
  await ctd.cri.startContainer(cid);
  const { info } = await ctd.cri.podSandboxStatus(podId, true);
  const spec = JSON.parse(info?.info ?? '{}') as { runtimeSpec?: { linux?: { namespaces?: { type: string; path?: string }[] } } };
  const netns = spec.runtimeSpec?.linux?.namespaces?.find((n) => n.type === 'network')?.path ?? '';
  assert.ok(netns, 'sandbox has a netns path');
  return { netns, cgroup: `/sys/fs/cgroup/memory/kubepods/besteffort/pod${uid}` };
}

async function assertGone(ctd: Containerd, pod: { netns: string; cgroup: string }): Promise<void> {
  assert.deepEqual(pidsMentioning(ctd.socket), [], 'no shim left');
  assert.deepEqual(pidsMentioning(join(dirname(ctd.root), 'containerd.toml')), [], 'no containerd left');
  assert.ok(!mounted(ctd.root) && !mounted(ctd.state), 'nothing mounted under root/state');
  assert.ok(!existsSync(pod.netns), `netns ${pod.netns} removed`);
  assert.ok(!existsSync(pod.cgroup), `cgroup ${pod.cgroup} removed`);
  assert.ok(!existsSync(`/sys/class/net/${ctd.bridge}`), `bridge ${ctd.bridge} removed`);
  assert.ok(!existsSync(ctd.root) && !existsSync(ctd.state), 'dirs removed');
}

describe('private containerd harness', () => {
  it('stop() removes a pod that is still running', async () => {
    const ctd = await startContainerd({ name: 'hs' });
    let pod;
    try {
      pod = await runBusyboxPod(ctd);
      assert.ok(existsSync(`/sys/class/net/${ctd.bridge}`), 'CNI made our bridge');
      assert.ok(pidsMentioning(ctd.socket).length >= 1, 'a shim runs');
    } finally {
      await ctd.stop();
    }
    await assertGone(ctd, pod);
  });

  it('stop() also cleans up after containerd died', async () => {
    const ctd = await startContainerd({ name: 'hk' });
    let pod;
    try {
      pod = await runBusyboxPod(ctd);
      const [daemon] = pidsMentioning(join(dirname(ctd.root), 'containerd.toml'));
      assert.ok(daemon, 'found our containerd');
      process.kill(daemon, 'SIGKILL');
    } finally {
      await ctd.stop();
    }
    await assertGone(ctd, pod);
  });
});
