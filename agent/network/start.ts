// The agent's overlay: picks the node IP, starts the Overlay for this node and feeds it
// the watched peers file. Stopping leaves the kernel state in place (traffic keeps
// flowing while the agent is down; a restarted agent reconciles it).
import { networkInterfaces } from 'node:os';
import type { Logger } from 'pino';
import type { AgentConfig } from '../config.js';
import { hostAddresses } from '../pods/node-info.js';
import { ConfigError } from '../util/errors.js';
import { Overlay, type PeerInfo } from './overlay.js';
import { PeersWatcher } from './peers.js';

export interface NodeOverlay {
  /** The MTU pods must use (underlay MTU, less VXLAN headers in vxlan mode). */
  podMtu: number;
  /** This node's entry for the peers file. */
  self: PeerInfo;
  stop(): Promise<void>;
}

type OverlayConfig = Pick<AgentConfig, 'overlay' | 'nodeName' | 'podCIDR' | 'peers' | 'overlayIface' | 'nodeIP'>;

/** --node-ip, else the IPv4 address of --overlay-iface, else the first host IPv4 address. */
export function pickNodeIP(cfg: Pick<AgentConfig, 'nodeIP' | 'overlayIface'>, ifaces = networkInterfaces(), hostIPs = hostAddresses): string {
  if (cfg.nodeIP) return cfg.nodeIP;
  if (cfg.overlayIface) {
    const a = ifaces[cfg.overlayIface]?.find((x) => x.family === 'IPv4');
    if (!a) throw new ConfigError('--overlay-iface', `${cfg.overlayIface} has no IPv4 address in this network namespace; give --node-ip`);
    return a.address;
  }
  const ip = hostIPs().find((x) => !x.includes(':'));
  if (!ip) throw new ConfigError('--node-ip', 'no IPv4 host address found for the overlay; give --node-ip or --overlay-iface');
  return ip;
}

/** Starts the overlay when the config asks for one; resolves once the kernel matches the peers file. */
export async function startOverlay(cfg: OverlayConfig, log: Logger): Promise<NodeOverlay | undefined> {
  if (cfg.overlay === 'none') return undefined;
  if (!cfg.peers) throw new ConfigError('--peers', `required with --overlay ${cfg.overlay}`);
  const overlay = new Overlay({
    mode: cfg.overlay, nodeName: cfg.nodeName, nodeIP: pickNodeIP(cfg), podCIDR: cfg.podCIDR,
    ...(cfg.overlayIface ? { iface: cfg.overlayIface } : {}), logger: log,
  });
  // Sync failures are logged and retried by the Overlay itself.
  const watcher = new PeersWatcher(cfg.peers, (peers) => void overlay.setPeers(peers).catch(() => {}), { logger: log });
  const first = await watcher.start();
  if (first) await overlay.setPeers(first);
  else log.warn({ peers: cfg.peers }, 'overlay: peers file missing or invalid; waiting for it');
  try {
    await overlay.start();
  } catch (err) {
    watcher.stop();
    throw err;
  }
  const self = overlay.self();
  log.info({ self, podMtu: overlay.podMtu() }, 'overlay: running; this node\'s peers entry is `self`');
  return {
    podMtu: overlay.podMtu(),
    self,
    async stop() {
      watcher.stop();
      await overlay.stop();
    },
  };
}
