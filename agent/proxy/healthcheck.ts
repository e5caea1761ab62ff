// healthCheckNodePort servers for externalTrafficPolicy Local Services: a load balancer
// probes each node and sends traffic only to nodes answering 200 (it has local
// endpoints). Same answers as kube-proxy's service health server.
import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';

export interface ServiceHealthOptions {
  /** Address the servers listen on (kube-proxy: the NodePort addresses). */
  readonly bindAddress: string;
  /** Whether the proxy itself is healthy (its rules are fresh). */
  readonly proxyHealthy: () => boolean;
  readonly logger?: Logger;
}

interface Instance { readonly port: number; readonly server: Server; endpoints: number }

export class ServiceHealthServer {
  private readonly services = new Map<string, Instance>();

  constructor(private readonly opts: ServiceHealthOptions) {}

  /** Opens a server per "namespace/name" -> port, closes the ones no longer wanted. */
  async syncServices(wanted: ReadonlyMap<string, number>): Promise<void> {
    for (const [name, inst] of this.services) {
      if (wanted.get(name) === inst.port) continue;
      this.services.delete(name);
      await closeServer(inst.server);
    }
    for (const [name, port] of wanted) {
      if (this.services.has(name)) continue;
      try {
        const server = await this.listen(name, port);
        this.services.set(name, { port, server, endpoints: 0 });
      } catch (err) {
        // Another process holds the port: log and retry on the next sync, like kube-proxy.
        this.opts.logger?.error({ err, service: name, port }, 'failed to start service health check server');
      }
    }
  }

  /** Local ready endpoint count per "namespace/name"; Services not listed have none. */
  syncEndpoints(counts: ReadonlyMap<string, number>): void {
    for (const [name, inst] of this.services) inst.endpoints = counts.get(name) ?? 0;
  }

  /** Port each Service's server listens on (for tests and explain). */
  ports(): Map<string, number> {
    return new Map([...this.services].map(([n, i]) => [n, i.port]));
  }

  async close(): Promise<void> {
    const all = [...this.services.values()];
    this.services.clear();
    await Promise.all(all.map((i) => closeServer(i.server)));
  }

  private listen(name: string, port: number): Promise<Server> {
    const [namespace, svc] = name.split('/') as [string, string];
    const server = createServer((req, res) => {
      const count = this.services.get(name)?.endpoints ?? 0;
      const healthy = this.opts.proxyHealthy();
      res.writeHead(count !== 0 && healthy ? 200 : 503, {
        'Content-Type': 'application/json',
        'X-Content-Type-Options': 'nosniff',
      });
      res.end(JSON.stringify({ service: { namespace, name: svc }, localEndpoints: count, serviceProxyHealthy: healthy }, null, 2));
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.opts.bindAddress, () => {
        server.off('error', reject);
        resolve(server);
      });
    });
  }
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
