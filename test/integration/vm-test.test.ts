// scripts/vm-test.sh as its users run it: one VM boot (emulation is slow) runs a bash
// script that checks what IPVS tests need from the guest: Debian's kernel, not this
// host's; ip_vs loaded and programmable with ipvsadm; `ip netns add`; netfilter in that
// netns; Node 24. The script also shows that argv and environment arrive intact, that
// stdout and stderr stay apart, and that its exit status (7) comes back. Everything it
// creates lives in the guest and vanishes with it (vm-test.sh removes its temp folder).
import assert from 'node:assert/strict';
import { release } from 'node:os';
import { test } from 'node:test';
import { execa } from 'execa';

const GUEST = String.raw`
set -euo pipefail
printf 'args=%s\n' "$(printf '[%s]' "$@")"
printf 'env=%s\n' "$KNA_T_VM_ENV"
echo "cwd=$PWD"
echo "kernel=$(uname -r)"
# busybox's modprobe ignores softdeps; kmod's honours them, but be explicit.
modprobe crc32c_generic
modprobe ip_vs
modprobe ip_vs_rr
[ -e /proc/net/ip_vs ] && echo 'ip_vs=loaded'
ip netns add kna-t-x
ip -n kna-t-x link set lo up
ip netns exec kna-t-x ipvsadm -A -t 10.96.0.1:80 -s rr
ip netns exec kna-t-x ipvsadm -a -t 10.96.0.1:80 -r 127.0.0.1:8080 -m
ip netns exec kna-t-x ipvsadm -Ln | grep -q '^TCP  10.96.0.1:80 rr' && echo 'ipvsadm=ok'
ip netns exec kna-t-x iptables -t nat -A OUTPUT -d 10.96.0.2 -j DNAT --to-destination 127.0.0.1
ip netns exec kna-t-x iptables -t nat -S OUTPUT | grep -q 10.96.0.2 && echo 'iptables=ok'
ip netns exec kna-t-x node -e 'console.log("node=" + process.versions.node.split(".")[0])'
echo 'to stderr' >&2
exit 7
`;

test('vm-test.sh runs a command in a VM with an IPVS kernel and returns its exit status', { timeout: 900_000 }, async () => {
  const env = `a "quoted" $value\nand a second line`;
  const r = await execa('scripts/vm-test.sh', ['bash', '-c', GUEST, 'guest', 'one arg', "it's", ''], {
    reject: false,
    env: { KNA_T_VM_ENV: env, KNA_VM_TIMEOUT: '600' },
    timeout: 850_000,
  });
  const report = `exit ${r.exitCode}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
  assert.equal(r.exitCode, 7, report);
  const lines = r.stdout.split('\n');
  assert.ok(lines.includes(`args=[one arg][it's][]`), report);
  assert.ok(r.stdout.includes(`env=${env}\n`), report);
  assert.ok(lines.includes(`cwd=${process.cwd()}`), report);
  const kernel = (lines.find((l) => l.startsWith('kernel=')) ?? '').slice('kernel='.length);
  assert.match(kernel, /-amd64$/, report);
  assert.notEqual(kernel, release(), 'the guest runs its own kernel');
  for (const line of ['ip_vs=loaded', 'ipvsadm=ok', 'iptables=ok', 'node=24']) assert.ok(lines.includes(line), `${line}\n${report}`);
  assert.ok(r.stderr.includes('to stderr'), report);
  assert.ok(!r.stdout.includes('to stderr'), 'stderr stays apart from stdout');
});
