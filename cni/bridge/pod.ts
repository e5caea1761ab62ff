// The pod-netns half of ADD. Node cannot setns, so addresses and routes inside the
// pod go through one `ip -batch` run in that netns; the interface itself was
// already created there and named (see netlink/links.ts createVeth).
//
// Alternatives measured here: a Node helper under nsenter costs a second Node start
// (~30 ms); a veth made in the node netns, then moved and renamed, needs the same
// `ip` run plus a netlink call, and a kill -9 between creating and moving it would
// strand the peer in the node netns. `ip -n NAME` (iproute2 does the setns) runs in
// ~3.5 ms against ~4.5 ms for `nsenter --net=PATH ip`, so it is used whenever the
// netns is a named one under /run/netns (containerd's case).
import { basename, dirname } from 'node:path';
import { start, type Started } from '../exec.js';
import { Cidr, type IP } from '../net/ip.js';
import type { RouteConf } from '../spec/config.js';
import { Code, CniError, SystemError } from '../spec/errors.js';
import type { Route } from '../spec/result.js';

export interface PodAddress { address: Cidr; gateway: IP }

const DEFAULT4 = Cidr.parse('0.0.0.0/0');
const DEFAULT6 = Cidr.parse('::/0');

/** The routes the pod gets: IPAM's (gateway defaulting to the family's), plus default routes. */
export function podRoutes(addrs: readonly PodAddress[], ipamRoutes: readonly RouteConf[], isDefaultGateway: boolean): Route[] {
  const out: Route[] = [];
  const seen = new Set<string>();
  const push = (dst: Cidr, gw: IP): void => {
    const key = dst.masked().toString();
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ dst: key, gw: gw.toString() });
  };
  for (const r of ipamRoutes) {
    const a = addrs.find((x) => x.address.family === r.dst.family);
    if (!a) continue; // no address of that family to route from
    push(r.dst, r.gw ?? a.gateway);
  }
  if (isDefaultGateway) {
    for (const a of addrs) push(a.address.family === 4 ? DEFAULT4 : DEFAULT6, a.gateway);
  }
  return out;
}

/** `ip -batch` input. Every token is a validated address or name. IPv6 skips DAD so the address is usable at once. */
export function podBatch(ifname: string, addrs: readonly PodAddress[], routes: readonly Route[]): string {
  const lines = ['link set dev lo up', `link set dev ${ifname} up`];
  for (const a of addrs) lines.push(`address add ${a.address} dev ${ifname}${a.address.family === 6 ? ' nodad' : ''}`);
  for (const r of routes) lines.push(`route add ${r.dst}${r.gw ? ` via ${r.gw}` : ''} dev ${ifname}`);
  return `${lines.join('\n')}\n`;
}

const NAMED_NETNS_DIRS = ['/run/netns', '/var/run/netns'];

/** argv running `ip <args>` inside the netns at `path`. */
export function ipInNetns(path: string, args: readonly string[]): string[] {
  const name = basename(path);
  if (NAMED_NETNS_DIRS.includes(dirname(path)) && /^[A-Za-z0-9_.-]+$/.test(name) && !name.startsWith('.')) {
    return ['ip', '-n', name, ...args];
  }
  return ['nsenter', `--net=${path}`, '--', 'ip', ...args];
}

/** `ip -batch` in the pod netns, started early and fed once the interface exists. */
export function startPodHelper(netns: string): Started {
  return start(ipInNetns(netns, ['-batch', '-']));
}

export async function configurePod(helper: Started, netns: string, batch: string): Promise<void> {
  const r = await helper.feed(batch);
  if (r.code !== 0) {
    const detail = r.stderr.trim();
    if (/Cannot open network namespace|No such file/.test(detail)) throw new CniError(Code.UnknownContainer, `CNI_NETNS: ${netns} is gone`, detail);
    throw new SystemError(`ip -batch in ${netns}`, `exit status ${r.code}`, detail || undefined);
  }
}
