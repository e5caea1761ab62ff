// Reads what the kernel holds for the overlay and applies a plan: sets first
// (fdb → neighbour → route, so a route only appears once packets can follow it), then
// deletes (route → neighbour → fdb). Each change is one netlink request; one failing
// change does not stop the others, and the caller retries the whole sync.
import type { Logger } from 'pino';
import type { Rtnl } from '../netlink/rtnl.js';
import { MAIN_TABLE } from '../netlink/types.js';
import { RTPROT_KNA, type KernelState } from './desired.js';
import type { Plan } from './plan.js';

export class ReconcileError extends Error {
  override name = 'ReconcileError';
  constructor(public readonly errors: Error[]) {
    super(`overlay: ${errors.length} kernel change(s) failed; first: ${errors[0]?.message}`);
  }
}

/** Our routes (by protocol tag, any device) and the neighbour/FDB entries of our vxlan device. */
export async function observe(rtnl: Rtnl, vxlan?: number): Promise<KernelState> {
  // One dump at a time: a netlink socket refuses a second concurrent dump (EBUSY).
  const routes = await rtnl.routes({ table: MAIN_TABLE, protocol: RTPROT_KNA });
  const neighbours = vxlan === undefined ? [] : await rtnl.neighbours(vxlan);
  const fdb = vxlan === undefined ? [] : await rtnl.fdb(vxlan);
  return { routes, neighbours, fdb };
}

export async function applyPlan(rtnl: Rtnl, plan: Plan, log: Logger): Promise<number> {
  const errors: Error[] = [];
  let applied = 0;
  const step = async (what: string, obj: object, fn: () => Promise<void>) => {
    try {
      await fn();
      applied++;
      log.info(obj, `overlay: ${what}`);
    } catch (err) {
      errors.push(err as Error);
      log.error({ ...obj, err: (err as Error).message }, `overlay: ${what} failed`);
    }
  };
  for (const f of plan.fdb.set) await step('fdb set', { mac: f.mac, dst: f.dst }, () => rtnl.setFdb(f));
  for (const n of plan.neighbours.set) await step('neighbour set', { ip: n.ip, mac: n.mac }, () => rtnl.replaceNeighbour(n));
  for (const r of plan.routes.set) await step('route set', { dst: r.dst, via: r.gateway, oif: r.oif }, () => rtnl.replaceRoute(r));
  for (const r of plan.routes.del) await step('route delete', { dst: r.dst, via: r.gateway, oif: r.oif }, () => rtnl.deleteRoute(r));
  for (const n of plan.neighbours.del) await step('neighbour delete', { ip: n.ip, mac: n.mac }, () => rtnl.deleteNeighbour(n));
  for (const f of plan.fdb.del) await step('fdb delete', { mac: f.mac, dst: f.dst }, () => rtnl.deleteFdb(f));
  if (errors.length) throw new ReconcileError(errors);
  return applied;
}
