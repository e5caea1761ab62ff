// Services and EndpointSlices from the API server for the proxy.
//  1. The source alone (agent/apiserver/services.ts) against the test control plane,
//     as a joined node: both lists arrive before the proxier starts; changes follow;
//     kube-proxy's label selector leaves headless and foreign-proxy objects out; a
//     broken watch resumes and a 410 relists, reporting what changed meanwhile.
//  2. The whole agent (`kna join --proxy-mode iptables`) inside a node netns made here
//     (the file re-runs itself there, so the host's iptables are never touched): a pod
//     created in the API, a Service + EndpointSlice for it in the API, real connections
//     through the clusterIP; a broken watch and a 410 survived; an agent restart while
//     the API server is down keeps the rules (the proxy waits for the lists); deleting
//     the Service makes its address refuse connections.
import assert from 'node:assert/strict';
import { createConnection } from 'node:net';
import { resolve } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { pino } from 'pino';
import { resourcePath, type KubeObject } from '../../agent/apiserver/client.js';
import { ControlPlane } from '../../agent/apiserver/control-plane.js';
import { credentialPaths, joinCluster } from '../../agent/apiserver/join.js';
import { ApiServices, type ProxySink, type ServiceApi } from '../../agent/apiserver/services.js';
import type { Informer } from '../../agent/apiserver/watch.js';
import { buildConflist } from '../../cni/conflist.js';
import { TestApiServer } from '../apiserver/server.js';
import { TestAgent } from '../harness/agent.js';
import { adminClient, defer, eventually, startTestApiServer, tempDir } from '../harness/apiserver.js';
import { startContainerd } from '../harness/containerd.js';
import { NetnsLab } from '../harness/netns.js';

const INNER = process.env.KNA_T_APISVC_NODE_NETNS;
const log = pino({ level: 'silent' });
const svcPath = (name?: string) => resourcePath({ resource: 'services', namespace: 'default', ...(name ? { name } : {}) });
const slicePath = (name?: string) => resourcePath({ group: 'discovery.k8s.io', resource: 'endpointslices', namespace: 'default', ...(name ? { name } : {}) });

function service(name: string, labels: Record<string, string> = {}, port = 80) {
  // No selector: the endpoints are the test's own EndpointSlices (the double runs no EndpointSlice controller).
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, labels }, spec: { type: 'ClusterIP', ports: [{ name: 'web', port, targetPort: 8080, protocol: 'TCP' }] } };
}

function slice(name: string, serviceName: string, ip: string, nodeName: string, port = 8080) {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name, labels: { 'kubernetes.io/service-name': serviceName, 'endpointslice.kubernetes.io/managed-by': 'kna-t' } },
    addressType: 'IPv4',
    endpoints: [{ addresses: [ip], conditions: { ready: true, serving: true, terminating: false }, nodeName }],
    ports: [{ name: 'web', port, protocol: 'TCP' }],
  };
}

