#!/usr/bin/env bash
# Stops the agent and containerd that up.sh started and removes what they made:
# pods, their network, proxy rules, containerd's state. Keeps installed packages.
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || { echo "scripts/down.sh must run as root" >&2; exit 1; }
ensure_node
stop_agent
if containerd_running && [ -f "$KNA_SRC/dist/agent/cli/main.js" ]; then
  node "$KNA_SRC/dist/agent/cli/main.js" cleanup --root-dir "$KNA_ROOT" \
    --container-runtime-endpoint "unix://$KNA_CONTAINERD_SOCK" || true
fi
stop_containerd
# Mounts containerd or pods left under our directories (shm, rootfs, volumes).
{ grep -E " ($KNA_ROOT|$KNA_RUN)/" /proc/self/mounts || true; } | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
ip link del kna0 2>/dev/null || true
rm -rf "$KNA_RUN" "$KNA_ROOT/containerd" "$KNA_ROOT/pods" "$KNA_ROOT/logs" "$KNA_ROOT/cni" "$KNA_ROOT/service-cluster-ips.json" "$KNA_CNI_CONF/10-kna.conflist"
log "stopped kna and containerd"
