// The agent's control-plane mode in one place, so agent.ts only calls it:
// `kna join` bootstraps credentials first; then the Node, its Lease and the
// pods bound to this node come and go through the API server, with the node's
// health taken from the container runtime and the pod manager; the proxy gets
// its Services and EndpointSlices from there too.
import { hostname } from 'node:os';
import { join } from 'node:path';
import ipaddr from 'ipaddr.js';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { nodeFlags, type AgentConfig } from '../config.js';
import type { CriClient } from '../cri/client.js';
import { isApiPod } from '../pods/api-pod.js';
import type { AdmissionNode } from '../pods/admission.js';
import type { Pod } from '../pods/api-types.js';
import type { PodManager } from '../pods/manager.js';
import type { PodInputs } from '../pods/worker.js';
import type { PodEvents } from '../pods/events.js';
import { mirrorPodName } from '../pods/manifest/schema.js';
import { hostAddresses } from '../pods/node-info.js';
import { KubeletApiServer } from '../server/kubelet-api.js';
import { KubeletAuth } from '../server/kubelet-auth.js';
import { ServingCertificate } from '../server/serving-cert.js';
import { statsSummary } from '../server/stats.js';
import { errorMessage } from '../util/errors.js';
import { ControlPlane } from './control-plane.js';
import { ApiEvents } from './events.js';
import { joinCluster } from './join.js';
import { admissionNodeFromObject, type NodeHealth } from './node-status.js';
import type { KubeObject } from './client.js';
import { MirrorPods } from './mirror-pods.js';
import { ApiObjectCache, DEFAULT_OBJECT_TTL_MS, objectTTLFromNode } from './objects.js';
import { ApiPods } from './pods.js';
import { ApiNodeNetwork, type NetworkHandle } from './node-network.js';
import { ApiServices, type ProxySink } from './services.js';
import { ServiceAccountTokens } from './tokens.js';

/** `kna join`'s own flags. */
export interface JoinFlags {
  server: string;
  token: string;
  caCertHashes: string[];
  unsafeSkipCAVerification?: boolean;
}

/** Discovery + TLS bootstrap (skipped when valid credentials exist); returns the kubeconfig to run with. */
export async function joinFromFlags(join: JoinFlags, cfg: Pick<AgentConfig, 'nodeName' | 'rootDir' | 'kubeconfig'>, log: Logger): Promise<string> {
  if (cfg.kubeconfig) throw new Error('--kubeconfig: kna join writes its own kubeconfig under --root-dir; use kna run --kubeconfig for an already joined node');
  const r = await joinCluster({ ...join, nodeName: cfg.nodeName, rootDir: cfg.rootDir, log });
  return r.kubeconfigPath;
}

export interface ClusterLink {
  /** the static pods (manifest folder), which run alongside the API's */
  setStaticPods(pods: Pod[]): void;
  /** the pod manager's statuses changed */
  podsChanged(): void;
  /** ConfigMaps, Secrets and service-account tokens of an API pod, from the API server; undefined for static pods */
  podInputs(pod: Pod): PodInputs | undefined;
  /** The node as admission sees it: the Node in the API once seen (labels and taints added there count), else `local`. */
  admissionNode(local: AdmissionNode): AdmissionNode;
  /** kubelet's Events about the pods, recorded in the API server */
  events: PodEvents;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  cfg: Pick<AgentConfig, 'nodeName' | 'rootDir' | 'kubeletAddress' | 'kubeletPort' | 'nodeIP' | 'overlay' | 'podCIDR' | 'podCIDRSet' | 'clusterCIDR'
    | 'kubeReserved' | 'systemReserved' | 'registerWithTaints' | 'nodeLabels' | 'maxPods'> & { kubeconfig: string };
  cri: CriClient;
  manager: PodManager;
  /** served on the kubelet API's /metrics */
  registry: Registry;
  /** the Service proxy, fed from the API's Services and EndpointSlices and started once they are listed */
  proxier?: ProxySink;
  /** the pod network: brought up with the Node's spec.podCIDR (without --pod-cidr); the overlay's Node annotations and peers */
  network?: NetworkHandle;
  log: Logger;
}

