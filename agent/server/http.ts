// Plain HTTP endpoints on localhost: /healthz (kubelet's healthz port) and /metrics
// (Prometheus text, kubelet and kube-proxy metric names).
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { splitHostPort } from '../config.js';

export type HealthCheck = () => { healthy: boolean; message: string };

function listen(server: Server, bind: string): Promise<Server> {
  const { host, port } = splitHostPort(bind);
  return new Promise((resolve, reject) => server.once('error', reject).listen(port, host, () => resolve(server)));
}

export function serveHealthz(bind: string, checks: Record<string, HealthCheck>): Promise<Server> {
  return listen(createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/healthz' && path !== '/livez' && path !== '/readyz') {
      res.writeHead(404).end('not found\n');
      return;
    }
    const results = Object.entries(checks).map(([name, check]) => ({ name, ...check() }));
    const ok = results.every((r) => r.healthy);
    res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
    res.end(ok ? 'ok\n' : results.filter((r) => !r.healthy).map((r) => `[-]${r.name} failed: ${r.message}`).join('\n') + '\n');
  }), bind);
}

export function serveMetrics(bind: string, registry: Registry): Promise<Server> {
  return listen(createServer((req, res) => {
    if ((req.url ?? '/').split('?')[0] !== '/metrics') {
      res.writeHead(404).end('not found\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: Error) => res.writeHead(500).end(err.message),
    );
  }), bind);
}
