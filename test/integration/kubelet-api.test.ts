// The kubelet HTTPS API of the real agent joined to the test control plane: its
// serving certificate comes from a kubelet-serving CSR; anonymous callers get 401,
// authenticated but unauthorized ones 403; an authorized user (bearer token through
// TokenReview, or a client certificate of the cluster CA) lists pods, reads logs,
// execs over WebSocket and SPDY and port-forwards a TCP exchange into the pod.
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { openRemoteCommand, StreamUpgradeError } from '../../agent/cli/remote-command.js';
import { resourcePath, type ApiClient, type KubeObject } from '../../agent/apiserver/client.js';
import { CertificateAuthority } from '../apiserver/ca.js';
import { TestApiServer } from '../apiserver/server.js';
import { TestAgent } from '../harness/agent.js';
import { adminClient, eventually } from '../harness/apiserver.js';
import { startContainerd, type Containerd } from '../harness/containerd.js';

const NODE = 'kna-t-node'; // the harness's --node-name
const BUSYBOX = 'localhost/kna/busybox:latest';
const POD = 'kna-t-kapi';
const ALICE = 'kna-t-alice-token';
const BOB = 'kna-t-bob-token';

let server: TestApiServer;
let admin: ApiClient;
let containerd: Containerd;
let agent: TestAgent;
let port: number;

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return p;
}

before(async () => {
  server = await TestApiServer.start({ autoApproveCsrs: true });
  admin = adminClient(server);
  server.addUser(ALICE, { username: 'kna-t-alice', groups: [] });
  server.addUser(BOB, { username: 'kna-t-bob', groups: [] });
  server.grant({ users: ['kna-t-alice'], groups: ['kna-t-ops'], verbs: ['get', 'create'], apiGroups: [''], resources: ['nodes/proxy', 'nodes/stats', 'nodes/metrics'] });
  containerd = await startContainerd({ name: 'kapi' });
  port = await freePort();
  agent = new TestAgent(containerd, ['--server', server.url, '--token', server.createBootstrapToken(), '--discovery-token-ca-cert-hash', server.caHash,
    '--kubelet-address', '127.0.0.1', '--kubelet-port', String(port)], { command: 'join' });
  agent.start();
  await admin.create(resourcePath({ resource: 'pods', namespace: 'default' }), {
    apiVersion: 'v1', kind: 'Pod', metadata: { name: POD },
    spec: {
      nodeName: NODE, automountServiceAccountToken: false, terminationGracePeriodSeconds: 1,
      containers: [{ name: 'c', image: BUSYBOX, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', 'echo hello-from-kna-t; exec nc -ll -p 8080 -e cat'] }],
    },
  });
});

after(async () => {
  await agent?.stop();
  await containerd?.stop();
  admin?.close();
  await server?.stop();
});

interface Call { token?: string; cert?: { certPem: string; keyPem: string }; verify?: boolean }

/** One HTTPS request to the kubelet API; the serving certificate is checked against the cluster CA unless verify is false. */
function get(path: string, c: Call = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port, path, method: 'GET',
      ca: server.ca.certPem, rejectUnauthorized: c.verify ?? true,
      headers: c.token ? { authorization: `Bearer ${c.token}` } : {},
      ...(c.cert ? { cert: c.cert.certPem, key: c.cert.keyPem } : {}),
    }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject).end();
  });
}

function openWs(path: string, protocol: string): WebSocket {
  return new WebSocket(`wss://127.0.0.1:${port}${path}`, [protocol], { ca: server.ca.certPem, headers: { authorization: `Bearer ${ALICE}` } });
}

const withLog = (err: unknown) => { throw new Error(`${(err as Error).message}\nagent log:\n${agent.log().slice(-3000)}`); };

test('the serving certificate comes from a kubelet-serving CSR signed by the cluster CA', async () => {
  const csr = await eventually('a kubelet-serving CSR', async () => {
    const l = await admin.list<KubeObject & { spec: { signerName: string; usages: string[] } }>(resourcePath({ group: 'certificates.k8s.io', resource: 'certificatesigningrequests' }));
    return l.items.find((x) => x.spec.signerName === 'kubernetes.io/kubelet-serving');
  }, 60_000).catch(withLog);
  assert.ok(csr.spec.usages.includes('server auth'));
  // Before approval the agent already serves, with a self-signed certificate.
  assert.equal((await get('/healthz', { verify: false })).status, 401);
  server.decideCsr(csr.metadata.name, true);
  await eventually('the signed certificate in use', () => get('/healthz', { token: ALICE }).then((r) => r.status === 200 || undefined), 30_000).catch(withLog);
  assert.match(agent.log(), /serving certificate signed by the cluster CA in use/);
  const node = await admin.get<KubeObject & { status: { daemonEndpoints: { kubeletEndpoint: { Port: number } } } }>(resourcePath({ resource: 'nodes', name: NODE }));
  assert.equal(node.status.daemonEndpoints.kubeletEndpoint.Port, port, 'the Node tells the API server where the kubelet API is');
});

