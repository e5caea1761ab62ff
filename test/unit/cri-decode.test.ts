// Pure decoding of proto-loader objects into the CRI client's types.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as decode from '../../agent/cri/decode.js';
import { CriError, GrpcStatus, isNotFound, isUnavailable } from '../../agent/cri/errors.js';
import { grpcTarget } from '../../agent/cri/client.js';

describe('cri decode', () => {
  it('converts nanosecond timestamps to whole milliseconds exactly', () => {
    assert.equal(decode.nsToMs('1700000000123999999'), 1700000000123);
    assert.equal(decode.nsToMs('0'), 0);
    assert.equal(decode.nsToMs(undefined), 0);
    assert.equal(decode.nsToMs(2_000_000), 2);
  });

  it('decodes a container status with defaults and unknown enum values', () => {
    const s = decode.containerStatus({
      id: 'c1', metadata: { name: 'app', attempt: 2 }, state: 'CONTAINER_EXITED', createdAt: '1700000000000000000',
      startedAt: '1700000001000000000', finishedAt: '1700000002500000000', exitCode: 137, image: null,
      imageRef: 'sha256:ab', reason: 'Error', message: '', labels: { a: 'b' }, annotations: {}, mounts: [
        { containerPath: '/data', hostPath: '/srv', readonly: true, propagation: 'PROPAGATION_BIDIRECTIONAL', uidMappings: [] },
      ], logPath: '/l/app/0.log', resources: null, imageId: '', user: null, stopSignal: 'SIGTERM',
    });
    assert.equal(s.state, 'CONTAINER_EXITED');
    assert.equal(s.startedAt, 1700000001000);
    assert.equal(s.finishedAt, 1700000002500);
    assert.equal(s.exitCode, 137);
    assert.equal(s.image, undefined);
    assert.equal(s.mounts[0]?.propagation, 'PROPAGATION_BIDIRECTIONAL');
    assert.equal(s.metadata?.attempt, 2);
    assert.equal(decode.containerStatus({ state: 7 }).state, 'CONTAINER_UNKNOWN');
    assert.equal(decode.podSandbox({ state: 'WHAT' }).state, 'SANDBOX_NOTREADY');
  });

  it('decodes a sandbox status response and rejects one without status', () => {
    const r = decode.podSandboxStatusResult({
      status: {
        id: 'p1', state: 'SANDBOX_READY', createdAt: '5000000', network: { ip: '10.1.0.2', additionalIps: [{ ip: 'fd00::2' }] },
        linux: { namespaces: { options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD', targetId: '', usernsOptions: null } } },
        labels: {}, annotations: {}, runtimeHandler: '',
      },
      info: {}, containersStatuses: [], timestamp: '0',
    });
    assert.equal(r.status.createdAt, 5);
    assert.deepEqual(r.status.network, { ip: '10.1.0.2', additionalIps: [{ ip: 'fd00::2' }] });
    assert.equal(r.status.linux?.namespaces?.options?.pid, 'CONTAINER');
    assert.equal(r.info, undefined);
    assert.throws(() => decode.podSandboxStatusResult({ status: null }), /no status/);
  });

  it('decodes stats with uint64 wrappers', () => {
    const s = decode.containerStats({
      attributes: { id: 'c1', metadata: { name: 'app', attempt: 0 }, labels: {}, annotations: {} },
      cpu: { timestamp: '1700000000000000000', usageCoreNanoSeconds: { value: '123456789' }, usageNanoCores: null },
      memory: { timestamp: '1700000000000000000', workingSetBytes: { value: '4096' } },
    });
    assert.equal(s.cpu?.usageCoreNanoSeconds?.value, 123456789);
    assert.equal(s.cpu?.usageNanoCores, undefined);
    assert.equal(s.cpu?.timestamp, 1700000000000);
    assert.equal(s.memory?.workingSetBytes?.value, 4096);
  });
});

describe('cri errors and endpoints', () => {
  it('names the call and context in the message', () => {
    const e = new CriError('RunPodSandbox', GrpcStatus.UNAVAILABLE, 'connection refused', 'pod default/web');
    assert.equal(e.message, 'CRI RunPodSandbox for pod default/web: UNAVAILABLE: connection refused');
    assert.ok(isUnavailable(e));
    assert.ok(!isNotFound(e));
    assert.ok(!isNotFound(new Error('not found')));
  });

  it('accepts unix endpoints and bare paths only', () => {
    assert.equal(grpcTarget('unix:///run/c.sock'), 'unix:///run/c.sock');
    assert.equal(grpcTarget('/run/c.sock'), 'unix:///run/c.sock');
    assert.throws(() => grpcTarget('tcp://1.2.3.4:1'), /unix:/);
  });
});
