// The pod network's side of the control plane, as flannel's kube subnet manager does
// it, from one list + watch of the Nodes:
//  - this node's pod CIDR is its Node's spec.podCIDR (the controller manager's node
//    IPAM assigns it) unless --pod-cidr is given: the network comes up once it is
//    there, and the Node reports NetworkReady=false until then;
//  - the overlay's data (network/node-annotations.ts) is published on this node's
//    Node, patched only when it differs, and again when someone removed it;
//  - every other Node carrying that data and a pod CIDR becomes an overlay peer, fed
//    into the same reconciliation as the peers file; a deleted Node's peer goes. As
//    in flannel, a peer whose Node merely lost the data (annotations removed, the
//    node re-publishing) keeps its last entry, so traffic to it does not flap; data
//    that is wrong, or another backend, drops it.
import type { Logger } from 'pino';
import { annotationsToPublish, backendAnnotations, nodePodCIDR, peerFromNode, type NodeLike } from '../network/node-annotations.js';
import { parseCidr } from '../network/netlink/codec.js';
import type { NodeOverlay } from '../network/start.js';
import type { PeerInfo } from '../network/peers.js';
import { errorMessage } from '../util/errors.js';
import { resourcePath, type ApiClient, type KubeObject } from './client.js';
import { ApiError } from './errors.js';
import type { Informer, InformerEvent, WatchListOptions } from './watch.js';

/** What this drives of the node's pod network (network/start.ts NodeNetwork has it). */
export interface NetworkHandle {
  readonly overlay: Pick<NodeOverlay, 'mode' | 'vni' | 'self' | 'setNodePeers'> | undefined;
  /** the pod CIDR the network runs with, once it is up */
  readonly podCIDR: string | undefined;
  start(podCIDR: string): Promise<void>;
  ready(): boolean;
}

/** What this needs of the control plane (ControlPlane has it). */
export interface NodeNetworkApi {
  client: Pick<ApiClient, 'patch'>;
  watchList<T extends KubeObject>(path: string, onEvent: (ev: InformerEvent<T>) => void | Promise<void>, opts?: WatchListOptions): Informer<T>;
}

export interface ApiNodeNetworkOptions {
  nodeName: string;
  /** --overlay is not none: all Nodes are watched (else only this node's) */
  overlay: boolean;
  /** --pod-cidr when given: it is used even where the Node's spec.podCIDR differs (with a warning) */
  podCIDRFlag?: string;
  /** --cluster-cidr: peers' pod CIDRs must lie inside it */
  clusterCIDR?: string;
  log: Logger;
  /** wait before retrying a failed network start or annotation patch (default 5 s) */
  retryMs?: number;
}

type NodeObj = KubeObject & NodeLike;

export class ApiNodeNetwork {
  private informer: Informer<NodeObj> | undefined;
  /** this node's Node as last seen */
  private self: NodeObj | undefined;
  private synced = false;
  private bringingUp = false;
  private startError: string | undefined;
  private patching = false;
  private recheck = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  /** peer name -> why it is skipped, as last logged */
  private readonly skipped = new Map<string, string>();
  /** peer name -> its last valid entry */
  private readonly lastGood = new Map<string, PeerInfo>();
  private warnedCIDR = '';
  /** the peer list last handed to the overlay (a Node's status updates leave it unchanged) */
  private lastPeers: string | undefined;
  private stopped = false;

  constructor(private readonly api: NodeNetworkApi, private readonly network: NetworkHandle, private readonly o: ApiNodeNetworkOptions) {}

  start(): void {
    if (!this.network.ready() && !this.o.podCIDRFlag) {
      this.o.log.info({ node: this.o.nodeName }, 'pod network: waiting for the Node\'s spec.podCIDR (assigned by the controller manager\'s node IPAM, --allocate-node-cidrs); give --pod-cidr to set it here');
    }
    this.informer = this.api.watchList<NodeObj>('/api/v1/nodes', (ev) => this.onEvent(ev), this.o.overlay ? {} : { fieldSelector: `metadata.name=${this.o.nodeName}` });
    void this.informer.synced().then(() => {
      this.synced = true;
      this.pushPeers();
    });
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
  }

  /** Why the pod network is not ready yet, for the Node's Ready condition; undefined when it is. */
  problem(): string | undefined {
    if (this.network.ready()) return undefined;
    if (this.startError) return `pod network failed to start: ${this.startError}`;
    return this.o.podCIDRFlag ? 'pod network not started' : 'pod network not ready: waiting for the Node\'s spec.podCIDR';
  }

  private onEvent(ev: InformerEvent<NodeObj>): void {
    if (ev.object.metadata.name === this.o.nodeName) {
      this.self = ev.type === 'DELETED' ? undefined : ev.object;
      if (this.self) this.onSelf(this.self);
      return;
    }
    if (ev.type === 'DELETED' && this.lastGood.has(ev.object.metadata.name)) this.o.log.info({ node: ev.object.metadata.name }, 'overlay: Node deleted; removing its peer');
    if (ev.type === 'DELETED') {
      this.skipped.delete(ev.object.metadata.name);
      this.lastGood.delete(ev.object.metadata.name);
    }
    this.pushPeers();
  }