test('anonymous requests get 401, an authenticated user without permission 403', async () => {
  const anon = await get('/pods');
  assert.equal(anon.status, 401);
  assert.equal(anon.body, 'Unauthorized');
  assert.equal((await get('/pods', { token: 'not-a-token' })).status, 401);
  const bob = await get('/pods', { token: BOB });
  assert.equal(bob.status, 403);
  assert.equal(bob.body, 'Forbidden (user=kna-t-bob, verb=get, resource=nodes, subresource=proxy)');
  assert.equal((await get('/stats/summary', { token: BOB })).body, 'Forbidden (user=kna-t-bob, verb=get, resource=nodes, subresource=stats)');
  // A certificate from another CA is no identity here.
  const other = CertificateAuthority.create('kna-t-other').issueKeyPair({ subject: { commonName: 'kna-t-mallory', organizations: ['kna-t-ops'] }, notAfter: new Date(Date.now() + 3600_000), usages: ['digital signature', 'client auth'] });
  assert.equal((await get('/pods', { cert: other })).status, 401);
});

test('an authorized user lists pods, reads logs, stats and metrics', async () => {
  const pods = await eventually('the pod Running in /pods', async () => {
    const r = await get('/pods', { token: ALICE });
    assert.equal(r.status, 200, r.body);
    const list = JSON.parse(r.body) as { kind: string; items: { metadata: { name: string }; status: { phase?: string } }[] };
    return list.items.find((p) => p.metadata.name === POD)?.status.phase === 'Running' ? list : undefined;
  }, 60_000).catch(withLog);
  assert.equal(pods.kind, 'PodList');
  // /runningPods: the runtime's view, the running container's name and image.
  const running = JSON.parse((await get('/runningPods', { token: ALICE })).body) as { kind: string; items: { metadata: { name: string; namespace: string }; spec: { containers: { name: string; image: string }[] } }[] };
  assert.equal(running.kind, 'PodList');
  assert.deepEqual(running.items.find((p) => p.metadata.name === POD)?.spec.containers.map((c) => c.name), ['c']);
  assert.equal((await get('/runningPods', { token: BOB })).status, 403);
  const logs = await eventually('the log line', () => get(`/containerLogs/default/${POD}/c?tailLines=5`, { token: ALICE }).then((r) => (r.body.includes('hello-from-kna-t') ? r : undefined)));
  assert.equal(logs.status, 200);
  assert.equal((await get(`/containerLogs/default/${POD}/nope`, { token: ALICE })).status, 404);
  assert.match((await get(`/containerLogs/default/${POD}/c?sinceSeconds=3600`, { token: ALICE })).body, /hello-from-kna-t/);
  const future = new Date(Date.now() + 3600_000).toISOString();
  assert.equal((await get(`/containerLogs/default/${POD}/c?sinceTime=${future}`, { token: ALICE })).body, '');
  assert.equal((await get(`/containerLogs/default/${POD}/c?sinceSeconds=x`, { token: ALICE })).status, 400);
  const summary = JSON.parse((await get('/stats/summary', { token: ALICE })).body) as { node: { nodeName: string; memory?: { workingSetBytes?: number } }; pods: { podRef: { name: string }; containers: { name: string }[] }[] };
  assert.equal(summary.node.nodeName, NODE);
  assert.ok((summary.node.memory?.workingSetBytes ?? 0) > 0);
  assert.deepEqual(summary.pods.find((p) => p.podRef.name === POD)?.containers.map((c) => c.name), ['c']);
  assert.match((await get('/metrics', { token: ALICE })).body, /^kubelet_running_pods \d+/m);
  assert.match((await get('/metrics/resource', { token: ALICE })).body, new RegExp(`^container_cpu_usage_seconds_total\\{container="c",namespace="default",pod="${POD}"\\} `, 'm'));
});

test('a client certificate signed by the cluster CA authenticates', async () => {
  const carol = server.ca.issueKeyPair({ subject: { commonName: 'kna-t-carol', organizations: ['kna-t-ops'] }, notAfter: new Date(Date.now() + 3600_000), usages: ['digital signature', 'client auth'] });
  const r = await get('/pods', { cert: carol });
  assert.equal(r.status, 200, r.body);
  const dave = server.ca.issueKeyPair({ subject: { commonName: 'kna-t-dave' }, notAfter: new Date(Date.now() + 3600_000), usages: ['digital signature', 'client auth'] });
  assert.equal((await get('/pods', { cert: dave })).body, 'Forbidden (user=kna-t-dave, verb=get, resource=nodes, subresource=proxy)');
});

