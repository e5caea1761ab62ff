// Starting the Service proxy the agent was asked for. A mode not implemented yet is
// refused by name rather than silently ignored.
import type { Registry } from 'prom-client';
import type { AgentConfig } from '../config.js';
import { ConfigError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import type { ProxyMode } from './backend.js';
import { cleanupIptables } from './iptables/restore.js';
import { IpvsBackend } from './ipvs/backend.js';
import { NftablesBackend } from './nftables/backend.js';
import { deleteTable } from './nftables/nft.js';
import { Proxier } from './proxier.js';
import { commandRunner, CommandStartError } from './runner.js';

/**
 * What the other modes left behind (a mode switch without `kna cleanup`), removed at
 * start as kube-proxy does: their rules would still catch Service traffic. Our own
 * mode's state is kept, so a restart does not interrupt traffic.
 */
export async function cleanupOtherModes(mode: ProxyMode, logger: Logger): Promise<void> {
  const runner = commandRunner();
  const steps: Array<[ProxyMode, () => Promise<void>]> = [];
  if (mode !== 'nftables') {
    steps.push(['nftables', async () => {
      for (const family of [4, 6] as const) await deleteTable(runner, family).catch((err: unknown) => { if (!(err instanceof CommandStartError)) throw err; });
    }]);
  }
  // iptables and IPVS modes share the KUBE-* chain names: each one's full sync replaces the other's.
  if (mode === 'nftables') steps.push(['iptables', () => cleanupIptables(runner, 4)]);
  const ipvsLeft = (await runner.run(['ip', 'link', 'show', 'kube-ipvs0']).catch(() => undefined))?.exitCode === 0;
  if (mode !== 'ipvs' && ipvsLeft) steps.push(['ipvs', () => new IpvsBackend(runner, 4).cleanup()]);
  for (const [other, step] of steps) {
    await step().catch((err: unknown) => logger.warn({ err, mode: other }, 'cannot remove what another proxy mode left; run kna cleanup'));
  }
}

export function createProxier(cfg: AgentConfig, registry: Registry, logger: Logger): Proxier | undefined {
  switch (cfg.proxyMode) {
    case 'none':
      return undefined;
    case 'iptables':
    case 'nftables':
    case 'ipvs':
      return new Proxier({
        nodeName: cfg.nodeName,
        family: 4,
        serviceCIDRs: [cfg.serviceClusterIPRange],
        // Standalone, this node's pods are the whole cluster.
        clusterCIDR: cfg.clusterCIDR ?? cfg.podCIDR,
        masqueradeAll: cfg.masqueradeAll,
        nodePortAddresses: cfg.nodePortAddresses,
        runner: commandRunner(),
        ...(cfg.proxyMode === 'nftables' ? { backend: (runner, family) => new NftablesBackend(runner, family) } : {}),
        ...(cfg.proxyMode === 'ipvs' ? { backend: (runner, family) => new IpvsBackend(runner, family, { scheduler: cfg.ipvsScheduler, logger: logger.child({ part: 'proxy' }) }) } : {}),
        registry,
        logger: logger.child({ part: 'proxy' }),
      });
    default:
      throw new ConfigError('--proxy-mode', `${cfg.proxyMode} is not implemented yet; use iptables, nftables or none`);
  }
}
