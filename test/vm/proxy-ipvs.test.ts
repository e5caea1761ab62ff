// IPVS mode beyond the shared scenario table, with real packets: graceful removal of
// real servers, restarts that find the kernel already programmed, the scheduler
// option. Needs a kernel with IPVS: it runs inside the VM (test/vm/ipvs-guest.ts,
// started by test/integration/proxy-ipvs-vm.test.ts), never on the host directly.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { execa } from 'execa';
import { IpvsBackend } from '../../agent/proxy/ipvs/backend.js';
import { parseIpvsList } from '../../agent/proxy/ipvs/model.js';
import type { Proxier } from '../../agent/proxy/proxier.js';
import { netnsRunner } from '../../agent/proxy/runner.js';
import { ProxyLab, service, slice } from '../harness/proxy-lab.js';
import { proxyLeftovers } from '../harness/proxy-modes.js';

const HOLD = join(process.cwd(), 'dist/test/harness/tcp-hold.js');
const PODS = { b1: '10.244.1.11', b2: '10.244.1.12' } as const;
const lab = new ProxyLab('ipvs');
const podNs: Record<string, string> = {};
const procs: ChildProcess[] = [];

/** tcp-hold.js in netns `ns`: its stdout lines, awaited one by one per connection id ('' for the server). */
class Hold {
  readonly proc: ChildProcess;
  private readonly lines = new Map<string, string[]>();
  private readonly waiting = new Map<string, Array<(l: string) => void>>();
  private next = 0;

