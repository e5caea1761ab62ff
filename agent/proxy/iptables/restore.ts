// The I/O edge of iptables mode: one `iptables-restore --noflush -w` per table per sync
// (input on stdin), iptables-save to learn what exists, -S to check the hooks.
import type { CommandRunner } from '../runner.js';
import type { IPFamily } from '../types.js';
import type { Table } from './chains.js';
import { existingFromSave, parseSave, renderCleanup, TABLES, type ExistingState, type SavedTables, type TableTexts } from './render.js';

export class IptablesError extends Error {
  override readonly name = 'IptablesError';
  constructor(readonly command: string, readonly exitCode: number, readonly stderr: string, readonly excerpt?: string) {
    super(`${command} failed (exit ${exitCode}): ${stderr.trim()}${excerpt ? `\n${excerpt}` : ''}`);
  }
}

const bin = (family: IPFamily, tool: 'iptables' | 'iptables-restore' | 'iptables-save'): string =>
  family === 6 ? tool.replace('iptables', 'ip6tables') : tool;

/** The lines around the one iptables-restore complains about ("line N failed"). */
function excerpt(input: string, stderr: string): string | undefined {
  const m = /line:? (\d+)/i.exec(stderr);
  if (!m) return undefined;
  const n = Number(m[1]);
  const lines = input.split('\n');
  return lines.slice(Math.max(0, n - 3), n + 2).map((l, i) => `${Math.max(1, n - 2) + i}: ${l}`).join('\n');
}

/** Applies one table's restore input without flushing the rest of the table. */
export async function restoreTable(runner: CommandRunner, family: IPFamily, input: string): Promise<void> {
  const cmd = bin(family, 'iptables-restore');
  const r = await runner.run([cmd, '--noflush', '-w'], input);
  if (r.exitCode !== 0) throw new IptablesError(cmd, r.exitCode, r.stderr, excerpt(input, r.stderr));
}

/** Applies each present table (filter first), one restore call each. */
export async function restoreTables(runner: CommandRunner, family: IPFamily, texts: TableTexts): Promise<void> {
  for (const t of TABLES) {
    const text = texts[t];
    if (text !== undefined) await restoreTable(runner, family, text);
  }
}

export async function saveTable(runner: CommandRunner, family: IPFamily, table: Table): Promise<string> {
  const cmd = bin(family, 'iptables-save');
  const r = await runner.run([cmd, '-t', table]);
  if (r.exitCode !== 0) throw new IptablesError(`${cmd} -t ${table}`, r.exitCode, r.stderr);
  return r.stdout;
}

export async function saveTables(runner: CommandRunner, family: IPFamily): Promise<SavedTables> {
  const texts = await Promise.all(TABLES.map((t) => saveTable(runner, family, t)));
  return parseSave(texts.join('\n'));
}

/** What exists now: every chain (for stale-chain deletion) and our hooks. Costs an iptables-save. */
export async function readExisting(runner: CommandRunner, family: IPFamily): Promise<ExistingState> {
  return existingFromSave(await saveTables(runner, family));
}

/**
 * Our hooks only, listing just the built-in chains (`iptables -S CHAIN` is cheap even
 * with 100k rules in the table, where iptables-save takes seconds).
 */
export async function readHooks(runner: CommandRunner, family: IPFamily, chains: Readonly<Record<Table, readonly string[]>>): Promise<ExistingState['hooks']> {
  const cmd = bin(family, 'iptables');
  const lists = await Promise.all(TABLES.flatMap((t) => chains[t].map(async (c) => {
    const r = await runner.run([cmd, '-w', '-t', t, '-S', c]);
    if (r.exitCode !== 0) throw new IptablesError(`${cmd} -t ${t} -S ${c}`, r.exitCode, r.stderr);
    return `*${t}\n:${c} ACCEPT [0:0]\n${r.stdout}`;
  })));
  return existingFromSave(parseSave(lists.join('\n'))).hooks;
}

/** Removes every chain and hook of ours in both tables. Works without any state (kna cleanup). */
export async function cleanupIptables(runner: CommandRunner, family: IPFamily): Promise<void> {
  await restoreTables(runner, family, renderCleanup(await saveTables(runner, family)));
}
