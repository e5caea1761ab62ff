import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RTPROT_KNA, type KernelState } from '../../agent/network/overlay/desired.js';
import { isEmptyPlan, planChanges } from '../../agent/network/overlay/plan.js';
import type { FdbEntry, Neighbour, Route } from '../../agent/network/netlink/types.js';

const route = (dst: string, gateway: string, extra: Partial<Route> = {}): Route => ({ dst, gateway, oif: 7, onlink: true, protocol: RTPROT_KNA, table: 254, ...extra });
const neigh = (ip: string, mac: string, permanent = true): Neighbour => ({ ifindex: 7, ip, mac, permanent });
const fdb = (mac: string, dst: string, permanent = true): FdbEntry => ({ ifindex: 7, mac, dst, permanent });
const state = (s: Partial<KernelState>): KernelState => ({ routes: [], neighbours: [], fdb: [], ...s });

const desired = state({
  routes: [route('10.240.1.0/24', '10.240.1.0'), route('10.240.2.0/24', '10.240.2.0')],
  neighbours: [neigh('10.240.1.0', '0e:00:00:00:00:01'), neigh('10.240.2.0', '0e:00:00:00:00:02')],
  fdb: [fdb('0e:00:00:00:00:01', '172.30.0.11'), fdb('0e:00:00:00:00:02', '172.30.0.12')],
});

test('empty kernel: everything is set, nothing deleted', () => {
  const p = planChanges(desired, state({}));
  assert.deepEqual(p.routes.set, desired.routes);
  assert.deepEqual(p.neighbours.set, desired.neighbours);
  assert.deepEqual(p.fdb.set, desired.fdb);
  assert.deepEqual([p.routes.del, p.neighbours.del, p.fdb.del], [[], [], []]);
});

test('kernel already right: empty plan (a restart changes nothing)', () => {
  assert.ok(isEmptyPlan(planChanges(desired, structuredClone(desired))));
});

test('a removed peer: its route, neighbour and fdb entry are deleted', () => {
  const want = state({ routes: [desired.routes[0]!], neighbours: [desired.neighbours[0]!], fdb: [desired.fdb[0]!] });
  const p = planChanges(want, desired);
  assert.deepEqual([p.routes.set, p.neighbours.set, p.fdb.set], [[], [], []]);
  assert.deepEqual(p.routes.del, [desired.routes[1]]);
  assert.deepEqual(p.neighbours.del, [desired.neighbours[1]]);
  assert.deepEqual(p.fdb.del, [desired.fdb[1]]);
});

test('a changed peer is replaced in place: no delete of what the replace overwrites', () => {
  const observed = state({
    routes: [route('10.240.1.0/24', '10.240.9.9'), desired.routes[1]!],
    neighbours: [neigh('10.240.1.0', '0e:00:00:00:00:99'), desired.neighbours[1]!],
    fdb: [fdb('0e:00:00:00:00:01', '172.30.0.99'), desired.fdb[1]!],
  });
  const p = planChanges(desired, observed);
  assert.deepEqual(p.routes.set, [desired.routes[0]]);
  assert.deepEqual(p.routes.del, [], 'same dst and metric: replaced in place');
  assert.deepEqual(p.neighbours.set, [desired.neighbours[0]]);
  assert.deepEqual(p.neighbours.del, []);
  assert.deepEqual(p.fdb.set, [desired.fdb[0]]);
  // Another remote of the same MAC is its own entry: deleted by (mac, dst).
  assert.deepEqual(p.fdb.del, [fdb('0e:00:00:00:00:01', '172.30.0.99')]);
});

test('duplicates and stale extras go; dynamic neighbours we do not manage stay', () => {
  const observed = state({
    routes: [...desired.routes, route('10.240.1.0/24', '10.240.1.0', { priority: 100 }), route('10.240.7.0/24', '172.30.0.17', { oif: 2, onlink: undefined })],
    neighbours: [...desired.neighbours, neigh('10.240.7.0', '0e:00:00:00:00:07'), neigh('10.240.8.1', '0e:00:00:00:00:08', false)],
    fdb: [...desired.fdb, fdb('0e:00:00:00:00:02', '172.30.0.50'), fdb('0e:00:00:00:00:07', '172.30.0.17')],
  });
  const p = planChanges(desired, observed);
  assert.deepEqual([p.routes.set, p.neighbours.set, p.fdb.set], [[], [], []]);
  assert.deepEqual(p.routes.del.map((r) => [r.dst, r.priority]), [['10.240.1.0/24', 100], ['10.240.7.0/24', undefined]]);
  assert.deepEqual(p.neighbours.del.map((n) => n.ip), ['10.240.7.0']);
  assert.deepEqual(p.fdb.del.map((f) => [f.mac, f.dst]), [['0e:00:00:00:00:02', '172.30.0.50'], ['0e:00:00:00:00:07', '172.30.0.17']]);
});

test('a dynamic neighbour for a managed IP is made permanent in place', () => {
  const p = planChanges(desired, state({ neighbours: [neigh('10.240.1.0', '0e:00:00:00:00:01', false)] }));
  assert.deepEqual(p.neighbours.set, desired.neighbours);
  assert.deepEqual(p.neighbours.del, []);
});
