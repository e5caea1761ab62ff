// What differs per proxy mode in tests: how to make its backend, how to read what
// it left in a netns, and how to break it behind its back. Everything else about a
// scenario is shared (proxy-scenarios.ts).
import { execa } from 'execa';
import type { ProxyMode } from '../../agent/proxy/backend.js';
import type { ProxierOptions } from '../../agent/proxy/proxier.js';
import { IptablesBackend } from '../../agent/proxy/iptables/backend.js';

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
};

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
