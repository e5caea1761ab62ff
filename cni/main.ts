// kna-cni: bridge + host-local IPAM + portmap + masquerade in one CNI plugin.
// The runtime runs it once per pod and command, so start-up is most of its cost:
// commands are imported lazily (VERSION loads no netlink, no iptables code), and
// errors become the spec's error JSON on stdout with a non-zero exit.
import './require-shim.js';
import { readFileSync } from 'node:fs';
import { isatty } from 'node:tty';
import { readCommand, readEnv, type Command } from './env.js';
import { asCniError } from './spec/errors.js';
import { toVersion } from './spec/result.js';
import { trace } from './trace.js';
import { CURRENT_VERSION, isSupported, SUPPORTED_VERSIONS } from './spec/version.js';

async function main(): Promise<number> {
  trace('start');
  let cniVersion = CURRENT_VERSION;
  try {
    const command: Command = readCommand(process.env);
    const stdin = await readStdin();
    if (command === 'VERSION') {
      const asked = versionAsked(stdin);
      write({ cniVersion: asked && isSupported(asked) ? asked : CURRENT_VERSION, supportedVersions: [...SUPPORTED_VERSIONS] });
      return 0;
    }
    // VERSION needs none of the config code.
    const { configVersion, decodeConfig, parseConfig } = await import('./spec/config.js');
    const raw = decodeConfig(stdin);
    cniVersion = configVersion(raw);
    const env = readEnv(process.env);
    const conf = parseConfig(raw);
    trace('config parsed');
    switch (env.command) {
      case 'ADD': {
        const { cmdAdd } = await import('./commands/add.js');
        write(toVersion(await cmdAdd(env, conf), cniVersion));
        break;
      }
      case 'DEL':
        await (await import('./commands/del.js')).cmdDel(env, conf);
        break;
      case 'CHECK':
        await (await import('./commands/check.js')).cmdCheck(env, conf);
        break;
      case 'STATUS':
        (await import('./commands/status.js')).cmdStatus(conf);
        break;
      case 'GC':
        await (await import('./commands/gc.js')).cmdGc(conf);
        break;
    }
    return 0;
  } catch (e) {
    write(asCniError(e).toJSON(cniVersion));
    return 1;
  }
}

/** Sync read of the pipe; a non-blocking stdin (EAGAIN) falls back to the stream. */
async function readStdin(): Promise<string> {
  if (isatty(0)) return '';
  try {
    return readFileSync(0, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EAGAIN') return code === 'EOF' || code === 'ENXIO' || code === 'EBADF' ? '' : Promise.reject(e);
  }
  let text = '';
  for await (const chunk of process.stdin) text += String(chunk);
  return text;
}

function versionAsked(stdin: string): string | undefined {
  try {
    const v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

function write(obj: unknown): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

// Exit explicitly: a stray handle (a child's pipe, a socket) must not keep the
// runtime waiting. Writes to a pipe are synchronous on Linux, so nothing is lost.
main().then((code) => {
  trace('done');
  process.exit(code);
}, (e: unknown) => {
  process.stderr.write(`kna-cni: ${String(e)}\n`);
  process.exit(1);
});
