// What can be checked of the Vagrant cluster on a host that cannot boot VMs: the
// Vagrantfile is evaluated by `vagrant validate` where Debian ships vagrant (else only
// its Ruby syntax is checked, and the test's name says so), the provisioning scripts
// pass `shellcheck -x`, and what they compute for the agent (the workers' pod CIDRs,
// which node IPAM must agree with, and the CA pin for `kna join`) is checked against
// the agent's own code and the test control plane's model of node IPAM.
// scripts/test.sh installs the tools (ensure_test_tools in scripts/lib.sh).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { execa } from 'execa';
import { caCertHash } from '../../agent/apiserver/x509.js';
import { allocateNodeCIDR } from '../apiserver/controllers.js';

const SCRIPTS = readdirSync('vagrant').filter((f) => f.endsWith('.sh')).map((f) => join('vagrant', f));
const found = async (cmd: string) => (await execa('sh', ['-c', `command -v ${cmd}`], { reject: false })).exitCode === 0;
const vagrantVersion = (await found('vagrant')) ? (await execa('vagrant', ['--version'], { env: { VAGRANT_CHECKPOINT_DISABLE: '1' } })).stdout.trim() : undefined;

/** The environment without the caller's KNA_* settings, so the defaults are what is checked. */
function cleanEnv(extra: Record<string, string>): Record<string, string> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k, v]) => !k.startsWith('KNA_') && !k.startsWith('VAGRANT_') && v !== undefined)) as Record<string, string>;
  return { ...env, ...extra };
}

/** Runs bash with vagrant/common.sh sourced, as the VMs' scripts do. */
async function common(script: string, env: Record<string, string> = {}): Promise<string> {
  const r = await execa('bash', ['-c', `source vagrant/common.sh; ${script}`], { env: cleanEnv(env), extendEnv: false });
  return r.stdout;
}

if (vagrantVersion) {
  test(`Vagrantfile: \`vagrant validate\` (${vagrantVersion}) accepts 2 and 3 workers, rejects bad settings`, async (t) => {
    const tmp = mkdtempSync(join(tmpdir(), 'kna-t-vagrant-'));
    const leftovers = ['.vagrant', '.vagrant-join'].filter((d) => !existsSync(d));
    t.after(() => rmSync(tmp, { recursive: true, force: true }));
    // Its own home and machine folder, no update check: nothing touches the network or the checkout.
    const validate = (env: Record<string, string>) => execa('vagrant', ['validate', '--ignore-provider'], {
      env: cleanEnv({ VAGRANT_HOME: join(tmp, 'home'), VAGRANT_DOTFILE_PATH: join(tmp, 'dot'), VAGRANT_CHECKPOINT_DISABLE: '1', VAGRANT_NO_COLOR: '1', ...env }),
      extendEnv: false, reject: false, all: true,
    });
    const machines = (out: string) => [...out.matchAll(/^==> (\S+): Ignoring provider config/gm)].map((m) => m[1]);

    const def = await validate({});
    assert.equal(def.exitCode, 0, def.all);
    assert.match(def.all ?? '', /Vagrantfile validated successfully/);
    assert.deepEqual(machines(def.all ?? ''), ['cp', 'w1', 'w2']);
    const three = await validate({ KNA_WORKERS: '3', KNA_BOX: 'debian/trixie64', KNA_K8S_VERSION: '1.32' });
    assert.equal(three.exitCode, 0, three.all);
    assert.deepEqual(machines(three.all ?? ''), ['cp', 'w1', 'w2', 'w3']);

    for (const [name, value, message] of [
      ['KNA_WORKERS', '0', 'KNA_WORKERS=0: must be a whole number from 1 to 50'],
      ['KNA_WORKERS', 'two', 'KNA_WORKERS=two: must be a whole number'],
      ['KNA_K8S_VERSION', 'v1.33.1', 'KNA_K8S_VERSION=v1.33.1: must be a Kubernetes minor version'],
      ['KNA_CPUS', '1', 'KNA_CPUS=1: must be a whole number from 2 to 64'],
    ] as const) {
      const bad = await validate({ [name]: value });
      assert.notEqual(bad.exitCode, 0, `${name}=${value} was accepted`);
      assert.ok(bad.all?.includes(message), `${name}=${value}: ${bad.all}`);
    }
    for (const d of leftovers) assert.ok(!existsSync(d), `vagrant validate left ${d} in the checkout`);
  });
} else {
  test('Vagrantfile: Ruby syntax only (`ruby -c`; vagrant is not packaged for this Debian, so `vagrant validate` did not run)', async () => {
    assert.ok(await found('ruby'), 'ruby is missing: scripts/test.sh installs it (ensure_test_tools)');
    const r = await execa('ruby', ['-c', 'Vagrantfile'], { reject: false, all: true });
    assert.equal(r.exitCode, 0, r.all);
    assert.match(r.stdout, /Syntax OK/);
  });
}

