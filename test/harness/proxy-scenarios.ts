// The proxy's behaviour as one table of scenarios with real packets, run against every
// proxy mode (test/integration/proxy-scenarios.test.ts; the IPVS run happens in a VM).
// A scenario only talks to the Proxier and to probes, never to a mode's rules, so the
// same table holds every mode to the same behaviour. Each one starts from a fresh
// proxier and must leave the node clean after proxier.cleanup().
import assert from 'node:assert/strict';
import { execa } from 'execa';
import type { ProxyMode } from '../../agent/proxy/backend.js';
import type { Proxier, ProxierOptions } from '../../agent/proxy/proxier.js';
import { MODES, proxyLeftovers } from './proxy-modes.js';
import { EXT_IPS, freePort, NODE_EXT_IP, NODE_POD_GW, ProxyLab, service, slice, type Probe, type TestEndpoint } from './proxy-lab.js';

export const NODE = 'node-a';
const LOCAL = { b1: '10.244.1.11', b2: '10.244.1.12', b3: '10.244.1.13' } as const;
const REMOTE = { r1: '10.244.1.23' } as const;
const UDP = { u1: '10.244.1.31', u2: '10.244.1.32' } as const;
const CLIENT_IP = '10.244.1.50';

/** The node netns, its pods and clients, shared by every scenario of one mode. */
export class ProxyFixture {
  readonly lab: ProxyLab;
  /** Netns of each backend pod, by name. */
  readonly podNs: Record<string, string> = {};
  client!: Probe;
  ext!: Probe;
  private current: Proxier | undefined;

  constructor(readonly mode: ProxyMode) {
    this.lab = new ProxyLab(`px${mode.slice(0, 2)}`);
  }

  async setUp(): Promise<void> {
    await this.lab.setUp();
    for (const [name, ip] of Object.entries({ ...LOCAL, ...REMOTE })) {
      this.podNs[name] = await this.lab.addPod(name, ip);
      await this.lab.serve(this.podNs[name]!, name, [8080]);
    }
    for (const [name, ip] of Object.entries(UDP)) {
      this.podNs[name] = await this.lab.addPod(name, ip);
      await this.lab.serve(this.podNs[name]!, name, [], [5353]);
    }
    this.client = this.lab.client(await this.lab.addPod('client', CLIENT_IP));
    this.ext = this.lab.client(this.lab.ext);
  }

  /** A new proxier of this mode for the node (the previous one is cleaned up first); not started. */
  async proxier(extra: Partial<ProxierOptions> = {}): Promise<Proxier> {
    await this.current?.cleanup();
    this.current = this.lab.proxier(NODE, { backend: MODES[this.mode]!.backend, ...extra });
    return this.current;
  }

  /** Removes the scenario's proxier and its kernel state; fails when anything is left. */
  async endScenario(): Promise<void> {
    await this.current?.cleanup();
    this.current = undefined;
    assert.deepEqual(await proxyLeftovers(this.lab.node), [], 'cleanup left proxy state behind');
  }

  /** After a failure: clean up as well as possible, without asserting. */
  async abandonScenario(): Promise<void> {
    await this.current?.cleanup().catch(() => undefined);
    this.current = undefined;
  }

  async close(): Promise<void> {
    await this.current?.cleanup().catch(() => undefined);
    await this.lab.close();
  }
}

export interface Scenario {
  readonly name: string;
  /** Modes the scenario holds for; all when absent (say why when not). */
  readonly modes?: readonly ProxyMode[];
  run(f: ProxyFixture): Promise<void>;
}

// ---- helpers ------------------------------------------------------------------

const web = (name: string, clusterIP: string, extra: Record<string, unknown> = {}): Record<string, unknown> =>
  service(name, { clusterIP, ports: [{ name: 'http', port: 80, targetPort: 8080 }], ...extra });
const httpPorts = (extra: Record<string, unknown> = {}): Array<Record<string, unknown>> => [{ name: 'http', port: 80, targetPort: 8080, ...extra }];
const httpSlice = (svc: string, eps: TestEndpoint[]): Record<string, unknown> => slice(svc, eps, [{ name: 'http', port: 8080 }]);
const local = (...names: Array<keyof typeof LOCAL>): TestEndpoint[] => names.map((n) => ({ ip: LOCAL[n], node: NODE }));
const remote: TestEndpoint = { ip: REMOTE.r1, node: 'node-b' };

/** A started proxier holding these Services and EndpointSlices. */
async function running(f: ProxyFixture, services: unknown[], slices: unknown[], extra: Partial<ProxierOptions> = {}): Promise<Proxier> {
  const p = await f.proxier(extra);
  p.setState(services, slices);
  await p.start();
  return p;
}

