// The node's pod network: the overlay (when asked for) for this node's pod CIDR, then
// kna-cni and the conflist (its pod MTU depends on the overlay). Standalone, and with
// --pod-cidr, it comes up at start; a joined node without --pod-cidr brings it up once
// its Node has a spec.podCIDR (apiserver/node-network.ts), and until then reports the
// network not ready. The overlay's peers come from the watched peers file, and when
// joined also from the other Nodes. Stopping leaves the kernel state in place (traffic
// keeps flowing while the agent is down; a restarted agent reconciles it).
import { networkInterfaces } from 'node:os';
import type { Logger } from 'pino';
import type { AgentConfig } from '../config.js';
import { hostAddresses } from '../pods/node-info.js';
import { ConfigError } from '../util/errors.js';
import { installCniPlugin, nodeConflist, writeCniConfig } from './cni-config.js';
import type { OverlayMode, PeerInfo } from './overlay.js';

export interface NodeOverlay {
  mode: OverlayMode;
  vni: number;
  /** The MTU pods must use (underlay MTU, less VXLAN headers in vxlan mode). */
  podMtu: number;
  /** This node's entry for the peers file (and its Node's annotations). */
  self: PeerInfo;
  /** Joined: the peers made from the other Nodes, merged with the peers file's (the file wins on a name). */
  setNodePeers(peers: PeerInfo[]): void;
  stop(): Promise<void>;
}

type OverlayConfig = Pick<AgentConfig, 'overlay' | 'nodeName' | 'peers' | 'overlayIface' | 'nodeIP'>;
export type NetworkConfig = OverlayConfig & Pick<AgentConfig, 'cniBinDir' | 'cniConfDir' | 'cniBridge' | 'rootDir' | 'clusterCIDR'>;

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

/**
 * Starts the overlay when the config asks for one. Standalone it resolves once the
 * kernel matches the peers file. Joined, the peers come from the Nodes as well, and
 * routes are left alone until the first list of Nodes arrives (setNodePeers), so a
 * restarted agent prunes nothing it would put back a moment later.
 */
export async function startOverlay(cfg: OverlayConfig, podCIDR: string, log: Logger, opts: { joined?: boolean } = {}): Promise<NodeOverlay | undefined> {
  if (cfg.overlay === 'none') return undefined;
  const joined = opts.joined ?? false;
  if (!cfg.peers && !joined) throw new ConfigError('--peers', `required with --overlay ${cfg.overlay} in standalone mode (a joined node finds its peers in the API)`);
  // Loaded only here: the overlay and the netlink addon under it cost memory a node without one need not pay.
  const [{ DEFAULT_VNI, Overlay }, { mergePeers, PeersWatcher }] = await Promise.all([import('./overlay.js'), import('./peers.js')]);
  const overlay = new Overlay({
    mode: cfg.overlay, nodeName: cfg.nodeName, nodeIP: pickNodeIP(cfg), podCIDR,
    ...(cfg.overlayIface ? { iface: cfg.overlayIface } : {}), logger: log,
  });
  // Standalone the file is the only source; joined, a missing file is an empty one until it appears.
  let filePeers: PeerInfo[] | undefined = cfg.peers && !joined ? undefined : [];
  let nodePeers: PeerInfo[] | undefined = joined ? undefined : [];
  let lastSkipped = '[]';
  const apply = (): Promise<void> => {
    if (!filePeers || !nodePeers) return Promise.resolve();
    const { peers, skipped } = mergePeers(filePeers, nodePeers);
    const text = JSON.stringify(skipped);
    if (text !== lastSkipped) for (const s of skipped) log.warn(s, 'overlay: Node peer skipped');
    lastSkipped = text;
    // Sync failures are logged and retried by the Overlay itself.
    return overlay.setPeers(peers);
  };
  const watcher = cfg.peers ? new PeersWatcher(cfg.peers, (peers) => { filePeers = peers; void apply().catch(() => {}); }, { logger: log }) : undefined;
  const first = await watcher?.start();
  if (first) filePeers = first;
  else if (watcher) log.warn({ peers: cfg.peers }, joined ? 'overlay: peers file missing or invalid; using the Nodes\' peers alone until it is fixed' : 'overlay: peers file missing or invalid; waiting for it');
  await apply();
  try {
    await overlay.start();
  } catch (err) {
    watcher?.stop();
    throw err;
  }
  const self = overlay.self();
  log.info({ self, podMtu: overlay.podMtu() }, 'overlay: running; this node\'s peers entry is `self`');
  return {
    mode: overlay.mode,
    vni: DEFAULT_VNI,
    podMtu: overlay.podMtu(),
    self,
    setNodePeers(peers) {
      nodePeers = peers;
      void apply().catch(() => {});
    },
    async stop() {
      watcher?.stop();
      await overlay.stop();
    },
  };
}

/**
 * The pod network of this node for one pod CIDR: the overlay, kna-cni and the conflist.
 * `ready()` is what the Node's NetworkReady reports, with the runtime's own view.
 */
export class NodeNetwork {
  overlay: NodeOverlay | undefined;
  /** the pod CIDR the network runs with, once started */
  podCIDR: string | undefined;
  private starting: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly cfg: NetworkConfig, private readonly log: Logger, readonly opts: { joined: boolean }) {}

  /** Brings the network up for `podCIDR`; once (later calls return the first call's promise). */
  start(podCIDR: string): Promise<void> {
    this.starting ??= this.up(podCIDR).catch((err: unknown) => {
      this.starting = undefined; // a later call may try again
      throw err;
    });
    return this.starting;
  }

  ready(): boolean {
    return this.podCIDR !== undefined;
  }

  private async up(podCIDR: string): Promise<void> {
    const overlay = await startOverlay(this.cfg, podCIDR, this.log, { joined: this.opts.joined });
    if (this.stopped) {
      await overlay?.stop();
      return;
    }
    this.overlay = overlay;
    try {
      await installCniPlugin(this.cfg.cniBinDir);
      await writeCniConfig(this.cfg.cniConfDir, nodeConflist({
        podCidrs: [podCIDR], bridge: this.cfg.cniBridge, rootDir: this.cfg.rootDir,
        ...(overlay ? { mtu: overlay.podMtu } : {}), ...(this.cfg.clusterCIDR ? { clusterCidrs: [this.cfg.clusterCIDR] } : {}),
      }));
    } catch (err) {
      this.overlay = undefined;
      await overlay?.stop();
      throw err;
    }
    this.podCIDR = podCIDR;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.starting?.catch(() => {});
    await this.overlay?.stop();
  }
}
