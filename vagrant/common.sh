# Shared by the Vagrant VMs' provisioning (control-plane.sh, worker.sh): the cluster's
# address plan and what every node needs. It sources scripts/lib.sh for the project's
# own set-up steps (log, ensure_packages, ensure_node, ...).
# From the Vagrantfile: KNA_CP_IP, and KNA_WORKER_IPS (space separated, w1 first).
# shellcheck shell=bash source-path=SCRIPTDIR
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

# shellcheck disable=SC2034 # the plan, used by control-plane.sh and worker.sh
{
  KNA_POD_NETWORK=10.244.0.0/16 # kubeadm's --pod-network-cidr, the agents' --cluster-cidr
  KNA_SERVICE_CIDR=10.96.0.0/12
  KNA_CLUSTER_DNS=10.96.0.10    # kube-dns, the 10th address of the service range
  KNA_CP_POD_CIDR=10.244.0.0/24 # the control plane's own pods (CoreDNS), on a plain bridge
}
KNA_CP_IP=${KNA_CP_IP:-192.168.56.10}
# shellcheck disable=SC2034 # used by control-plane.sh and worker.sh
read -ra worker_ips <<<"${KNA_WORKER_IPS:-}"

# Worker N (from 1) runs its pods in 10.244.N.0/24. The controller manager hands out
# the same /24s in join order (the control plane took 10.244.0.0/24), so Node
# spec.podCIDR agrees as long as the workers join in order, which `vagrant up` does.
worker_pod_cidr() { echo "10.244.$1.0/24"; }

# kubeadm's --discovery-token-ca-cert-hash of a CA certificate: SHA-256 of its public key (SPKI DER).
ca_cert_hash() {
  local spki
  spki=$(openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform der | sha256sum)
  echo "sha256:${spki%% *}"
}

# install_text FILE [MODE]: stdin into FILE (mode 0644 by default) when the content
# differs; `changed` counts the files replaced, so a caller knows what to restart.
changed=0
install_text() {
  local tmp
  tmp=$(mktemp "$1.XXXXXX")
  cat >"$tmp"
  chmod "${2:-0644}" "$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv -f "$tmp" "$1"; changed=$((changed + 1)); fi
}

# wait_for SECONDS WHAT COMMAND...: runs COMMAND each second until it succeeds.
wait_for() {
  local secs=$1 what=$2 i
  shift 2
  for ((i = 0; i < secs; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 1
  done
  echo "timed out after ${secs}s waiting for $what" >&2
  return 1
}

# What any node of the cluster needs: no swap (kubeadm refuses it), the overlay and
# br_netfilter modules (Service rules must see bridged pod traffic), forwarding.
prepare_node() {
  swapoff -a
  sed -i -E 's/^([^#].*[[:space:]]swap[[:space:]].*)$/# \1/' /etc/fstab
  install_text /etc/modules-load.d/kna.conf <<'EOF'
overlay
br_netfilter
EOF
  modprobe overlay
  modprobe br_netfilter
  install_text /etc/sysctl.d/90-kna.conf <<'EOF'
net.ipv4.ip_forward = 1
net.bridge.bridge-nf-call-iptables = 1
net.bridge.bridge-nf-call-ip6tables = 1
EOF
  sysctl --quiet --system
  ensure_packages curl ca-certificates openssl
}
