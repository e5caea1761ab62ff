// The I/O edge of IPVS mode: ipvsadm (-R batches on stdin, -Ln to read), ipset
// (restore on stdin, save), ip (the kube-ipvs0 dummy and its addresses, as one
// -batch), sysctl, and the start-up check of what the kernel and host provide.
// Argv arrays only; everything runs through the proxier's CommandRunner (its netns).
import { existsSync } from 'node:fs';
import { ProxyModeUnsupportedError } from '../backend.js';
import { parseSave, type SavedTables } from '../iptables/render.js';
import { restoreTable } from '../iptables/restore.js';
import { CommandStartError, type CommandResult, type CommandRunner } from '../runner.js';
import type { IPFamily } from '../types.js';
import { SETS } from './ipsets.js';
import { parseIpvsList, type KernelVirtualServer } from './model.js';
import { schedulerKernelOption, type IpvsScheduler } from './scheduler.js';

/** The dummy interface every Service address is bound to, so the node accepts packets for it (kube-proxy's name). */
export const DUMMY = 'kube-ipvs0';

export class IpvsCommandError extends Error {
  override readonly name = 'IpvsCommandError';
  constructor(readonly command: string, readonly exitCode: number, readonly stderr: string, readonly input?: string) {
    super(`${command} failed (exit ${exitCode}): ${stderr.trim()}${input ? `\ninput:\n${input.split('\n').slice(0, 8).join('\n')}` : ''}`);
  }
}

async function run(runner: CommandRunner, argv: readonly string[], input?: string): Promise<CommandResult> {
  const r = await runner.run(argv, input);
  if (r.exitCode !== 0) throw new IpvsCommandError(argv.join(' '), r.exitCode, r.stderr, input);
  return r;
}

/** Runs argv; undefined when the program is not installed. */
async function tryRun(runner: CommandRunner, argv: readonly string[], input?: string): Promise<CommandResult | undefined> {
  try {
    return await runner.run(argv, input);
  } catch (err) {
    if (err instanceof CommandStartError) return undefined;
    throw err;
  }
}

/** Applies ipvsadm commands, one per line. */
export async function ipvsadmRestore(runner: CommandRunner, lines: readonly string[]): Promise<void> {
  if (lines.length === 0) return;
  const input = `${lines.join('\n')}\n`;
  const r = await runner.run(['ipvsadm', '-R'], input);
  // ipvsadm -R reports a failed line on stderr, goes on with the next ones and may still exit 0.
  if (r.exitCode !== 0 || r.stderr.trim() !== '') throw new IpvsCommandError('ipvsadm -R', r.exitCode, r.stderr, input);
}

/** Virtual servers with their real servers and connection counts (empty without IPVS in the kernel). */
export async function ipvsadmList(runner: CommandRunner): Promise<Map<string, KernelVirtualServer>> {
  return parseIpvsList((await run(runner, ['ipvsadm', '-Ln'])).stdout);
}

export async function ipsetRestore(runner: CommandRunner, lines: readonly string[]): Promise<void> {
  // -exist: creating an existing set, adding a present or deleting an absent member is no error.
  if (lines.length > 0) await run(runner, ['ipset', 'restore', '-exist'], `${lines.join('\n')}\n`);
}

export async function ipsetSave(runner: CommandRunner): Promise<string> {
  return (await run(runner, ['ipset', 'save'])).stdout;
}

/** Addresses on kube-ipvs0 (of one family, or all); undefined when the link does not exist. */
export async function dummyAddresses(runner: CommandRunner, family?: IPFamily): Promise<string[] | undefined> {
  const r = await runner.run(['ip', '-j', ...(family ? [family === 6 ? '-6' : '-4'] : []), 'addr', 'show', 'dev', DUMMY]);
  if (r.exitCode !== 0) {
    if (/does not exist/.test(r.stderr)) return undefined;
    throw new IpvsCommandError(`ip addr show dev ${DUMMY}`, r.exitCode, r.stderr);
  }
  const links = JSON.parse(r.stdout || '[]') as Array<{ addr_info?: Array<{ local?: string }> }>;
  return links.flatMap((l) => (l.addr_info ?? []).map((a) => a.local).filter((a): a is string => typeof a === 'string'));
}

export async function createDummy(runner: CommandRunner): Promise<void> {
  await run(runner, ['ip', 'link', 'add', DUMMY, 'type', 'dummy']);
}

export async function deleteDummy(runner: CommandRunner): Promise<void> {
  const r = await runner.run(['ip', 'link', 'del', DUMMY]);
  if (r.exitCode !== 0 && !/does not exist|Cannot find device/.test(r.stderr)) throw new IpvsCommandError(`ip link del ${DUMMY}`, r.exitCode, r.stderr);
}

