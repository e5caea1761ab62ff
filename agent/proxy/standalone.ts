// Standalone mode's Service source: Services and EndpointSlices from the manifest
// folder, clusterIPs allocated for Services without one, and EndpointSlices computed
// from this node's pods (there is no EndpointSlice controller). Recomputed whenever
// the folder or a pod's status changes; the proxier batches the syncs.
import type { Logger } from '../util/log.js';
import type { V1Pod, V1Service } from './api.js';
import type { ClusterIPAllocator } from './cluster-ip.js';
import { endpointSlicesForServices } from './endpoints-from-pods.js';
import type { Proxier } from './proxier.js';

export interface StandaloneInputs {
  /** Service and EndpointSlice objects as written in the folder. */
  services(): unknown[];
  endpointSlices(): unknown[];
  /** This node's pods with their current status. */
  pods(): unknown[];
}

export class StandaloneServices {
  private pending: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly inputs: StandaloneInputs,
    private readonly allocator: ClusterIPAllocator,
    private readonly proxier: Proxier,
    private readonly log: Logger,
  ) {}

  /** Coalesces bursts (a folder rescan, many pods turning ready) into one recomputation. */
  changed(): void {
    if (this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      this.running = this.recompute().catch((err: Error) => this.log.error({ err: err.message }, 'computing Services and endpoints failed'));
    }, 20);
  }

  async recompute(): Promise<void> {
    const services = await this.allocator.assign(this.inputs.services() as V1Service[]);
    const computed = endpointSlicesForServices(services, this.inputs.pods() as V1Pod[]);
    this.proxier.setState(services, [...this.inputs.endpointSlices(), ...computed]);
  }

  async stop(): Promise<void> {
    clearTimeout(this.pending);
    await this.running;
  }
}
