// Standalone Services end to end: Service manifests and pods in the folder, the agent
// allocates a clusterIP, computes endpoints from its pods and programs iptables; real
// connections from the node reach the pods. Everything runs inside a "node" netns made
// here (the file re-runs itself there), so the host's iptables are never touched.
import assert from 'node:assert/strict';
import { createConnection } from 'node:net';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { buildConflist } from '../../cni/conflist.js';
import { startContainerd } from '../harness/containerd.js';
import { TestAgent } from '../harness/agent.js';
import { NetnsLab } from '../harness/netns.js';

const INNER = process.env.KNA_T_SVC_NODE_NETNS;

/** One TCP exchange: what the server says before closing (undefined when refused). */
function ask(ip: string, port: number): Promise<string | undefined> {
  return new Promise((done) => {
    let text = '';
    const s = createConnection({ host: ip, port, timeout: 3000 });
    s.on('data', (d) => (text += d.toString()));
    s.on('end', () => done(text.trim()));
    s.on('timeout', () => { s.destroy(); done('timeout'); });
    s.on('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED' ? undefined : `error ${err.code}`));
  });
}

const backend = (name: string) => `
apiVersion: v1
kind: Pod
metadata: { name: ${name}, labels: { app: echo } }
spec:
  terminationGracePeriodSeconds: 0
  containers:
    - name: main
      image: localhost/kna/busybox:latest
      imagePullPolicy: IfNotPresent
      command: [nc, -ll, -p, '8080', -e, echo, ${name}]
      ports: [{ name: http, containerPort: 8080 }]
`;

if (!INNER) {
  test('standalone Services (inside a node netns)', { timeout: 240_000 }, async (t) => {
    const lab = new NetnsLab('svc');
    t.after(() => lab.dispose());
    const node = await lab.netns('node');
    // A node has a default route; without one, connecting to a service IP fails in
    // routing before the DNAT rules are consulted. A veth pair stands in for the uplink (this kernel has no dummy links).
    for (const argv of [['ip', 'link', 'set', 'lo', 'up'], ['ip', 'link', 'add', 'kna-t-up', 'type', 'veth', 'peer', 'name', 'kna-t-upp'], ['ip', 'link', 'set', 'kna-t-upp', 'up'],
      ['ip', 'addr', 'add', '192.0.2.10/24', 'dev', 'kna-t-up'], ['ip', 'link', 'set', 'kna-t-up', 'up'],
      ['ip', 'route', 'add', 'default', 'via', '192.0.2.1', 'dev', 'kna-t-up', 'onlink']]) await lab.exec(node, argv);
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_TEST_CONTEXT')) as Record<string, string>;
    // nsenter, not `ip netns exec`: that one remounts /sys, hiding the cgroup mounts runc needs.
    const r = await execa('nsenter', [`--net=${node.path}`, '--', process.execPath, fileURLToPath(import.meta.url)], {
      env: { ...env, KNA_T_SVC_NODE_NETNS: node.name }, extendEnv: false, reject: false, all: true,
    });
    assert.equal(r.exitCode, 0, r.all);
  });
} else {
  test(`inside ${INNER}: clusterIP allocation, endpoints from pods, real connections`, { timeout: 220_000 }, async (t) => {
    const ctd = await startContainerd({
      name: 'svc',
      cniPlugins: { 'kna-cni': resolve('dist/cni/kna-cni') },
      cniConflist: (ctx) => buildConflist({ name: ctx.bridge, bridge: ctx.bridge, podCidrs: [ctx.podCidr], dataDir: ctx.ipamDataDir }),
    });
    t.after(() => ctd.stop());
    const agent = new TestAgent(ctd, ['--proxy-mode', 'iptables', '--service-cluster-ip-range', '10.97.0.0/24']);
    t.after(async () => {
      await agent.stop();
      await execa(process.execPath, ['dist/agent/cli/main.js', 'cleanup', '--root-dir', agent.rootDir, '--container-runtime-endpoint', ctd.endpoint, '--cni-conf-dir', '/nonexistent-kna-t'], { reject: false });
    });
    agent.start();

    agent.writeManifest('be-1.yaml', backend('be-1'));
    agent.writeManifest('be-2.yaml', backend('be-2'));
    agent.writeManifest('svc.yaml', `
apiVersion: v1
kind: Service
metadata: { name: echo }
spec:
  selector: { app: echo }
  ports: [{ name: web, port: 80, targetPort: http }]
---
apiVersion: v1
kind: Service
metadata: { name: broken }
spec:
  selector: { app: echo }
  ports: [{ port: 0 }]
`);
    for (const n of ['be-1', 'be-2']) await agent.waitPod(n, (p) => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false, 'Ready');
    const explained = await agent.waitFor('the Service programmed with two endpoints', async () => {
      const r = await agent.kna(['explain', 'service', 'default/echo'], { reject: false });
      const text = String(r.stdout);
      return r.exitCode === 0 && (text.match(/10\.123\.\d+\.\d+:8080/g) ?? []).length >= 2 ? text : undefined;
    });
    const ip = /\b(10\.97\.0\.\d+)\b/.exec(explained)?.[1];
    assert.ok(ip, `a clusterIP from the range in:\n${explained}`);

    const seen = new Set<string | undefined>();
    for (let i = 0; i < 30 && seen.size < 2; i++) seen.add(await ask(ip, 80));
    assert.deepEqual([...seen].sort(), ['be-1', 'be-2'], 'both backends answer through the clusterIP');
    assert.match(agent.log(), /Service default\/broken: spec\.ports\[0\]\.port: Invalid value: 0/);

    // A backend removed from the folder leaves the Service.
    agent.removeManifest('be-2.yaml');
    await agent.waitFor('only be-1 answers', async () => {
      const answers = new Set<string | undefined>();
      for (let i = 0; i < 10; i++) answers.add(await ask(ip, 80));
      return answers.size === 1 && answers.has('be-1');
    });

    // The clusterIP is kept across an agent restart.
    await agent.kill9();
    agent.start();
    await agent.waitFor('agent back', async () => (await agent.kna(['explain', 'service', 'default/echo'], { reject: false })).exitCode === 0);
    assert.match(String((await agent.kna(['explain', 'service', 'default/echo'])).stdout), new RegExp(ip.replace(/\./g, '\\.')));
    assert.equal(await ask(ip, 80), 'be-1');

    // Without the Service, its address is refused at once, as any unallocated service IP is.
    agent.removeManifest('svc.yaml');
    await agent.waitFor('service IP refused', async () => (await ask(ip, 80)) === undefined);

    // `kna cleanup` leaves nothing of the node's netfilter state: with no pod left, kna-cni's shared chains go too.
    assert.match(String((await execa('iptables-save')).stdout), /:KNA-CNI-MASQ /);
    await agent.stop();
    const cleaned = await execa(process.execPath, ['dist/agent/cli/main.js', 'cleanup', '--root-dir', agent.rootDir, '--container-runtime-endpoint', ctd.endpoint, '--cni-conf-dir', '/nonexistent-kna-t']);
    assert.doesNotMatch(String((await execa('iptables-save')).stdout), /KNA-CNI|KUBE-/, String(cleaned.stdout));
  });
}
