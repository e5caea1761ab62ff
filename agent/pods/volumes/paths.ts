// kubelet's pod directory layout under --root-dir:
//   <rootDir>/pods/<uid>/volumes/kubernetes.io~<plugin>/<volume>
//   <rootDir>/pods/<uid>/containers/<container>/<random>   termination-message files
//   <rootDir>/pods/<uid>/etc-hosts
import { join } from 'node:path';

export class PodPathError extends Error {
  override readonly name = 'PodPathError';
}

/** The on-disk plugin dir names kubelet uses (kubernetes.io/<plugin> with '/' escaped as '~'). */
export const PLUGIN_DIRS = {
  emptyDir: 'kubernetes.io~empty-dir',
  configMap: 'kubernetes.io~configmap',
  secret: 'kubernetes.io~secret',
  downwardAPI: 'kubernetes.io~downward-api',
  projected: 'kubernetes.io~projected',
} as const;
export type PluginKind = keyof typeof PLUGIN_DIRS;

// uids, volume and container names become path elements: keep them to a safe charset.
const ELEMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;

export function checkPathElement(value: string, what: string): string {
  if (!ELEMENT.test(value) || value.includes('..')) throw new PodPathError(`${what} ${JSON.stringify(value)} is not usable as a directory name`);
  return value;
}

export function podDir(rootDir: string, uid: string): string {
  return join(rootDir, 'pods', checkPathElement(uid, 'pod uid'));
}

export function volumeDir(rootDir: string, uid: string, plugin: PluginKind, volume: string): string {
  return join(podDir(rootDir, uid), 'volumes', PLUGIN_DIRS[plugin], checkPathElement(volume, 'volume name'));
}

export function containerDir(rootDir: string, uid: string, container: string): string {
  return join(podDir(rootDir, uid), 'containers', checkPathElement(container, 'container name'));
}
