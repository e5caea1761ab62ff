// Entry point inside the VM (scripts/vm-test.sh, see test/integration/proxy-ipvs-vm.test.ts):
// IPVS mode's start-up check must pass on a kernel that has IPVS (it also loads the
// modules), then the given test files run with KNA_PROXY_MODES=ipvs, one file at a
// time; the exit status is the test runner's.
import { spawn } from 'node:child_process';
import { IpvsBackend } from '../../agent/proxy/ipvs/backend.js';
import { commandRunner } from '../../agent/proxy/runner.js';

await new IpvsBackend(commandRunner(), 4).preflight();
process.stderr.write('kna-vm: IPVS preflight passed\n');
const child = spawn(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...process.argv.slice(2)], {
  stdio: 'inherit', env: { ...process.env, KNA_PROXY_MODES: 'ipvs' },
});
child.on('exit', (code) => process.exit(code ?? 1));
