// CHECK: compares prevResult (what ADD reported) with what exists: the pod
// interface and its addresses, the host veth on the bridge, the reservations and
// the pod's iptables rules. Routes are not checked: later plugins may change them.
import { ipInNetns } from '../bridge/pod.js';
import type { CniEnv } from '../env.js';
import { run } from '../exec.js';
import { Ipam } from '../ipam/ipam.js';
import { Cidr, IP, type Family } from '../net/ip.js';
import { taggedRules } from '../netfilter/iptables.js';
import { getLink } from '../netlink/links.js';
import { Rtnl } from '../netlink/socket.js';
import type { NetConfig } from '../spec/config.js';
import { Code, CniError } from '../spec/errors.js';
import { attachment, cacheDir, podRules, requireIpam } from './attachment.js';

const failed = (msg: string): CniError => new CniError(Code.CheckFailed, msg);

interface IpAddrJson { ifname: string; address?: string; flags?: string[]; addr_info?: Array<{ local: string; prefixlen: number }> }

export async function cmdCheck(env: CniEnv, conf: NetConfig): Promise<void> {
  const prev = conf.prevResult;
  if (!prev) throw new CniError(Code.InvalidNetworkConfig, 'prevResult: required for CHECK');
  const ipam = new Ipam(requireIpam(conf), conf.name);
  const att = attachment(conf, env);

  const podIdx = (prev.interfaces ?? []).findIndex((i) => i.name === env.ifname && i.sandbox === env.netns);
  if (podIdx < 0) throw failed(`prevResult: no interface ${env.ifname} in ${env.netns}`);
  const want = (prev.ips ?? []).filter((ip) => ip.interface === podIdx).map((ip) => Cidr.parse(ip.address));

  // Reservations
  const reserved = ipam.lookup(env.containerId, env.ifname);
  for (const w of want) {
    if (!ipam.sets.some((s) => s.some((r) => r.subnet.contains(w.ip)))) continue; // not ours
    if (!reserved.some((a) => a.address.ip.equals(w.ip))) throw failed(`ipam: ${w.ip} is not reserved for ${env.containerId}/${env.ifname}`);
  }

  // Pod side
  const r = await run(ipInNetns(env.netns, ['-j', 'address', 'show', 'dev', env.ifname]));
  if (r.code !== 0) throw failed(`${env.ifname} in ${env.netns}: ${r.stderr.trim()}`);
  const [iface] = JSON.parse(r.stdout) as IpAddrJson[];
  if (!iface?.flags?.includes('UP')) throw failed(`${env.ifname} in ${env.netns} is not up`);
  const prevMac = prev.interfaces![podIdx]!.mac;
  if (prevMac && iface.address?.toLowerCase() !== prevMac.toLowerCase()) throw failed(`${env.ifname}: MAC ${iface.address} is not ${prevMac}`);
  for (const w of want) {
    const has = (iface.addr_info ?? []).some((a) => IP.tryParse(a.local)?.equals(w.ip) && a.prefixlen === w.prefix);
    if (!has) throw failed(`${env.ifname} in ${env.netns}: address ${w} missing`);
  }

  // Host side
  const nl = await Rtnl.open(cacheDir(conf));
  try {
    const [veth, br] = await Promise.all([getLink(nl, att.hostVeth), getLink(nl, conf.bridge)]);
    if (!br) throw failed(`bridge ${conf.bridge} missing`);
    if (!veth) throw failed(`host veth ${att.hostVeth} missing`);
    if (veth.master !== br.index) throw failed(`host veth ${att.hostVeth} is not on bridge ${conf.bridge}`);
  } finally {
    nl.close();
  }

  // Rules: as many tagged rules as ADD writes
  const expected = podRules(conf, reserved, ipam.sets.flat().map((s) => s.subnet), att.tag);
  for (const [fam, rules] of expected as Map<Family, unknown[]>) {
    const have = (await taggedRules(fam)).get(att.tag)?.length ?? 0;
    if (have < rules.length) throw failed(`iptables (IPv${fam}): ${have} of ${rules.length} rules for ${att.tag} present`);
  }
}
