// The CNI_* environment, checked per command as the spec requires.
import { isValidContainerId, isValidIfName } from './net/names.js';
import { Code, CniError } from './spec/errors.js';

export const COMMANDS = ['ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC'] as const;
export type Command = (typeof COMMANDS)[number];

export interface CniEnv {
  command: Command;
  containerId: string;
  /** May be empty on DEL (the runtime lost or never had the netns). */
  netns: string;
  ifname: string;
  args: Map<string, string>;
  path: string[];
}

export function readCommand(env: NodeJS.ProcessEnv): Command {
  const c = env.CNI_COMMAND;
  if (!c) throw new CniError(Code.InvalidEnvironment, 'CNI_COMMAND: not set');
  if (!(COMMANDS as readonly string[]).includes(c)) throw new CniError(Code.InvalidEnvironment, `CNI_COMMAND: unknown command ${JSON.stringify(c)}`);
  return c as Command;
}

export function readEnv(env: NodeJS.ProcessEnv): CniEnv {
  const command = readCommand(env);
  const attach = command === 'ADD' || command === 'DEL' || command === 'CHECK';
  const containerId = env.CNI_CONTAINERID ?? '';
  const netns = env.CNI_NETNS ?? '';
  const ifname = env.CNI_IFNAME ?? '';
  if (attach) {
    if (!containerId) throw new CniError(Code.InvalidEnvironment, 'CNI_CONTAINERID: not set');
    if (!isValidContainerId(containerId)) {
      throw new CniError(Code.InvalidEnvironment, `CNI_CONTAINERID: ${JSON.stringify(containerId)} must start alphanumeric, then alphanumerics, "_", "." or "-" (at most 128)`);
    }
    if (!ifname) throw new CniError(Code.InvalidEnvironment, 'CNI_IFNAME: not set');
    if (!isValidIfName(ifname)) throw new CniError(Code.InvalidEnvironment, `CNI_IFNAME: ${JSON.stringify(ifname)} is not a valid interface name`);
    if (command !== 'DEL') {
      if (!netns) throw new CniError(Code.InvalidEnvironment, 'CNI_NETNS: not set');
    }
    if (netns && (!netns.startsWith('/') || netns.includes('\0'))) {
      throw new CniError(Code.InvalidEnvironment, `CNI_NETNS: ${JSON.stringify(netns)} must be an absolute path`);
    }
  }
  return { command, containerId, netns, ifname, args: parseArgs(env.CNI_ARGS ?? ''), path: (env.CNI_PATH ?? '').split(':').filter(Boolean) };
}

/** `K=V;K2=V2`. Unknown keys are fine (containerd always sends IgnoreUnknown=1). */
export function parseArgs(s: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of s.split(';')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw new CniError(Code.InvalidEnvironment, `CNI_ARGS: ${JSON.stringify(part)} is not KEY=VALUE`);
    out.set(part.slice(0, eq), part.slice(eq + 1));
  }
  return out;
}
