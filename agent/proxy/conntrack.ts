// Stale UDP conntrack entries. UDP has no connection end, so a flow NATed to an
// endpoint that went away keeps going there until its entry expires: delete those
// entries when endpoints change (and when a Service that had none gets some, since
// entries made while it rejected would keep black-holing).
import { selectEndpoints } from './endpoint-selection.js';
import { joinHostPort } from './ip.js';
import type { CommandRunner } from './runner.js';
import type { Endpoint, IPFamily, ServicePort, ServicePortState } from './types.js';
import type { ServiceChange } from './tracker.js';

/** One `conntrack -D` filter. */
export type ConntrackDelete =
  | { readonly kind: 'ip'; readonly origDst: string }
  | { readonly kind: 'port'; readonly port: number }
  | { readonly kind: 'nat'; readonly origDst: string; readonly endpoint: string }
  | { readonly kind: 'port-nat'; readonly port: number; readonly endpoint: string };

const frontIPs = (sp: ServicePort): string[] => [sp.clusterIP, ...sp.externalIPs, ...sp.loadBalancerIPs];

/** The deletions that the given Service changes call for (UDP only, like kube-proxy). */
export function staleConntrackEntries(changes: readonly ServiceChange[]): ConntrackDelete[] {
  const out: ConntrackDelete[] = [];
  const seen = new Set<string>();
  const push = (d: ConntrackDelete): void => {
    const k = JSON.stringify(d);
    if (!seen.has(k)) { seen.add(k); out.push(d); }
  };
  for (const change of changes) {
    const after = new Map(change.current.map((s) => [s.port.id, s]));
    for (const before of change.previous) {
      if (before.port.protocol !== 'UDP') continue;
      const now = after.get(before.port.id);
      const usedNow = new Set(now ? reachable(now).map(epKey) : []);
      for (const ep of reachable(before)) {
        if (usedNow.has(epKey(ep))) continue;
        // The endpoint no longer receives this port's traffic: drop flows NATed to it.
        for (const front of frontIPs(before.port)) push({ kind: 'nat', origDst: front, endpoint: ep.ip });
        if (before.port.nodePort) push({ kind: 'port-nat', port: before.port.nodePort, endpoint: ep.ip });
      }
    }
    const before = new Map(change.previous.map((s) => [s.port.id, s]));
    for (const now of change.current) {
      if (now.port.protocol !== 'UDP') continue;
      const was = before.get(now.port.id);
      const hadAny = was !== undefined && selectEndpoints(was.port, was.endpoints).hasAny;
      if (hadAny || !selectEndpoints(now.port, now.endpoints).hasAny) continue;
      for (const front of frontIPs(now.port)) push({ kind: 'ip', origDst: front });
      if (now.port.nodePort) push({ kind: 'port', port: now.port.nodePort });
    }
  }
  return out;
}

/** Endpoints that some rule of this port can reach. */
const reachable = (s: ServicePortState): readonly Endpoint[] => selectEndpoints(s.port, s.endpoints).reachable;
const epKey = (ep: Endpoint): string => joinHostPort(ep.ip, ep.port);

/** argv for one deletion. */
export function conntrackArgv(d: ConntrackDelete, family: IPFamily): string[] {
  const base = ['conntrack', '-D', ...(family === 6 ? ['-f', 'ipv6'] : []), '-p', 'udp'];
  switch (d.kind) {
    case 'ip': return [...base, '--orig-dst', d.origDst];
    case 'port': return [...base, '--dport', String(d.port)];
    case 'nat': return [...base, '--orig-dst', d.origDst, '--dst-nat', d.endpoint];
    case 'port-nat': return [...base, '--dport', String(d.port), '--dst-nat', d.endpoint];
  }
}

export class ConntrackError extends Error {
  override readonly name = 'ConntrackError';
  constructor(readonly argv: readonly string[], readonly stderr: string) {
    super(`${argv.join(' ')} failed: ${stderr.trim()}`);
  }
}

/** Runs the deletions; "0 flow entries" (exit 1) is success. Returns how many entries went. */
export async function flushConntrack(runner: CommandRunner, family: IPFamily, deletes: readonly ConntrackDelete[]): Promise<number> {
  let total = 0;
  for (const d of deletes) {
    const argv = conntrackArgv(d, family);
    const r = await runner.run(argv);
    const m = /(\d+) flow entries have been deleted/.exec(r.stderr);
    if (r.exitCode !== 0 && !(m && m[1] === '0')) throw new ConntrackError(argv, r.stderr);
    total += m ? Number(m[1]) : 0;
  }
  return total;
}
