# shellcheck shell=bash disable=SC2034 # variables here are used by vm-test.sh
# Helpers for scripts/vm-test.sh (source scripts/lib.sh first): a Debian kernel that
# is never installed on the host, only unpacked into a cache, and a small initramfs
# that boots it into a copy-on-write view of this host's /. Why: this host's kernel
# has no IPVS; Debian's has it as modules.
#
# Cache layout (made once; delete the folder to take the kernel apt offers now):
#   $KNA_VM_CACHE/<kver>/vmlinuz, vmlinux          Debian's bzImage and the ELF inside it
#   $KNA_VM_CACHE/<kver>/lib/modules/<kver>/      all its modules, depmod'ed
#   $KNA_VM_CACHE/<kver>/initramfs-<hash>.img     hash of this file: a changed init rebuilds it

KNA_VM_CACHE=${KNA_VM_CACHE:-/opt/kna/vm}
# qemu + what the initramfs is made of (busybox, cpio, kmod's depmod), and what tests in
# the guest use from the host's / (kmod's modprobe, ipvsadm, ipset, iptables, ip).
KNA_VM_PACKAGES=(qemu-system-x86 busybox-static cpio kmod xz-utils ipvsadm ipset iptables iproute2)
# Loaded by the initramfs, with their dependencies, before it mounts the host's /.
KNA_VM_BOOT_MODULES=(virtio_pci 9pnet_virtio 9p overlay)

# Serialises cache builds between concurrent vm-test.sh runs.
vm_lock() {
  mkdir -p "$KNA_VM_CACHE"
  exec {KNA_VM_LOCK_FD}>"$KNA_VM_CACHE/.lock"
  flock "$KNA_VM_LOCK_FD"
}
vm_unlock() { exec {KNA_VM_LOCK_FD}>&-; }

# The versioned package behind linux-image-amd64 (linux-image-6.1.0-57-amd64 on
# Debian 12); empty when apt knows none.
vm_kernel_package() {
  apt-cache depends linux-image-amd64 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }' || true
}

# Sets KNA_VM_KVER and KNA_VM_DIR: the kernel unpacked earlier, else the one apt offers
# now (asking apt costs ~2 s a run; delete $KNA_VM_CACHE to take a newer kernel).
# `apt-get download` + `dpkg-deb -x` rather than an install: installing a kernel runs
# the host's initramfs and boot-loader hooks, and the host does not boot it anyway.
ensure_vm_kernel() {
  local d
  for d in "$KNA_VM_CACHE"/*/; do
    d=${d%/}; KNA_VM_KVER=${d##*/}; KNA_VM_DIR=$d
    # Complete: the folder is moved into place only once everything is in it.
    [ -f "$d/vmlinuz" ] && [ -f "$d/lib/modules/$KNA_VM_KVER/modules.dep" ] && return 0
  done
  local pkg; pkg=$(vm_kernel_package)
  if [ -z "$pkg" ]; then apt-get update -qq; pkg=$(vm_kernel_package); fi
  [ -n "$pkg" ] || { echo "kna-vm: apt knows no linux-image-amd64" >&2; return 1; }
  KNA_VM_KVER=${pkg#linux-image-}
  KNA_VM_DIR=$KNA_VM_CACHE/$KNA_VM_KVER
  log "kna-vm: fetching $pkg (unpacked into $KNA_VM_DIR, not installed)"
  local tmp; tmp=$(mktemp -d "$KNA_VM_CACHE/.new.XXXXXX")
  # A stale package list names a file the mirror dropped: refresh once and retry.
  (cd "$tmp" && apt-get download -qq "$pkg" 2>/dev/null) ||
    { apt-get update -qq; (cd "$tmp" && apt-get download -qq "$pkg" 2>/dev/null); } ||
    { rm -rf "$tmp"; echo "kna-vm: apt-get download $pkg failed" >&2; return 1; }
  dpkg-deb -x "$tmp"/*.deb "$tmp/deb"
  local mods
  mods=$(find "$tmp/deb" -maxdepth 4 -type d -path "*/modules/$KNA_VM_KVER" | head -1) || true
  if [ -z "$mods" ] || [ ! -f "$tmp/deb/boot/vmlinuz-$KNA_VM_KVER" ]; then
    rm -rf "$tmp"; echo "kna-vm: $pkg holds no vmlinuz-$KNA_VM_KVER or modules" >&2; return 1
  fi
  mkdir -p "$tmp/k/lib/modules" "$tmp/k/usr/lib"
  mv "$mods" "$tmp/k/lib/modules/$KNA_VM_KVER"
  # kmod may look under lib/ or usr/lib/ (merged /usr): both lead to the same folder.
  ln -s ../../lib/modules "$tmp/k/usr/lib/modules"
  mv "$tmp/deb/boot/vmlinuz-$KNA_VM_KVER" "$tmp/k/vmlinuz"
  if grep -qx 'CONFIG_PVH=y' "$tmp/deb/boot/config-$KNA_VM_KVER" 2>/dev/null; then
    vm_extract_vmlinux "$tmp/k/vmlinuz" "$tmp/k/vmlinux"
  fi
  depmod -b "$tmp/k" "$KNA_VM_KVER"
  # Leftovers of an interrupted run.
  find "$KNA_VM_CACHE" -mindepth 1 -maxdepth 1 \( -name '.new.*' -o -name '.initrd.*' \) -not -path "$tmp" -exec rm -rf {} +
  rm -rf "$KNA_VM_DIR"
  mv "$tmp/k" "$KNA_VM_DIR"
  rm -rf "$tmp"
}