test('vagrant/*.sh: shellcheck -x is clean, and every script runs under set -euo pipefail', async () => {
  assert.ok(await found('shellcheck'), 'shellcheck is missing: scripts/test.sh installs it (ensure_test_tools)');
  assert.deepEqual(SCRIPTS.sort(), ['vagrant/common.sh', 'vagrant/control-plane.sh', 'vagrant/worker.sh']);
  const r = await execa('shellcheck', ['-x', ...SCRIPTS], { reject: false, all: true });
  assert.equal(r.exitCode, 0, r.all);
  for (const f of SCRIPTS) assert.match(readFileSync(f, 'utf8'), /^set -euo pipefail$/m, f);
  // The Vagrantfile runs the scripts by these paths inside the VMs.
  const vagrantfile = readFileSync('Vagrantfile', 'utf8');
  for (const f of ['vagrant/control-plane.sh', 'vagrant/worker.sh']) assert.ok(vagrantfile.includes(`bash /vagrant/${f}`), f);
});

test("the workers' --pod-cidr is the spec.podCIDR node IPAM gives them joining in order after cp; peers come from the API", async () => {
  const plan = await common('echo "$KNA_POD_NETWORK $KNA_CP_POD_CIDR $KNA_SERVICE_CIDR $KNA_CLUSTER_DNS"');
  assert.equal(plan, '10.244.0.0/16 10.244.0.0/24 10.96.0.0/12 10.96.0.10');
  const [network, cpCidr] = plan.split(' ') as [string, string];
  // kube-controller-manager's range allocator, as the test control plane models it: cp registers first.
  const used: string[] = [];
  let next = 0;
  const join = () => {
    const got = allocateNodeCIDR(network, 24, used, next)!;
    used.push(got.cidr);
    next = got.next;
    return got.cidr;
  };
  assert.equal(join(), cpCidr, 'cp takes the first /24, its own pods\' bridge network');
  for (const i of [1, 2, 3]) assert.equal(await common(`worker_pod_cidr ${i}`), join(), `w${i}`);
  // No static peers file: the agents publish and read the overlay's data on the Nodes.
  const worker = readFileSync('vagrant/worker.sh', 'utf8');
  assert.match(worker, /--overlay vxlan/);
  assert.doesNotMatch(worker, /--peers/);
});

test("the CA pin written for `kna join` is the agent's own hash of the CA (RSA as kubeadm makes it, and EC)", async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'kna-t-vagrant-ca-'));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));
  for (const key of ['rsa:2048', 'ec']) {
    const crt = join(tmp, 'ca.crt');
    await execa('openssl', ['req', '-x509', '-newkey', key, ...(key === 'ec' ? ['-pkeyopt', 'ec_paramgen_curve:P-256'] : []),
      '-nodes', '-subj', '/CN=kna-t-ca', '-days', '1', '-keyout', join(tmp, 'ca.key'), '-out', crt]);
    assert.equal(await common(`ca_cert_hash ${crt}`), caCertHash(readFileSync(crt)), key);
  }
});