/** Connects to the API server and starts Node, Lease, rotation and the pod watch; returns at once. */
export async function connectCluster(o: ClusterOptions): Promise<ClusterLink> {
  const v = await o.cri.version().catch(() => undefined);
  const cp = await ControlPlane.connect({
    kubeconfig: o.cfg.kubeconfig,
    node: {
      nodeName: o.cfg.nodeName,
      rootDir: o.cfg.rootDir,
      containerRuntimeVersion: v ? `${v.runtimeName}://${v.runtimeVersion}` : 'unknown://unknown',
      health: () => nodeHealth(o.cri, o.manager, network),
      // where the API server reaches the kubelet API (daemonEndpoints)
      ...(o.cfg.kubeletPort > 0 ? { kubeletPort: o.cfg.kubeletPort } : {}),
      // --node-ip is the address the API server uses for logs/exec (else the first host address)
      ...(o.cfg.nodeIP ? { nodeIPs: [o.cfg.nodeIP] } : {}),
      // --kube-reserved, --system-reserved, --max-pods, --node-labels, --register-with-taints
      ...nodeFlags(o.cfg),
    },
    log: o.log,
  });
  // Before cp.start(): the Node's health reads it. The pod CIDR from the Node, the overlay's annotations and peers.
  const network = o.network ? new ApiNodeNetwork(cp, o.network, {
    nodeName: o.cfg.nodeName, overlay: o.cfg.overlay !== 'none', log: o.log,
    ...(o.cfg.podCIDRSet ? { podCIDRFlag: o.cfg.podCIDR } : {}), ...(o.cfg.clusterCIDR ? { clusterCIDR: o.cfg.clusterCIDR } : {}),
  }) : undefined;
  network?.start();
  cp.start();
  // Our own Node, as kubelet watches it: the TTL controller's annotation sets how long ConfigMaps and Secrets are cached.
  // Its uid is the owner of the static pods' mirrors.
  const self = cp.watchList<KubeObject>('/api/v1/nodes', () => mirrors.changed(), { fieldSelector: `metadata.name=${o.cfg.nodeName}` });
  const objects = new ApiObjectCache({ client: cp.client, ttlMs: () => objectTTLFromNode(self.store.get(o.cfg.nodeName)) ?? DEFAULT_OBJECT_TTL_MS, log: o.log });
  const tokens = new ServiceAccountTokens({ client: cp.client, log: o.log });
  // kubelet names a static pod <name>-<node>, its mirror's name: its Events carry that name and the static pod's own UID.
  let staticUids = new Set<string>();
  const events = new ApiEvents({
    client: cp.client, nodeName: o.cfg.nodeName, registry: o.registry, log: o.log,
    objectName: (p) => (staticUids.has(p.metadata.uid) ? mirrorPodName(p.metadata.name, o.cfg.nodeName) : p.metadata.name),
  });
  const mirrors: MirrorPods = new MirrorPods({
    nodeName: o.cfg.nodeName, client: cp.client, log: o.log,
    apiPods: () => pods.apiPods(),
    nodeUid: () => self.store.get(o.cfg.nodeName)?.metadata.uid ?? cp.nodeStatus.node?.metadata.uid,
    running: () => (o.manager.listPods() as Pod[]).filter((p) => !isApiPod(p)),
  });
  const pods = new ApiPods(cp, { nodeName: o.cfg.nodeName, manager: o.manager, log: o.log, onPodsEvent: () => mirrors.changed() });
  pods.start();
  const services = o.proxier ? new ApiServices(cp, o.proxier, { log: o.log }) : undefined;
  services?.start();
  // Like the static pods, the node carries on without its kubelet API (port taken): said loudly.
  const kubelet = await startKubeletApi(cp, o).catch((err: unknown) => {
    o.log.error({ err: errorMessage(err), address: o.cfg.kubeletAddress, port: o.cfg.kubeletPort }, 'kubelet API not served (logs, exec, port-forward and stats through the API server will fail)');
    return undefined;
  });
  // Node status is recomputed every 10 s; a health change (the runtime's network coming
  // up at start, the runtime going away) is worth posting at once.
  let lastHealth = '';
  const watchHealth = setInterval(() => {
    void nodeHealth(o.cri, o.manager, network).then((h) => {
      const now = JSON.stringify(h);
      if (now !== lastHealth) cp.nodeStatus.poke();
      lastHealth = now;
    });
  }, HEALTH_CHECK_MS);
  watchHealth.unref();
  o.log.info({ server: cp.client.server, node: o.cfg.nodeName }, 'connected to the control plane');
  return {
    setStaticPods: (p) => {
      // The static pods now, and older versions still running (terminating): not every
      // UID ever seen.
      const running = (o.manager.listPods() as Pod[]).filter((x) => !isApiPod(x));
      staticUids = new Set([...p, ...running].map((x) => x.metadata.uid));
      pods.setStaticPods(p);
      mirrors.setStaticPods(p);
    },
    podsChanged: () => {
      pods.podsChanged();
      mirrors.changed();
    },
    podInputs: (pod) => (isApiPod(pod) ? { objects: objects.forPod(pod.metadata.uid), tokenProvider: tokens.provider } : undefined),
    admissionNode: (local) => {
      const n = self.store.get(o.cfg.nodeName);
      return n ? admissionNodeFromObject(n, local) : local;
    },
    events,
    stop: async () => {
      clearInterval(watchHealth);
      network?.stop();
      kubelet?.cert.stop();
      await kubelet?.server.close();
      await mirrors.stop();
      await pods.stop();
      await services?.stop();
      await events.stop();
      await cp.stop();
    },
  };
}

