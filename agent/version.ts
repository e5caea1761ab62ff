import { readFileSync } from 'node:fs';
import { packagePath } from './util/package-path.js';

/** The package version, read once from the package's package.json. */
export const VERSION: string = (() => {
  try {
    return (JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
})();
