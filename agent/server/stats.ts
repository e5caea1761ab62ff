// /stats/summary and /metrics/resource: a minimal kubelet Summary (node and pods with
// CPU and memory) from the container runtime's stats and the host's /proc, and the
// resource metrics kubelet exposes for metrics-server, computed from it.
import { readFile } from 'node:fs/promises';
import { parseMeminfo } from '../apiserver/host.js';
import type { CriClient } from '../cri/client.js';
import type { ContainerStats, CpuUsage, MemoryUsage } from '../cri/types.js';
import { L } from '../pods/labels.js';

export interface CpuStats { time: string; usageNanoCores?: number; usageCoreNanoSeconds?: number }
export interface MemoryStats { time: string; availableBytes?: number; usageBytes?: number; workingSetBytes?: number; rssBytes?: number }
export interface ContainerSummary { name: string; cpu?: CpuStats; memory?: MemoryStats }
export interface PodSummary {
  podRef: { name: string; namespace: string; uid: string };
  containers: ContainerSummary[];
  cpu?: CpuStats;
  memory?: MemoryStats;
}
export interface Summary {
  node: { nodeName: string; cpu?: CpuStats; memory?: MemoryStats };
  pods: PodSummary[];
}

const iso = (ms: number) => new Date(ms).toISOString(); // CRI timestamps arrive decoded to milliseconds

function cpuOf(c: CpuUsage | undefined): CpuStats | undefined {
  if (!c) return undefined;
  return {
    time: iso(c.timestamp),
    ...(c.usageNanoCores ? { usageNanoCores: c.usageNanoCores.value } : {}),
    ...(c.usageCoreNanoSeconds ? { usageCoreNanoSeconds: c.usageCoreNanoSeconds.value } : {}),
  };
}

function memoryOf(m: MemoryUsage | undefined): MemoryStats | undefined {
  if (!m) return undefined;
  return {
    time: iso(m.timestamp),
    ...(m.availableBytes ? { availableBytes: m.availableBytes.value } : {}),
    ...(m.usageBytes ? { usageBytes: m.usageBytes.value } : {}),
    ...(m.workingSetBytes ? { workingSetBytes: m.workingSetBytes.value } : {}),
    ...(m.rssBytes ? { rssBytes: m.rssBytes.value } : {}),
  };
}

/** Sums numeric fields of containers into a pod's figure (what kubelet does without sandbox stats). */
function sum<T extends { time: string }>(items: (T | undefined)[]): T | undefined {
  const present = items.filter((x): x is T => x !== undefined);
  if (!present.length) return undefined;
  const out: Record<string, number | string> = { time: present[0]!.time };
  for (const it of present) {
    for (const [k, v] of Object.entries(it)) if (typeof v === 'number') out[k] = (Number(out[k] ?? 0)) + v;
  }
  return out as unknown as T;
}

/** Pods from container stats, grouped by the pod labels the runtime copies onto containers. Pure. */
export function podSummaries(stats: ContainerStats[]): PodSummary[] {
  const pods = new Map<string, PodSummary>();
  for (const s of stats) {
    const labels = s.attributes?.labels ?? {};
    const uid = labels[L.podUid];
    if (!uid) continue;
    let p = pods.get(uid);
    if (!p) pods.set(uid, (p = { podRef: { name: labels[L.podName] ?? '', namespace: labels[L.podNamespace] ?? '', uid }, containers: [] }));
    const c: ContainerSummary = { name: labels[L.containerName] ?? s.attributes?.metadata?.name ?? '' };
    const cpu = cpuOf(s.cpu);
    const memory = memoryOf(s.memory);
    if (cpu) c.cpu = cpu;
    if (memory) c.memory = memory;
    p.containers.push(c);
  }
  for (const p of pods.values()) {
    const cpu = sum(p.containers.map((c) => c.cpu));
    const memory = sum(p.containers.map((c) => c.memory));
    if (cpu) p.cpu = cpu;
    if (memory) p.memory = memory;
  }
  const key = (p: PodSummary) => `${p.podRef.namespace}/${p.podRef.name}`;
  return [...pods.values()].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/** CPU time of the whole host from /proc/stat's "cpu" line (USER_HZ = 100), in nanoseconds. Pure. */
export function hostCpuNanos(procStat: string): number | undefined {
  const m = /^cpu\s+(.+)$/m.exec(procStat);
  if (!m) return undefined;
  const [user, nice, system, , , irq, softirq, steal] = m[1]!.trim().split(/\s+/).map(Number);
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) * 1e7;
}

