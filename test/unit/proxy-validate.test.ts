import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseEndpointSlice, parseService, ProxyValidationError } from '../../agent/proxy/validate.js';

const svc = (spec: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> =>
  ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec, ...extra });

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ProxyValidationError);
    return err.message;
  }
  assert.fail('expected a ProxyValidationError');
}

test('a ClusterIP Service becomes one ServicePort per port, with defaults', () => {
  const info = parseService(svc({ clusterIP: '10.96.0.10', ports: [{ port: 80, targetPort: 8080 }] }), 4);
  assert.equal(info.ports.length, 1);
  const p = info.ports[0]!;
  assert.equal(p.id, 'default/web');
  assert.equal(p.protocol, 'TCP');
  assert.equal(p.nodePort, 0);
  assert.equal(p.affinityTimeoutSeconds, 0);
  assert.equal(p.externalPolicyLocal, false);

  const named = parseService(svc({
    clusterIP: '10.96.0.10', sessionAffinity: 'ClientIP', type: 'NodePort', externalTrafficPolicy: 'Local',
    ports: [{ name: 'http', port: 80, nodePort: 30080 }, { name: 'dns', port: 53, protocol: 'UDP', nodePort: 30053 }],
  }), 4);
  assert.deepEqual(named.ports.map((x) => [x.id, x.protocol, x.nodePort]), [['default/web:http', 'TCP', 30080], ['default/web:dns', 'UDP', 30053]]);
  assert.equal(named.ports[0]!.affinityTimeoutSeconds, 10800);
  assert.equal(named.ports[0]!.externalPolicyLocal, true);
  assert.equal(named.ports[0]!.healthCheckNodePort, 0, 'health check node ports are for LoadBalancer Services');
});

test('a bad port is reported with the object and the field, like the API server', () => {
  assert.equal(
    errorOf(() => parseService(svc({ clusterIP: '10.96.0.10', ports: [{ port: 0 }] }), 4)),
    'Service default/web: spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive',
  );
});

test('every bad field is listed', () => {
  const msg = errorOf(() => parseService(svc({
    clusterIP: '10.96.0.300', externalIPs: ['1.2.3'], loadBalancerSourceRanges: ['10.0.0.0/33'], sessionAffinity: 'Sticky',
    ports: [{ name: 'a', port: 70000, protocol: 'ICMP' }, { name: 'a', port: 80, nodePort: -1, targetPort: 'Not_A_Name' }],
  }, { status: { loadBalancer: { ingress: [{ ip: 'nope' }] } } }), 4));
  for (const part of [
    'spec.clusterIP: Invalid value: "10.96.0.300"',
    'spec.ports[0].port: Invalid value: 70000',
    'spec.ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
    'spec.ports[1].name: Duplicate value: "a"',
    'spec.ports[1].nodePort: Invalid value: -1',
    'spec.ports[1].targetPort: Invalid value: "Not_A_Name"',
    'spec.externalIPs[0]: Invalid value: "1.2.3"',
    'spec.loadBalancerSourceRanges[0]: Invalid value: "10.0.0.0/33"',
    'spec.sessionAffinity: Unsupported value: "Sticky"',
    'status.loadBalancer.ingress[0].ip: Invalid value: "nope"',
  ]) assert.ok(msg.includes(part), `missing ${part} in ${msg}`);
  assert.ok(msg.startsWith('Service default/web: '));
});

test('multi-port Services need port names; IPs with leading zeros are refused', () => {
  assert.match(errorOf(() => parseService(svc({ clusterIP: '10.96.0.10', ports: [{ port: 80 }, { name: 'b', port: 81 }] }), 4)), /spec\.ports\[0\]\.name: Required value/);
  assert.match(errorOf(() => parseService(svc({ clusterIP: '10.96.0.010', ports: [{ port: 80 }] }), 4)), /spec\.clusterIP: Invalid value/);
  assert.match(errorOf(() => parseService(svc({ clusterIP: '10.96.0.10', sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 0 } }, ports: [{ port: 80 }] }), 4)), /timeoutSeconds: Invalid value: 0/);
});