# The ELF kernel inside a bzImage (xz, as Debian builds it), which qemu boots directly
# (PVH entry): that skips a decompression that takes ~9 s under emulation. Leaves no
# file when there is none; vm-test.sh then boots the bzImage.
vm_extract_vmlinux() {
  local off
  off=$(LC_ALL=C grep -m1 -obUaP '\xfd7zXZ\x00' "$1" | head -1 | cut -d: -f1) || true
  [ -n "$off" ] || return 0
  # xz stops with an error at the data after its stream; the ELF magic decides.
  tail -c +$((off + 1)) "$1" | xz -dc > "$2" 2>/dev/null || true
  [ "$(head -c 4 "$2" | od -An -c | tr -d ' ')" = '177ELF' ] || rm -f "$2"
}

# Sets KNA_VM_INITRD, building it when this file changed since the last build.
ensure_vm_initramfs() {
  local hash; hash=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-12)
  KNA_VM_INITRD=$KNA_VM_DIR/initramfs-$hash.img
  [ -f "$KNA_VM_INITRD" ] && return 0
  log "kna-vm: building the initramfs for $KNA_VM_KVER"
  local tmp; tmp=$(mktemp -d "$KNA_VM_CACHE/.initrd.XXXXXX")
  mkdir -p "$tmp"/{bin,dev,proc,sys,host,rw,newroot,lib/modules}
  cp /bin/busybox "$tmp/bin/busybox"
  ln -s busybox "$tmp/bin/sh"
  # Module files in load order, dependencies first, each once, decompressed for
  # busybox's insmod (Debian 13 ships .ko.xz).
  local m line f base
  : > "$tmp/modules"
  for m in "${KNA_VM_BOOT_MODULES[@]}"; do
    while read -r line; do
      case $line in insmod\ *) ;; *) continue ;; esac
      f=${line#insmod }; f=${f%% *}
      base=$(basename "$f"); base=${base%.xz}; base=${base%.zst}; base=${base%.gz}
      grep -qxF "$base" "$tmp/modules" && continue
      case $f in
        *.xz) xz -dc "$f" > "$tmp/lib/modules/$base" ;;
        *.zst) zstd -qdc "$f" > "$tmp/lib/modules/$base" ;;
        *.gz) gzip -dc "$f" > "$tmp/lib/modules/$base" ;;
        *) cp "$f" "$tmp/lib/modules/$base" ;;
      esac
      echo "$base" >> "$tmp/modules"
    done < <(modprobe -d "$KNA_VM_DIR" -S "$KNA_VM_KVER" --show-depends "$m")
  done
  grep -qx '9p.ko' "$tmp/modules" || { rm -rf "$tmp"; echo "kna-vm: no 9p module in $KNA_VM_KVER" >&2; return 1; }
  printf 'KVER=%q\nMODULES=%q\n' "$KNA_VM_KVER" "$KNA_VM_DIR/lib/modules/$KNA_VM_KVER" > "$tmp/vm.conf"
  vm_init_stage1 > "$tmp/init"
  vm_init_stage2 > "$tmp/stage2"
  chmod 0755 "$tmp/init"
  (cd "$tmp" && find . -mindepth 1 | sort | cpio --quiet -o -H newc -R 0:0 | gzip -1) > "$tmp.img"
  # Older images go once no run that started with one can still be reading it.
  find "$KNA_VM_DIR" -maxdepth 1 -name 'initramfs-*.img' -mmin +60 -delete
  mv "$tmp.img" "$KNA_VM_INITRD"
  rm -rf "$tmp"
}

