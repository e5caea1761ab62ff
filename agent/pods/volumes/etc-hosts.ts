// The pod's /etc/hosts, kept in <rootDir>/pods/<uid>/etc-hosts and bind-mounted
// into every container (containerMounts adds the mount).
import { readFile, rename, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isIP } from 'node:net';
import { podDir } from './paths.js';
import type { PodLike } from './types.js';

export class EtcHostsError extends Error {
  override readonly name = 'EtcHostsError';
}

export interface EtcHostsOptions {
  /** kubelet --cluster-domain; used for the FQDN of pods with spec.subdomain. */
  clusterDomain?: string;
  /** Host network pods get a copy of this file (default /etc/hosts). */
  hostEtcHostsPath?: string;
}

/** Hostname and domain the way kubelet derives them: spec.hostname or the pod name, at most 63 chars. */
export function podHostnameAndDomain(pod: PodLike, clusterDomain = ''): { hostname: string; domain: string } {
  let hostname = pod.spec.hostname || pod.metadata.name || '';
  if (hostname.length > 63) hostname = hostname.slice(0, 63).replace(/[-.]+$/, '');
  const domain = pod.spec.subdomain ? `${pod.spec.subdomain}.${pod.metadata.namespace ?? 'default'}.svc.${clusterDomain}` : '';
  return { hostname, domain };
}

const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/;

function checkIP(ip: string, what: string): string {
  if (isIP(ip) === 0) throw new EtcHostsError(`${what}: invalid IP ${JSON.stringify(ip)}`);
  return ip;
}

function checkName(n: string, what: string): string {
  if (!HOSTNAME.test(n)) throw new EtcHostsError(`${what}: invalid hostname ${JSON.stringify(n)}`);
  return n;
}

function aliasesSection(pod: PodLike): string {
  const aliases = pod.spec.hostAliases ?? [];
  if (aliases.length === 0) return '';
  let s = '\n# Entries added by HostAliases.\n';
  for (const a of aliases) {
    checkIP(a.ip, 'hostAliases');
    for (const h of a.hostnames ?? []) s += `${a.ip}\t${checkName(h, 'hostAliases')}\n`;
  }
  return s;
}

/** File content for a pod on the pod network. Pure. */
export function managedEtcHosts(pod: PodLike, podIPs: string[], clusterDomain = ''): string {
  const { hostname, domain } = podHostnameAndDomain(pod, clusterDomain);
  checkName(hostname, 'pod hostname');
  let s = '# Kubernetes-managed hosts file.\n'
    + '127.0.0.1\tlocalhost\n'
    + '::1\tlocalhost ip6-localhost ip6-loopback\n'
    + 'fe00::0\tip6-localnet\n'
    + 'fe00::0\tip6-mcastprefix\n'
    + 'fe00::1\tip6-allnodes\n'
    + 'fe00::2\tip6-allrouters\n';
  for (const ip of podIPs) {
    checkIP(ip, 'podIPs');
    s += domain ? `${ip}\t${checkName(`${hostname}.${domain}`, 'pod FQDN')}\t${hostname}\n` : `${ip}\t${hostname}\n`;
  }
  return s + aliasesSection(pod);
}

/** File content for a host network pod: the node's hosts file plus hostAliases. Pure. */
export function hostNetworkEtcHosts(pod: PodLike, nodeHosts: string): string {
  const body = nodeHosts.endsWith('\n') || nodeHosts === '' ? nodeHosts : nodeHosts + '\n';
  return '# Kubernetes-managed hosts file (host network).\n' + body + aliasesSection(pod);
}

/**
 * Writes <rootDir>/pods/<uid>/etc-hosts (replaced atomically, so a running
 * container never reads half a file) and returns its path for containerMounts.
 */
export async function writeEtcHosts(pod: PodLike, podIPs: string[], rootDir: string, opts: EtcHostsOptions = {}): Promise<string> {
  const content = pod.spec.hostNetwork
    ? hostNetworkEtcHosts(pod, await readFile(opts.hostEtcHostsPath ?? '/etc/hosts', 'utf8').catch(() => ''))
    : managedEtcHosts(pod, podIPs, opts.clusterDomain);
  const dir = podDir(rootDir, pod.metadata.uid ?? '');
  await mkdir(dir, { recursive: true, mode: 0o750 });
  const path = join(dir, 'etc-hosts');
  const tmp = `${path}.tmp`;
  await writeFile(tmp, content, { mode: 0o644 });
  await rename(tmp, path);
  return path;
}