const HEALTH_CHECK_MS = 1000;

/**
 * The kubelet HTTPS API, with a serving certificate from the cluster (self-signed
 * until the kubelet-serving CSR is signed) and the cluster CA for client certificates.
 */
async function startKubeletApi(cp: ControlPlane, o: ClusterOptions): Promise<{ server: KubeletApiServer; cert: ServingCertificate }> {
  const caPem = cp.client.credentials.caPem;
  if (!caPem) throw new Error(`--kubeconfig ${o.cfg.kubeconfig}: the kubelet API needs the cluster CA (certificate-authority-data) to verify client certificates`);
  const bind = o.cfg.kubeletAddress;
  const ips = [...new Set([...(o.cfg.nodeIP ? [o.cfg.nodeIP] : []), ...hostAddresses(), ...(ipaddr.parse(bind).range() === 'unspecified' ? [] : [bind])])];
  const cert = new ServingCertificate({
    client: cp.client, nodeName: o.cfg.nodeName, pkiDir: join(o.cfg.rootDir, 'pki'), caPem,
    altNames: { dnsNames: [...new Set([o.cfg.nodeName, hostname().toLowerCase()])], ipAddresses: ips }, log: o.log,
  });
  await cert.start();
  const server = await KubeletApiServer.start({
    host: bind, port: o.cfg.kubeletPort, nodeName: o.cfg.nodeName, pods: o.manager, auth: new KubeletAuth(cp.client), caPem,
    certificate: cert.current, onCertificate: (fn) => cert.onChange(fn),
    stats: () => statsSummary(o.cri, o.cfg.nodeName), registry: o.registry, healthz: () => o.manager.healthy(), log: o.log,
  }).catch((err: unknown) => {
    cert.stop();
    throw err;
  });
  o.log.info({ address: bind, port: server.port }, 'kubelet API listening');
  return { server, cert };
}

/** Ready = the runtime answers and says so, our pod network is up (CNI config written), and the pod manager's relist works. */
export async function nodeHealth(cri: Pick<CriClient, 'status'>, manager: Pick<PodManager, 'healthy'>, network?: Pick<ApiNodeNetwork, 'problem'>): Promise<NodeHealth> {
  const problems: string[] = [];
  let runtimeReady = false;
  let networkReady = false;
  try {
    const st = await cri.status();
    const cond = (type: string) => st.conditions.find((c) => c.type === type);
    runtimeReady = cond('RuntimeReady')?.status === true;
    networkReady = cond('NetworkReady')?.status === true;
  } catch (err) {
    problems.push(`container runtime unreachable: ${errorMessage(err)}`);
  }
  // As kubelet without a CNI config: not ready until the conflist is written for a known pod CIDR.
  const netProblem = network?.problem();
  if (netProblem) {
    networkReady = false;
    problems.push(netProblem);
  }
  const h = manager.healthy();
  if (!h.healthy) problems.push(`pod manager: ${h.message}`);
  return { runtimeReady, networkReady, problems };
}
