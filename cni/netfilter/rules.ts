// iptables rules as data, rendered to iptables-restore input. Every rule a pod
// owns carries its attachment tag as a comment ("kna-cni/<net>/<id>/<ifname>"),
// so DEL and GC can find them in iptables-save output even without any state.
//
// Chains (shared by all pods; per-pod rules live inside them):
//   nat  KNA-CNI-MASQ       from POSTROUTING: masquerade pod traffic leaving its network
//   nat  KNA-CNI-HOSTPORTS  from PREROUTING and OUTPUT (local destinations): hostPort DNAT
//   nat  KNA-CNI-HP-MASQ    from POSTROUTING: masquerade what the hostport rules marked
//   filter KNA-CNI-INPUT    from INPUT (IPv4): drop 127/8 arriving from outside, which
//                           route_localnet on the bridge would otherwise let in
//                           (CVE-2020-8558), except replies and our DNAT'd flows.
import type { Family } from '../net/ip.js';

export type Table = 'nat' | 'filter';
export interface Rule { table: Table; chain: string; spec: string; /** insert at the top instead of appending */ top?: boolean }

export const MASQ_CHAIN = 'KNA-CNI-MASQ';
export const HOSTPORTS_CHAIN = 'KNA-CNI-HOSTPORTS';
export const HP_MASQ_CHAIN = 'KNA-CNI-HP-MASQ';
export const INPUT_CHAIN = 'KNA-CNI-INPUT';
/** Bit 13, as the reference portmap: kube-proxy owns 14 and 15. */
export const HOSTPORT_MARK = '0x2000/0x2000';

export interface InfraPiece { table: Table; chain: string; rules: string[]; jump?: { from: string; spec: string; top: boolean }; static: boolean }

/** What must exist before per-pod rules can be added. `static` chains are fully ours and rewritten whole. */
export function infrastructure(family: Family): InfraPiece[] {
  const pieces: InfraPiece[] = [
    { table: 'nat', chain: HP_MASQ_CHAIN, static: true, rules: [`-m mark --mark ${HOSTPORT_MARK} -j MASQUERADE`],
      jump: { from: 'POSTROUTING', spec: `-m comment --comment "kna-cni hostport masquerade" -j ${HP_MASQ_CHAIN}`, top: true } },
    { table: 'nat', chain: MASQ_CHAIN, static: false, rules: [],
      jump: { from: 'POSTROUTING', spec: `-m comment --comment "kna-cni pod masquerade" -j ${MASQ_CHAIN}`, top: false } },
    { table: 'nat', chain: HOSTPORTS_CHAIN, static: false, rules: [],
      jump: { from: 'PREROUTING', spec: `-m addrtype --dst-type LOCAL -m comment --comment "kna-cni hostports" -j ${HOSTPORTS_CHAIN}`, top: false } },
    { table: 'nat', chain: HOSTPORTS_CHAIN, static: false, rules: [],
      jump: { from: 'OUTPUT', spec: `-m addrtype --dst-type LOCAL -m comment --comment "kna-cni hostports" -j ${HOSTPORTS_CHAIN}`, top: false } },
  ];
  if (family === 4) {
    pieces.push({ table: 'filter', chain: INPUT_CHAIN, static: true,
      rules: ['-d 127.0.0.0/8 ! -i lo -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -m comment --comment "kna-cni no external localnet" -j DROP'],
      jump: { from: 'INPUT', spec: `-m comment --comment "kna-cni localnet guard" -j ${INPUT_CHAIN}`, top: true } });
  }
  return pieces;
}

export function tagComment(tag: string): string {
  return `-m comment --comment "${tag}"`;
}

/** Restore lines adding (or deleting) rules, grouped per table. */
export function ruleLines(rules: readonly Rule[], op: 'add' | 'delete'): Map<Table, string[]> {
  const byTable = new Map<Table, string[]>();
  // Rules inserted at the top go in reverse so that their block keeps its order.
  const ordered = op === 'add' ? [...rules.filter((r) => !r.top), ...rules.filter((r) => r.top).reverse()] : rules;
  for (const r of ordered) {
    const line = op === 'delete' ? `-D ${r.chain} ${r.spec}` : r.top ? `-I ${r.chain} 1 ${r.spec}` : `-A ${r.chain} ${r.spec}`;
    const lines = byTable.get(r.table) ?? [];
    lines.push(line);
    byTable.set(r.table, lines);
  }
  return byTable;
}

/** iptables-restore --noflush input adding (or deleting) rules. */
export function renderRules(rules: readonly Rule[], op: 'add' | 'delete'): string {
  return renderTables(ruleLines(rules, op));
}

