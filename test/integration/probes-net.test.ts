// Probe and hook handlers against real servers on loopback: HTTP(S), TCP, gRPC
// health; and the ProbeManager on the real clock end to end.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { execa } from 'execa';
import * as grpc from '@grpc/grpc-js';
import { httpGetProbe, tcpProbe, grpcProbe, healthService, ProbeManager, runProbe, PROBE_USER_AGENT, type ProbeEvent } from '../../agent/pods/probes/index.js';
import { runHook } from '../../agent/pods/lifecycle/index.js';

const HOST = '127.0.0.1';
const servers: { close: () => Promise<void> }[] = [];
after(async () => {
  for (const s of servers.reverse()) await s.close();
});

let toggleOk = true;
const seen: http.IncomingHttpHeaders[] = [];
function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
  seen.push(req.headers);
  const url = req.url ?? '/';
  if (url === '/ok') return void res.end('healthy');
  if (url === '/fail') return void res.writeHead(500).end('sick');
  if (url === '/redir') return void res.writeHead(302, { location: '/ok' }).end();
  if (url === '/redir-fail') return void res.writeHead(302, { location: '/fail' }).end();
  if (url === '/redir-other') return void res.writeHead(302, { location: `http://localhost:${httpPort}/ok` }).end('moved');
  if (url === '/loop') return void res.writeHead(302, { location: '/loop' }).end();
  if (url === '/big') return void res.end('y'.repeat(100 * 1024));
  if (url === '/headers') return void res.end(JSON.stringify({ ua: req.headers['user-agent'], custom: req.headers['x-custom'], accept: req.headers['accept'] }));
  if (url === '/toggle') return void res.writeHead(toggleOk ? 200 : 503).end();
  if (url === '/slow') return; // never answers; closed by closeAllConnections()
  res.writeHead(404).end();
}

async function listen(server: http.Server | https.Server | net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, HOST, r));
  servers.push({
    close: () => new Promise<void>((r) => {
      (server as http.Server).closeAllConnections?.();
      server.close(() => r());
    }),
  });
  return (server.address() as net.AddressInfo).port;
}

async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, HOST, r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

let httpPort = 0;
let httpsPort = 0;
let grpcPort = 0;
let grpcBarePort = 0;
let certDir = '';

