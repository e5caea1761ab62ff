// Loads the `netlink` package's native socket. Bundled, the addon travels inside
// kna-cni and is extracted once to a cache file (named by package version and
// arch, written to a temp name and renamed, so concurrent first runs are safe);
// unbundled (tsc output), it is loaded from node_modules.
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import pkg from 'netlink/package.json' with { type: 'json' };
import { SystemError } from '../spec/errors.js';

export interface NativeSocket {
  bind(port: number, groups: number): void;
  send(port: number, groups: number, data: Buffer, cb: (err?: Error) => void): void;
  close(): void;
}
export interface NativeBinding {
  NativeNetlink: new (
    protocol: number,
    msgBuffer: number,
    onMessage: (msg: Buffer, rinfo: { port: number; truncated?: number }) => void,
    onError: (err: Error) => void,
  ) => NativeSocket;
}

let loaded: NativeBinding | undefined;

export async function loadBinding(cacheDir: string): Promise<NativeBinding> {
  if (loaded) return loaded;
  if (process.arch !== 'x64') throw new SystemError('netlink', `kna-cni embeds the netlink addon for x64 only, not ${process.arch}`);
  const file = join(cacheDir, `netlink-${pkg.version}-${process.platform}-${process.arch}.node`);
  let path = file;
  if (!existsSync(file)) {
    const bytes: unknown = await import('./prebuild.js').then((m) => m.default as unknown, () => undefined);
    if (bytes instanceof Uint8Array) {
      try {
        mkdirSync(cacheDir, { recursive: true, mode: 0o755 });
        const tmp = `${file}.${process.pid}.tmp`;
        writeFileSync(tmp, bytes, { mode: 0o644 });
        renameSync(tmp, file);
      } catch (e) {
        throw new SystemError(`write ${file}`, (e as Error).message);
      }
    } else {
      // Not bundled (tsc output, run from the repo root): node cannot import bytes,
      // but the package is on disk.
      const req = createRequire(join(process.cwd(), 'package.json'));
      path = join(dirname(req.resolve('netlink/package.json')), 'prebuilds/linux-x64/node.napi.node');
    }
  }
  const mod = { exports: {} as NativeBinding };
  try {
    process.dlopen(mod, path, constants.dlopen.RTLD_NOW);
  } catch (e) {
    throw new SystemError(`dlopen ${path}`, (e as Error).message);
  }
  loaded = mod.exports;
  return loaded;
}
