// The I/O edge of nftables mode: `nft -f -` with the script on stdin (one transaction),
// `nft -j list ...` to learn which of our objects exist. Argv arrays only.
import type { CommandRunner } from '../runner.js';
import type { IPFamily } from '../types.js';
import { BASE_CHAINS, PORT_CHAIN, PORT_SET, FIXED_CHAINS, syntaxOf, TABLE } from './rules.js';
import { renderCleanup } from './render.js';

export class NftError extends Error {
  override readonly name = 'NftError';
  constructor(readonly command: string, readonly exitCode: number, readonly stderr: string) {
    // A quoted line can hold a thousand map elements: keep the message readable.
    const lines = stderr.trim().split('\n').slice(0, 12).map((l) => (l.length > 400 ? `${l.slice(0, 400)}…` : l));
    super(`${command} failed (exit ${exitCode}): ${lines.join('\n')}`);
  }
}

/** Runs one script as one transaction; `check` only validates it (`nft -c`, nothing applied). */
export async function nftScript(runner: CommandRunner, script: string, opts: { check?: boolean } = {}): Promise<void> {
  const argv = ['nft', ...(opts.check ? ['-c'] : []), '-f', '-'];
  const r = await runner.run(argv, script);
  // nft quotes the failing line itself ("/dev/stdin:12:5-9: Error: ..." plus the line).
  if (r.exitCode !== 0) throw new NftError(argv.join(' '), r.exitCode, r.stderr);
}

interface NftJson { nftables?: Array<Record<string, { table?: string; name?: string; type?: string; hook?: string; prio?: number } | undefined>> }

async function listJson(runner: CommandRunner, argv: string[]): Promise<NftJson> {
  const r = await runner.run(argv);
  if (r.exitCode !== 0) throw new NftError(argv.join(' '), r.exitCode, r.stderr);
  return JSON.parse(r.stdout || '{}') as NftJson;
}

/** Our chains (with hook and priority for base chains) and sets as they exist now. */
export interface FoundObjects {
  readonly chains: ReadonlyMap<string, { type?: string; hook?: string; prio?: number }>;
  readonly sets: ReadonlySet<string>;
}

/** Chain headers of our table (no rules). `nft list chains` lists every table of the family; ours are kept. */
async function listOurChains(runner: CommandRunner, family: IPFamily): Promise<FoundObjects['chains']> {
  const list = await listJson(runner, ['nft', '-j', 'list', 'chains', syntaxOf(family).family]);
  const chains = new Map<string, { type?: string; hook?: string; prio?: number }>();
  for (const o of list.nftables ?? []) {
    const c = o['chain'];
    if (c?.table === TABLE && c.name) chains.set(c.name, { ...(c.type ? { type: c.type } : {}), ...(c.hook ? { hook: c.hook } : {}), ...(c.prio !== undefined ? { prio: c.prio } : {}) });
  }
  return chains;
}

/**
 * Our chains and sets (terse: no elements). Costs ~70 ms at 10k Services, where
 * `nft list tables` (1.0.6 fills its whole cache, rules included) costs 3.5 s.
 */
export async function listOurObjects(runner: CommandRunner, family: IPFamily): Promise<FoundObjects> {
  const [chains, setList] = await Promise.all([
    listOurChains(runner, family),
    listJson(runner, ['nft', '-t', '-j', 'list', 'sets', syntaxOf(family).family]),
  ]);
  const sets = new Set<string>();
  for (const o of setList.nftables ?? []) {
    const s = o['set'];
    if (s?.table === TABLE && s.name) sets.add(s.name);
  }
  return { chains, sets };
}

/** Names that look like ours: only these are ever deleted as stale. */
export const isOurChain = (name: string): boolean => PORT_CHAIN.test(name) || FIXED_CHAINS.includes(name) || BASE_CHAINS.some((c) => c.name === name);
export const isOurSet = (name: string): boolean => PORT_SET.test(name);

/**
 * Every base chain of ours is there with its hook and priority: gone after `nft flush
 * ruleset` (a firewall reload) or a deleted table. One listing of chain headers.
 */
export async function baseChainsPresent(runner: CommandRunner, family: IPFamily): Promise<boolean> {
  const chains = await listOurChains(runner, family);
  return BASE_CHAINS.every((c) => { const f = chains.get(c.name); return f?.hook === c.hook && f.prio === c.priority; });
}

/** Deletes our table; fine when it does not exist. */
export async function deleteTable(runner: CommandRunner, family: IPFamily): Promise<void> {
  await nftScript(runner, renderCleanup(family));
}
