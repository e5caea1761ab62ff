// ADD: allocate addresses, then in parallel (a) bridge + veth over netlink and the
// pod side through one `ip -batch`, (b) iptables through one restore per family.
// Both helper programs are started first, before their input is known, so their
// fork and start-up overlap with our own work.
//
// Crash safety: the reservation (keyed by the attachment) exists before any kernel
// object, and every kernel object carries the attachment's name or tag, so DEL or
// GC finds everything a kill -9 at any point may have left.
import { checkNetns, createPodVeth, ensureBridge } from '../bridge/host.js';
import { configurePod, podBatch, podRoutes, startPodHelper, type PodAddress } from '../bridge/pod.js';
import type { CniEnv } from '../env.js';
import { run, type Started } from '../exec.js';
import { Ipam, type Allocation } from '../ipam/ipam.js';
import { setFamily } from '../ipam/ranges.js';
import { Cidr, type Family } from '../net/ip.js';
import { formatMac, podMac } from '../net/names.js';
import { addRules, startRestore } from '../netfilter/iptables.js';
import { Rtnl } from '../netlink/socket.js';
import { needsLocalnet } from '../portmap/rules.js';
import type { NetConfig } from '../spec/config.js';
import type { Interface, IPConfig, Result } from '../spec/result.js';
import { setIfaceSysctl, setSysctl } from '../sysctl.js';
import { trace } from '../trace.js';
import { attachment, cacheDir, podRules, requireIpam } from './attachment.js';
import { cmdDel } from './del.js';

export async function cmdAdd(env: CniEnv, conf: NetConfig): Promise<Result> {
  const ipamConf = requireIpam(conf);
  checkNetns(env.netns);
  const ipam = new Ipam(ipamConf, conf.name);
  const att = attachment(conf, env);

  // The spec forbids a second ADD without DEL, but a runtime retrying after a crash
  // does it: clear what the first attempt left (its addresses are kept).
  if (ipam.lookup(env.containerId, env.ifname).length > 0) await cmdDel(env, conf, { keepAddresses: true });

  const podHelper = startPodHelper(env.netns);
  const wantsRules = conf.ipMasq || conf.portMappings.length > 0;
  const families = new Set<Family>(ipam.sets.map(setFamily));
  const restores = new Map<Family, Started>(wantsRules ? [...families].map((f) => [f, startRestore(f)]) : []);
  trace('helpers started');

  let nl: Rtnl | undefined;
  try {
    const allocs = ipam.allocate(env.containerId, env.ifname);
    trace('allocated');
    const rules = podRules(conf, allocs, ipam.sets.flat().map((r) => r.subnet), att.tag);
    const netfilter = Promise.all([...restores].map(([fam, h]) => addRules(fam, rules.get(fam) ?? [], h)))
      .then(() => flushUdpConntrack(conf))
      .then(() => trace('iptables done'));

    const v4 = allocs.find((a) => a.address.family === 4);
    const mac = podMac((v4 ?? allocs[0]!).address.ip.bytes());
    nl = await Rtnl.open(cacheDir(conf));
    const bridge = await ensureBridge(nl, {
      name: conf.bridge,
      ...(conf.mtu ? { mtu: conf.mtu } : {}),
      promisc: conf.promiscMode,
      gateways: conf.isGateway ? allocs.map((a) => Cidr.of(a.gateway, a.address.prefix)) : [],
    });
    enableForwarding(conf, allocs, bridge.name);
    const hostMac = await createPodVeth(nl, {
      hostName: att.hostVeth,
      podIfname: env.ifname,
      podMac: mac,
      netns: env.netns,
      ...(conf.mtu ? { mtu: conf.mtu } : {}),
      bridgeIndex: bridge.index,
      hairpin: conf.hairpinMode,
      alias: att.tag,
    });
    trace('veth created');
    const addrs: PodAddress[] = allocs.map((a) => ({ address: a.address, gateway: a.gateway }));
    const routes = podRoutes(addrs, ipamConf.routes, conf.isDefaultGateway);
    await Promise.all([configurePod(podHelper, env.netns, podBatch(env.ifname, addrs, routes)), netfilter]);
    trace('pod configured');

    const interfaces: Interface[] = [
      { name: conf.bridge, ...(bridge.mac ? { mac: formatMac(bridge.mac) } : {}) },
      { name: att.hostVeth, mac: hostMac },
      { name: env.ifname, mac: formatMac(mac), sandbox: env.netns, ...(conf.mtu ? { mtu: conf.mtu } : {}) },
    ];
    const ips: IPConfig[] = allocs.map((a) => ({ address: a.address.toString(), gateway: a.gateway.toString(), interface: 2 }));
    return merge(conf, { cniVersion: conf.cniVersion, interfaces, ips, routes, ...(conf.dns ? { dns: conf.dns } : {}) });
  } catch (e) {
    // Helpers not fed yet get an empty input and exit.
    await Promise.allSettled([podHelper.feed(''), ...[...restores.values()].map((h) => h.feed(''))]);
    nl?.close();
    nl = undefined;
    // Leave nothing behind: the runtime may never call DEL for a failed ADD.
    await cmdDel(env, conf).catch(() => undefined);
    throw e;
  } finally {
    nl?.close();
  }
}

function enableForwarding(conf: NetConfig, allocs: readonly Allocation[], bridge: string): void {
  const fams = new Set<Family>(allocs.map((a) => a.address.family));
  if (conf.isGateway) {
    if (fams.has(4)) setSysctl('net.ipv4.ip_forward', '1');
    if (fams.has(6)) setSysctl('net.ipv6.conf.all.forwarding', '1');
  }
  // Lets 127.0.0.1:hostPort be DNAT'd out of the bridge (guarded by KNA-CNI-INPUT).
  if (needsLocalnet(allocs.map((a) => a.address), conf.portMappings)) setIfaceSysctl(4, bridge, 'route_localnet', '1');
}

/** A UDP "connection" to the hostPort from before this pod would keep bypassing the new DNAT. */
async function flushUdpConntrack(conf: NetConfig): Promise<void> {
  const ports = new Set(conf.portMappings.filter((m) => m.protocol === 'udp').map((m) => m.hostPort));
  await Promise.all([...ports].map((p) => run(['conntrack', '-D', '-p', 'udp', '--orig-port-dst', String(p)]).catch(() => undefined)));
}

/** When chained after another plugin, our interfaces and addresses follow the previous result's. */
function merge(conf: NetConfig, ours: Result): Result {
  const prev = conf.prevResult;
  if (!prev) return ours;
  const shift = prev.interfaces?.length ?? 0;
  return {
    cniVersion: ours.cniVersion,
    interfaces: [...(prev.interfaces ?? []), ...(ours.interfaces ?? [])],
    ips: [...(prev.ips ?? []), ...(ours.ips ?? []).map((ip) => ({ ...ip, ...(ip.interface !== undefined ? { interface: ip.interface + shift } : {}) }))],
    routes: [...(prev.routes ?? []), ...(ours.routes ?? [])],
    ...(ours.dns ?? prev.dns ? { dns: ours.dns ?? prev.dns } : {}),
  };
}