test('exec over WebSocket (v4.channel.k8s.io) returns output and exit code', async () => {
  const q = new URLSearchParams();
  for (const c of ['sh', '-c', 'echo out-$((6*7)); echo err >&2; exit 3']) q.append('command', c);
  q.set('stdout', 'true');
  q.set('stderr', 'true');
  const ws = openWs(`/exec/default/${POD}/c?${q}`, 'v4.channel.k8s.io');
  const got = { stdout: '', stderr: '', status: '' };
  await new Promise<void>((resolve, reject) => {
    ws.on('message', (d: Buffer) => {
      const body = d.subarray(1).toString();
      if (d[0] === 1) got.stdout += body;
      else if (d[0] === 2) got.stderr += body;
      else if (d[0] === 3) got.status += body;
    });
    ws.on('close', () => resolve());
    ws.on('error', reject);
  });
  assert.equal(ws.protocol, 'v4.channel.k8s.io');
  assert.equal(got.stdout, 'out-42\n');
  assert.equal(got.stderr, 'err\n');
  const st = JSON.parse(got.status) as { status: string; reason: string; details: { causes: { reason: string; message: string }[] } };
  assert.equal(st.reason, 'NonZeroExitCode');
  assert.equal(st.details.causes.find((c) => c.reason === 'ExitCode')?.message, '3');
});

test('exec is refused without permission and for an unknown pod', async () => {
  const status = (path: string, token: string) => new Promise<number>((resolve) => {
    const ws = new WebSocket(`wss://127.0.0.1:${port}${path}`, ['v4.channel.k8s.io'], { ca: server.ca.certPem, headers: { authorization: `Bearer ${token}` } });
    ws.on('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0); res.resume(); });
    ws.on('open', () => { ws.close(); resolve(101); });
    ws.on('error', () => undefined);
  });
  assert.equal(await status(`/exec/default/${POD}/c?command=true&stdout=1`, BOB), 403);
  assert.equal(await status('/exec/default/kna-t-none/c?command=true&stdout=1', ALICE), 404);
});

test('port-forward over WebSocket relays a TCP exchange to the pod', async () => {
  const ws = openWs(`/portForward/default/${POD}?port=8080`, 'v4.channel.k8s.io');
  // Each channel (0 data, 1 error) starts with the port, 2 bytes little-endian; then data.
  const seen = new Map<number, Buffer[]>();
  const echoed = await new Promise<string>((resolve, reject) => {
    let data = '';
    ws.on('message', (d: Buffer) => {
      const ch = d[0]!;
      const chunks = seen.get(ch) ?? [];
      chunks.push(d.subarray(1));
      seen.set(ch, chunks);
      if (ch === 0 && chunks.length === 1) {
        assert.equal(d.readUInt16LE(1), 8080);
        ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('ping-kna-t\n')]));
      } else if (ch === 0) {
        data += d.subarray(1).toString();
        if (data.includes('\n')) resolve(data);
      } else if (ch === 1 && chunks.length > 1) {
        reject(new Error(`port-forward error: ${d.subarray(1).toString()}`));
      }
    });
    ws.on('error', reject);
    ws.on('close', () => reject(new Error(`closed before the echo came back (got ${data})`)));
  }).finally(() => ws.close());
  assert.equal(echoed, 'ping-kna-t\n');
});

test('attach over WebSocket, and an exec over SPDY/3.1 with stdin and its end, reach the runtime through the same proxy', async () => {
  const attach = openWs(`/attach/default/${POD}/c?stdout=1`, 'v4.channel.k8s.io');
  await new Promise<void>((resolve, reject) => { attach.on('open', () => resolve()); attach.on('error', reject); });
  assert.equal(attach.protocol, 'v4.channel.k8s.io');
  attach.close();
  // kube-apiserver talks SPDY to kubelets (it translates kubectl's WebSocket): a whole
  // session, the way it runs one, through the kubelet API's proxy to the runtime.
  const q = new URLSearchParams();
  for (const c of ['sh', '-c', 'cat; echo err >&2; exit 3']) q.append('command', c);
  for (const k of ['stdin', 'stdout', 'stderr']) q.set(k, 'true');
  const session = await openRemoteCommand(`https://127.0.0.1:${port}/exec/default/${POD}/c?${q}`, {
    stdin: true, stdout: true, stderr: true, tty: false, tls: { ca: server.ca.certPem }, headers: { authorization: `Bearer ${ALICE}` },
  });
  const got = { stdout: '', stderr: '' };
  session.streams.stdout!.setEncoding('utf8').on('data', (d: string) => { got.stdout += d; });
  session.streams.stderr!.setEncoding('utf8').on('data', (d: string) => { got.stderr += d; });
  session.streams.stdin!.end('ping-kna-t\n');
  const status = JSON.parse(await session.done) as { reason: string; details: { causes: { reason: string; message: string }[] } };
  assert.deepEqual(got, { stdout: 'ping-kna-t\n', stderr: 'err\n' });
  assert.equal(status.reason, 'NonZeroExitCode');
  assert.equal(status.details.causes.find((c) => c.reason === 'ExitCode')?.message, '3');
  // Without permission the upgrade is refused, with the reason.
  await assert.rejects(openRemoteCommand(`https://127.0.0.1:${port}/exec/default/${POD}/c?${q}`, {
    stdin: true, stdout: true, stderr: true, tty: false, tls: { ca: server.ca.certPem }, headers: { authorization: `Bearer ${BOB}` },
  }), (err: unknown) => err instanceof StreamUpgradeError && err.status === 403);
});