  private onSelf(node: NodeObj): void {
    const cidr = nodePodCIDR(node);
    if (!this.network.ready()) {
      if (cidr && !this.o.podCIDRFlag) this.bringUp(cidr);
    } else if (cidr && cidr !== this.network.podCIDR && cidr !== this.warnedCIDR) {
      this.warnedCIDR = cidr;
      this.o.log.warn({ nodePodCIDR: cidr, podCIDR: this.network.podCIDR },
        this.o.podCIDRFlag
          ? 'the Node\'s spec.podCIDR differs from --pod-cidr; using --pod-cidr, but other nodes route the Node\'s spec.podCIDR here: make them agree'
          : 'the Node\'s spec.podCIDR changed; pods keep the pod CIDR in use until the agent restarts');
    }
    this.publish();
  }

  /** Starts the network for the Node's pod CIDR; a failure is logged and retried. */
  private bringUp(cidr: string): void {
    if (this.bringingUp || this.stopped) return;
    try {
      parseCidr(cidr, 'spec.podCIDR');
    } catch (err) {
      if (this.startError !== errorMessage(err)) this.o.log.error({ err: errorMessage(err) }, 'pod network: the Node\'s spec.podCIDR is not usable');
      this.startError = errorMessage(err);
      return;
    }
    this.bringingUp = true;
    this.o.log.info({ podCIDR: cidr }, 'pod network: using the Node\'s spec.podCIDR');
    this.network.start(cidr).then(() => {
      this.startError = undefined;
      this.o.log.info({ podCIDR: cidr }, 'pod network: ready (CNI config written)');
      this.publish();
      this.pushPeers();
    }, (err: unknown) => {
      this.startError = errorMessage(err);
      const retryMs = this.o.retryMs ?? 5000;
      this.o.log.error({ err: this.startError, retryInMs: retryMs }, 'pod network: start failed');
      this.later(retryMs, () => {
        this.bringingUp = false;
        const again = nodePodCIDR(this.self);
        if (again) this.bringUp(again);
      });
    });
  }

  /** Patches the overlay's annotations onto this node's Node when they differ from what it carries. */
  private publish(): void {
    const ov = this.network.overlay;
    if (!ov || !this.self || this.stopped) return;
    if (this.patching) {
      this.recheck = true;
      return;
    }
    const patch = annotationsToPublish(this.self, backendAnnotations(ov.mode, ov.self, ov.vni));
    if (!patch) return;
    this.patching = true;
    this.recheck = false;
    this.api.client.patch(resourcePath({ resource: 'nodes', name: this.o.nodeName }), { metadata: { annotations: patch } }, 'merge').then(() => {
      this.o.log.info({ annotations: patch }, 'overlay: published this node\'s backend data on its Node');
    }, (err: unknown) => {
      // A deleted Node is registered again by the status loop; its ADDED event brings us back.
      if (err instanceof ApiError && err.isNotFound) return;
      this.o.log.warn({ err: errorMessage(err) }, 'overlay: annotating the Node failed; retrying');
      this.later(this.o.retryMs ?? 5000, () => this.publish());
    }).finally(() => {
      this.patching = false;
      if (this.recheck) this.publish();
    });
  }

  /** The other Nodes as peers (once listed, and once the overlay runs); skipped ones logged once per reason. */
  private pushPeers(): void {
    const ov = this.network.overlay;
    if (!ov || !this.synced || !this.informer || this.stopped) return;
    const peers: PeerInfo[] = [];
    const seen = new Set<string>();
    for (const node of this.informer.store.values()) {
      const name = node.metadata.name;
      if (name === this.o.nodeName) continue;
      seen.add(name);
      const r = peerFromNode(node, { mode: ov.mode, vni: ov.vni, ...(this.o.clusterCIDR ? { clusterCIDR: this.o.clusterCIDR } : {}) });
      if ('peer' in r) {
        if (this.skipped.delete(name)) this.o.log.info({ node: name }, 'overlay: Node is a peer now');
        this.lastGood.set(name, r.peer);
        peers.push(r.peer);
        continue;
      }
      const kept = r.missing ? this.lastGood.get(name) : undefined;
      if (kept) peers.push(kept);
      else this.lastGood.delete(name);
      if (this.skipped.get(name) === r.skip) continue;
      this.skipped.set(name, r.skip);
      if (kept) this.o.log.warn({ node: name, reason: r.skip }, 'overlay: Node lost its overlay data; keeping its last peer entry until it is back or the Node is deleted');
      // Data not there yet is normal (a control-plane node without the agent); wrong data is not.
      else this.o.log[r.missing ? 'info' : 'warn']({ node: name, reason: r.skip }, 'overlay: Node skipped as a peer');
    }
    for (const name of this.skipped.keys()) if (!seen.has(name)) this.skipped.delete(name);
    for (const name of this.lastGood.keys()) if (!seen.has(name)) this.lastGood.delete(name);
    peers.sort((a, b) => (a.name < b.name ? -1 : 1));
    const text = JSON.stringify(peers);
    if (text === this.lastPeers) return;
    this.lastPeers = text;
    ov.setNodePeers(peers);
  }


  private later(ms: number, fn: () => void): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.stopped) fn();
    }, ms);
    t.unref();
    this.timers.add(t);
  }
}