test('Services that make no rules are skipped with a reason, not refused', () => {
  const skipped = (spec: Record<string, unknown>, family: 4 | 6 = 4): string | undefined => parseService(svc(spec), family).skipped;
  assert.equal(skipped({ clusterIP: 'None', ports: [{ port: 80 }] }), 'headless (clusterIP None)');
  assert.equal(skipped({ type: 'ExternalName', externalName: 'example.com' }), 'type ExternalName');
  assert.equal(skipped({ ports: [{ port: 80 }] }), 'no cluster IP allocated');
  assert.equal(skipped({ clusterIP: '10.96.0.10', ports: [{ port: 80 }] }, 6), 'no IPv6 cluster IP');
});

test('one family at a time: dual-stack cluster IPs, external IPs and ranges are filtered', () => {
  const spec = {
    type: 'LoadBalancer', clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10', 'fd00:0:0::a'],
    externalIPs: ['192.0.2.1', '2001:db8::1'], loadBalancerSourceRanges: ['192.0.2.0/24', '2001:db8::/64'],
    externalTrafficPolicy: 'Local', healthCheckNodePort: 32000, ports: [{ port: 80, nodePort: 30080 }],
  };
  const status = { loadBalancer: { ingress: [{ ip: '198.51.100.1' }, { ip: '2001:db8::100' }, { ip: '198.51.100.2', ipMode: 'Proxy' }, { hostname: 'lb.example' }] } };
  const v4 = parseService(svc(spec, { status }), 4).ports[0]!;
  assert.deepEqual([v4.clusterIP, v4.externalIPs, v4.loadBalancerIPs, v4.loadBalancerSourceRanges, v4.healthCheckNodePort],
    ['10.96.0.10', ['192.0.2.1'], ['198.51.100.1'], ['192.0.2.0/24'], 32000]);
  const v6 = parseService(svc(spec, { status }), 6).ports[0]!;
  assert.deepEqual([v6.clusterIP, v6.externalIPs, v6.loadBalancerIPs, v6.loadBalancerSourceRanges], ['fd00::a', ['2001:db8::1'], ['2001:db8::100'], ['2001:db8::/64']]);
});

test('loadBalancerSourceRanges may come from the legacy annotation; host bits are cleared', () => {
  const info = parseService(svc({ type: 'LoadBalancer', clusterIP: '10.96.0.10', ports: [{ port: 80, nodePort: 30080 }] }, {
    metadata: { name: 'web', namespace: 'default', annotations: { 'service.beta.kubernetes.io/load-balancer-source-ranges': '10.1.2.3/8, 192.0.2.0/24' } },
    status: { loadBalancer: { ingress: [{ ip: '198.51.100.1' }] } },
  }), 4);
  assert.deepEqual(info.ports[0]!.loadBalancerSourceRanges, ['10.0.0.0/8', '192.0.2.0/24']);
});

const sliceObj = (extra: Record<string, unknown>): Record<string, unknown> => ({
  apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
  metadata: { name: 'web-abc', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
  addressType: 'IPv4', ...extra,
});

test('EndpointSlices: nil conditions mean ready, ports without a number are dropped', () => {
  const s = parseEndpointSlice(sliceObj({
    endpoints: [
      { addresses: ['10.244.1.2'], nodeName: 'n1' },
      { addresses: ['10.244.1.3'], conditions: { ready: false, serving: true, terminating: true } },
    ],
    ports: [{ name: 'http', port: 8080 }, { name: 'all', port: null }],
  }));
  assert.equal(s.serviceName, 'web');
  assert.deepEqual(s.ports, [{ name: 'http', port: 8080, protocol: 'TCP' }]);
  assert.deepEqual(s.endpoints, [
    { address: '10.244.1.2', ready: true, serving: true, terminating: false, nodeName: 'n1' },
    { address: '10.244.1.3', ready: false, serving: true, terminating: true },
  ]);
});

test('EndpointSlices with a bad address, port or missing service label are refused', () => {
  assert.equal(
    errorOf(() => parseEndpointSlice(sliceObj({ endpoints: [{ addresses: ['fd00::1'] }], ports: [{ port: 0 }] }))),
    'EndpointSlice default/web-abc: ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive; endpoints[0].addresses[0]: Invalid value: "fd00::1": must be a valid IPv4 address',
  );
  assert.match(errorOf(() => parseEndpointSlice({ metadata: { name: 'x' }, addressType: 'IPv4' })), /metadata\.labels\[kubernetes\.io\/service-name\]: Required value/);
  const v6 = parseEndpointSlice(sliceObj({ addressType: 'IPv6', endpoints: [{ addresses: ['FD00:0::1'] }] }));
  assert.equal(v6.endpoints[0]!.address, 'fd00::1');
});