before(async () => {
  httpPort = await listen(http.createServer(handler));

  certDir = await mkdtemp(join(tmpdir(), 'kna-t-probe-cert-'));
  await execa('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=kna-t', '-keyout', join(certDir, 'key.pem'), '-out', join(certDir, 'cert.pem')]);
  httpsPort = await listen(https.createServer({ key: await readFile(join(certDir, 'key.pem')), cert: await readFile(join(certDir, 'cert.pem')) }, handler));
  servers.push({ close: () => rm(certDir, { recursive: true, force: true }) });

  const Health = healthService();
  const server = new grpc.Server();
  server.addService(Health.service, {
    Check: (call: grpc.ServerUnaryCall<{ service: string }, unknown>, cb: grpc.sendUnaryData<{ status: string }>) => {
      const s = call.request.service;
      if (s === '') cb(null, { status: 'SERVING' });
      else if (s === 'down') cb(null, { status: 'NOT_SERVING' });
      else if (s === 'hang') return; // never answers
      else cb({ code: grpc.status.NOT_FOUND, details: 'unknown service' });
    },
    Watch: (call: grpc.ServerWritableStream<unknown, unknown>) => call.end(),
  });
  grpcPort = await new Promise<number>((res, rej) => server.bindAsync(`${HOST}:0`, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  servers.push({ close: async () => server.forceShutdown() });
  // A gRPC server without the health service.
  const bare = new grpc.Server();
  grpcBarePort = await new Promise<number>((res, rej) => bare.bindAsync(`${HOST}:0`, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  servers.push({ close: async () => bare.forceShutdown() });
});

const opts = (timeoutMs = 1000) => ({ podIP: HOST, container: { ports: [{ name: 'http', containerPort: httpPort }] }, userAgent: PROBE_USER_AGENT, signal: AbortSignal.timeout(timeoutMs) });

test('httpGet: 200 success, 500 failure, named port, headers', async () => {
  assert.deepEqual(await httpGetProbe({ port: 'http', path: '/ok' }, opts()), { result: 'Success', output: 'healthy' });
  assert.deepEqual(await httpGetProbe({ port: httpPort, path: '/fail' }, opts()), { result: 'Failure', output: 'HTTP probe failed with statuscode: 500' });
  const h = await httpGetProbe({ port: httpPort, path: '/headers', httpHeaders: [{ name: 'X-Custom', value: 'v1' }] }, opts());
  assert.deepEqual(JSON.parse(h.output), { ua: 'kube-probe/1.31', custom: 'v1', accept: '*/*' });
  const big = await httpGetProbe({ port: httpPort, path: '/big' }, opts());
  assert.equal(big.result, 'Success');
  assert.equal(big.output.length, 10 * 1024);
});

test('httpGet redirects: same host followed, other host not followed (success), loops fail', async () => {
  assert.deepEqual(await httpGetProbe({ port: httpPort, path: '/redir' }, opts()), { result: 'Success', output: 'healthy' });
  assert.equal((await httpGetProbe({ port: httpPort, path: '/redir-fail' }, opts())).result, 'Failure');
  assert.deepEqual(await httpGetProbe({ port: httpPort, path: '/redir-other' }, opts()), { result: 'Success', output: 'Probe terminated redirects, Response body: moved' });
  const loop = await httpGetProbe({ port: httpPort, path: '/loop' }, opts());
  assert.equal(loop.result, 'Failure');
  assert.match(loop.output, /stopped after 10 redirects/);
});

test('httpGet: timeout and refused connections are failures', async () => {
  const slow = await httpGetProbe({ port: httpPort, path: '/slow' }, opts(300));
  assert.equal(slow.result, 'Failure');
  assert.match(slow.output, /^Get "http:\/\/127\.0\.0\.1:\d+\/slow": context deadline exceeded/);
  const port = await closedPort();
  assert.deepEqual(await httpGetProbe({ port, path: '/' }, opts()), { result: 'Failure', output: `Get "http://127.0.0.1:${port}/": dial tcp 127.0.0.1:${port}: connect: connection refused` });
});

test('httpGet over HTTPS skips certificate verification', async () => {
  assert.deepEqual(await httpGetProbe({ port: httpsPort, path: '/ok', scheme: 'HTTPS' }, opts()), { result: 'Success', output: 'healthy' });
});

test('tcpSocket: open port succeeds, closed port fails', async () => {
  assert.deepEqual(await tcpProbe({ port: 'http' }, opts()), { result: 'Success', output: '' });
  const port = await closedPort();
  assert.deepEqual(await tcpProbe({ port }, opts()), { result: 'Failure', output: `dial tcp 127.0.0.1:${port}: connect: connection refused` });
});

test('grpc: SERVING succeeds; NOT_SERVING, errors, no health service and timeouts fail', async () => {
  const g = (service?: string, port = grpcPort, timeoutMs = 1000) => grpcProbe({ port, ...(service !== undefined ? { service } : {}) }, { podIP: HOST, timeoutMs, signal: AbortSignal.timeout(timeoutMs) });
  assert.deepEqual(await g(), { result: 'Success', output: '' });
  assert.deepEqual(await g('down'), { result: 'Failure', output: 'service unhealthy (responded with "NOT_SERVING")' });
  const nf = await g('other');
  assert.equal(nf.result, 'Failure');
  assert.match(nf.output, /health rpc probe failed: NOT_FOUND: unknown service/);
  const bare = await g('', grpcBarePort);
  assert.equal(bare.result, 'Failure');
  assert.match(bare.output, /does not implement the grpc health protocol/);
  const hang = await g('hang', grpcPort, 300);
  assert.deepEqual(hang, { result: 'Failure', output: 'timeout: health rpc did not complete within 0.3s' });
  const refused = await g('', await closedPort());
  assert.equal(refused.result, 'Failure');
  assert.match(refused.output, /failed to connect service/);
});

test('runProbe: an unknown named port cannot run (Unknown)', async () => {
  const r = await runProbe({ tcpSocket: { port: 'nope' } }, { containerId: 'c', podIP: HOST, container: {} }, { execSync: () => ({ exitCode: 0, stdout: '', stderr: '' }), timeoutMs: 1000, signal: AbortSignal.timeout(1000) });
  assert.equal(r.result, 'Unknown');
  assert.match(r.output, /no port named "nope"/);
});

test('ProbeManager on the real clock: readiness follows the server', async () => {
  const mgr = new ProbeManager({ execSync: () => ({ exitCode: 0, stdout: '', stderr: '' }) });
  try {
    const next = (kind: string, result: string) => new Promise<ProbeEvent>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no ${kind} ${result} event`)), 20_000);
      const on = (e: ProbeEvent) => {
        if (e.kind !== kind || e.result !== result) return;
        clearTimeout(t);
        mgr.off('result', on);
        resolve(e);
      };
      mgr.on('result', on);
    });
    toggleOk = true;
    const ready = next('readiness', 'Success');
    mgr.addContainer({ metadata: { uid: 'kna-t-pod', name: 'p', namespace: 'default' } }, { name: 'web', ports: [{ name: 'http', containerPort: httpPort }], readinessProbe: { httpGet: { port: 'http', path: '/toggle' }, periodSeconds: 1, failureThreshold: 1 } }, 'cid', HOST);
    await ready;
    assert.equal(mgr.readiness('kna-t-pod', 'web'), true);
    const notReady = next('readiness', 'Failure');
    toggleOk = false;
    const ev = await notReady;
    assert.equal(ev.output, 'HTTP probe failed with statuscode: 503');
    assert.equal(mgr.readiness('kna-t-pod', 'web'), false);
  } finally {
    mgr.stop();
  }
});

test('httpGet lifecycle hook: any response is ok, no response fails with kubelet text', async () => {
  const base = { execSync: () => ({ exitCode: 0, stdout: '', stderr: '' }), containerId: 'cid', podIP: HOST, container: { name: 'app' }, pod: { metadata: { name: 'web', namespace: 'default', uid: 'u1' } }, timeoutSec: 2 };
  seen.length = 0;
  assert.deepEqual(await runHook({ httpGet: { port: httpPort, path: '/fail' } }, base).then((r) => [r.ok, r.message]), [true, '']);
  assert.equal(seen[0]!['user-agent'], 'kube-lifecycle/1.31');
  // HTTPS against a plain HTTP server is retried over HTTP, as kubelet does.
  assert.equal((await runHook({ httpGet: { port: httpPort, path: '/ok', scheme: 'HTTPS' } }, base)).ok, true);
  const port = await closedPort();
  const r = await runHook({ httpGet: { port, path: '/stop' } }, { ...base, kind: 'PreStop' });
  assert.equal(r.ok, false);
  assert.equal(r.reason, 'FailedPreStopHook');
  assert.match(r.message, new RegExp(`^HTTP lifecycle hook \\(/stop\\) for Container "app" in Pod "web_default\\(u1\\)" failed - error: Get "http://127.0.0.1:${port}/stop": `));
  const slow = await runHook({ httpGet: { port: httpPort, path: '/slow' } }, { ...base, timeoutSec: 0 });
  assert.match(slow.message, /not completed within 0s/);
});