/** `ip -batch -`: stops at the first failing line. */
export async function ipBatch(runner: CommandRunner, lines: readonly string[]): Promise<void> {
  if (lines.length > 0) await run(runner, ['ip', '-batch', '-'], `${lines.join('\n')}\n`);
}

/**
 * What IPVS needs in this netns (kube-proxy sets the same): conntrack entries for IPVS
 * connections (iptables MASQUERADE works on them), connections to a deleted real server
 * expire on their next packet, and affinity to a weight-0 real server is not kept.
 */
export async function setSysctls(runner: CommandRunner): Promise<void> {
  await run(runner, ['sysctl', '-q', '-w', 'net.ipv4.vs.conntrack=1', 'net.ipv4.vs.expire_nodest_conn=1', 'net.ipv4.vs.expire_quiescent_template=1']);
}

/** Every table of this family (iptables-save); small in IPVS mode, whose rules never grow with Services. */
export async function iptablesSave(runner: CommandRunner, family: IPFamily): Promise<SavedTables> {
  return parseSave((await run(runner, [family === 6 ? 'ip6tables-save' : 'iptables-save'])).stdout);
}

/** Several tables in one iptables-restore --noflush call. */
export async function iptablesRestore(runner: CommandRunner, family: IPFamily, input: string): Promise<void> {
  if (input) await restoreTable(runner, family, input);
}

/** Is IPVS in this kernel (module loaded or built in)? */
export const kernelHasIpvs = (): boolean => existsSync('/proc/net/ip_vs');

const TEST_VIP = '192.0.2.1:1'; // TEST-NET-1, in a throw-away netns

/**
 * Start-up check: loads the modules (ignoring failures: they may be built in, or the
 * host has no modules), then fails with the kernel option or Debian package that is
 * missing. The scheduler, dummy and ipset probes run in a fresh network namespace
 * (`unshare --net`), so they leave nothing behind.
 */
export async function preflightIpvs(runner: CommandRunner, scheduler: IpvsScheduler): Promise<void> {
  // busybox's modprobe ignores soft dependencies: ip_vs needs crc32c through libcrc32c.
  for (const m of ['crc32c_generic', 'nf_conntrack', 'ip_vs', `ip_vs_${scheduler}`, 'dummy', 'ip_set', 'xt_set']) await tryRun(runner, ['modprobe', '-q', m]);
  const fail = (detail: string): never => { throw new ProxyModeUnsupportedError('ipvs', detail); };
  if (!kernelHasIpvs()) {
    fail(`this kernel has no IPVS support (no /proc/net/ip_vs, even after modprobe ip_vs): it needs CONFIG_IP_VS, the scheduler ${schedulerKernelOption(scheduler)}, CONFIG_NF_CONNTRACK and CONFIG_DUMMY; use --proxy-mode iptables or nftables here`);
  }
  const missing: string[] = [];
  for (const [argv, pkg] of [[['ipvsadm', '--version'], 'ipvsadm'], [['ipset', 'version'], 'ipset'], [['iptables-restore', '--version'], 'iptables']] as const) {
    if (!(await tryRun(runner, argv))) missing.push(pkg);
  }
  if (missing.length > 0) fail(`${missing.join(', ')} not found: install the Debian package(s) ${missing.join(' ')}`);

  const probe = async (argv: readonly string[], input?: string): Promise<CommandResult | undefined> => tryRun(runner, ['unshare', '--net', ...argv], input);
  const sched = await probe(['ipvsadm', '-A', '-t', TEST_VIP, '-s', scheduler]);
  if (sched && sched.exitCode !== 0) fail(`the IPVS scheduler ${scheduler} is not available (${sched.stderr.trim()}): it needs ${schedulerKernelOption(scheduler)}, or choose another --ipvs-scheduler`);
  const dummy = await probe(['ip', 'link', 'add', 'kna-probe0', 'type', 'dummy']);
  if (dummy && dummy.exitCode !== 0) fail(`this kernel cannot make the dummy interface ${DUMMY} (${dummy.stderr.trim()}): it needs CONFIG_DUMMY`);
  const creates = SETS.map((d, i) => `create kna-probe-${i} ${d.type}${d.type === 'bitmap:port' ? ' range 0-65535' : ''}`).join('\n');
  const sets = await probe(['ipset', 'restore'], `${creates}\n`);
  if (sets && sets.exitCode !== 0) {
    fail(`this kernel cannot make the ipsets IPVS mode needs (${sets.stderr.trim()}): it needs CONFIG_IP_SET with CONFIG_IP_SET_HASH_IP, _HASH_IPPORT, _HASH_IPPORTIP, _HASH_IPPORTNET, _BITMAP_PORT, and CONFIG_NETFILTER_XT_SET`);
  }
}
