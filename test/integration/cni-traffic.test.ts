// Real packets through pods networked by dist/cni/kna-cni. Everything happens in
// namespaces made here: a "node" netns (runs the plugin, holds the bridge and its
// iptables), pod netns, and an "outside" netns reached through the node's uplink
// and knowing no route to the pod network, so only masquerading gets replies back.
//
//   outside 203.0.113.2 ── uplink ── node 203.0.113.1, bridge 10.88.0.1 / fd88::1 ── pods
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { execPlugin, NetnsLab, type Netns } from '../harness/netns.js';

const BIN = 'dist/cni/kna-cni';
const NODE_IP = '203.0.113.1';
const OUTSIDE_IP = '203.0.113.2';

// A TCP+UDP server answering with the address it sees the client come from.
const SERVER = `const net=require('net'),dgram=require('dgram');const port=+process.argv[1];let up=0;
const ready=()=>{if(++up===2)console.log('ready')};const un=(a)=>a.replace(/^::ffff:/,'');
net.createServer((s)=>{s.on('error',()=>{});s.end(un(s.remoteAddress)+'\\n')}).listen({port,host:'::',ipv6Only:false},ready);
const u=dgram.createSocket({type:'udp6',ipv6Only:false});u.on('message',(m,r)=>u.send(un(r.address),r.port,r.address));u.bind(port,ready);`;
// tcp|udp HOST PORT: prints what the server answered.
const CLIENT = `const [proto,host,port]=process.argv.slice(1);const done=(t)=>{console.log(t.trim());process.exit(0)};
setTimeout(()=>{console.log('timeout');process.exit(1)},4000);
if(proto==='tcp'){let b='';const s=require('net').connect(+port,host);s.on('data',(d)=>b+=d);s.on('end',()=>done(b));s.on('error',(e)=>{console.log(e.message);process.exit(1)})}
else{const s=require('dgram').createSocket(host.includes(':')?'udp6':'udp4');s.on('message',(m)=>done(String(m)));s.send('hi',+port,host)}`;

interface Pod { ns: Netns; ip4: string; ip6: string; id: string }

