// `kna run`: wires the parts together. Each part owns its own loop; this file only
// starts them in order, connects their inputs and outputs, and stops them on a signal.
import { mkdir } from 'node:fs/promises';
import type { Server } from 'node:http';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { ClusterLink, JoinFlags } from './apiserver/start.js';
import { readHostFacts } from './apiserver/host.js';
import { admissionNodeOf } from './apiserver/node-status.js';
import { nodeFlags, type AgentConfig } from './config.js';
import { CriClient } from './cri/client.js';
import { runtimeOperationMetrics } from './cri/metrics.js';
import { NodeNetwork } from './network/start.js';
import { Backoff } from './pods/backoff.js';
import { LogEvents, recordProbeEvent } from './pods/events.js';
import { ImageManager } from './pods/images.js';
import type { Pod } from './pods/api-types.js';
import { PodManager, podMetrics } from './pods/manager.js';
import { nodeFacts } from './pods/node-info.js';
import { ObjectStore } from './pods/object-store.js';
import { Relister } from './pods/pleg.js';
import { ProbeManager } from './pods/probes/index.js';
import { ManifestSource } from './pods/source.js';
import { ClusterIPAllocator } from './proxy/cluster-ip.js';
import { formatExplanation } from './proxy/proxier.js';
import { StandaloneServices } from './proxy/standalone.js';
import { cleanupOtherModes, createProxier } from './proxy/start.js';
import { serveHealthz, serveMetrics } from './server/http.js';
import { serveLocalApi } from './server/local-api.js';
import { HeapTrimmer } from './util/heap-trim.js';
import { errorMessage } from './util/errors.js';
import { createLogger, setLogger } from './util/log.js';
import { VERSION } from './version.js';

