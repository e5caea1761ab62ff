// Starting the Service proxy the agent was asked for. Only the iptables mode exists
// so far; the others are refused by name rather than silently ignored.
import type { Registry } from 'prom-client';
import type { AgentConfig } from '../config.js';
import { ConfigError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { Proxier } from './proxier.js';
import { commandRunner } from './runner.js';

export function createProxier(cfg: AgentConfig, registry: Registry, logger: Logger): Proxier | undefined {
  switch (cfg.proxyMode) {
    case 'none':
      return undefined;
    case 'iptables':
      return new Proxier({
        nodeName: cfg.nodeName,
        family: 4,
        serviceCIDRs: [cfg.serviceClusterIPRange],
        // Standalone, this node's pods are the whole cluster.
        clusterCIDR: cfg.clusterCIDR ?? cfg.podCIDR,
        masqueradeAll: cfg.masqueradeAll,
        nodePortAddresses: cfg.nodePortAddresses,
        runner: commandRunner(),
        registry,
        logger: logger.child({ part: 'proxy' }),
      });
    default:
      throw new ConfigError('--proxy-mode', `${cfg.proxyMode} is not implemented yet; use iptables or none`);
  }
}
