// The objects of the manifest folder by kind, namespace and name: pods for the pod
// manager, ConfigMaps and Secrets for volumes and env, Services and EndpointSlices for
// the proxy. Replaced whole on each folder scan.
import type { ConfigMap, Pod, RawObject, Secret } from './api-types.js';
import type { ManifestObject } from './manifest/reader.js';

const key = (ns: string, name: string) => `${ns}/${name}`;

export class ObjectStore {
  private podList: Pod[] = [];
  private configMaps = new Map<string, ConfigMap>();
  private secrets = new Map<string, Secret>();
  private serviceList: RawObject[] = [];
  private sliceList: RawObject[] = [];

  replace(objects: ManifestObject[]): void {
    this.podList = [];
    this.configMaps = new Map();
    this.secrets = new Map();
    this.serviceList = [];
    this.sliceList = [];
    for (const o of objects) {
      switch (o.kind) {
        case 'Pod': this.podList.push(o.pod); break;
        case 'ConfigMap': this.configMaps.set(key(o.configMap.metadata.namespace, o.configMap.metadata.name), o.configMap); break;
        case 'Secret': this.secrets.set(key(o.secret.metadata.namespace, o.secret.metadata.name), o.secret); break;
        case 'Service': this.serviceList.push(o.service); break;
        case 'EndpointSlice': this.sliceList.push(o.endpointSlice); break;
      }
    }
  }

  pods(): Pod[] { return this.podList; }
  services(): RawObject[] { return this.serviceList; }
  endpointSlices(): RawObject[] { return this.sliceList; }

  /** Services and EndpointSlices as the proxy reads them: the manifest with its defaulted namespace. */
  proxyObjects(kind: 'Service' | 'EndpointSlice'): unknown[] {
    return (kind === 'Service' ? this.serviceList : this.sliceList).map((o) => {
      const raw = o.raw as { metadata?: object };
      return { ...raw, metadata: { ...(raw.metadata ?? {}), namespace: o.metadata.namespace, name: o.metadata.name } };
    });
  }

  configMap(ns: string, name: string): ConfigMap | undefined {
    return this.configMaps.get(key(ns, name));
  }

  secret(ns: string, name: string): Secret | undefined {
    return this.secrets.get(key(ns, name));
  }

  /** The ConfigMaps of one namespace by name (env resolution takes them this way). */
  configMapsIn(ns: string): Map<string, ConfigMap> {
    return new Map([...this.configMaps.values()].filter((c) => c.metadata.namespace === ns).map((c) => [c.metadata.name, c]));
  }

  secretsIn(ns: string): Map<string, Secret> {
    return new Map([...this.secrets.values()].filter((s) => s.metadata.namespace === ns).map((s) => [s.metadata.name, s]));
  }
}
