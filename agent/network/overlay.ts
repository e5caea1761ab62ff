// The node's side of the pod network between nodes, flannel's job done in-process.
// vxlan mode: one VXLAN device (default kna.1, VNI 1, UDP 8472) over the underlay
// link that carries the node IP, MTU = underlay MTU - 50, address = the network
// address of this node's pod CIDR as a /32; per peer a route, a neighbour and an FDB
// entry. host-gw mode: per peer one route via its node IP (nodes share an L2).
//
// Every sync compares the kernel with the desired state and fixes the difference, so
// a restarted agent prunes stale entries and duplicates nothing. Kernel state
// outlives the process: traffic keeps flowing while the agent is down.
import type { Logger } from 'pino';
import { logger as rootLogger } from '../util/log.js';
import { checkIfname, checkIPv4, checkMac, InvalidValueError, parseCidr } from './netlink/codec.js';
import { Rtnl } from './netlink/rtnl.js';
import { MAIN_TABLE } from './netlink/types.js';
import { desiredState, RTPROT_KNA, VXLAN_OVERHEAD, vtepIP, vtepMacFor, type OverlayMode } from './overlay/desired.js';
import { ensureVxlan, findUnderlay, type Underlay } from './overlay/device.js';
import { isEmptyPlan, planChanges } from './overlay/plan.js';
import { applyPlan, observe } from './overlay/reconciler.js';
import { NODE_NAME, type PeerInfo } from './peers.js';

export type { OverlayMode } from './overlay/desired.js';
export type { PeerInfo } from './peers.js';

export const DEFAULT_DEVICE = 'kna.1';
export const DEFAULT_VNI = 1;
export const DEFAULT_PORT = 8472;

export interface OverlayOptions {
  mode: OverlayMode;
  nodeName: string;
  /** This node's underlay address (VXLAN local address, peers' host-gw gateway). */
  nodeIP: string;
  podCIDR: string;
  /** VXLAN device name (default kna.1). */
  device?: string;
  vni?: number;
  /** VXLAN UDP port (default 8472, flannel's). */
  port?: number;
  /** Underlay interface; default: the one holding nodeIP. */
  iface?: string;
  /** VTEP MAC; default derived from the node IP (stable across re-creation). */
  vtepMAC?: string;
  /** Full re-sync period (repairs drift, e.g. a deleted route); 0 = off. Default 30 s. */
  resyncMs?: number;
  logger?: Logger;
}

export class Overlay {
  readonly mode: OverlayMode;
  private readonly o: Required<Omit<OverlayOptions, 'iface' | 'logger'>> & { iface?: string };
  private readonly log: Logger;
  private rtnl?: Rtnl;
  private underlay?: Underlay;
  /** undefined until the first setPeers: until then start() leaves routes alone. */
  private peers?: PeerInfo[];
  private chain: Promise<void> = Promise.resolve();
  private queued?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private retry?: NodeJS.Timeout;
  private stopped = false;
  private lastSkipped = '[]';

  constructor(opts: OverlayOptions) {
    if (opts.mode !== 'vxlan' && opts.mode !== 'host-gw') throw new InvalidValueError('overlay', opts.mode, 'vxlan or host-gw');
    this.mode = opts.mode;
    if (!NODE_NAME.test(opts.nodeName)) throw new InvalidValueError('nodeName', opts.nodeName, 'a lowercase DNS-1123 subdomain');
    parseCidr(opts.podCIDR, 'podCIDR');
    const vni = opts.vni ?? DEFAULT_VNI, port = opts.port ?? DEFAULT_PORT;
    if (!Number.isInteger(vni) || vni < 1 || vni > 0xffffff) throw new InvalidValueError('vni', vni, 'an integer in 1..16777215');
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new InvalidValueError('port', port, 'a UDP port');
    this.o = {
      mode: opts.mode,
      nodeName: opts.nodeName,
      nodeIP: checkIPv4(opts.nodeIP, 'nodeIP'),
      podCIDR: opts.podCIDR,
      device: checkIfname(opts.device ?? DEFAULT_DEVICE, 'device'),
      vni,
      port,
      vtepMAC: checkMac(opts.vtepMAC ?? vtepMacFor(opts.nodeIP), 'vtepMAC'),
      resyncMs: opts.resyncMs ?? 30_000,
      ...(opts.iface !== undefined ? { iface: checkIfname(opts.iface, 'iface') } : {}),
    };
    this.log = (opts.logger ?? rootLogger).child({ component: 'overlay', mode: this.mode });
  }

  /** This node's entry for the peers file / Node annotation. */
  self(): PeerInfo {
    const { nodeName: name, nodeIP, podCIDR, vtepMAC } = this.o;
    return this.mode === 'vxlan' ? { name, nodeIP, podCIDR, vtepMAC } : { name, nodeIP, podCIDR };
  }

