// `kna run`: wires the parts together. Each part owns its own loop; this file only
// starts them in order, connects their inputs and outputs, and stops them on a signal.
import { mkdir } from 'node:fs/promises';
import type { Server } from 'node:http';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { AgentConfig } from './config.js';
import { writeCniConfig } from './network/cni-config.js';
import { serveLocalApi, type NodeApi } from './server/local-api.js';
import { serveHealthz, serveMetrics } from './server/http.js';
import { createLogger, setLogger } from './util/log.js';
import { VERSION } from './version.js';

export async function runAgent(cfg: AgentConfig): Promise<void> {
  const log = createLogger(cfg.logFormat, cfg.logLevel);
  setLogger(log);
  log.info({ version: VERSION, node: cfg.nodeName, manifests: cfg.manifests, proxyMode: cfg.proxyMode }, 'starting kna');
  if (cfg.kubeconfig) throw new Error('--kubeconfig: joining a control plane is not implemented yet; run standalone with --manifests');
  if (cfg.overlay !== 'none') throw new Error(`--overlay ${cfg.overlay}: the overlay is not implemented yet; use --overlay none`);
  await mkdir(cfg.rootDir, { recursive: true, mode: 0o700 });

  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  await writeCniConfig(cfg.cniConfDir, [cfg.podCIDR]);

  const api: NodeApi = {
    listPods: () => [],
    containerLogs: async () => {},
    execUrl: async () => { throw new Error('no pods'); },
  };
  const servers: Server[] = [
    await serveLocalApi(api, cfg.rootDir),
    await serveHealthz(cfg.healthzBindAddress, {}),
    await serveMetrics(cfg.metricsBindAddress, registry),
  ];
  log.info({ healthz: cfg.healthzBindAddress, metrics: cfg.metricsBindAddress }, 'kna is running');

  await new Promise<void>((resolve) => {
    const stop = (sig: string) => { log.info({ signal: sig }, 'stopping (pods keep running)'); resolve(); };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
}
