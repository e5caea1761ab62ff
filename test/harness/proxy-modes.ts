// What differs per proxy mode in tests: how to make its backend, how to read what
// it left in a netns, and how to break it behind its back. Everything else about a
// scenario is shared (proxy-scenarios.ts).
import { execa } from 'execa';
import type { ProxyMode } from '../../agent/proxy/backend.js';
import type { ProxierOptions } from '../../agent/proxy/proxier.js';
import { IptablesBackend } from '../../agent/proxy/iptables/backend.js';
import { IpvsBackend } from '../../agent/proxy/ipvs/backend.js';
import { NftablesBackend } from '../../agent/proxy/nftables/backend.js';

export interface ModeSupport {
  readonly backend: NonNullable<ProxierOptions['backend']>;
  /** The mode's kernel state in netns `ns`, canonical enough to compare two netns. */
  snapshot(ns: string): Promise<unknown>;
  /** Undoes part of the mode's state behind its back, as a firewall reload would. */
  sabotage(ns: string): Promise<void>;
  /** Whether what sabotage() removes is in place. */
  hooked(ns: string): Promise<boolean>;
}

/** Chains whose rule order is not part of the behaviour (each rule matches its own address/port). */
const UNORDERED_CHAINS = new Set(['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-EXTERNAL-SERVICES', 'KUBE-PROXY-FIREWALL', 'INPUT', 'FORWARD', 'OUTPUT', 'PREROUTING', 'POSTROUTING']);

/** iptables-save as table -> chain -> rules. */
async function iptablesSnapshot(ns: string): Promise<Record<string, Record<string, string[]>>> {
  const out: Record<string, Record<string, string[]>> = {};
  let table: Record<string, string[]> = {};
  for (const line of (await inNetns(ns, ['iptables-save'])).stdout.split('\n')) {
    if (line.startsWith('*')) out[line.slice(1)] = table = {};
    else if (line.startsWith(':')) table[line.slice(1).split(' ')[0]!] ??= [];
    else if (line.startsWith('-A ')) (table[line.split(' ')[1]!] ??= []).push(line);
  }
  for (const t of Object.values(out)) for (const [chain, rules] of Object.entries(t)) if (UNORDERED_CHAINS.has(chain)) rules.sort();
  return out;
}

export const MODES: Partial<Record<ProxyMode, ModeSupport>> = {
  iptables: {
    backend: (runner, family) => new IptablesBackend(runner, family),
    snapshot: iptablesSnapshot,
    sabotage: async (ns) => { await execa('ip', ['netns', 'exec', ns, 'iptables', '-t', 'nat', '-F', 'PREROUTING']); },
    hooked: async (ns) => (await inNetns(ns, ['iptables', '-t', 'nat', '-S', 'PREROUTING'])).stdout.includes('-j KUBE-SERVICES'),
  },
  nftables: {
    backend: (runner, family) => new NftablesBackend(runner, family),
    snapshot: nftSnapshot,
    // What `nft flush ruleset` (a firewall reload) does to us.
    sabotage: async (ns) => { await execa('ip', ['netns', 'exec', ns, 'nft', 'delete', 'table', 'ip', 'kna-proxy']); },
    hooked: async (ns) => (await inNetns(ns, ['nft', 'list', 'chain', 'ip', 'kna-proxy', 'nat-prerouting'])).stdout.includes('jump services'),
  },
  ipvs: {
    // Drains quickly: the scenarios and sync tests hold no connection open.
    backend: (runner, family) => new IpvsBackend(runner, family, { drainPollMs: 200 }),
    snapshot: ipvsSnapshot,
    // A firewall reload flushing the nat hooks, and someone deleting the dummy interface.
    sabotage: async (ns) => {
      await execa('ip', ['netns', 'exec', ns, 'iptables', '-t', 'nat', '-F', 'PREROUTING']);
      await execa('ip', ['-n', ns, 'link', 'del', 'kube-ipvs0']);
    },
    hooked: async (ns) => (await inNetns(ns, ['iptables', '-t', 'nat', '-S', 'PREROUTING'])).stdout.includes('-j KUBE-SERVICES')
      && (await inNetns(ns, ['ip', 'link', 'show', 'kube-ipvs0'])).exitCode === 0,
  },
};

/**
 * IPVS mode's state: virtual and real servers (`ipvsadm -Sn`; draining ones, at weight
 * 0 until their connections end, are left out: they take no new traffic), members of
 * our ipsets, kube-ipvs0's addresses, and the iptables rules.
 */
