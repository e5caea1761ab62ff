#!/usr/bin/env node
// `npm run bench -- NAME`: runs dist/test/bench/NAME.js, which prints one JSON object
// per line and ends with a summary holding ours, reference, ratio and units.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

const name = process.argv[2];
const list = existsSync('dist/test/bench') ? readdirSync('dist/test/bench').filter((f) => f.endsWith('.js')).map((f) => f.slice(0, -3)) : [];
if (!name || !list.includes(name)) {
  console.error(`usage: npm run bench -- NAME   (one of: ${list.join(', ') || 'none built yet; run npm run build'})`);
  process.exit(2);
}
const r = spawnSync(process.execPath, [`dist/test/bench/${name}.js`, ...process.argv.slice(3)], { stdio: 'inherit' });
process.exit(r.status ?? 1);
