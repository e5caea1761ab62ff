// Facts about this host that the Node object reports: sizes (for capacity and
// pressure), identities (for nodeInfo) and addresses. I/O only; the arithmetic
// lives in node-status.ts.
import { readFile, statfs } from 'node:fs/promises';
import { arch, cpus, hostname, release } from 'node:os';
import { hostAddresses } from '../pods/node-info.js';

export interface HostFacts {
  hostname: string;
  cpus: number;
  memoryTotal: number;
  memoryAvailable: number;
  /** the filesystem holding the root dir (kubelet's nodefs) */
  fsCapacity: number;
  fsAvailable: number;
  fsInodes: number;
  fsInodesFree: number;
  pidMax: number;
  pidsInUse: number;
  kernelVersion: string;
  osImage: string;
  machineID: string;
  systemUUID: string;
  bootID: string;
  /** GOARCH names: amd64, arm64 */
  architecture: string;
  addresses: string[];
}

const GOARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

const text = (path: string): Promise<string> => readFile(path, 'utf8').then((s) => s.trim(), () => '');

/** "Key:   123 kB" lines of /proc/meminfo, in bytes. */
export function parseMeminfo(s: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of s.split('\n')) {
    const m = /^(\w+):\s+(\d+)(?:\s+kB)?/.exec(line);
    if (m) out[m[1]!] = Number(m[2]) * (line.includes('kB') ? 1024 : 1);
  }
  return out;
}

/** PRETTY_NAME of /etc/os-release, unquoted. */
export function parseOsRelease(s: string): string {
  const m = /^PRETTY_NAME=(.*)$/m.exec(s);
  return m ? m[1]!.trim().replace(/^(["'])(.*)\1$/, '$2') : 'Linux';
}

export async function readHostFacts(rootDir: string): Promise<HostFacts> {
  const [meminfo, fs, pidMax, loadavg, osRelease, machineID, systemUUID, bootID] = await Promise.all([
    text('/proc/meminfo').then(parseMeminfo),
    statfs(rootDir).catch(() => statfs('/')),
    text('/proc/sys/kernel/pid_max'),
    text('/proc/loadavg'),
    text('/etc/os-release'),
    text('/etc/machine-id'),
    text('/sys/class/dmi/id/product_uuid'),
    text('/proc/sys/kernel/random/boot_id'),
  ]);
  // /proc/loadavg's 4th field is "running/total" scheduling entities: the PIDs in use.
  const pids = Number(/\d+\/(\d+)/.exec(loadavg)?.[1] ?? 0);
  return {
    hostname: hostname().toLowerCase(),
    cpus: cpus().length,
    memoryTotal: meminfo.MemTotal ?? 0,
    memoryAvailable: meminfo.MemAvailable ?? meminfo.MemFree ?? 0,
    fsCapacity: fs.blocks * fs.bsize,
    fsAvailable: fs.bavail * fs.bsize,
    fsInodes: fs.files,
    fsInodesFree: fs.ffree,
    pidMax: Number(pidMax) || 32768,
    pidsInUse: pids,
    kernelVersion: release(),
    osImage: parseOsRelease(osRelease),
    machineID,
    systemUUID: systemUUID || machineID,
    bootID,
    architecture: GOARCH[arch()] ?? arch(),
    addresses: hostAddresses(),
  };
}
