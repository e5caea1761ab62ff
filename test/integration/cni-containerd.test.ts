// A private containerd (test/harness/containerd.ts) runs pods networked by
// kna-cni, with the conflist the agent writes (buildConflist). containerd runs
// inside a "node" netns made here, so the bridge and the iptables rules it causes
// never touch the host's: the test re-runs this file inside that netns.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { execa } from 'execa';
import type { PodSandboxConfig } from '../../agent/cri/types.js';
import { buildConflist } from '../../cni/conflist.js';
import { startContainerd } from '../harness/containerd.js';
import { NetnsLab } from '../harness/netns.js';

const INNER = process.env.KNA_T_CNI_NODE_NETNS;

if (!INNER) {
  test('containerd runs pods networked by kna-cni (inside a node netns)', { timeout: 120_000 }, async (t) => {
    const lab = new NetnsLab('cnictd');
    t.after(() => lab.dispose());
    const node = await lab.netns('node');
    // Without the outer runner's NODE_TEST_CONTEXT, the inner run reports as plain text.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_TEST_CONTEXT')) as Record<string, string>;
    // nsenter, not `ip netns exec`: that one remounts /sys, hiding the cgroup mounts runc needs.
    const r = await execa('nsenter', [`--net=${node.path}`, '--', process.execPath, fileURLToPath(import.meta.url)], {
      env: { ...env, KNA_T_CNI_NODE_NETNS: node.name }, extendEnv: false, reject: false, all: true,
    });
    assert.equal(r.exitCode, 0, r.all);
  });
} else {
  test(`inside ${INNER}: sandbox start, hostPort, teardown`, { timeout: 110_000 }, async (t) => {
    const ctd = await startContainerd({
      name: 'cni',
      cniPlugins: { 'kna-cni': resolve('dist/cni/kna-cni') },
      cniConflist: (ctx) => buildConflist({ name: ctx.bridge, bridge: ctx.bridge, podCidrs: [ctx.podCidr], dataDir: ctx.ipamDataDir }),
    });
    t.after(() => ctd.stop());

    const uid = randomUUID();
    const config: PodSandboxConfig = {
      metadata: { name: 'kna-t-cni', namespace: 'default', uid },
      hostname: 'kna-t-cni',
      logDirectory: join(dirname(ctd.root), 'pods', uid),
      portMappings: [{ protocol: 'TCP', containerPort: 80, hostPort: 30081 }],
      linux: { cgroupParent: `/kubepods/besteffort/pod${uid}`, securityContext: { namespaceOptions: { pid: 'CONTAINER' } } },
    };
    ctd.ownCgroup(config.linux!.cgroupParent!);
    const podId = await ctd.cri.runPodSandbox(config);
    const cid = await ctd.cri.createContainer(podId, {
      metadata: { name: 'web' }, image: { image: 'localhost/kna/busybox:latest' },
      command: ['nc', '-ll', '-p', '80', '-e', 'echo', 'hello-from-pod'], logPath: 'web/0.log',
    }, config);
    await ctd.cri.startContainer(cid);

    const { status } = await ctd.cri.podSandboxStatus(podId);
    const podIp = status.network?.ip ?? '';
    const net = ctd.podCidr.split('.').slice(0, 3).join('.');
    assert.ok(podIp.startsWith(`${net}.`), `pod IP ${podIp} in ${ctd.podCidr}`);
    const store = join(ctd.ipamDataDir, ctd.bridge);
    assert.ok(existsSync(join(store, podIp)), 'reservation in the host-local layout');
    const veths = (await execa('ip', ['-o', 'link', 'show', 'type', 'veth'])).stdout;
    assert.match(veths, new RegExp(`alias kna-cni/${ctd.bridge}/${podId}/eth0`), 'host veth tagged with the attachment');

    assert.equal((await execa('busybox', ['ping', '-c', '1', '-W', '3', podIp], { reject: false })).exitCode, 0, 'node pings the pod');
    const gateway = `${net}.1`;
    assert.equal(await fetchLine(gateway, 30081), 'hello-from-pod', 'hostPort on the node address');
    assert.equal(await fetchLine('127.0.0.1', 30081), 'hello-from-pod', 'hostPort on localhost');

    await ctd.cri.stopPodSandbox(podId);
    await ctd.cri.removePodSandbox(podId);
    assert.equal((await execa('ip', ['-o', 'link', 'show', 'type', 'veth'])).stdout.trim(), '', 'veth gone');
    const left = readdirSync(store).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f) && readFileSync(join(store, f), 'utf8').startsWith(podId));
    assert.deepEqual(left, [], 'reservation released');
    assert.ok(!(await execa('iptables-save', ['-t', 'nat'])).stdout.includes(podId), 'pod rules removed');
  });
}

/** One line from a TCP server (busybox nc -e echo), with retries while the container starts. */
async function fetchLine(host: string, port: number): Promise<string> {
  const { connect } = await import('node:net');
  for (let i = 0; ; i++) {
    const line = await new Promise<string>((res) => {
      let buf = '';
      const s = connect(port, host);
      s.setTimeout(2000, () => s.destroy());
      s.on('data', (d) => (buf += d));
      s.on('close', () => res(buf.trim()));
      s.on('error', () => res(''));
    });
    if (line || i >= 20) return line;
    await new Promise((r) => setTimeout(r, 250));
  }
}
