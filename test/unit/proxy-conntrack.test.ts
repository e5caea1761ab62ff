import assert from 'node:assert/strict';
import { test } from 'node:test';
import { conntrackArgv, flushConntrack, staleConntrackEntries } from '../../agent/proxy/conntrack.js';
import type { CommandRunner } from '../../agent/proxy/runner.js';
import type { ServiceChange } from '../../agent/proxy/tracker.js';
import type { Endpoint, ServicePortState } from '../../agent/proxy/types.js';
import { parseService } from '../../agent/proxy/validate.js';

function state(protocol: string, ips: string[]): ServicePortState {
  const port = parseService({
    metadata: { name: 'dns', namespace: 'ns' },
    spec: { type: 'NodePort', clusterIP: '10.96.0.53', externalIPs: ['192.0.2.53'], ports: [{ port: 53, protocol, nodePort: 30053 }] },
  }, 4).ports[0]!;
  const endpoints: Endpoint[] = ips.map((ip) => ({ ip, port: 5353, ready: true, serving: true, terminating: false, isLocal: true }));
  return { port, endpoints };
}
const change = (previous: ServicePortState[], current: ServicePortState[]): ServiceChange => ({ service: 'ns/dns', previous, current, triggeredAt: 0 });

test('a UDP endpoint that goes away: flows NATed to it are deleted for every front address', () => {
  const out = staleConntrackEntries([change([state('UDP', ['10.244.1.1', '10.244.1.2'])], [state('UDP', ['10.244.1.2'])])]);
  assert.deepEqual(out, [
    { kind: 'nat', origDst: '10.96.0.53', endpoint: '10.244.1.1' },
    { kind: 'nat', origDst: '192.0.2.53', endpoint: '10.244.1.1' },
    { kind: 'port-nat', port: 30053, endpoint: '10.244.1.1' },
  ]);
});

test('a UDP Service getting its first endpoint: flows to its addresses are deleted', () => {
  assert.deepEqual(staleConntrackEntries([change([state('UDP', [])], [state('UDP', ['10.244.1.1'])])]), [
    { kind: 'ip', origDst: '10.96.0.53' }, { kind: 'ip', origDst: '192.0.2.53' }, { kind: 'port', port: 30053 },
  ]);
});

test('TCP needs nothing (connections end), nor does an unchanged UDP Service', () => {
  assert.deepEqual(staleConntrackEntries([change([state('TCP', ['10.244.1.1'])], [state('TCP', [])])]), []);
  assert.deepEqual(staleConntrackEntries([change([state('UDP', ['10.244.1.1'])], [state('UDP', ['10.244.1.1'])])]), []);
});

test('conntrack argv, and "0 flow entries" is not an error', async () => {
  assert.deepEqual(conntrackArgv({ kind: 'nat', origDst: '10.96.0.53', endpoint: '10.244.1.1' }, 4),
    ['conntrack', '-D', '-p', 'udp', '--orig-dst', '10.96.0.53', '--dst-nat', '10.244.1.1']);
  assert.deepEqual(conntrackArgv({ kind: 'port', port: 30053 }, 6), ['conntrack', '-D', '-f', 'ipv6', '-p', 'udp', '--dport', '30053']);
  const calls: string[][] = [];
  const runner = (exitCode: number, stderr: string): CommandRunner => ({
    run: async (argv) => { calls.push([...argv]); return { stdout: '', stderr, exitCode }; },
  });
  assert.equal(await flushConntrack(runner(1, 'conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.\n'), 4, [{ kind: 'ip', origDst: '10.96.0.53' }]), 0);
  assert.equal(await flushConntrack(runner(0, 'conntrack v1.4.7 (conntrack-tools): 3 flow entries have been deleted.\n'), 4, [{ kind: 'ip', origDst: '10.96.0.53' }]), 3);
  await assert.rejects(flushConntrack(runner(1, 'Operation failed: invalid parameters'), 4, [{ kind: 'ip', origDst: '10.96.0.53' }]), /invalid parameters/);
  assert.equal(calls.length, 3);
});