/** `join`: bootstrap credentials first (`kna join`), then run with them. */
export async function runAgent(cfg: AgentConfig, opts: { join?: JoinFlags } = {}): Promise<void> {
  // What `ps` shows (and it hides a join token passed on the command line).
  process.title = `kna run --node-name ${cfg.nodeName}`;
  const log = createLogger(cfg.logFormat, cfg.logLevel);
  setLogger(log);
  log.info({ version: VERSION, node: cfg.nodeName, manifests: cfg.manifests, proxyMode: cfg.proxyMode, overlay: cfg.overlay }, 'starting kna');
  // Loaded only with a control plane: standalone starts without it.
  const controlPlane = cfg.kubeconfig || opts.join ? await import('./apiserver/start.js') : undefined;
  if (opts.join) cfg = { ...cfg, kubeconfig: await controlPlane!.joinFromFlags(opts.join, cfg, log) };
  await mkdir(cfg.rootDir, { recursive: true, mode: 0o700 });

  const heap = new HeapTrimmer(log);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // The pod network (overlay, then kna-cni's conflist with its MTU). A joined node without
  // --pod-cidr brings it up once its Node has a spec.podCIDR (apiserver/node-network.ts).
  const network = new NodeNetwork(cfg, log, { joined: Boolean(cfg.kubeconfig) });
  if (!cfg.kubeconfig || cfg.podCIDRSet) await network.start(cfg.podCIDR);

  const cri = CriClient.connect(cfg.containerRuntimeEndpoint, { onCall: runtimeOperationMetrics(registry) });
  const node = await nodeFacts(cfg);
  const relister = new Relister(cri, cfg.nodeName);
  // Admission never judges the pods that already run (adopted after a restart) again: know them before the first desired set.
  await relister.relist().catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'first relist failed (container runtime unreachable?)'));
  // Admission checks new pods against the node as its Node object has it: allocatable from the host
  // less --kube-reserved/--system-reserved, --max-pods, --node-labels, --register-with-taints.
  const localNode = admissionNodeOf(await readHostFacts(cfg.rootDir), { nodeName: cfg.nodeName, ...nodeFlags(cfg) });
  const objects = new ObjectStore();
  const probes = new ProbeManager({ execSync: (id, cmd, t) => cri.execSync(id, cmd, t), log });
  const proxier = createProxier(cfg, registry, log);
  // A mode this kernel cannot do stops the start here, naming the missing kernel option.
  await proxier?.preflight();
  if (proxier) await cleanupOtherModes(proxier.mode, log);
  let services: StandaloneServices | undefined;
  let cluster: ClusterLink | undefined;
  // kubelet's Events: in the log (debug) and, when joined, in the API server.
  const events = new LogEvents(log, () => cluster?.events);
  const manager = new PodManager(cri, relister, {
    // Static pods read the manifest folder's ConfigMaps and Secrets; API pods the API server's.
    images: new ImageManager(cri), node, inputs: (pod) => cluster?.podInputs(pod) ?? { objects }, probes, backoff: new Backoff(), events, log,
  }, podMetrics(registry), log, {
    onPodsChanged: () => { services?.changed(); cluster?.podsChanged(); heap.activity(); },
    admission: () => cluster?.admissionNode(localNode) ?? localNode,
  });
  probes.on('result', (ev: { podUid: string }) => manager.wakePod(ev.podUid));
  probes.on('probe', (ev) => recordProbeEvent(events, ev));
  // With a control plane, Services and EndpointSlices come from the API (apiserver/services.ts):
  // the API server allocates clusterIPs and the EndpointSlice controller computes endpoints.
  if (proxier && !cfg.kubeconfig) {
    const allocator = await ClusterIPAllocator.open(cfg.rootDir, cfg.serviceClusterIPRange);
    services = new StandaloneServices({
      services: () => objects.proxyObjects('Service'),
      endpointSlices: () => objects.proxyObjects('EndpointSlice'),
      pods: () => manager.listPods(),
    }, allocator, proxier, log);
  }

  // With a control plane, the pods bound to this node in the API run alongside the static ones.
  if (controlPlane && cfg.kubeconfig) cluster = await controlPlane.connectCluster({ cfg: { ...cfg, kubeconfig: cfg.kubeconfig }, cri, manager, registry, network, ...(proxier ? { proxier } : {}), log });
  const setStaticPods = (pods: Pod[]) => (cluster ? cluster.setStaticPods(pods) : manager.setDesired(pods));

  const source = cfg.manifests ? new ManifestSource(cfg.manifests, cfg.nodeName, log) : undefined;
  let warnedServices = false;
  source?.on('update', (state) => {
    objects.replace(state.objects);
    if (cluster && !warnedServices && objects.services().length + objects.endpointSlices().length > 0) {
      warnedServices = true;
      log.warn({ manifests: cfg.manifests }, 'Service and EndpointSlice manifests are ignored with a control plane: create them in the API');
    }
    setStaticPods(objects.pods());
    services?.changed();
  });
  await source?.start();
  if (!source) setStaticPods([]);
  manager.start();
  if (services) await manager.initialSync();
  await services?.recompute();
  // With a control plane the proxy starts once the API's Services and EndpointSlices are listed.
  if (!cluster) await proxier?.start();

  const servers: Server[] = [
    await serveLocalApi(manager, cfg.rootDir, {
      explainService: (ns, name) => {
        const e = proxier?.explain(ns, name);
        return e ? formatExplanation(e) : undefined;
      },
    }),
    await serveHealthz(cfg.healthzBindAddress, {
      pods: () => manager.healthy(),
      ...(proxier ? { proxy: () => { const h = proxier.healthz(); return { healthy: h.healthy, message: h.healthy ? 'ok' : `rules not synced since ${h.lastSync?.toISOString() ?? 'start'}` }; } } : {}),
    }),
    await serveMetrics(cfg.metricsBindAddress, registry),
  ];
  log.info({ healthz: cfg.healthzBindAddress, metrics: cfg.metricsBindAddress }, 'kna is running');
  heap.activity(); // start-up leaves garbage too

  await new Promise<void>((resolve) => {
    const stop = (sig: string) => { log.info({ signal: sig }, 'stopping (pods keep running)'); resolve(); };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  heap.stop();
  source?.stop();
  await cluster?.stop();
  await services?.stop();
  await proxier?.stop(); // rules stay, as kube-proxy leaves them: traffic keeps flowing
  await network.stop(); // so do the overlay's device and routes
  await manager.stop();
  probes.stop();
  cri.close();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
}
