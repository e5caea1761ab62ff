// The CRI client against a real, private containerd: pod sandbox with CNI
// networking, a busybox container, its CRI log, ExecSync, teardown, errors, and
// surviving a containerd restart.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CriClient } from '../../agent/cri/client.js';
import { CriError, GrpcStatus, isNotFound, isUnavailable, isUnimplemented } from '../../agent/cri/errors.js';
import { ContainerState, PodSandboxState, type ContainerConfig, type PodSandboxConfig } from '../../agent/cri/types.js';
import { startContainerd, type Containerd } from '../harness/containerd.js';

const BUSYBOX = 'localhost/kna/busybox:latest';

function sandboxConfig(ctd: Containerd, name: string): PodSandboxConfig {
  const uid = randomUUID();
  ctd.ownCgroup(`/kubepods/besteffort/pod${uid}`);
  return {
    metadata: { name, namespace: 'default', uid, attempt: 0 },
    hostname: name,
    // Under the harness's root, so stop() removes it even when a test fails.
    logDirectory: join(dirname(ctd.root), 'pods', `default_${name}_${uid}`),
    labels: { 'io.kubernetes.pod.name': name, 'io.kubernetes.pod.namespace': 'default', 'io.kubernetes.pod.uid': uid },
    linux: {
      cgroupParent: `/kubepods/besteffort/pod${uid}`,
      securityContext: { namespaceOptions: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } },
    },
  };
}

