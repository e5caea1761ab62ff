// The agent's configuration: flags in kubelet's spirit, optionally a YAML file using
// KubeletConfiguration field names where one exists. Flags override the file.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import ipaddr from 'ipaddr.js';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { DEFAULT_IPVS_SCHEDULER, IPVS_SCHEDULERS, type IpvsScheduler } from './proxy/ipvs/scheduler.js';
import { checkNodeLabels, checkResourceList, checkTaint, parseNodeLabels, parseResourceList, parseTaints, ResourceListError, type NodeConfig, type ResourceList, type Taint } from './apiserver/node-status.js';
import { ConfigError, errorMessage } from './util/errors.js';

export const PROXY_MODES = ['iptables', 'nftables', 'ipvs', 'none'] as const;
export const OVERLAYS = ['vxlan', 'host-gw', 'none'] as const;

export interface AgentConfig {
  nodeName: string;
  kubeconfig?: string;
  manifests?: string;
  containerRuntimeEndpoint: string;
  rootDir: string;
  podCIDR: string;
  /** --pod-cidr (or the file's podCIDR) was given; without it a joined node uses its Node's spec.podCIDR. */
  podCIDRSet?: boolean;
  clusterDNS: string[];
  clusterDomain: string;
  proxyMode: (typeof PROXY_MODES)[number];
  /** --ipvs-scheduler: the IPVS scheduler of every virtual server (--proxy-mode ipvs). */
  ipvsScheduler: IpvsScheduler;
  overlay: (typeof OVERLAYS)[number];
  /** The overlay's peers file (YAML/JSON list of nodes), watched for changes; joined, static peers besides the Nodes'. */
  peers?: string;
  /** The overlay's underlay interface; default: the one holding the node IP. */
  overlayIface?: string;
  /** This node's underlay address; default: the address of --overlay-iface, else the first host address. */
  nodeIP?: string;
  cniBinDir: string;
  cniConfDir: string;
  cniBridge: string;
  healthzBindAddress: string;
  metricsBindAddress: string;
  /** The kubelet HTTPS API (with a control plane): listen address and port, as kubelet's address/port. */
  kubeletAddress: string;
  kubeletPort: number;
  serviceClusterIPRange: string;
  clusterCIDR?: string;
  nodePortAddresses: string[];
  masqueradeAll: boolean;
  logFormat: 'json' | 'text';
  logLevel: string;
  /** --kube-reserved / --system-reserved: taken off the Node's allocatable, which admission checks pods against. */
  kubeReserved?: ResourceList;
  systemReserved?: ResourceList;
  /** --register-with-taints: the taints the Node is created with (not reconciled afterwards, as kubelet). */
  registerWithTaints?: Taint[];
  /** --node-labels: the user's labels on the Node, kept reconciled. */
  nodeLabels?: Record<string, string>;
  /** --max-pods: pods this node admits at most (the Node's pods capacity). */
  maxPods: number;
}

export const DEFAULTS: AgentConfig = {
  nodeName: hostname().toLowerCase(),
  containerRuntimeEndpoint: 'unix:///run/kna/containerd/containerd.sock',
  rootDir: '/var/lib/kna',
  podCIDR: '10.244.0.0/24',
  clusterDNS: [],
  clusterDomain: 'cluster.local',
  proxyMode: 'iptables',
  ipvsScheduler: DEFAULT_IPVS_SCHEDULER,
  overlay: 'none',
  cniBinDir: '/opt/kna/cni/bin',
  cniConfDir: '/etc/kna/cni/net.d',
  cniBridge: 'kna0',
  healthzBindAddress: '127.0.0.1:10248',
  metricsBindAddress: '127.0.0.1:10249',
  kubeletAddress: '0.0.0.0',
  kubeletPort: 10250,
  serviceClusterIPRange: '10.96.0.0/12',
  nodePortAddresses: [],
  masqueradeAll: false,
  logFormat: 'json',
  logLevel: 'info',
  maxPods: 110,
};

const cidr = z.string().refine((s) => {
  try { ipaddr.parseCIDR(s); return true; } catch { return false; }
}, 'must be a CIDR such as 10.244.0.0/24');
const ip = z.string().refine((s) => ipaddr.isValid(s), 'must be an IP address');
const hostPort = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[0-9.]+|[a-z0-9.-]+):\d{1,5}$/, 'must be HOST:PORT');
/**
 * A field given as a flag's text ("cpu=100m,memory=1Gi"; repeated flags arrive as a list
 * of such texts) or as the file's structured form, checked by node-status.ts's parsers.
 */
