// Applying per-pod rules with one iptables-restore each way.
//
// ADD's fast path is a single `iptables-restore --noflush` appending the pod's
// rules to our shared chains; it fails atomically (nothing applied) when a chain is
// missing (first pod since boot, or someone flushed the table), and only then do
// we read iptables-save and create the chains and jumps in the same transaction
// as the pod's rules, under a lock so concurrent repairs cannot duplicate jumps.
// DEL deletes the same rules the same way and falls back to deleting every rule
// tagged with the attachment when some are already gone.
import type { Family } from '../net/ip.js';
import { run, runOk, start, type Started } from '../exec.js';
import { withLock } from './lock.js';
import { deleteSaved, parseSave, removeInfrastructure, renderRules, repairInfrastructure, tagOf, type Rule, type SavedTable, type Table } from './rules.js';

const restoreCmd = (f: Family): string[] => [f === 4 ? 'iptables-restore' : 'ip6tables-restore', '--noflush', '-w'];
const saveCmd = (f: Family, table: Table): string[] => [f === 4 ? 'iptables-save' : 'ip6tables-save', '-t', table];

/** An iptables-restore waiting for its input (see exec.ts start). */
export function startRestore(family: Family): Started {
  return start(restoreCmd(family));
}

export async function addRules(family: Family, rules: readonly Rule[], started?: Started): Promise<void> {
  if (rules.length === 0) {
    await started?.feed('');
    return;
  }
  const text = renderRules(rules, 'add');
  const fast = await (started ?? startRestore(family)).feed(text);
  if (fast.code === 0) return;
  await withLock(`iptables-${family}`, async () => {
    // Whoever held the lock before us has most likely just made the chains.
    if ((await run(restoreCmd(family), text)).code === 0) return;
    const saved = await readTables(family, ['nat', 'filter']);
    await runOk(restoreCmd(family), repairInfrastructure(family, saved, rules));
  });
}

/** Removes the pod's rules; `tag` finds the leftovers when the exact set is unknown or partly gone. */
export async function deleteRules(family: Family, rules: readonly Rule[], tag: string): Promise<void> {
  if (rules.length > 0) {
    const fast = await run(restoreCmd(family), renderRules(rules, 'delete'));
    if (fast.code === 0) return;
  }
  await deleteTagged(family, (t) => t === tag);
}

/** Deletes every nat rule whose attachment tag matches; returns the tags it removed. */
export async function deleteTagged(family: Family, match: (tag: string) => boolean): Promise<Set<string>> {
  const nat = (await readTables(family, ['nat'])).get('nat');
  const lines = (nat?.rules ?? []).filter((l) => {
    const t = tagOf(l);
    return t !== undefined && match(t);
  });
  if (lines.length > 0) await runOk(restoreCmd(family), deleteSaved('nat', lines));
  return new Set(lines.map((l) => tagOf(l)!));
}

/** nat rules per attachment tag (CHECK, GC). */
export async function taggedRules(family: Family): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const l of (await readTables(family, ['nat'])).get('nat')?.rules ?? []) {
    const t = tagOf(l);
    if (t) out.set(t, [...(out.get(t) ?? []), l]);
  }
  return out;
}

export async function readTables(family: Family, tables: Table[]): Promise<Map<string, SavedTable>> {
  const texts = await Promise.all(tables.map((t) => runOk(saveCmd(family, t))));
  const out = new Map<string, SavedTable>();
  for (const text of texts) for (const [k, v] of parseSave(text)) out.set(k, v);
  return out;
}

/** Removes the shared chains and their jumps when no pod uses them any more; says whether it did. */
export async function removeUnusedInfrastructure(family: Family): Promise<boolean> {
  return withLock(`iptables-${family}`, async () => {
    const text = removeInfrastructure(family, await readTables(family, ['nat', 'filter']));
    if (text) await runOk(restoreCmd(family), text);
    return text !== '';
  });
}
