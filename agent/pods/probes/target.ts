// Resolving where a probe or hook connects: host (explicit or pod IP) and port
// (number, numeric string or a named container port). Pure.
import { isIP } from 'node:net';
import { ProbeSpecError, type ContainerPortLike, type IntOrString } from './types.js';

function checkPort(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new ProbeSpecError(`${what}: port ${n} is not within 1..65535`);
  return n;
}

/** Number, numeric string, or the name of one of the container's ports. */
export function resolvePort(port: IntOrString, container: { ports?: ContainerPortLike[] }, what = 'probe'): number {
  if (typeof port === 'number') return checkPort(port, what);
  if (/^\d+$/.test(port)) return checkPort(Number(port), what);
  const p = container.ports?.find((x) => x.name === port);
  if (!p) throw new ProbeSpecError(`${what}: container has no port named ${JSON.stringify(port)}`);
  return checkPort(p.containerPort, what);
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** The explicit host when set (IP or DNS name), else the pod IP. */
export function resolveHost(host: string | undefined, podIP: string | undefined, what = 'probe'): string {
  const h = host || podIP;
  if (!h) throw new ProbeSpecError(`${what}: no host given and the pod has no IP yet`);
  if (isIP(h) === 0 && !HOSTNAME.test(h)) throw new ProbeSpecError(`${what}: invalid host ${JSON.stringify(h)}`);
  return h;
}

/** host:port with IPv6 brackets, as in URLs and Go's JoinHostPort. */
export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