const nodeField = <T>(fromText: (s: string) => T, fromValue: (v: unknown) => T) => z.unknown().transform((v, ctx) => {
  try {
    if (typeof v === 'string') return fromText(v);
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return fromText(v.join(','));
    return fromValue(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: errorMessage(err) });
    return z.NEVER;
  }
});
const isMapping = (v: unknown): v is Record<string, string | number> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string' || typeof x === 'number');
const resourceList = nodeField(parseResourceList, (v) => {
  if (!isMapping(v)) throw new ResourceListError('must be a mapping of resource names to quantities (cpu: 100m)');
  return checkResourceList(v);
});
const maxPodsMessage = 'must be a whole number, 0 or more';
const dns1123 = z.string().regex(/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, 'must be a lowercase DNS-1123 subdomain');

/** Field checks shared by the file and the flags. Keys are AgentConfig names. */
const fields = z.object({
  nodeName: dns1123,
  kubeconfig: z.string().min(1),
  manifests: z.string().min(1),
  containerRuntimeEndpoint: z.string().regex(/^(unix:\/\/)?\/.+/, 'must be unix:///path/to/socket'),
  rootDir: z.string().startsWith('/', 'must be an absolute path'),
  podCIDR: cidr,
  clusterDNS: z.array(ip),
  clusterDomain: dns1123,
  proxyMode: z.enum(PROXY_MODES),
  ipvsScheduler: z.enum(IPVS_SCHEDULERS),
  overlay: z.enum(OVERLAYS),
  peers: z.string().startsWith('/', 'must be an absolute path'),
  overlayIface: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,14}$/, 'must be a Linux interface name (at most 15 characters)'),
  nodeIP: z.string().refine((s) => ipaddr.IPv4.isValidFourPartDecimal(s), 'must be an IPv4 address'),
  cniBinDir: z.string().startsWith('/', 'must be an absolute path'),
  cniConfDir: z.string().startsWith('/', 'must be an absolute path'),
  cniBridge: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,14}$/, 'must be a Linux interface name (at most 15 characters)'),
  healthzBindAddress: hostPort,
  metricsBindAddress: hostPort,
  kubeletAddress: ip,
  kubeletPort: z.coerce.number().int().min(0, 'must be a port 0-65535 (0: any free port)').max(65535, 'must be a port 0-65535 (0: any free port)'),
  serviceClusterIPRange: cidr,
  clusterCIDR: cidr,
  nodePortAddresses: z.array(cidr),
  masqueradeAll: z.boolean(),
  logFormat: z.enum(['json', 'text']),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']),
  kubeReserved: resourceList,
  systemReserved: resourceList,
  registerWithTaints: nodeField(parseTaints, (v) => {
    if (!Array.isArray(v) || !v.every((t) => typeof t === 'object' && t !== null)) throw new ResourceListError('must be a list of taints ({key, value, effect})');
    return v.map((t: Record<string, unknown>) => checkTaint(t));
  }),
  nodeLabels: nodeField(parseNodeLabels, (v) => {
    if (!isMapping(v)) throw new ResourceListError('must be a mapping of label keys to values');
    return checkNodeLabels(Object.fromEntries(Object.entries(v).map(([k, x]) => [k, String(x)])));
  }),
  maxPods: z.coerce.number({ error: maxPodsMessage }).int(maxPodsMessage).min(0, maxPodsMessage),
}).partial().strict();

/** The flags that shape the Node, under node-status.ts's NodeConfig names. */
export function nodeFlags(cfg: Pick<AgentConfig, 'kubeReserved' | 'systemReserved' | 'registerWithTaints' | 'nodeLabels' | 'maxPods'>): Pick<NodeConfig, 'kubeReserved' | 'systemReserved' | 'taints' | 'labels' | 'maxPods'> {
  return {
    maxPods: cfg.maxPods,
    ...(cfg.kubeReserved ? { kubeReserved: cfg.kubeReserved } : {}),
    ...(cfg.systemReserved ? { systemReserved: cfg.systemReserved } : {}),
    ...(cfg.registerWithTaints ? { taints: cfg.registerWithTaints } : {}),
    ...(cfg.nodeLabels ? { labels: cfg.nodeLabels } : {}),
  };
}

