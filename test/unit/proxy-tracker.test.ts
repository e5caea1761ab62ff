import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChangeTracker } from '../../agent/proxy/tracker.js';
import type { EndpointSliceInfo, ServiceInfo } from '../../agent/proxy/types.js';
import { parseEndpointSlice, parseService } from '../../agent/proxy/validate.js';

const svc = (name: string, ports: Array<Record<string, unknown>> = [{ name: 'http', port: 80 }]): ServiceInfo =>
  parseService({ metadata: { name, namespace: 'ns' }, spec: { clusterIP: '10.96.0.10', ports } }, 4);

function slice(name: string, service: string, ips: string[], opts: { node?: string; ready?: boolean; type?: string; ports?: unknown[] } = {}): EndpointSliceInfo {
  return parseEndpointSlice({
    metadata: { name, namespace: 'ns', labels: { 'kubernetes.io/service-name': service } },
    addressType: opts.type ?? 'IPv4',
    endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: opts.ready ?? true }, ...(opts.node ? { nodeName: opts.node } : {}) })),
    ports: opts.ports ?? [{ name: 'http', port: 8080 }],
  });
}

test('endpoints of all slices of a Service are merged, deduplicated and sorted', () => {
  const t = new ChangeTracker('node-a', 4);
  t.setService(svc('web'));
  t.setSlice(slice('web-1', 'web', ['10.244.1.3', '10.244.1.1'], { node: 'node-a' }));
  t.setSlice(slice('web-2', 'web', ['10.244.1.2', '10.244.1.1'], { node: 'node-b', ready: false }));
  const [change] = t.takeChanges();
  assert.equal(change!.service, 'ns/web');
  assert.deepEqual(change!.previous, []);
  const eps = change!.current[0]!.endpoints;
  assert.deepEqual(eps.map((e) => [e.ip, e.port, e.ready, e.isLocal]), [
    ['10.244.1.1', 8080, true, true], // the ready copy wins over the not-ready one
    ['10.244.1.2', 8080, false, false],
    ['10.244.1.3', 8080, true, true],
  ]);
});

test('only real changes are reported; a no-op update is dropped', () => {
  const t = new ChangeTracker('node-a', 4);
  t.setService(svc('web'));
  t.setSlice(slice('web-1', 'web', ['10.244.1.1']));
  assert.equal(t.takeChanges().length, 1);
  t.setService(svc('web'));
  t.setSlice(slice('web-1', 'web', ['10.244.1.1']));
  assert.equal(t.pending, 1);
  assert.deepEqual(t.takeChanges(), []);
  t.setSlice(slice('web-1', 'web', ['10.244.1.2']));
  const [c] = t.takeChanges();
  assert.deepEqual([c!.previous[0]!.endpoints[0]!.ip, c!.current[0]!.endpoints[0]!.ip], ['10.244.1.1', '10.244.1.2']);
});

test('slices only count for the port name, protocol and IP family they carry', () => {
  const t = new ChangeTracker('node-a', 4);
  t.setService(svc('web', [{ name: 'http', port: 80 }, { name: 'dns', port: 53, protocol: 'UDP' }]));
  t.setSlice(slice('web-1', 'web', ['10.244.1.1'], { ports: [{ name: 'http', port: 8080 }, { name: 'dns', port: 5353, protocol: 'TCP' }] }));
  t.setSlice(slice('web-6', 'web', ['fd00::1'], { type: 'IPv6' }));
  const [c] = t.takeChanges();
  assert.deepEqual(c!.current.map((s) => [s.port.id, s.endpoints.map((e) => `${e.ip}:${e.port}`)]), [
    ['ns/web:http', ['10.244.1.1:8080']],
    ['ns/web:dns', []],
  ]);
});

test('deleting a Service or a slice, and relabelling a slice, marks the right Services', () => {
  const t = new ChangeTracker('node-a', 4);
  t.setService(svc('a'));
  t.setService(svc('b'));
  t.setSlice(slice('s1', 'a', ['10.244.1.1']));
  t.takeChanges();
  t.setSlice(slice('s1', 'b', ['10.244.1.1']));
  assert.deepEqual(t.takeChanges().map((c) => [c.service, c.current[0]!.endpoints.length]).sort(), [['ns/a', 0], ['ns/b', 1]]);
  t.deleteSlice('ns', 's1');
  assert.deepEqual(t.takeChanges().map((c) => c.service), ['ns/b']);
  t.deleteService('ns', 'a');
  const [gone] = t.takeChanges();
  assert.deepEqual([gone!.service, gone!.current.length, gone!.previous.length], ['ns/a', 0, 1]);
  assert.deepEqual([...t.states()].map((s) => s.port.id), ['ns/b:http']);
  assert.deepEqual(t.takeChanges(), []);
});

test('the trigger time of a change is the earliest one folded in', () => {
  const t = new ChangeTracker('node-a', 4);
  t.setService(svc('web'), 2000);
  t.setSlice(slice('web-1', 'web', ['10.244.1.1']), 1000);
  assert.equal(t.takeChanges()[0]!.triggeredAt, 1000);
});