/** [backend name, peer address seen by the backend] for each of n connections, which must all succeed. */
async function answers(from: Probe, host: string, port: number, n: number, localAddress?: string): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < n; i++) {
    const r = await from.tcp(host, port, localAddress ? { localAddress } : {});
    assert.ok(r.ok, `connection ${i} to ${host}:${port} failed: ${r.ok ? '' : r.code}`);
    out.push(r.data.split(' ') as [string, string]);
  }
  return out;
}

const names = (got: Array<[string, string]>): string[] => [...new Set(got.map(([n]) => n))].sort();
const peers = (got: Array<[string, string]>): string[] => [...new Set(got.map(([, p]) => p))].sort();

/** How a connection attempt ended: 'connected' or the error code. */
async function outcome(from: Probe, host: string, port: number, timeoutMs: number, localAddress?: string): Promise<string> {
  const r = await from.tcp(host, port, { timeoutMs, ...(localAddress ? { localAddress } : {}) });
  return r.ok ? 'connected' : r.code;
}

// ---- the table ----------------------------------------------------------------

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'ClusterIP spreads connections over every backend; a bad Service blocks nothing',
    async run(f) {
      const bad = service('bad', { clusterIP: '10.96.0.99', ports: [{ port: 0 }] });
      const p = await running(f, [web('web', '10.96.0.10'), bad], [httpSlice('web', local('b1', 'b2', 'b3'))]);
      assert.deepEqual(p.errors(), ['Service default/bad: spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive']);
      const got = await answers(f.client, '10.96.0.10', 80, 60);
      assert.deepEqual(names(got), ['b1', 'b2', 'b3']);
      for (const n of ['b1', 'b2', 'b3']) {
        const count = got.filter(([x]) => x === n).length;
        assert.ok(count >= 5, `${n} got only ${count} of 60`);
      }
      assert.deepEqual(peers(got), [CLIENT_IP], 'pod-to-Service traffic keeps its source');
      const e = p.explain('default', 'web');
      assert.equal(e?.ports[0]?.endpoints.length, 3);
      assert.match(JSON.stringify(e?.ports[0]?.rules), /10\.96\.0\.10/, 'explain shows the rules made for the cluster IP');
      assert.match(p.explain('default', 'bad')!.error!, /spec\.ports\[0\]\.port/);
    },
  },
  {
    name: 'the node itself reaches a ClusterIP (masqueraded)',
    async run(f) {
      await running(f, [web('web', '10.96.0.10')], [httpSlice('web', local('b1', 'b2', 'b3'))]);
      const node = f.lab.client(f.lab.node);
      try {
        const got = await answers(node, '10.96.0.10', 80, 3);
        assert.deepEqual(peers(got), [NODE_POD_GW]);
      } finally {
        node.proc.kill('SIGKILL');
      }
    },
  },
  {
    name: 'ClientIP affinity pins a client to one backend',
    async run(f) {
      await running(f, [web('sticky', '10.96.0.11', { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } })],
        [httpSlice('sticky', local('b1', 'b2', 'b3'))]);
      const got = await answers(f.client, '10.96.0.11', 80, 20);
      assert.equal(names(got).length, 1, `affinity broken: ${JSON.stringify(got)}`);
    },
  },
  {
    name: 'a Service without endpoints refuses connections at once (not a timeout)',
    async run(f) {
      await running(f, [web('empty', '10.96.0.12')], []);
      assert.equal(await outcome(f.client, '10.96.0.12', 80, 5000), 'ECONNREFUSED');
    },
  },
  {
    name: 'removing endpoints: new connections avoid the removed one; none left refuses',
    async run(f) {
      const p = await running(f, [web('shrink', '10.96.0.16')], [httpSlice('shrink', local('b1', 'b2'))]);
      assert.deepEqual(names(await answers(f.client, '10.96.0.16', 80, 20)), ['b1', 'b2']);
      p.onEndpointSliceUpdate(httpSlice('shrink', local('b2')));
      await p.syncNow();
      assert.deepEqual(names(await answers(f.client, '10.96.0.16', 80, 10)), ['b2']);
      p.onEndpointSliceUpdate(httpSlice('shrink', []));
      await p.syncNow();
      assert.equal(await outcome(f.client, '10.96.0.16', 80, 5000), 'ECONNREFUSED');
      p.onEndpointSliceUpdate(httpSlice('shrink', local('b3')));
      await p.syncNow();
      assert.deepEqual(names(await answers(f.client, '10.96.0.16', 80, 3)), ['b3'], 'an endpoint coming back is used again');
    },
  },
  {
    name: 'addresses in the service range that no Service holds are rejected, not routed out',
    async run(f) {
      await running(f, [web('web', '10.96.0.10')], [httpSlice('web', local('b1'))]);
      for (const [host, port] of [['10.96.99.99', 80], ['10.96.0.10', 81]] as const) {
        assert.equal(await outcome(f.client, host, port, 5000), 'ECONNREFUSED', `${host}:${port}`);
      }
    },
  },
  {
    name: 'hairpin: a pod reaches itself through its Service',
    async run(f) {
      await running(f, [web('hairpin', '10.96.0.13')], [httpSlice('hairpin', local('b1'))]);
      const self = f.lab.client(f.podNs.b1!);
      try {
        // The pod sees the node as the source: that SNAT is what makes the reply come back.
        assert.deepEqual(await answers(self, '10.96.0.13', 80, 1), [['b1', NODE_POD_GW]]);
      } finally {
        self.proc.kill('SIGKILL');
      }
    },
  },
  {
    name: 'terminating endpoints serve only while no ready endpoint exists',
    async run(f) {
      const p = await running(f, [web('rolling', '10.96.0.14')], [httpSlice('rolling', [
        ...local('b1'),
        { ip: LOCAL.b2, node: NODE, ready: false, serving: true, terminating: true },
        { ip: LOCAL.b3, node: NODE, ready: false, serving: false, terminating: true },
      ])]);
      assert.deepEqual(names(await answers(f.client, '10.96.0.14', 80, 10)), ['b1']);
      p.onEndpointSliceUpdate(httpSlice('rolling', [
        { ip: LOCAL.b2, node: NODE, ready: false, serving: true, terminating: true },
        { ip: LOCAL.b3, node: NODE, ready: false, serving: false, terminating: true },
      ]));
      await p.syncNow();
      assert.deepEqual(names(await answers(f.client, '10.96.0.14', 80, 10)), ['b2']);
    },
  },
  {
    name: 'internalTrafficPolicy Local: only this node\'s endpoints, dropped when it has none',
    async run(f) {
      const p = await running(f, [web('itp', '10.96.0.15', { internalTrafficPolicy: 'Local' })], [httpSlice('itp', [...local('b1'), remote])]);
      assert.deepEqual(names(await answers(f.client, '10.96.0.15', 80, 10)), ['b1']);
      p.onEndpointSliceUpdate(httpSlice('itp', [remote]));
      await p.syncNow();
      assert.equal(await outcome(f.client, '10.96.0.15', 80, 800), 'ETIMEDOUT', 'dropped, as kube-proxy does');
    },
  },
  {
    name: 'NodePort from an external client (externalTrafficPolicy Cluster: any endpoint, SNAT)',
    async run(f) {
      await running(f, [service('np', { type: 'NodePort', clusterIP: '10.96.0.20', ports: httpPorts({ nodePort: 30080 }) })],
        [httpSlice('np', [...local('b1'), remote])]);
      const got = await answers(f.ext, NODE_EXT_IP, 30080, 30);
      assert.deepEqual(names(got), ['b1', 'r1']);
      assert.deepEqual(peers(got), [NODE_POD_GW], 'external traffic must be masqueraded');
      // Every node address by default, the pod-facing gateway included.
      assert.equal((await answers(f.client, NODE_POD_GW, 30080, 1)).length, 1);
    },
  },
  {
    name: 'externalTrafficPolicy Local keeps the client IP, uses only local endpoints, answers health checks',
    async run(f) {
      const hcPort = await freePort();
      const p = await running(f, [service('local', {
        type: 'LoadBalancer', clusterIP: '10.96.0.21', externalTrafficPolicy: 'Local', healthCheckNodePort: hcPort, ports: httpPorts({ nodePort: 30081 }),
      }, { loadBalancer: { ingress: [{ ip: '198.51.100.21' }] } })], [httpSlice('local', [...local('b1'), remote])], { healthCheckBindAddress: '127.0.0.1' });
      for (const [host, port] of [[NODE_EXT_IP, 30081], ['198.51.100.21', 80]] as const) {
        const got = await answers(f.ext, host, port, 15);
        assert.deepEqual(names(got), ['b1'], `${host}:${port} must reach only the local endpoint`);
        assert.deepEqual(peers(got), [EXT_IPS[0]], 'client source IP must be kept');
      }
      let res = await fetch(`http://127.0.0.1:${hcPort}/`);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { service: { namespace: 'default', name: 'local' }, localEndpoints: 1, serviceProxyHealthy: true });

      // Only a remote endpoint left: this node drops external traffic and says 503.
      p.onEndpointSliceUpdate(httpSlice('local', [remote]));
      await p.syncNow();
      assert.equal(await outcome(f.ext, NODE_EXT_IP, 30081, 800), 'ETIMEDOUT');
      res = await fetch(`http://127.0.0.1:${hcPort}/`);
      assert.equal(res.status, 503);
      assert.equal(((await res.json()) as { localEndpoints: number }).localEndpoints, 0);
      // Pods still reach it through the cluster path (they are not "external"). Not in
      // IPVS mode (kube-proxy's neither): one virtual server has one set of real servers,
      // this node's only, whoever the client.
      if (f.mode !== 'ipvs') assert.deepEqual(names(await answers(f.client, NODE_EXT_IP, 30081, 3)), ['r1']);
      else assert.equal(await outcome(f.client, NODE_EXT_IP, 30081, 800), 'ETIMEDOUT');
    },
  },
  {
    name: 'a load-balancer IP admits only loadBalancerSourceRanges',
    async run(f) {
      await running(f, [service('lb', {
        type: 'LoadBalancer', clusterIP: '10.96.0.22', loadBalancerSourceRanges: [`${EXT_IPS[0]}/32`], ports: httpPorts({ nodePort: 30082 }),
      }, { loadBalancer: { ingress: [{ ip: '198.51.100.10' }] } })], [httpSlice('lb', local('b1', 'b2'))]);
      await answers(f.ext, '198.51.100.10', 80, 5, EXT_IPS[0]);
      assert.equal(await outcome(f.ext, '198.51.100.10', 80, 800, EXT_IPS[1]), 'ETIMEDOUT', 'a source outside the ranges must be dropped');
    },
  },
  {
    name: 'externalIPs route to the Service',
    async run(f) {
      await running(f, [service('extip', { clusterIP: '10.96.0.23', externalIPs: ['203.0.113.7'], ports: httpPorts() })], [httpSlice('extip', local('b1', 'b2'))]);
      const got = await answers(f.ext, '203.0.113.7', 80, 10);
      assert.ok(names(got).every((n) => n === 'b1' || n === 'b2'), JSON.stringify(got));
    },
  },
  {
    name: '--nodeport-addresses limits the addresses NodePorts answer on',
    async run(f) {
      await running(f, [service('np', { type: 'NodePort', clusterIP: '10.96.0.20', ports: httpPorts({ nodePort: 30080 }) })],
        [httpSlice('np', local('b1', 'b2'))], { nodePortAddresses: ['192.168.77.0/24'] });
      await answers(f.ext, NODE_EXT_IP, 30080, 3);
      assert.equal(await outcome(f.client, NODE_POD_GW, 30080, 3000), 'ECONNREFUSED');
    },
  },
  {
    name: 'a UDP flow moves to the new endpoint when the old one goes (stale conntrack entries deleted)',
    async run(f) {
      const p = await running(f, [dns('dns', '10.96.0.53')], [dnsSlice('dns', [UDP.u1])]);
      for (let i = 0; i < 3; i++) {
        const r = await f.client.udp('10.96.0.53', 53, 40053);
        assert.deepEqual(r.ok && r.data, `u1 ${CLIENT_IP}`);
      }
      assert.ok((await conntrackTo(f, UDP.u1)) > 0, 'the flow should be tracked');
      // u1 leaves the Service but keeps answering: only the conntrack flush moves the flow.
      p.onEndpointSliceUpdate(dnsSlice('dns', [UDP.u2]));
      await p.syncNow();
      assert.equal(await conntrackTo(f, UDP.u1), 0, 'stale entries must be gone');
      const r = await f.client.udp('10.96.0.53', 53, 40053);
      assert.deepEqual(r.ok && r.data, `u2 ${CLIENT_IP}`);
    },
  },
  {
    name: 'a UDP Service that gets its first endpoint answers the same flow at once',
    async run(f) {
      const p = await running(f, [dns('late', '10.96.0.54')], []);
      const before = await f.client.udp('10.96.0.54', 53, 40054, { timeoutMs: 300 });
      assert.equal(before.ok, false);
      p.onEndpointSliceUpdate(dnsSlice('late', [UDP.u1]));
      await p.syncNow();
      const r = await f.client.udp('10.96.0.54', 53, 40054);
      assert.deepEqual(r.ok && r.data, `u1 ${CLIENT_IP}`);
    },
  },
];

function dns(name: string, clusterIP: string): Record<string, unknown> {
  return service(name, { clusterIP, ports: [{ name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353 }] });
}

function dnsSlice(svc: string, ips: string[]): Record<string, unknown> {
  return slice(svc, ips.map((ip) => ({ ip, node: NODE })), [{ name: 'dns', port: 5353, protocol: 'UDP' }]);
}

/** Conntrack entries in the node NATed to `ip`. */
async function conntrackTo(f: ProxyFixture, ip: string): Promise<number> {
  const r = await execa('ip', ['netns', 'exec', f.lab.node, 'conntrack', '-L', '-p', 'udp', '--dst-nat', ip], { reject: false });
  return r.stdout.split('\n').filter((l) => l.includes('udp')).length;
}
