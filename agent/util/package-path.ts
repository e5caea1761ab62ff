// Files of this package (proto/, package.json, dist/cni/kna-cni), found from the
// running code upwards, so the same lookup works from the per-file build
// (dist/agent/<part>/x.js) and from the one-file bundle (dist/agent/kna.cjs).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The package's root: the nearest folder above this code holding package.json. */
export function packageRoot(): string {
  if (root) return root;
  const here = fileURLToPath(import.meta.url);
  for (let d = dirname(here); ; d = dirname(d)) {
    if (existsSync(join(d, 'package.json'))) return (root = d);
    if (dirname(d) === d) throw new Error(`package.json not found above ${here}`);
  }
}

/** A path inside the package, e.g. packagePath('proto', 'runtime.proto'). */
export function packagePath(...parts: string[]): string {
  return join(packageRoot(), ...parts);
}
