// Shared fixtures of the proxy's unit tests: one Service port "ns/web:http" on
// 10.96.0.10:80 (spec and status fields merged in), and endpoints on this node
// (n1) or another (n2).
import type { RuleOptions } from '../../agent/proxy/backend.js';
import type { Endpoint, ServicePort } from '../../agent/proxy/types.js';
import { parseService } from '../../agent/proxy/validate.js';

export const OPTS: RuleOptions = { family: 4, clusterCIDR: '10.244.0.0/16', serviceCIDRs: ['10.96.0.0/16'] };

export function port(spec: Record<string, unknown>, status?: Record<string, unknown>): ServicePort {
  const info = parseService({ metadata: { name: 'web', namespace: 'ns' }, spec: { clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80 }], ...spec }, ...(status ? { status } : {}) }, 4);
  return info.ports[0]!;
}

export const ep = (ip: string, o: Partial<Endpoint> = {}): Endpoint =>
  ({ ip, port: 8080, ready: true, serving: true, terminating: false, nodeName: 'n1', isLocal: true, ...o });
export const remote = (ip: string, o: Partial<Endpoint> = {}): Endpoint => ep(ip, { nodeName: 'n2', isLocal: false, ...o });