/** KubeletConfiguration (and KubeProxyConfiguration) names → ours. */
const FILE_ALIASES: Record<string, keyof AgentConfig> = {
  staticPodPath: 'manifests',
  podCIDR: 'podCIDR',
  clusterDNS: 'clusterDNS',
  clusterDomain: 'clusterDomain',
  containerRuntimeEndpoint: 'containerRuntimeEndpoint',
  clusterCIDR: 'clusterCIDR',
  nodePortAddresses: 'nodePortAddresses',
  mode: 'proxyMode',
  address: 'kubeletAddress',
  port: 'kubeletPort',
  kubeReserved: 'kubeReserved',
  systemReserved: 'systemReserved',
  registerWithTaints: 'registerWithTaints',
  maxPods: 'maxPods',
};

/** The flag that sets an AgentConfig field: podCIDR → pod-cidr. */
export function flagName(field: string): string {
  return field.replace(/CIDR|DNS|IP/g, (m) => m[0] + m.slice(1).toLowerCase()).replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

function check(input: Record<string, unknown>, where: string): Partial<AgentConfig> {
  const r = fields.safeParse(input);
  if (r.success) return r.data as Partial<AgentConfig>;
  const issue = r.error.issues[0]!;
  let path = issue.path.map(String).join('.') || (issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : '');
  if (where === '--') path = flagName(path.split('.')[0]!);
  throw new ConfigError(`${where}${path}`, issue.code === 'unrecognized_keys' ? 'unknown field' : issue.message);
}

/** Reads a YAML config file; kind/apiVersion are allowed and ignored. */
export function loadConfigFile(path: string): Partial<AgentConfig> {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(path, `cannot read config: ${(err as Error).message}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(path, 'must be a YAML mapping');
  const raw: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
    if (k === 'kind' || k === 'apiVersion') continue;
    if (k === 'healthzBindAddress' || k === 'healthzPort') continue; // combined below
    raw[FILE_ALIASES[k] ?? k] = v;
  }
  const d = doc as Record<string, unknown>;
  if (d.healthzBindAddress !== undefined || d.healthzPort !== undefined) {
    raw.healthzBindAddress = `${String(d.healthzBindAddress ?? '127.0.0.1')}:${String(d.healthzPort ?? 10248)}`;
  }
  return check(raw, `${path}: `);
}

/**
 * Defaults, then the file, then flags (already in AgentConfig names). `joining`: `kna
 * join`, which runs with a control plane though no --kubeconfig is given yet.
 */
export function resolveConfig(flags: Partial<Record<keyof AgentConfig, unknown>>, file?: string, joining = false): AgentConfig {
  const fromFile = file ? loadConfigFile(file) : {};
  const defined = Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined));
  const fromFlags = check(defined, '--');
  const cfg: AgentConfig = { ...DEFAULTS, ...fromFile, ...fromFlags };
  cfg.containerRuntimeEndpoint = cfg.containerRuntimeEndpoint.replace(/^(?!unix:\/\/)/, 'unix://');
  if (fromFile.podCIDR !== undefined || fromFlags.podCIDR !== undefined) cfg.podCIDRSet = true;
  checkOverlay(cfg, joining || cfg.kubeconfig !== undefined);
  return cfg;
}

/**
 * An overlay needs to know its peers (standalone: the peers file; joined: the Nodes,
 * plus the file when given) and the cluster's pod network, which pods must reach
 * unmasqueraded so the source IP survives.
 */
function checkOverlay(cfg: AgentConfig, joined: boolean): void {
  if (cfg.overlay === 'none') return;
  if (!cfg.peers && !joined) throw new ConfigError('--peers', `required with --overlay ${cfg.overlay} in standalone mode (a file listing the nodes; joined nodes find their peers in the API)`);
  if (!cfg.clusterCIDR) throw new ConfigError('--cluster-cidr', `required with --overlay ${cfg.overlay} (the pod network of all nodes, not masqueraded between pods)`);
  // Joined without --pod-cidr, the Node's spec.podCIDR is used (the default is not).
  if ((cfg.podCIDRSet || !joined) && !cidrContains(cfg.clusterCIDR, cfg.podCIDR)) throw new ConfigError('--pod-cidr', `${cfg.podCIDR} must lie inside --cluster-cidr ${cfg.clusterCIDR}`);
}

function cidrContains(outer: string, inner: string): boolean {
  const [o, ob] = ipaddr.parseCIDR(outer);
  const [i, ib] = ipaddr.parseCIDR(inner);
  return o.kind() === i.kind() && ib >= ob && i.match(o, ob);
}

export function splitHostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(s.slice(i + 1)) };
}
