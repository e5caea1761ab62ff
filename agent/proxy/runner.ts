// How the proxy runs iptables-restore, iptables-save, conntrack and ip: argv arrays
// (never a shell), input on stdin. The agent runs them in its own (host) netns; tests
// run them inside a test netns through `ip netns exec NS ...`.
import { execa } from 'execa';

export interface CommandResult { readonly stdout: string; readonly stderr: string; readonly exitCode: number }

export interface CommandRunner {
  /** Runs argv; resolves with the exit code (non-zero is not an error here), rejects if it cannot start. */
  run(argv: readonly string[], input?: string): Promise<CommandResult>;
}

export class CommandStartError extends Error {
  override readonly name = 'CommandStartError';
  constructor(readonly argv: readonly string[], cause: unknown) {
    super(`cannot run ${argv[0]}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** Runs commands directly, prefixed by `prefix` (e.g. ['ip', 'netns', 'exec', NS]). */
export function commandRunner(prefix: readonly string[] = []): CommandRunner {
  return {
    async run(argv, input) {
      const full = [...prefix, ...argv];
      const r = await execa(full[0]!, full.slice(1), { input: input ?? '', reject: false, stripFinalNewline: false });
      if (r.exitCode === undefined) throw new CommandStartError(full, r.cause ?? r.message);
      return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode };
    },
  };
}

const NETNS_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Runs commands inside the named network namespace. */
export function netnsRunner(netns: string): CommandRunner {
  if (!NETNS_NAME.test(netns)) throw new Error(`invalid netns name ${JSON.stringify(netns)}`);
  return commandRunner(['ip', 'netns', 'exec', netns]);
}
