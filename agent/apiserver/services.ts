// Services and EndpointSlices from the API server for the proxy, as kube-proxy's
// informers feed it: list + watch of both collections (resume on resourceVersion,
// relist on 410, back-off on errors: watch.ts), each event handed to the proxier.
// The proxier starts syncing only once both first lists arrived, so a starting
// node never programs a partial set and never wipes rules that are still right.
// In a cluster the EndpointSlice controller computes endpoints and the API server
// allocates clusterIPs: none of standalone mode's computation runs here.
import type { Logger } from 'pino';
import type { Proxier } from '../proxy/proxier.js';
import { errorMessage } from '../util/errors.js';
import type { KubeObject } from './client.js';
import type { Informer, InformerEvent, WatchListOptions } from './watch.js';

/** What this feeds (the Proxier has it). */
export type ProxySink = Pick<Proxier, 'onServiceUpdate' | 'onServiceDelete' | 'onEndpointSliceUpdate' | 'onEndpointSliceDelete' | 'start'>;

/** What this needs of the control plane (ControlPlane has it). */
export interface ServiceApi {
  watchList<T extends KubeObject>(path: string, onEvent: (ev: InformerEvent<T>) => void | Promise<void>, opts?: WatchListOptions): Informer<T>;
}

export const SERVICES_PATH = '/api/v1/services';
export const ENDPOINTSLICES_PATH = '/apis/discovery.k8s.io/v1/endpointslices';

/**
 * kube-proxy's selector for both: objects another proxy implementation owns
 * (service.kubernetes.io/service-proxy-name) and headless Services are not ours.
 */
export const PROXY_LABEL_SELECTOR = '!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless';

export interface ApiServicesOptions {
  log: Logger;
  /** informer options (back-off, watch timeout), for tests */
  watch?: Omit<WatchListOptions, 'labelSelector' | 'fieldSelector' | 'log'>;
}

export class ApiServices {
  private services: Informer<KubeObject> | undefined;
  private slices: Informer<KubeObject> | undefined;
  private stopped = false;
  private started: Promise<void> | undefined;

  constructor(private readonly api: ServiceApi, private readonly proxier: ProxySink, private readonly o: ApiServicesOptions) {}

  /**
   * Starts both watches; the proxier starts once both lists are in. Returns at once:
   * an unreachable API server leaves the proxy unstarted (its healthz says so) and
   * whatever rules the kernel holds from before in place.
   */
  start(): void {
    const opts = { ...this.o.watch, labelSelector: PROXY_LABEL_SELECTOR };
    this.services = this.api.watchList<KubeObject>(SERVICES_PATH, (ev) => this.onService(ev), opts);
    this.slices = this.api.watchList<KubeObject>(ENDPOINTSLICES_PATH, (ev) => this.onSlice(ev), opts);
    const services = this.services;
    const slices = this.slices;
    this.started = Promise.all([services.synced(), slices.synced()]).then(async () => {
      if (this.stopped) return;
      this.o.log.info({ services: services.store.size, endpointSlices: slices.store.size }, 'Services and EndpointSlices listed from the API server; starting the proxy');
      await this.proxier.start();
    }).catch((err: unknown) => this.o.log.error({ err: errorMessage(err) }, 'starting the proxy failed'));
  }

  /** Resolves once the proxier started (both lists arrived); never when the API server stays away. */
  get ready(): Promise<void> {
    return this.started ?? Promise.resolve();
  }

  /** Ends the watches; the proxier (and its rules) are the caller's to stop. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([this.services?.stop(), this.slices?.stop()]);
  }

  private onService(ev: InformerEvent<KubeObject>): void {
    if (ev.type === 'DELETED') this.proxier.onServiceDelete(ev.object);
    else this.proxier.onServiceUpdate(ev.object);
  }

  private onSlice(ev: InformerEvent<KubeObject>): void {
    if (ev.type === 'DELETED') this.proxier.onEndpointSliceDelete(ev.object);
    else this.proxier.onEndpointSliceUpdate(ev.object);
  }
}