  /** The MTU pods should use (CNI conflist): underlay MTU, less the VXLAN headers in vxlan mode. Valid after start(). */
  podMtu(): number {
    if (!this.underlay) throw new Error('overlay: podMtu() needs start() first (it reads the underlay MTU)');
    return this.mode === 'vxlan' ? this.underlay.mtu - VXLAN_OVERHEAD : this.underlay.mtu;
  }

  /** Opens netlink, finds the underlay, sets up the device, and syncs peers if already given. */
  async start(): Promise<void> {
    this.stopped = false;
    this.rtnl ??= Rtnl.open();
    try {
      await this.sync();
    } catch (err) {
      await this.stop();
      throw err;
    }
    if (this.o.resyncMs > 0) this.timer = setInterval(() => void this.sync().catch(() => {}), this.o.resyncMs).unref();
  }

  /** Replaces the peer list (it may include this node; it is skipped) and syncs the kernel. */
  setPeers(peers: PeerInfo[]): Promise<void> {
    this.peers = [...peers];
    return this.rtnl ? this.sync() : Promise.resolve();
  }

  /** Stops syncing and closes netlink; the kernel state stays (traffic keeps flowing). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.retry);
    await this.chain;
    this.rtnl?.close();
    this.rtnl = undefined;
  }

  /** Removes everything the overlay made: our routes and the vxlan device. */
  async remove(): Promise<void> {
    await this.stop();
    await removeOverlayState(this.o.device);
    this.log.info({ device: this.o.device }, 'overlay: removed');
  }

  /**
   * Queues one sync; calls made while one is queued (not yet running) share it. A sync
   * reads the latest peers when it runs, so every caller's list is applied when its
   * promise resolves.
   */
  private sync(): Promise<void> {
    if (this.queued) return this.queued;
    const run = this.chain.then(() => {
      this.queued = undefined;
      return this.stopped ? undefined : this.syncNow();
    });
    this.queued = run;
    this.chain = run.catch((err: Error) => {
      this.log.error({ err: err.message }, 'overlay: sync failed; retrying in 1s');
      clearTimeout(this.retry);
      if (!this.stopped) this.retry = setTimeout(() => void this.sync().catch(() => {}), 1000).unref();
    });
    return run;
  }

  private async syncNow(): Promise<void> {
    const rtnl = this.rtnl!;
    const t0 = performance.now();
    this.underlay = await findUnderlay(rtnl, this.o.nodeIP, this.o.iface);
    let vxlan: number | undefined;
    if (this.mode === 'vxlan') {
      vxlan = await ensureVxlan(rtnl, {
        name: this.o.device, vni: this.o.vni, port: this.o.port, local: this.o.nodeIP, underlay: this.underlay.index,
        mtu: this.podMtu(), mac: this.o.vtepMAC, address: vtepIP(this.o.podCIDR),
      }, this.log);
    } else {
      // A vxlan device left from an earlier vxlan-mode run would hold stale entries.
      const old = await rtnl.link(this.o.device);
      if (old?.kind === 'vxlan') {
        await rtnl.deleteLink(old.index);
        this.log.info({ device: this.o.device }, 'overlay: removed vxlan device left from vxlan mode');
      }
    }
    if (!this.peers) return;
    const want = desiredState(this.mode, this.self(), this.peers, { vxlan, underlay: this.underlay.index, underlayCidrs: this.underlay.cidrs });
    const skipped = JSON.stringify(want.skipped);
    if (skipped !== this.lastSkipped) for (const s of want.skipped) this.log.warn(s, 'overlay: peer skipped');
    this.lastSkipped = skipped;
    const plan = planChanges(want, await observe(rtnl, vxlan));
    if (isEmptyPlan(plan)) return;
    const applied = await applyPlan(rtnl, plan, this.log);
    this.log.info({ applied, peers: this.peers.length, ms: Math.round(performance.now() - t0) }, 'overlay: synced');
  }
}

/**
 * Deletes our routes (found by their protocol) and the vxlan device: what an overlay
 * leaves in the kernel. Needs no node facts, so `kna cleanup` can call it. Returns
 * how many objects went.
 */
export async function removeOverlayState(device = DEFAULT_DEVICE): Promise<number> {
  const rtnl = Rtnl.open();
  try {
    let n = 0;
    for (const r of await rtnl.routes({ table: MAIN_TABLE, protocol: RTPROT_KNA })) { await rtnl.deleteRoute(r); n++; }
    const dev = await rtnl.link(checkIfname(device, 'device'));
    if (dev?.kind === 'vxlan') { await rtnl.deleteLink(dev.index); n++; }
    return n;
  } finally {
    rtnl.close();
  }
}