if (!INNER) {
  /** Records what the proxier would be told, and what it had been told when it started. */
  class RecordingProxier implements ProxySink {
    readonly services = new Map<string, KubeObject>();
    readonly slices = new Map<string, KubeObject>();
    readonly events: string[] = [];
    startedWith: { services: string[]; slices: string[] } | undefined;
    starts = 0;
    private key = (o: unknown) => `${(o as KubeObject).metadata.namespace}/${(o as KubeObject).metadata.name}`;
    onServiceUpdate(o: unknown): void { this.services.set(this.key(o), o as KubeObject); this.events.push(`svc+ ${this.key(o)}`); }
    onServiceDelete(o: unknown): void { this.services.delete(this.key(o)); this.events.push(`svc- ${this.key(o)}`); }
    onEndpointSliceUpdate(o: unknown): void { this.slices.set(this.key(o), o as KubeObject); this.events.push(`eps+ ${this.key(o)}`); }
    onEndpointSliceDelete(o: unknown): void { this.slices.delete(this.key(o)); this.events.push(`eps- ${this.key(o)}`); }
    async start(): Promise<void> {
      this.starts++;
      this.startedWith = { services: [...this.services.keys()].sort(), slices: [...this.slices.keys()].sort() };
    }
  }

  async function joinedControlPlane(t: TestContext, server: TestApiServer, nodeName: string): Promise<ControlPlane> {
    const rootDir = tempDir(t, 'svcnode');
    await joinCluster({ server: server.url, token: server.createBootstrapToken(), caCertHashes: [server.caHash], nodeName, rootDir });
    const cp = await ControlPlane.connect({ kubeconfig: credentialPaths(rootDir).kubeconfig, node: { nodeName, rootDir, health: () => ({ runtimeReady: true, networkReady: true }), containerRuntimeVersion: 'containerd://1.7.0' }, log });
    defer(t, () => cp.stop());
    cp.start();
    await cp.nodeStatus.registered;
    return cp;
  }

  test('API Services and EndpointSlices reach the proxier: lists before start, changes, selector, watch break and 410', async (t) => {
    const nodeName = `kna-t-svc-${process.pid}`;
    const { server, admin } = await startTestApiServer(t, { autoApproveCsrs: true });
    await admin.create(svcPath(), service('kna-t-a'));
    await admin.create(slicePath(), slice('kna-t-a-1', 'kna-t-a', '10.244.0.5', nodeName));
    await admin.create(svcPath(), service('kna-t-headless', { 'service.kubernetes.io/headless': '' }));
    await admin.create(svcPath(), service('kna-t-other', { 'service.kubernetes.io/service-proxy-name': 'someone-else' }));
    await admin.create(slicePath(), { ...slice('kna-t-other-1', 'kna-t-other', '10.244.0.6', nodeName), metadata: { name: 'kna-t-other-1', labels: { 'kubernetes.io/service-name': 'kna-t-other', 'service.kubernetes.io/service-proxy-name': 'someone-else' } } });

    const cp = await joinedControlPlane(t, server, nodeName);
    const informers: Informer<KubeObject>[] = [];
    // The node's own credentials (the Node authorizer lets it list and watch both), informers kept for their stats.
    const api: ServiceApi = { watchList: (path, fn, o) => { const i = cp.watchList(path, fn, o); informers.push(i as unknown as Informer<KubeObject>); return i; } };
    const proxier = new RecordingProxier();
    const source = new ApiServices(api, proxier, { log });
    defer(t, () => source.stop());
    source.start();
    await source.ready;

    assert.equal(proxier.starts, 1);
    assert.deepEqual(proxier.startedWith, { services: ['default/kna-t-a', 'default/kubernetes'], slices: ['default/kna-t-a-1', 'default/kubernetes'] },
      'both lists were delivered before the proxier started; headless and foreign-proxy objects are left out');
    assert.equal((proxier.services.get('default/kna-t-a') as { spec?: { clusterIP?: string } }).spec?.clusterIP?.startsWith('10.'), true, 'the API server allocated the clusterIP');

    // Changes follow the watch.
    const s = await admin.get<KubeObject & { spec: { ports: unknown[] } }>(svcPath('kna-t-a'));
    await admin.update(svcPath('kna-t-a'), { ...s, spec: { ...s.spec, ports: [{ name: 'web', port: 81, targetPort: 8080, protocol: 'TCP' }] } });
    await eventually('the port change', () => (proxier.services.get('default/kna-t-a') as { spec?: { ports?: { port: number }[] } } | undefined)?.spec?.ports?.[0]?.port === 81 || undefined);
    await admin.delete(slicePath('kna-t-a-1'));
    await eventually('the slice deleted', () => !proxier.slices.has('default/kna-t-a-1') || undefined);
    // A Service turning headless (labelled) leaves the selector: reported as deleted.
    const h = await admin.get(svcPath('kna-t-a'));
    await admin.update(svcPath('kna-t-a'), { ...h, metadata: { ...h.metadata, labels: { 'service.kubernetes.io/headless': '' } } });
    await eventually('the labelled Service gone from the proxy', () => !proxier.services.has('default/kna-t-a') || undefined);

    // A broken watch resumes from its resourceVersion: nothing lost, nothing relisted.
    const lists = informers.map((i) => i.stats.lists);
    server.closeWatches();
    await admin.create(svcPath(), service('kna-t-b'));
    await admin.create(slicePath(), slice('kna-t-b-1', 'kna-t-b', '10.244.0.7', nodeName));
    await eventually('changes made while the watches were down', () => (proxier.services.has('default/kna-t-b') && proxier.slices.has('default/kna-t-b-1')) || undefined);
    assert.deepEqual(informers.map((i) => i.stats.lists), lists, 'resumed, not relisted');

    // 410: the watches break, and before they come back the history they would resume from is compacted away.
    server.closeWatches();
    await admin.delete(svcPath('kna-t-b'));
    await admin.create(slicePath(), slice('kna-t-b-2', 'kna-t-b', '10.244.0.8', nodeName));
    server.compact();
    await eventually('the relist reported the deletion and the new slice', () => (!proxier.services.has('default/kna-t-b') && proxier.slices.has('default/kna-t-b-2')) || undefined, 30_000);
    assert.ok(informers.every((i) => i.stats.expired >= 1), `both watches got 410 and relisted: ${JSON.stringify(informers.map((i) => i.stats))}`);
    assert.equal(proxier.starts, 1, 'the proxier is started once');
    assert.ok(!proxier.events.some((e) => e.includes('kna-t-other') || e.includes('kna-t-headless')), proxier.events.join('\n'));
  });

  test('Services from the API through the agent (inside a node netns)', { timeout: 300_000 }, async (t) => {
    const lab = new NetnsLab('apisvc');
    t.after(() => lab.dispose());
    const node = await lab.netns('node');
    // A default route, so connecting to a service IP gets past routing to the DNAT rules.
    for (const argv of [['ip', 'link', 'add', 'kna-t-up', 'type', 'veth', 'peer', 'name', 'kna-t-upp'], ['ip', 'link', 'set', 'kna-t-upp', 'up'],
      ['ip', 'addr', 'add', '192.0.2.10/24', 'dev', 'kna-t-up'], ['ip', 'link', 'set', 'kna-t-up', 'up'],
      ['ip', 'route', 'add', 'default', 'via', '192.0.2.1', 'dev', 'kna-t-up', 'onlink']]) await lab.exec(node, argv);
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_TEST_CONTEXT')) as Record<string, string>;
    // nsenter, not `ip netns exec`: that one remounts /sys, hiding the cgroup mounts runc needs.
    const r = await execa('nsenter', [`--net=${node.path}`, '--', process.execPath, fileURLToPath(import.meta.url)], {
      env: { ...env, KNA_T_APISVC_NODE_NETNS: node.name }, extendEnv: false, reject: false, all: true,
    });
    assert.equal(r.exitCode, 0, r.all);
    for (const m of r.all.matchAll(/(EndpointSlice created|API server back).*? ms/g)) t.diagnostic(m[0]);
  });
} else {
  /** One TCP exchange: what the server says before closing (undefined when refused). */
  const ask = (ip: string, port: number): Promise<string | undefined> => new Promise((done) => {
    let text = '';
    const s = createConnection({ host: ip, port, timeout: 3000 });
    s.on('data', (d) => (text += d.toString()));
    s.on('end', () => done(text.trim()));
    s.on('timeout', () => { s.destroy(); done('timeout'); });
    s.on('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED' ? undefined : `error ${err.code}`));
  });

  const NODE = 'kna-t-node'; // the harness's --node-name

  test(`inside ${INNER}: an API pod reached through an API Service's clusterIP`, { timeout: 280_000 }, async (t) => {
    const dir = tempDir(t, 'apisvc');
    let server = await TestApiServer.start({ dir, autoApproveCsrs: true });
    const port = server.port;
    let admin = adminClient(server);
    defer(t, async () => { admin.close(); await server.stop(); });
    const ctd = await startContainerd({
      name: 'apisvc',
      cniPlugins: { 'kna-cni': resolve('dist/cni/kna-cni') },
      cniConflist: (ctx) => buildConflist({ name: ctx.bridge, bridge: ctx.bridge, podCidrs: [ctx.podCidr], dataDir: ctx.ipamDataDir }),
    });
    defer(t, () => ctd.stop());
    const agent = new TestAgent(ctd, ['--server', server.url, '--token', server.createBootstrapToken(), '--discovery-token-ca-cert-hash', server.caHash, '--proxy-mode', 'iptables'], { command: 'join' });
    defer(t, async () => {
      await agent.stop();
      await execa(process.execPath, ['dist/agent/cli/main.js', 'cleanup', '--root-dir', agent.rootDir, '--container-runtime-endpoint', ctd.endpoint, '--cni-conf-dir', '/nonexistent-kna-t'], { reject: false });
    });
    agent.start();
    const withLog = (err: unknown): never => { throw new Error(`${(err as Error).message}\nagent log:\n${agent.log().split('\n').slice(-40).join('\n')}`); };

    await admin.create(resourcePath({ resource: 'pods', namespace: 'default' }), {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'kna-t-echo', labels: { app: 'echo' } },
      spec: {
        nodeName: NODE, automountServiceAccountToken: false, terminationGracePeriodSeconds: 0,
        containers: [{ name: 'main', image: 'localhost/kna/busybox:latest', imagePullPolicy: 'IfNotPresent', command: ['nc', '-ll', '-p', '8080', '-e', 'echo', 'kna-t-echo'], ports: [{ name: 'http', containerPort: 8080 }] }],
      },
    });
    const podIP = await eventually('the pod Running with an IP in the API', async () => {
      const p = await admin.get<KubeObject & { status?: { phase?: string; podIP?: string } }>(resourcePath({ resource: 'pods', namespace: 'default', name: 'kna-t-echo' }));
      return p.status?.phase === 'Running' ? p.status.podIP : undefined;
    }, 90_000).catch(withLog);

    const created = await admin.create<KubeObject & { spec: { clusterIP: string } }>(svcPath(), service('kna-t-echo'));
    const ip = created.spec.clusterIP;
    assert.match(ip, /^10\.(9[6-9]|1[01]\d)\./, 'allocated by the API server from its service range');
    const t0 = Date.now();
    await admin.create(slicePath(), slice('kna-t-echo-1', 'kna-t-echo', podIP, NODE));
    await eventually('the pod answers through the clusterIP', async () => (await ask(ip, 80)) === 'kna-t-echo' || undefined, 30_000).catch(withLog);
    t.diagnostic(`EndpointSlice created -> pod reached through the clusterIP: ${Date.now() - t0} ms`);
    assert.ok(agent.log().includes('Services and EndpointSlices listed from the API server; starting the proxy'));

    // A broken watch, then a 410 (the history compacted while the watches are down): the changes still arrive.
    server.closeWatches();
    await admin.create(svcPath(), service('kna-t-echo2', {}, 81));
    await admin.create(slicePath(), slice('kna-t-echo2-1', 'kna-t-echo2', podIP, NODE));
    server.compact();
    const ip2 = (await admin.get<KubeObject & { spec: { clusterIP: string } }>(svcPath('kna-t-echo2'))).spec.clusterIP;
    await eventually('the second Service reachable after the relist', async () => (await ask(ip2, 81)) === 'kna-t-echo' || undefined, 30_000).catch(withLog);
    assert.match(agent.log(), /watch expired \(410\), relisting/);

    // The agent restarts while the API server is down: the rules stay (the proxy waits for the lists), and
    // once the API server is back and listed, the changes made meanwhile are programmed.
    const starts = () => agent.log().split('\n').filter((l) => l.includes('starting the proxy')).length;
    await agent.stopProcess();
    const startsBefore = starts();
    admin.close();
    await server.stop();
    agent.start();
    const misses: string[] = [];
    for (let i = 0; i < 20; i++) {
      const a = await ask(ip, 80);
      if (a !== 'kna-t-echo') misses.push(String(a));
      await sleep(150);
    }
    assert.deepEqual(misses, [], 'the clusterIP kept answering while the agent ran without its API server');
    assert.match(agent.log().slice(-20_000), /list\/watch failed/, 'the agent ran without its API server');
    assert.equal(starts(), startsBefore, 'the proxy did not start without the lists');
    server = await TestApiServer.start({ dir, port, autoApproveCsrs: true });
    admin = adminClient(server);
    // Deleting the Service: its address is refused at once, as any unallocated service IP is.
    await admin.delete(svcPath('kna-t-echo'));
    const t1 = Date.now();
    await eventually('the deleted Service refused', async () => (await ask(ip, 80)) === undefined || undefined, 60_000).catch(withLog);
    t.diagnostic(`API server back, Service deleted -> its address refused: ${Date.now() - t1} ms`);
    assert.equal(await ask(ip2, 81), 'kna-t-echo', 'the other Service still works');
    assert.equal(starts(), startsBefore + 1, 'the proxy started once the lists arrived');
  });
}
