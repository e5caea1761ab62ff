// Each CNI command against the spec, run as a runtime runs it: the built
// executable, CNI_* environment, config on stdin, inside a "node" netns made here.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { execa } from 'execa';
import { execPlugin, NetnsLab, type Netns, type PluginCall } from '../harness/netns.js';

const BIN = 'dist/cni/kna-cni';

describe('kna-cni conformance', { timeout: 60_000 }, () => {
  const lab = new NetnsLab('cnicf');
  const dataDir = `/tmp/kna-t-cnicf-${lab.suffix}`;
  let node: Netns;
  let n = 0;
  const added: Array<{ id: string; ns: Netns; conf: object }> = [];

  const conf = (over: Record<string, unknown> = {}, ipam: Record<string, unknown> = {}) => ({
    cniVersion: '1.0.0', name: 'kna-t-conf', type: 'kna-cni', bridge: 'kna-tbr1',
    isGateway: true, isDefaultGateway: true, ipMasq: true, hairpinMode: true,
    ipam: { type: 'host-local', ranges: [[{ subnet: '10.77.0.0/24' }]], dataDir, ...ipam },
    ...over,
  });
  const call = (c: PluginCall, config: object | string) => execPlugin(node, BIN, c, config);
  /** A fresh pod netns and id; ADDed when `config` is given (and DELed in after()). */
  const pod = async (config?: object) => {
    const ns = await lab.netns(`p${n}`);
    const id = `kna-t-cf-${n++}-${lab.suffix}`;
    const res = config ? await call({ command: 'ADD', containerId: id, netns: ns.path, ifname: 'eth0' }, config) : undefined;
    if (config) added.push({ id, ns, conf: config });
    return { ns, id, res };
  };
  /** Reservation files (host-local layout) held by container `id`. */
  const reservedFor = (network: string, id: string): string[] => {
    const dir = join(dataDir, network);
    if (!existsSync(dir)) return [];
    return readdirSync(dir).filter((f) => !f.startsWith('last_') && readFileSync(join(dir, f), 'utf8').startsWith(`${id}\r\n`));
  };
  const expectError = (r: { code: number; json?: Record<string, unknown>; stdout: string }, code: number, field?: RegExp) => {
    assert.notEqual(r.code, 0, 'must fail');
    assert.equal(r.json?.code, code, `error code in ${r.stdout}`);
    assert.equal(typeof r.json?.msg, 'string');
    if (field) assert.match(String(r.json?.msg), field);
  };

  before(async () => { node = await lab.netns('node'); });
  after(async () => {
    for (const a of added) await call({ command: 'DEL', containerId: a.id, netns: a.ns.path, ifname: 'eth0' }, a.conf);
    await lab.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('VERSION lists the supported versions, in the version asked for', async () => {
    const plain = await call({ command: 'VERSION' }, '');
    assert.equal(plain.code, 0);
    assert.deepEqual(plain.json!.supportedVersions, ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']);
    const asked = await call({ command: 'VERSION' }, { cniVersion: '0.4.0' });
    assert.equal(asked.json!.cniVersion, '0.4.0');
  });

  test('ADD result follows the requested spec version', async () => {
    for (const v of ['0.3.1', '0.4.0', '1.0.0', '1.1.0']) {
      const { ns, res } = await pod(conf({ cniVersion: v, mtu: 1400 }));
      assert.equal(res!.code, 0, res!.stdout + res!.stderr);
      const r = res!.json!;
      assert.equal(r.cniVersion, v);
      const ifaces = r.interfaces as Array<Record<string, unknown>>;
      assert.deepEqual(ifaces.map((i) => i.name), ['kna-tbr1', ifaces[1]!.name, 'eth0']);
      assert.equal(ifaces[2]!.sandbox, ns.path);
      assert.match(String(ifaces[2]!.mac), /^0a:58:0a:4d:00:[0-9a-f]{2}$/);
      assert.equal(ifaces[2]!.mtu, v === '1.1.0' ? 1400 : undefined, 'mtu only from 1.1.0');
      const [ip] = r.ips as Array<Record<string, unknown>>;
      assert.match(String(ip!.address), /^10\.77\.0\.\d+\/24$/);
      assert.equal(ip!.gateway, '10.77.0.1');
      assert.equal(ip!.interface, 2);
      assert.equal(ip!.version, v.startsWith('0.') ? '4' : undefined, 'ips[].version only before 1.0.0');
      assert.deepEqual(r.routes, [{ dst: '0.0.0.0/0', gw: '10.77.0.1' }]);
    }
  });

  test('a chained ADD keeps prevResult and shifts its interface indexes', async () => {
    const prevResult = { cniVersion: '1.0.0', interfaces: [{ name: 'other0' }], ips: [{ address: '192.0.2.5/24', interface: 0 }], dns: { nameservers: ['192.0.2.53'] } };
    const { res } = await pod(conf({ prevResult }));
    assert.equal(res!.code, 0, res!.stdout);
    const r = res!.json!;
    assert.equal((r.interfaces as unknown[]).length, 4);
    assert.deepEqual((r.ips as Array<{ interface: number }>).map((i) => i.interface), [0, 3]);
    assert.deepEqual(r.dns, { nameservers: ['192.0.2.53'] });
  });

  test('a repeated ADD without DEL returns the same address and no duplicate rules', async () => {
    const c = conf();
    const { ns, id, res } = await pod(c);
    const again = await call({ command: 'ADD', containerId: id, netns: ns.path, ifname: 'eth0' }, c);
    assert.equal(again.code, 0, again.stdout);
    assert.deepEqual(again.json!.ips, res!.json!.ips);
    const rules = (await lab.exec(node, ['iptables-save', '-t', 'nat'])).stdout.split('\n').filter((l) => l.includes(id));
    assert.equal(rules.length, 2, rules.join('\n'));
  });

  test('CHECK passes after ADD and fails once the pod address is gone', async () => {
    const c = conf();
    const { ns, id, res } = await pod(c);
    const ok = await call({ command: 'CHECK', containerId: id, netns: ns.path, ifname: 'eth0' }, { ...c, prevResult: res!.json });
    assert.equal(ok.code, 0, ok.stdout);
    assert.equal(ok.stdout, '');
    await lab.exec(ns, ['ip', 'addr', 'flush', 'dev', 'eth0']);
    const bad = await call({ command: 'CHECK', containerId: id, netns: ns.path, ifname: 'eth0' }, { ...c, prevResult: res!.json });
    expectError(bad, 101, /address 10\.77\.0\.\d+\/24 missing/);
    const none = await call({ command: 'CHECK', containerId: id, netns: ns.path, ifname: 'eth0' }, c);
    expectError(none, 7, /prevResult/);
  });

  test('DEL is idempotent: twice, without netns, after the netns and veth are gone, never added', async () => {
    const c = conf();
    const { ns, id, res } = await pod(c);
    const hostVeth = (res!.json!.interfaces as Array<{ name: string }>)[1]!.name;
    const del = (netns?: string) => call({ command: 'DEL', containerId: id, ...(netns ? { netns } : {}), ifname: 'eth0' }, c);
    assert.equal((await del(ns.path)).code, 0);
    assert.equal((await del(ns.path)).code, 0);
    assert.equal((await del()).code, 0);
    const link = await lab.exec(node, ['ip', 'link', 'show', hostVeth], { reject: false });
    assert.notEqual(link.exitCode, 0, 'host veth removed');
    assert.deepEqual(reservedFor('kna-t-conf', id), []);

    const gone = await pod(c);
    await execa('ip', ['netns', 'del', gone.ns.name]);
    const r = await call({ command: 'DEL', containerId: gone.id, netns: gone.ns.path, ifname: 'eth0' }, c);
    assert.equal(r.code, 0, r.stdout);
    const never = await call({ command: 'DEL', containerId: 'kna-t-never', netns: '/run/netns/kna-t-nope', ifname: 'eth0' }, c);
    assert.equal(never.code, 0, never.stdout);
    const rules = (await lab.exec(node, ['iptables-save', '-t', 'nat'])).stdout;
    assert.ok(!rules.includes(id) && !rules.includes(gone.id), 'rules removed');
    assert.deepEqual(reservedFor('kna-t-conf', gone.id), []);
  });

  test('STATUS reports readiness; an exhausted range is code 50 and ADD code 100', async () => {
    const tiny = conf({ name: 'kna-t-tiny', bridge: 'kna-tbr2' }, { ranges: [[{ subnet: '10.78.0.0/30' }]] }); // one address: .2
    const ok = await call({ command: 'STATUS' }, tiny);
    assert.equal(ok.code, 0, ok.stdout);
    assert.equal(ok.stdout, '');
    const first = await pod(tiny);
    assert.equal(first.res!.code, 0, first.res!.stdout);
    expectError(await call({ command: 'STATUS' }, tiny), 50, /ipam\.ranges\[0\]/);
    const second = await pod();
    expectError(await call({ command: 'ADD', containerId: second.id, netns: second.ns.path, ifname: 'eth0' }, tiny), 100, /no IP addresses available/);
    assert.deepEqual(reservedFor('kna-t-tiny', second.id), []);
  });

  test('GC removes reservations, rules and links of attachments not listed', async () => {
    const c = conf({ name: 'kna-t-gc', bridge: 'kna-tbr3', runtimeConfig: { portMappings: [{ hostPort: 18080, containerPort: 80 }] } }, { ranges: [[{ subnet: '10.79.0.0/24' }]] });
    const keep = await pod(c);
    const drop = await pod(c);
    const dropVeth = (drop.res!.json!.interfaces as Array<{ name: string }>)[1]!.name;
    const gc = await call({ command: 'GC' }, { ...c, cniVersion: '1.1.0', 'cni.dev/valid-attachments': [{ containerID: keep.id, ifname: 'eth0' }] });
    assert.equal(gc.code, 0, gc.stdout);
    assert.equal(reservedFor('kna-t-gc', keep.id).length, 1, 'kept reservation');
    assert.deepEqual(reservedFor('kna-t-gc', drop.id), [], 'dropped reservation');
    const nat = (await lab.exec(node, ['iptables-save', '-t', 'nat'])).stdout;
    assert.ok(nat.includes(keep.id), 'kept rules');
    assert.ok(!nat.includes(drop.id), 'dropped rules');
    assert.notEqual((await lab.exec(node, ['ip', 'link', 'show', dropVeth], { reject: false })).exitCode, 0, 'dropped veth');
    assert.equal((await lab.exec(node, ['ip', 'link', 'show', (keep.res!.json!.interfaces as Array<{ name: string }>)[1]!.name], { reject: false })).exitCode, 0, 'kept veth');
    expectError(await call({ command: 'GC' }, c), 7, /valid-attachments/);
  });

  test('malformed input gives the spec error codes, naming the field', async () => {
    const { ns } = await pod();
    const add = (config: object | string, over: Partial<PluginCall> = {}) =>
      call({ command: 'ADD', containerId: 'kna-t-bad', netns: ns.path, ifname: 'eth0', ...over }, config);
    expectError(await add(conf({ cniVersion: '0.2.0' })), 1, /cniVersion/);
    expectError(await add(conf({ cniVersion: '9.9.9' })), 1, /cniVersion/);
    expectError(await add(conf({ vlan: 5 })), 2, /^vlan/);
    expectError(await add(conf({}, { type: 'dhcp' })), 2, /^ipam\.type/);
    expectError(await add('{"cniVersion": "1.0.0", '), 6, /JSON/);
    expectError(await add(conf({}, { ranges: [[{ subnet: '10.0.0.0/33' }]] })), 7, /^ipam\.ranges\[0\]\[0\]\.subnet/);
    expectError(await add(conf({}, { ranges: [[{ subnet: '10.0.0.0/24', gateway: '10.0.1.1' }]] })), 7, /^ipam\.ranges\[0\]\[0\]\.gateway/);
    expectError(await add(conf({}, { ranges: [[{ subnet: '10.0.0.0/24' }], [{ subnet: '10.0.0.128/25' }]] })), 7, /overlaps/);
    expectError(await add(conf({ runtimeConfig: { portMappings: [{ hostPort: 70000, containerPort: 80 }] } })), 7, /^runtimeConfig\.portMappings\[0\]\.hostPort/);
    expectError(await add(conf({ runtimeConfig: { portMappings: [{ hostPort: 80, containerPort: 80, protocol: 'icmp' }] } })), 7, /protocol/);
    expectError(await add(conf({ bridge: 'a-bridge-name-too-long' })), 7, /^bridge/);
    expectError(await add(conf({ name: 'bad/name' })), 7, /^name/);
    expectError(await add(conf({ ipam: undefined })), 7, /^ipam/);
    expectError(await add(conf({ prevResult: { ips: [{ address: 'nope' }] } })), 6, /prevResult/);
    expectError(await add(conf(), { containerId: undefined }), 4, /CNI_CONTAINERID/);
    expectError(await add(conf(), { containerId: 'bad id' }), 4, /CNI_CONTAINERID/);
    expectError(await add(conf(), { ifname: 'eth 0' }), 4, /CNI_IFNAME/);
    expectError(await add(conf(), { netns: undefined }), 4, /CNI_NETNS/);
    expectError(await add(conf(), { netns: '/run/netns/kna-t-does-not-exist' }), 3, /CNI_NETNS/);
    expectError(await add(conf(), { command: 'FROB' as PluginCall['command'] }), 4, /CNI_COMMAND/);
    assert.deepEqual(reservedFor('kna-t-conf', 'kna-t-bad'), [], 'nothing reserved by failed ADDs');
  });
});