function busybox(name: string, script: string): ContainerConfig {
  return {
    metadata: { name, attempt: 0 },
    image: { image: BUSYBOX },
    command: ['sh', '-c', script],
    logPath: `${name}/0.log`,
    envs: [{ key: 'KNA_T', value: '1' }],
    linux: { securityContext: { namespaceOptions: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
  };
}

/** Removes the sandbox when the test ends, also on failure (idempotent calls). */
function cleanupSandbox(t: TestContext, cri: CriClient, id: string): void {
  t.after(async () => {
    await cri.stopPodSandbox(id).catch(() => {});
    await cri.removePodSandbox(id).catch(() => {});
  });
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function inCidr(ip: string, cidr: string): boolean {
  const [net = '', bits = '32'] = cidr.split('/');
  const toInt = (a: string): number => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
  const block = 2 ** (32 - Number(bits));
  return Math.floor(toInt(ip) / block) === Math.floor(toInt(net) / block);
}

describe('CRI client against a private containerd', () => {
  let ctd: Containerd;
  let cri: CriClient;

  before(async () => {
    ctd = await startContainerd({ name: 'cri' });
    cri = ctd.cri;
  });
  after(async () => {
    await ctd?.stop();
  });

  it('reports version, status and the local images', async () => {
    const v = await cri.version();
    assert.equal(v.runtimeName, 'containerd');
    assert.equal(v.runtimeApiVersion, 'v1');
    const s = await cri.status();
    // Only these two matter (as for kubelet); containerd 1.7 (Debian 13) adds
    // ContainerdHasNoDeprecationWarnings, which 1.6 (Debian 12) does not have.
    const cond = new Map(s.conditions.map((c) => [c.type, c.status]));
    assert.equal(cond.get('RuntimeReady'), true, 'RuntimeReady');
    assert.equal(cond.get('NetworkReady'), true, 'NetworkReady');
    const img = await cri.imageStatus(BUSYBOX);
    assert.ok(img, 'busybox image present');
    assert.ok(img.repoTags.includes(BUSYBOX));
    assert.ok(img.size > 0);
    assert.equal(await cri.imageStatus('localhost/kna/kna-t-absent:latest'), undefined);
    assert.ok((await cri.listImages()).some((i) => i.repoTags.includes('localhost/kna/pause:latest')));
    assert.ok((await cri.imageFsInfo()).imageFilesystems.length > 0);
  });

  it('runs a pod: sandbox, container, log, exec, stop and remove', async (t) => {
    const config = sandboxConfig(ctd, 'kna-t-web');
    let t0 = performance.now();
    const podId = await cri.runPodSandbox(config);
    t.diagnostic(`RunPodSandbox ${(performance.now() - t0).toFixed(0)} ms`);
    cleanupSandbox(t, cri, podId);

    const { status } = await cri.podSandboxStatus(podId);
    assert.equal(status.state, PodSandboxState.READY);
    assert.equal(status.metadata?.uid, config.metadata.uid);
    assert.ok(status.network?.ip && inCidr(status.network.ip, ctd.podCidr), `pod IP ${status.network?.ip} in ${ctd.podCidr}`);
    assert.ok(status.createdAt > Date.now() - 600_000 && status.createdAt <= Date.now(), 'createdAt is ms since the epoch');
    assert.equal(status.labels['io.kubernetes.pod.uid'], config.metadata.uid);
    const listed = await cri.listPodSandbox({ state: PodSandboxState.READY, labelSelector: { 'io.kubernetes.pod.uid': config.metadata.uid } });
    assert.deepEqual(listed.map((p) => p.id), [podId]);

    t0 = performance.now();
    const cid = await cri.createContainer(podId, busybox('app', 'echo hello; sleep 1000'), config);
    await cri.startContainer(cid);
    t.diagnostic(`CreateContainer+StartContainer ${(performance.now() - t0).toFixed(0)} ms`);

    const running = await cri.containerStatus(cid);
    assert.equal(running.state, ContainerState.RUNNING);
    assert.equal(running.metadata?.name, 'app');
    assert.ok(running.startedAt >= running.createdAt && running.startedAt > 0);
    assert.equal(running.finishedAt, 0);
    assert.ok(running.imageRef.startsWith('sha256:'), `imageRef ${running.imageRef}`);
    assert.equal(running.logPath, join(config.logDirectory!, 'app/0.log'));
    const containers = await cri.listContainers({ podSandboxId: podId, state: ContainerState.RUNNING });
    assert.deepEqual(containers.map((c) => c.id), [cid]);

    await waitFor('"stdout F hello" in the CRI log', () =>
      existsSync(running.logPath) && /^\S+ stdout F hello$/m.test(readFileSync(running.logPath, 'utf8')));

    t0 = performance.now();
    const ok = await cri.execSync(cid, ['sh', '-c', 'echo out; echo err >&2; echo $KNA_T'], 10);
    t.diagnostic(`ExecSync ${(performance.now() - t0).toFixed(0)} ms`);
    assert.equal(ok.stdout.toString(), 'out\n1\n');
    assert.equal(ok.stderr.toString(), 'err\n');
    assert.equal(ok.exitCode, 0);
    const failed = await cri.execSync(cid, ['sh', '-c', 'exit 3'], 10);
    assert.equal(failed.exitCode, 3);

    const stats = await cri.containerStats(cid);
    assert.equal(stats?.attributes?.id, cid);

    await cri.stopContainer(cid, 0);
    const exited = await cri.containerStatus(cid);
    assert.equal(exited.state, ContainerState.EXITED);
    assert.equal(exited.exitCode, 137);
    assert.ok(exited.finishedAt >= exited.startedAt);

    await cri.removeContainer(cid);
    await assert.rejects(cri.containerStatus(cid), isNotFound);
    await cri.removeContainer(cid); // idempotent

    t0 = performance.now();
    await cri.stopPodSandbox(podId);
    await cri.removePodSandbox(podId);
    t.diagnostic(`StopPodSandbox+RemovePodSandbox ${(performance.now() - t0).toFixed(0)} ms`);
    assert.equal((await cri.listPodSandbox({ id: podId })).length, 0);
  });

  it('names the call and the container in errors', async () => {
    const err = await cri.containerStatus('0123456789abcdef-kna-t-absent').then(
      () => assert.fail('expected a CriError'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof CriError);
    assert.equal(err.call, 'ContainerStatus');
    assert.equal(err.code, GrpcStatus.NOT_FOUND);
    assert.ok(isNotFound(err));
    assert.match(err.message, /^CRI ContainerStatus for container 0123456789ab: NOT_FOUND: /);
  });

  it('fails with UNAVAILABLE when the runtime is not there', async () => {
    const nowhere = CriClient.connect(`unix:///run/kna-t-absent-${process.pid}.sock`, { connectTimeoutMs: 300 });
    try {
      const err = await nowhere.version().then(() => assert.fail('expected UNAVAILABLE'), (e: unknown) => e);
      assert.ok(isUnavailable(err), String(err));
      assert.match((err as Error).message, /^CRI Version: UNAVAILABLE: /);
    } finally {
      nowhere.close();
    }
  });

  it('streams container events, or says UNIMPLEMENTED (containerd 1.6)', async () => {
    const stop = new AbortController();
    const timer = setTimeout(() => stop.abort(), 1_000);
    try {
      for await (const ev of cri.containerEvents(stop.signal)) {
        assert.ok(ev.containerId);
        break;
      }
    } catch (err) {
      assert.ok(isUnimplemented(err), String(err));
      assert.equal((err as CriError).call, 'GetContainerEvents');
    } finally {
      clearTimeout(timer);
    }
  });

  it('keeps working across a containerd restart; the pod survives it', async (t) => {
    const config = sandboxConfig(ctd, 'kna-t-rst');
    const podId = await cri.runPodSandbox(config);
    cleanupSandbox(t, cri, podId);
    const cid = await cri.createContainer(podId, busybox('app', 'sleep 1000'), config);
    await cri.startContainer(cid);

    await ctd.restart();

    // The same client object: grpc-js reconnects to the new containerd.
    assert.equal((await cri.version()).runtimeName, 'containerd');
    assert.equal((await cri.containerStatus(cid)).state, ContainerState.RUNNING);
    assert.equal((await cri.execSync(cid, ['echo', 'still here'], 10)).stdout.toString(), 'still here\n');
    const { status } = await cri.podSandboxStatus(podId);
    assert.equal(status.state, PodSandboxState.READY);

    await cri.stopPodSandbox(podId);
    await cri.removePodSandbox(podId);
  });
});