  constructor(ns: string, args: string[]) {
    this.proc = spawn('ip', ['netns', 'exec', ns, process.execPath, HOLD, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
    procs.push(this.proc);
    createInterface({ input: this.proc.stdout! }).on('line', (l) => {
      const i = l.indexOf(' ');
      const [id, text] = args[0] === 'client' ? [l.slice(0, i), l.slice(i + 1)] : ['', l];
      const w = this.waiting.get(id)?.shift();
      if (w) w(text); else this.lines.set(id, [...(this.lines.get(id) ?? []), text]);
    });
  }

  line(id = ''): Promise<string> {
    const l = this.lines.get(id)?.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no line for connection ${id}`)), 8000);
      this.waiting.set(id, [...(this.waiting.get(id) ?? []), (x) => { clearTimeout(t); resolve(x); }]);
    });
  }

  /** Opens a connection; resolves with its id and its first line (the backend's name). */
  async open(host: string): Promise<{ id: string; name: string }> {
    const id = `c${this.next++}`;
    this.send(`open ${id} ${host} 80`);
    return { id, name: await this.line(id) };
  }

  send(command: string): void { this.proc.stdin!.write(`${command}\n`); }
}

let client: Hold;

/** Which backend a new connection reaches (then reset). */
async function firstLine(host: string): Promise<string> {
  const c = await client.open(host);
  client.send(`reset ${c.id}`);
  return c.name;
}

const web = (name: string, ip: string) => service(name, { clusterIP: ip, ports: [{ name: 'http', port: 80, targetPort: 8080 }] });
const eps = (svc: string, names: Array<keyof typeof PODS>) => slice(svc, names.map((n) => ({ ip: PODS[n], node: 'node-a' })), [{ name: 'http', port: 8080 }]);

async function ipvs(): Promise<ReturnType<typeof parseIpvsList>> {
  return parseIpvsList((await execa('ip', ['netns', 'exec', lab.node, 'ipvsadm', '-Ln'])).stdout);
}

let proxiers: Proxier[] = [];
const proxier = (extra: ConstructorParameters<typeof IpvsBackend>[2] = {}): Proxier => {
  const p = lab.proxier('node-a', { backend: (r, f) => new IpvsBackend(r, f, { drainPollMs: 200, ...extra }) });
  proxiers.push(p);
  return p;
};

before(async () => {
  await lab.setUp();
  for (const [name, ip] of Object.entries(PODS)) {
    podNs[name] = await lab.addPod(name, ip);
    assert.equal(await new Hold(podNs[name]!, ['serve', name, '8080']).line(), 'ready');
  }
  client = new Hold(await lab.addPod('client', '10.244.1.50'), ['client']);
});

after(async () => {
  for (const p of proxiers) await p.cleanup().catch(() => undefined);
  for (const p of procs) p.kill('SIGKILL');
  await lab.close();
});

test('a removed endpoint drains: its open connection keeps working, new ones avoid it, it goes once the connection ends', async () => {
  const p = proxier();
  p.setState([web('drain', '10.96.0.30')], [eps('drain', ['b1', 'b2'])]);
  await p.start();
  const held = await client.open('10.96.0.30');
  const holder = held.name as keyof typeof PODS;
  assert.ok(holder === 'b1' || holder === 'b2', holder);
  const other = holder === 'b1' ? 'b2' : 'b1';

  p.onEndpointSliceUpdate(eps('drain', [other]));
  await p.syncNow();
  const real = (await ipvs()).get('TCP 10.96.0.30:80')?.reals.get(`${PODS[holder]}:8080`);
  assert.equal(real?.weight, 0, 'kept at weight 0 while its connection lasts');
  assert.equal(real?.activeConns, 1);
  assert.match(p.explain('default', 'drain')!.ports[0]!.rules.ipvs!.join('\n'), /# draining/);
  await new Promise((r) => setTimeout(r, 600)); // a few drain checks
  client.send(`send ${held.id} still there`);
  assert.equal(await client.line(held.id), 'still there', 'the established connection must survive');
  for (let i = 0; i < 4; i++) assert.equal(await firstLine('10.96.0.30'), other, 'a new connection reached the draining endpoint');

  // A reset ends the connection without TIME_WAIT (which IPVS counts for two minutes).
  client.send(`reset ${held.id}`);
  let gone = false;
  for (let i = 0; i < 100 && !gone; i++) {
    await new Promise((r) => setTimeout(r, 250));
    gone = !(await ipvs()).get('TCP 10.96.0.30:80')?.reals.has(`${PODS[holder]}:8080`);
  }
  assert.ok(gone, 'the drained real server was not deleted after its connection ended');
  assert.deepEqual([...(await ipvs()).get('TCP 10.96.0.30:80')!.reals.keys()], [`${PODS[other]}:8080`]);
  await p.cleanup();
});

test('an endpoint that comes back while draining takes traffic again', async () => {
  const p = proxier();
  p.setState([web('back', '10.96.0.31')], [eps('back', ['b1', 'b2'])]);
  await p.start();
  const held = await client.open('10.96.0.31');
  const holder = held.name as keyof typeof PODS;
  const other = holder === 'b1' ? 'b2' : 'b1';
  p.onEndpointSliceUpdate(eps('back', [other]));
  await p.syncNow();
  p.onEndpointSliceUpdate(eps('back', ['b1', 'b2']));
  await p.syncNow();
  assert.equal((await ipvs()).get('TCP 10.96.0.31:80')?.reals.get(`${PODS[holder]}:8080`)?.weight, 1);
  const seen = new Set<string>();
  for (let i = 0; i < 6; i++) seen.add(await firstLine('10.96.0.31'));
  assert.deepEqual([...seen].sort(), ['b1', 'b2']);
  client.send(`reset ${held.id}`);
  await p.cleanup();
});

test('a restart finds the kernel programmed: stale servers of ours go, foreign ones stay, nothing else is rewritten', async () => {
  const state = (p: Proxier): void => p.setState([web('keep', '10.96.0.32')], [eps('keep', ['b1', 'b2'])]);
  const first = proxier();
  state(first);
  await first.start();
  await first.stop();
  const inNode = (...argv: string[]) => execa('ip', ['netns', 'exec', lab.node, ...argv]);
  // Left by an earlier run (a Service deleted while the agent was down), and someone else's.
  await inNode('ip', 'addr', 'add', '10.96.0.99/32', 'dev', 'kube-ipvs0');
  await inNode('ipvsadm', '-A', '-t', '10.96.0.99:80', '-s', 'rr');
  await inNode('ipvsadm', '-A', '-t', '192.0.2.50:80', '-s', 'rr');
  await inNode('ipset', 'create', 'kna-t-foreign', 'hash:ip');

  const second = proxier();
  state(second);
  await second.start();
  let vs = await ipvs();
  assert.ok(!vs.has('TCP 10.96.0.99:80'), 'a stale virtual server of ours must go');
  assert.ok(vs.has('TCP 192.0.2.50:80'), 'a foreign virtual server must stay');
  assert.doesNotMatch((await inNode('ip', 'addr', 'show', 'dev', 'kube-ipvs0')).stdout, /10\.96\.0\.99/);
  const again = await second.syncNow({ full: true });
  assert.equal(again.kind, 'full');
  assert.deepEqual(Object.keys(again.input).filter((k) => k === 'ipvsadm' || k === 'ipset' || k === 'ip'), [], `an idempotent full sync changed: ${JSON.stringify(again.input)}`);

  await second.cleanup();
  vs = await ipvs();
  assert.deepEqual([...vs.keys()], ['TCP 192.0.2.50:80'], 'cleanup removes ours only');
  assert.match((await inNode('ipset', 'list', '-n')).stdout, /kna-t-foreign/);
  await inNode('ipvsadm', '-D', '-t', '192.0.2.50:80');
  await inNode('ipset', 'destroy', 'kna-t-foreign');
  assert.deepEqual(await proxyLeftovers(lab.node), []);
});

test('--ipvs-scheduler reaches the virtual servers: sh pins a client to one backend', async () => {
  await new IpvsBackend(netnsRunner(lab.node), 4, { scheduler: 'sh' }).preflight();
  const p = proxier({ scheduler: 'sh' });
  p.setState([web('hashed', '10.96.0.33')], [eps('hashed', ['b1', 'b2'])]);
  await p.start();
  assert.equal((await ipvs()).get('TCP 10.96.0.33:80')?.scheduler, 'sh');
  const seen = new Set<string>();
  for (let i = 0; i < 6; i++) seen.add(await firstLine('10.96.0.33'));
  assert.equal(seen.size, 1, `source hashing sent one client to ${[...seen].join(', ')}`);
  await p.cleanup();
  proxiers = [];
});