describe('kna-cni: traffic between pods, node and outside', { timeout: 60_000 }, () => {
  const lab = new NetnsLab('cnitr');
  let node: Netns, outside: Netns;
  const pods: Pod[] = [];
  const dataDir = `/tmp/kna-t-cnitr-${lab.suffix}`;
  const conf = (portMappings: object[] = []) => ({
    cniVersion: '1.0.0', name: 'kna-t-traffic', type: 'kna-cni', bridge: 'kna-tbr0',
    isGateway: true, isDefaultGateway: true, ipMasq: true, hairpinMode: true,
    ipam: { type: 'host-local', ranges: [[{ subnet: '10.88.0.0/24' }], [{ subnet: 'fd88::/64' }]], dataDir },
    runtimeConfig: { portMappings },
  });
  const mappings = [
    { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
    { hostPort: 8081, containerPort: 80, protocol: 'udp' },
  ];

  const client = async (from: Netns, proto: 'tcp' | 'udp', host: string, port: number): Promise<string> => {
    const r = await lab.exec(from, [process.execPath, '-e', CLIENT, proto, host, String(port)], { reject: false });
    return r.stdout.trim();
  };
  const serve = async (ns: Netns, port: number): Promise<void> => {
    const p = lab.spawn(ns, [process.execPath, '-e', SERVER, String(port)]);
    await new Promise<void>((resolve, reject) => {
      p.stdout!.on('data', (d: Buffer) => { if (String(d).includes('ready')) resolve(); });
      void p.then((r) => reject(new Error(`server exited: ${r.stderr}`)));
    });
  };
  const ping = async (from: Netns, to: string): Promise<boolean> =>
    (await lab.exec(from, ['busybox', 'ping', '-c', '1', '-W', '3', to], { reject: false })).exitCode === 0;

  before(async () => {
    node = await lab.netns('node');
    outside = await lab.netns('out');
    await lab.veth({ ns: node, name: 'kna-tup', cidr: `${NODE_IP}/24` }, { ns: outside, name: 'eth0', cidr: `${OUTSIDE_IP}/24` });
    for (let i = 0; i < 2; i++) {
      const ns = await lab.netns(`p${i}`);
      const id = `kna-t-traffic-${i}-${lab.suffix}`;
      const r = await execPlugin(node, BIN, { command: 'ADD', containerId: id, netns: ns.path, ifname: 'eth0' }, conf(i === 0 ? mappings : []));
      assert.equal(r.code, 0, `ADD pod ${i}: ${r.stdout} ${r.stderr}`);
      const ips = (r.json!.ips as Array<{ address: string }>).map((x) => x.address.split('/')[0]!);
      pods.push({ ns, id, ip4: ips.find((x) => x.includes('.'))!, ip6: ips.find((x) => x.includes(':'))! });
    }
    for (const p of pods) await serve(p.ns, 80);
    await serve(node, 9000);
    await serve(outside, 9000);
  });

  after(async () => {
    for (const [i, p] of pods.entries()) {
      await execPlugin(node, BIN, { command: 'DEL', containerId: p.id, netns: p.ns.path, ifname: 'eth0' }, conf(i === 0 ? mappings : []));
    }
    await lab.dispose();
    await import('node:fs').then((fs) => fs.rmSync(dataDir, { recursive: true, force: true }));
  });

  test('pods get distinct addresses in both families', () => {
    assert.notEqual(pods[0]!.ip4, pods[1]!.ip4);
    assert.notEqual(pods[0]!.ip6, pods[1]!.ip6);
    assert.match(pods[0]!.ip4, /^10\.88\.0\.\d+$/);
    assert.match(pods[0]!.ip6, /^fd88::/);
  });

  test('ping between pods and to the node', async () => {
    assert.ok(await ping(pods[0]!.ns, pods[1]!.ip4), 'pod0 -> pod1');
    assert.ok(await ping(pods[1]!.ns, pods[0]!.ip4), 'pod1 -> pod0');
    assert.ok(await ping(pods[0]!.ns, '10.88.0.1'), 'pod0 -> node bridge');
    assert.ok(await ping(pods[0]!.ns, pods[1]!.ip6), 'pod0 -> pod1 over IPv6');
  });

  test('TCP and UDP between pods keep the pod source address', async () => {
    assert.equal(await client(pods[0]!.ns, 'tcp', pods[1]!.ip4, 80), pods[0]!.ip4);
    assert.equal(await client(pods[0]!.ns, 'udp', pods[1]!.ip4, 80), pods[0]!.ip4);
    assert.equal(await client(pods[1]!.ns, 'tcp', pods[0]!.ip6, 80), pods[1]!.ip6);
  });

  test('TCP and UDP from a pod to the node', async () => {
    assert.equal(await client(pods[0]!.ns, 'tcp', '10.88.0.1', 9000), pods[0]!.ip4);
    assert.equal(await client(pods[0]!.ns, 'udp', NODE_IP, 9000), pods[0]!.ip4);
  });

  test('traffic leaving the pod network is masqueraded to the node address', async () => {
    assert.equal(await client(pods[0]!.ns, 'tcp', OUTSIDE_IP, 9000), NODE_IP);
    assert.equal(await client(pods[1]!.ns, 'udp', OUTSIDE_IP, 9000), NODE_IP);
  });

  test('hostPort reaches the pod from another netns', async () => {
    // DNAT keeps the client's address: the pod sees the outside host itself.
    assert.equal(await client(outside, 'tcp', NODE_IP, 8080), OUTSIDE_IP);
    assert.equal(await client(outside, 'udp', NODE_IP, 8081), OUTSIDE_IP);
  });

  test('hostPort reaches the pod from the node itself (own address and localhost)', async () => {
    assert.equal(await client(node, 'tcp', NODE_IP, 8080), NODE_IP);
    // 127.0.0.1 is routed out of the bridge (route_localnet) and masqueraded to the bridge address.
    assert.equal(await client(node, 'tcp', '127.0.0.1', 8080), '10.88.0.1');
  });

  test('hairpin: pods reach a hostPort, their own included', async () => {
    assert.equal(await client(pods[1]!.ns, 'tcp', NODE_IP, 8080), '10.88.0.1');
    assert.equal(await client(pods[0]!.ns, 'tcp', NODE_IP, 8080), '10.88.0.1');
  });
});