export async function statsSummary(cri: Pick<CriClient, 'listContainerStats'>, nodeName: string): Promise<Summary> {
  const [stats, procStat, meminfo] = await Promise.all([
    cri.listContainerStats(),
    readFile('/proc/stat', 'utf8').catch(() => ''),
    readFile('/proc/meminfo', 'utf8').catch(() => ''),
  ]);
  const time = new Date().toISOString();
  const mem = parseMeminfo(meminfo);
  const cpuNanos = hostCpuNanos(procStat);
  const node: Summary['node'] = { nodeName };
  if (cpuNanos !== undefined) node.cpu = { time, usageCoreNanoSeconds: cpuNanos };
  if (mem.MemTotal) {
    const available = mem.MemAvailable ?? 0;
    node.memory = { time, availableBytes: available, usageBytes: mem.MemTotal - (mem.MemFree ?? 0), workingSetBytes: mem.MemTotal - available };
  }
  return { node, pods: podSummaries(stats) };
}

/** kubelet's /metrics/resource (what metrics-server scrapes), from a Summary. Pure. */
export function resourceMetrics(s: Summary): string {
  const out: string[] = [];
  const family = (name: string, help: string, type: 'counter' | 'gauge', rows: [string, number | undefined, string][]) => {
    const present = rows.filter((r): r is [string, number, string] => r[1] !== undefined);
    if (!present.length) return;
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v, time] of present) out.push(`${name}${labels} ${v} ${Date.parse(time)}`);
  };
  const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
  const podLabels = (p: PodSummary) => `namespace="${esc(p.podRef.namespace)}",pod="${esc(p.podRef.name)}"`;
  const cpuSec = (c: CpuStats | undefined): [number | undefined, string] => [c?.usageCoreNanoSeconds !== undefined ? c.usageCoreNanoSeconds / 1e9 : undefined, c?.time ?? ''];
  const ws = (m: MemoryStats | undefined): [number | undefined, string] => [m?.workingSetBytes, m?.time ?? ''];
  family('node_cpu_usage_seconds_total', 'Cumulative cpu time consumed by the node in core-seconds', 'counter', [['', ...cpuSec(s.node.cpu)]]);
  family('node_memory_working_set_bytes', 'Current working set of the node in bytes', 'gauge', [['', ...ws(s.node.memory)]]);
  family('pod_cpu_usage_seconds_total', 'Cumulative cpu time consumed by the pod in core-seconds', 'counter', s.pods.map((p) => [`{${podLabels(p)}}`, ...cpuSec(p.cpu)]));
  family('pod_memory_working_set_bytes', 'Current working set of the pod in bytes', 'gauge', s.pods.map((p) => [`{${podLabels(p)}}`, ...ws(p.memory)]));
  const containers = s.pods.flatMap((p) => p.containers.map((c) => ({ p, c, labels: `{container="${esc(c.name)}",${podLabels(p)}}` })));
  family('container_cpu_usage_seconds_total', 'Cumulative cpu time consumed by the container in core-seconds', 'counter', containers.map(({ c, labels }) => [labels, ...cpuSec(c.cpu)]));
  family('container_memory_working_set_bytes', 'Current working set of the container in bytes', 'gauge', containers.map(({ c, labels }) => [labels, ...ws(c.memory)]));
  out.push('# HELP scrape_error 1 if there was an error while getting container metrics, 0 otherwise', '# TYPE scrape_error gauge', 'scrape_error 0');
  return out.join('\n') + '\n';
}