async function ipvsSnapshot(ns: string): Promise<Record<string, unknown>> {
  const lines = (argv: string[], keep: (l: string) => boolean): Promise<string[]> =>
    inNetns(ns, argv).then((r) => r.stdout.split('\n').filter(keep).sort());
  return {
    ipvs: await lines(['ipvsadm', '-Sn'], (l) => l.startsWith('-') && !l.endsWith(' -w 0')),
    ipset: await lines(['ipset', 'save'], (l) => /^add KUBE-/.test(l)),
    addresses: await lines(['ip', '-o', 'addr', 'show', 'dev', 'kube-ipvs0'], () => true).then((l) => l.map((x) => x.split(/\s+/)[3]).sort()),
    iptables: await iptablesSnapshot(ns),
  };
}

type NftObject = Record<string, Record<string, unknown>>;

/** Our nft table: chains with their rules in order, sets and maps with their elements sorted (no handles). */
async function nftSnapshot(ns: string): Promise<Record<string, unknown>> {
  const r = await inNetns(ns, ['nft', '-j', 'list', 'table', 'ip', 'kna-proxy']);
  const out: Record<string, unknown> = {};
  for (const o of (JSON.parse(r.stdout || '{}') as { nftables?: NftObject[] }).nftables ?? []) {
    const [kind, body] = Object.entries(o)[0]!;
    const { handle: _h, elem, expr, chain, name, ...rest } = body as Record<string, unknown>;
    if (kind === 'rule') ((out[`chain ${String(chain)}`] as { rules: string[] }).rules).push(JSON.stringify(expr));
    else if (kind === 'chain') out[`chain ${String(name)}`] = { ...rest, rules: [] };
    else if (kind === 'set' || kind === 'map') out[`${kind} ${String(name)}`] = { ...rest, elem: ((elem ?? []) as unknown[]).map((e) => JSON.stringify(e)).sort() };
  }
  return out;
}

/** Modes this run covers: KNA_PROXY_MODES (comma-separated) or every mode this kernel has. */
export function modesUnderTest(): ProxyMode[] {
  const wanted = process.env.KNA_PROXY_MODES?.split(',').filter(Boolean) as ProxyMode[] | undefined;
  const modes = wanted ?? (['iptables', 'nftables'] as ProxyMode[]).filter((m) => MODES[m]);
  for (const m of modes) if (!MODES[m]) throw new Error(`KNA_PROXY_MODES: no test support for mode ${m}`);
  return modes;
}

async function inNetns(ns: string, argv: string[]): Promise<{ stdout: string; exitCode: number }> {
  const r = await execa('ip', ['netns', 'exec', ns, ...argv], { reject: false });
  return { stdout: r.stdout, exitCode: r.exitCode ?? -1 };
}

/**
 * Whatever any proxy mode could have left in netns `ns`: iptables chains named KUBE-*,
 * the nftables table, IPVS virtual servers, kube-ipvs0 and KUBE-* ipsets. Empty: clean.
 */
export async function proxyLeftovers(ns: string): Promise<string[]> {
  const out: string[] = [];
  for (const cmd of ['iptables-save', 'ip6tables-save']) {
    const r = await inNetns(ns, [cmd]);
    out.push(...r.stdout.split('\n').filter((l) => /KUBE-/.test(l)).map((l) => `${cmd}: ${l}`));
  }
  const nft = await inNetns(ns, ['nft', 'list', 'tables']);
  out.push(...nft.stdout.split('\n').filter((l) => /kna-proxy/.test(l)).map((l) => `nft: ${l}`));
  const vs = await inNetns(ns, ['sh', '-c', 'test -e /proc/net/ip_vs && ipvsadm -Sn']);
  if (vs.exitCode === 0) out.push(...vs.stdout.split('\n').filter((l) => l.startsWith('-A')).map((l) => `ipvsadm: ${l}`));
  const link = await inNetns(ns, ['ip', 'link', 'show', 'kube-ipvs0']);
  if (link.exitCode === 0) out.push('link kube-ipvs0');
  const sets = await inNetns(ns, ['ipset', 'list', '-n']);
  out.push(...sets.stdout.split('\n').filter((l) => l.startsWith('KUBE-')).map((l) => `ipset: ${l}`));
  return out;
}
