#!/usr/bin/env bash
# Brings up a standalone kna node on this host (Debian 12/13, as root): installs what
# is missing, builds, starts containerd with our config and `kna run` on the manifest
# folder (KNA_MANIFESTS, default examples/), passing KNA_ARGS on. Safe to run again:
# it restarts whatever died, and restarts the agent when KNA_ARGS changed.
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || { echo "scripts/up.sh must run as root" >&2; exit 1; }

setup_host

manifests=$(realpath "${KNA_MANIFESTS:-$KNA_SRC/examples}")
args=(run --manifests "$manifests" --root-dir "$KNA_ROOT" --pod-cidr "$KNA_POD_CIDR"
  --container-runtime-endpoint "unix://$KNA_CONTAINERD_SOCK" --cni-bin-dir "$KNA_CNI_BIN" --cni-conf-dir "$KNA_CNI_CONF")
# shellcheck disable=SC2206 # KNA_ARGS is a list of flags, split on purpose
extra=(${KNA_ARGS:-})
want="$(printf '%q ' "${args[@]}" "${extra[@]}") $(cat "$KNA_SRC/dist/.kna-build")"

pidfile=$KNA_RUN/kna.pid
if pidfile_alive "$pidfile"; then
  if [ "$(cat $KNA_RUN/kna.args 2>/dev/null)" = "$want" ]; then
    log "kna is running (pid $(cat "$pidfile")); log in $KNA_LOG"
    exit 0
  fi
  log "arguments or build changed: restarting kna"
  stop_agent
fi
log "starting kna ${args[*]} ${extra[*]}"
setsid /usr/local/bin/kna "${args[@]}" "${extra[@]}" >>"$KNA_LOG" 2>&1 < /dev/null &
echo $! > "$pidfile"
echo "$want" > $KNA_RUN/kna.args
for _ in $(seq 1 100); do
  pidfile_alive "$pidfile" || { echo "kna exited at start; the end of $KNA_LOG:" >&2; tail -20 "$KNA_LOG" >&2; exit 1; }
  [ -S "$KNA_ROOT/kna.sock" ] && break
  sleep 0.1
done
log "kna is running (pid $(cat "$pidfile")), serving $manifests; log in $KNA_LOG"
echo "try: kna get pods -o wide"