# Stage 1, busybox in the initramfs (static, in RAM: fast where each exec of a host
# binary over 9p costs a lot under emulation), does the whole boot: the host's / over
# 9p, read-only, under a tmpfs overlay; the result share on /run/kna-vm; the cached
# modules on /lib/modules/<kver>; /dev, /proc, /sys, cgroup2, lo up. Then switch_root,
# not a chroot in a child: the overlay becomes the root of PID 1 and of the kernel's
# threads, so module auto-loading (nf_tables, xt_*) finds the host's /sbin/modprobe,
# and pivot_root works inside.
vm_init_stage1() {
  cat <<'INIT'
#!/bin/sh
export PATH=/bin
/bin/busybox --install -s /bin
mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
fail() { echo "kna-vm: $*"; echo b > /proc/sysrq-trigger; sleep 60; }
mark() { read -r up _ < /proc/uptime; echo "kna-vm: $up s $*"; }
mark stage 1
mount -t sysfs sys /sys
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=0620,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs -o nosuid,nodev shm /dev/shm
ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout
ln -s /proc/self/fd/2 /dev/stderr
. /vm.conf
for m in $(cat /modules); do insmod "/lib/modules/$m" || fail "insmod $m failed"; done
mark modules
p9='trans=virtio,version=9p2000.L,msize=512000'
# cache=loose: the host's / does not change under a test, and it halves start-up times.
mount -t 9p -o "$p9,cache=loose,ro" hostroot /host || fail "cannot mount the host's / (9p)"
mount -t tmpfs -o mode=0755 rw /rw
mkdir /rw/upper /rw/work
mount -t overlay -o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work root /newroot || fail "overlay failed"
mount -t tmpfs -o mode=0755,nosuid,nodev run /newroot/run
mkdir -p /newroot/run/kna-vm "/newroot/lib/modules/$KVER"
mount -t 9p -o "$p9" kna-io /newroot/run/kna-vm || fail "cannot mount the result share (9p)"
mount -o bind,ro "/newroot$MODULES" "/newroot/lib/modules/$KVER" || fail "no modules at $MODULES"
cp /stage2 /newroot/run/kna-vm-stage2
# `ip netns add` bind-mounts under /run/netns and needs shared propagation.
mount --make-rshared /newroot
hostname kna-vm
ip link set lo up
mark switch_root
for d in dev proc sys; do mount --move "/$d" "/newroot/$d"; done
exec switch_root /newroot /bin/bash /run/kna-vm-stage2
INIT
}

# Stage 2, the host's bash as PID 1 on the overlay: the command as the caller gave it
# (argv, environment, cwd from the share, NUL-separated), its output into files on the
# share that vm-test.sh streams, its status into `rc`, then an immediate reboot, which
# ends qemu (-no-reboot).
vm_init_stage2() {
  cat <<'STAGE2'
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
io=/run/kna-vm
mark() { read -r up _ < /proc/uptime; echo "kna-vm: $up s $*" > /dev/console; }
mapfile -d '' -t argv < "$io/argv"
mapfile -d '' -t envv < "$io/env"
cwd=$(< "$io/cwd")
mark command
# Redirections on the command alone: bash's own notes ("Terminated") go to the console.
if cd -- "$cwd" 2>/dev/null; then
  env -i "${envv[@]}" "${argv[@]}" < /dev/null > "$io/stdout" 2> "$io/stderr"
  rc=$?
else
  echo "kna-vm: the working directory $cwd does not exist in the VM (its /run is empty)" > "$io/stderr"
  rc=125
fi
mark "command exited $rc"
echo $rc > "$io/rc"
sync
echo b > /proc/sysrq-trigger
sleep 60
STAGE2
}
