// The agent's link to a control plane (`kna run --kubeconfig`, or after `kna join`):
// one API client, the Node registration and status, the Lease heartbeat and
// client certificate rotation. The pod and proxy parts use `client` and
// `watchList` for their own watches.
import type { Logger } from 'pino';
import { VERSION } from '../version.js';
import { ApiClient, type KubeObject } from './client.js';
import { loadKubeconfig } from './kubeconfig.js';
import { LeaseRenewer } from './lease.js';
import { NodeStatusReporter, type NodeReporterOptions } from './node.js';
import { kubeletVersionString } from './node-status.js';
import { CertificateRotator } from './rotation.js';
import { watchList, type Informer, type InformerEvent, type WatchListOptions } from './watch.js';

export interface ControlPlaneOptions {
  kubeconfig: string;
  /** node registration: nodeName, rootDir, health callback, containerRuntimeVersion, reserved resources, taints... */
  node: Omit<NodeReporterOptions, 'log' | 'kubeletVersion'> & { kubeletVersion?: string };
  leaseDurationSeconds?: number;
  leaseRenewIntervalMs?: number;
  /** rotate the client certificate before it expires (default: on when it is a file) */
  rotateCertificates?: boolean;
  /** CSR wait during rotation */
  csrTimeoutMs?: number;
  log: Logger;
}

export class ControlPlane {
  readonly nodeStatus: NodeStatusReporter;
  readonly lease: LeaseRenewer;
  readonly rotator: CertificateRotator | undefined;
  private readonly informers = new Set<Informer<KubeObject>>();

  private constructor(readonly client: ApiClient, private readonly o: ControlPlaneOptions) {
    const log = o.log;
    this.nodeStatus = new NodeStatusReporter(client, { kubeletVersion: kubeletVersionString(VERSION), ...o.node, log });
    this.lease = new LeaseRenewer(client, {
      nodeName: o.node.nodeName,
      ...(o.leaseDurationSeconds ? { leaseDurationSeconds: o.leaseDurationSeconds } : {}),
      ...(o.leaseRenewIntervalMs ? { renewIntervalMs: o.leaseRenewIntervalMs } : {}),
      nodeUid: () => this.nodeStatus.node?.metadata.uid,
      log,
    });
    this.rotator = o.rotateCertificates === false ? undefined : new CertificateRotator(client, { nodeName: o.node.nodeName, log, ...(o.csrTimeoutMs ? { csrTimeoutMs: o.csrTimeoutMs } : {}) });
  }

  /** Reads the kubeconfig (files and all); throws KubeconfigError naming what is wrong. */
  static async connect(o: ControlPlaneOptions): Promise<ControlPlane> {
    const access = await loadKubeconfig(o.kubeconfig);
    return new ControlPlane(new ApiClient(access, { userAgent: `kna/${VERSION}`, timeoutMs: 30_000 }), o);
  }

  /**
   * Starts registration, status, lease and rotation in the background and returns
   * at once: an unreachable API server must not stop the node's static pods. Await
   * `nodeStatus.registered` to know the Node exists.
   */
  start(): void {
    this.nodeStatus.start();
    // kubelet starts its lease once it has tried to register; the ownerReference follows when the uid is known.
    void this.nodeStatus.registered.then(() => this.lease.start());
    this.rotator?.start();
  }

  /** Informer-style list+watch on this client, stopped with the control plane. */
  watchList<T extends KubeObject>(path: string, onEvent: (ev: InformerEvent<T>) => void | Promise<void>, opts: WatchListOptions = {}): Informer<T> {
    const inf = watchList<T>(this.client, path, onEvent, { log: this.o.log, ...opts });
    this.informers.add(inf as unknown as Informer<KubeObject>);
    return inf;
  }

  async stop(): Promise<void> {
    await Promise.all([this.nodeStatus.stop(), this.lease.stop(), this.rotator?.stop(), ...[...this.informers].map((i) => i.stop())]);
    this.client.close();
  }
}
