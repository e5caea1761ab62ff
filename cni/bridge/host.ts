// The node-netns half of ADD and DEL, over netlink: the bridge (created or reused,
// gateway addresses, up, promiscuous), the veth pair, bridge-port options.
import { closeSync, openSync, statfsSync } from 'node:fs';
import type { Cidr } from '../net/ip.js';
import { formatMac, randomMac } from '../net/names.js';
import { AF_INET, AF_INET6, IFF_PROMISC, IFF_UP } from '../netlink/codec.js';
import * as links from '../netlink/links.js';
import { NetlinkError, type Rtnl } from '../netlink/socket.js';
import { Code, CniError } from '../spec/errors.js';

export interface BridgeOptions { name: string; mtu?: number; promisc: boolean; gateways: Cidr[] }

/** Makes sure the bridge exists, is up (and promiscuous if asked) and holds the gateway addresses. */
export async function ensureBridge(nl: Rtnl, o: BridgeOptions): Promise<links.LinkInfo> {
  let br = await links.getLink(nl, o.name);
  if (!br) {
    await links.createBridge(nl, { name: o.name, mac: randomMac(), ...(o.mtu ? { mtu: o.mtu } : {}), promisc: o.promisc });
    br = await links.getLink(nl, o.name);
    if (!br) throw new CniError(Code.IoFailure, `bridge: ${o.name} vanished right after creation`);
  }
  if (br.kind !== 'bridge') throw new CniError(Code.InvalidNetworkConfig, `bridge: ${o.name} exists and is a ${br.kind ?? 'non-bridge'} device`);
  const want = IFF_UP | (o.promisc ? IFF_PROMISC : 0);
  if ((br.flags & want) !== want) await links.setFlags(nl, br.index, want, want);
  if (o.gateways.length > 0) {
    const have = new Set<string>();
    for (const fam of new Set(o.gateways.map((g) => g.family))) {
      for (const a of await links.listAddrs(nl, fam === 4 ? AF_INET : AF_INET6, br.index)) have.add(Buffer.from(a.address).toString('hex'));
    }
    for (const g of o.gateways) {
      if (!have.has(Buffer.from(g.ip.bytes()).toString('hex'))) await links.addAddr(nl, br.index, g);
    }
  }
  return br;
}

export interface VethOptions {
  hostName: string;
  podIfname: string;
  podMac: Uint8Array;
  netns: string;
  mtu?: number;
  bridgeIndex: number;
  hairpin: boolean;
  alias: string;
}

/** Creates the pair; returns the host end's MAC. */
export async function createPodVeth(nl: Rtnl, o: VethOptions): Promise<string> {
  const fd = openNetns(o.netns);
  const hostMac = randomMac();
  try {
    const spec = {
      name: o.hostName,
      mac: hostMac,
      ...(o.mtu ? { mtu: o.mtu } : {}),
      master: o.bridgeIndex,
      peer: { name: o.podIfname, mac: o.podMac, netnsFd: fd },
    };
    try {
      await links.createVeth(nl, spec);
    } catch (e) {
      if (!(e instanceof NetlinkError && e.errnoName === 'EEXIST')) throw e;
      // A retried ADD finds its own host end from an interrupted attempt: replace it.
      // Otherwise the name taken is the pod's interface.
      if (!(await links.deleteLink(nl, o.hostName))) {
        throw new CniError(Code.InvalidEnvironment, `CNI_IFNAME: ${o.podIfname} already exists in ${o.netns}`);
      }
      await links.createVeth(nl, spec);
    }
  } finally {
    closeSync(fd);
  }
  await links.setPortOptions(nl, o.hostName, { alias: o.alias, ...(o.hairpin ? { hairpin: true } : {}) });
  return formatMac(hostMac);
}

const NSFS_MAGIC = 0x6e736673;

/** An fd for IFLA_NET_NS_FD, after checking the path really is a network namespace. */
function openNetns(path: string): number {
  try {
    if (statfsSync(path).type !== NSFS_MAGIC) throw new CniError(Code.InvalidEnvironment, `CNI_NETNS: ${path} is not a namespace file`);
    return openSync(path, 'r');
  } catch (e) {
    if (e instanceof CniError) throw e;
    throw new CniError(Code.UnknownContainer, `CNI_NETNS: cannot open ${path}: ${(e as Error).message}`);
  }
}

/** Checks the netns before anything is allocated for it. */
export function checkNetns(path: string): void {
  closeSync(openNetns(path));
}