export function renderTables(byTable: Map<Table, string[]>): string {
  let out = '';
  for (const [table, lines] of byTable) if (lines.length) out += `*${table}\n${lines.join('\n')}\nCOMMIT\n`;
  return out;
}

export interface SavedTable { chains: Set<string>; rules: string[] }

/** Parses iptables-save output: per table, its chains and its "-A ..." lines. */
export function parseSave(text: string): Map<Table | string, SavedTable> {
  const out = new Map<string, SavedTable>();
  let cur: SavedTable | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) {
      cur = { chains: new Set(), rules: [] };
      out.set(line.slice(1).trim(), cur);
    } else if (!cur) {
      continue;
    } else if (line.startsWith(':')) {
      cur.chains.add(line.slice(1).split(' ')[0]!);
    } else if (line.startsWith('-A ')) {
      cur.rules.push(line);
    }
  }
  return out;
}

/**
 * The restore input that creates whatever infrastructure `saved` lacks, plus `extra`
 * rules in the same transaction. Chains that hold pod rules are only declared when
 * missing (declaring an existing chain with --noflush flushes it).
 */
export function repairInfrastructure(family: Family, saved: Map<string, SavedTable>, extra: readonly Rule[]): string {
  const decls = new Map<Table, string[]>();
  const lines = new Map<Table, string[]>();
  const push = (m: Map<Table, string[]>, t: Table, l: string): void => {
    m.set(t, [...(m.get(t) ?? []), l]);
  };
  const declared = new Set<string>();
  for (const p of infrastructure(family)) {
    const t = saved.get(p.table) ?? { chains: new Set<string>(), rules: [] };
    const key = `${p.table}/${p.chain}`;
    if (!declared.has(key) && (p.static || !t.chains.has(p.chain))) {
      declared.add(key);
      push(decls, p.table, `:${p.chain} - [0:0]`);
      for (const r of p.rules) push(lines, p.table, `-A ${p.chain} ${r}`);
    }
    const j = p.jump;
    if (j && !t.rules.some((l) => l.startsWith(`-A ${j.from} `) && l.includes(`-j ${p.chain}`))) {
      push(lines, p.table, j.top ? `-I ${j.from} 1 ${j.spec}` : `-A ${j.from} ${j.spec}`);
    }
  }
  for (const [table, ls] of ruleLines(extra, 'add')) for (const l of ls) push(lines, table, l);
  const out = new Map<Table, string[]>();
  for (const t of new Set([...decls.keys(), ...lines.keys()])) out.set(t, [...(decls.get(t) ?? []), ...(lines.get(t) ?? [])]);
  return renderTables(out);
}

/**
 * The restore input that removes our shared chains and the jumps into them, once no
 * pod's rule is left in them ('' while one is, or when none of it exists): what
 * `kna cleanup` does after the last pod is gone.
 */
export function removeInfrastructure(family: Family, saved: Map<string, SavedTable>): string {
  const pieces = infrastructure(family);
  const ours = new Set(pieces.map((p) => `${p.table}/${p.chain}`));
  const chainOf = (line: string): string => line.split(' ')[1] ?? '';
  for (const [table, t] of saved) {
    if (t.rules.some((l) => ours.has(`${table}/${chainOf(l)}`) && tagOf(l) !== undefined)) return '';
  }
  const jumps = new Map<Table, string[]>();
  const drops = new Map<Table, string[]>();
  for (const table of new Set(pieces.map((p) => p.table))) {
    const t = saved.get(table);
    if (!t) continue;
    const mine = pieces.filter((p) => p.table === table && t.chains.has(p.chain)).map((p) => p.chain);
    const chains = [...new Set(mine)];
    jumps.set(table, t.rules.filter((l) => !chains.includes(chainOf(l)) && chains.some((c) => l.endsWith(` -j ${c}`))).map((l) => `-D ${l.slice(3)}`));
    drops.set(table, [...chains.map((c) => `-F ${c}`), ...chains.map((c) => `-X ${c}`)]);
  }
  const out = new Map<Table, string[]>();
  for (const [table, ls] of jumps) {
    const all = [...ls, ...(drops.get(table) ?? [])];
    if (all.length) out.set(table, all);
  }
  return out.size ? renderTables(out) : '';
}

const TAG_RE = /kna-cni\/[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+\/[A-Za-z0-9_.@+=-]+/;

export function tagOf(savedRule: string): string | undefined {
  return TAG_RE.exec(savedRule)?.[0];
}

/** Delete input for saved rules: "-A chain spec" lines become "-D chain spec". */
export function deleteSaved(table: Table, lines: readonly string[]): string {
  return renderTables(new Map([[table, lines.map((l) => `-D ${l.slice(3)}`)]]));
}
