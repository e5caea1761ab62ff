#!/usr/bin/env bash
# The control plane VM ("cp"): Debian's containerd with systemd cgroups (as kubeadm's
# kubelet wants), kubeadm/kubelet/kubectl from pkgs.k8s.io at KNA_K8S_VERSION (a
# minor, e.g. 1.33; held), `kubeadm init` without kube-proxy (the agents are the
# Service proxy), a plain bridge CNI for the control plane's own pods, routes to the
# workers' pods, and the join data for the workers. Run as root by the Vagrantfile;
# safe to run again.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
source "$(dirname "$0")/common.sh"

K8S_MINOR=${KNA_K8S_VERSION:-1.33}
# The Vagrantfile copies this file to .vagrant-join/ on the host, whence the workers get it.
JOIN_FILE=/etc/kubernetes/kna-join.env
export KUBECONFIG=/etc/kubernetes/admin.conf

install_kubernetes() {
  local repo="https://pkgs.k8s.io/core:/stable:/v$K8S_MINOR/deb/"
  local key=/etc/apt/keyrings/kubernetes-v$K8S_MINOR.gpg
  if [ ! -f "$key" ]; then
    mkdir -p /etc/apt/keyrings
    curl -fsSL "${repo}Release.key" | gpg --dearmor >"$key.tmp"
    mv "$key.tmp" "$key"
  fi
  install_text /etc/apt/sources.list.d/kubernetes.list <<<"deb [signed-by=$key] $repo /"
  if ! command -v kubeadm >/dev/null; then
    log "installing kubelet, kubeadm and kubectl $K8S_MINOR"
    apt-get update -qq
    apt-get install -y -qq kubelet kubeadm kubectl >/dev/null
    apt-mark hold kubelet kubeadm kubectl >/dev/null
  fi
  # The kubelet must report the private network's address, not the NAT one.
  install_text /etc/default/kubelet <<<"KUBELET_EXTRA_ARGS=--node-ip=$KNA_CP_IP"
}

# CNI for the control plane's own pods (CoreDNS): the reference bridge plugin in
# 10.244.0.0/24, written before containerd (re)starts, as it reads the folder then.
configure_cni_and_containerd() {
  local before=$changed pause
  mkdir -p /etc/cni/net.d /etc/containerd
  install_text /etc/cni/net.d/10-cp-bridge.conflist <<EOF
{
  "cniVersion": "1.0.0",
  "name": "cp-pods",
  "plugins": [
    {
      "type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true,
      "ipam": { "type": "host-local", "ranges": [[{ "subnet": "$KNA_CP_POD_CIDR" }]], "routes": [{ "dst": "0.0.0.0/0" }] }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
  pause=$(kubeadm config images list --kubernetes-version "$k8s_release" | grep /pause:)
  local conf
  conf=$(containerd config default | sed -E \
    -e 's/SystemdCgroup = false/SystemdCgroup = true/' \
    -e "s#sandbox_image = .*#sandbox_image = \"$pause\"#" \
    -e 's#bin_dir = .*#bin_dir = "/usr/lib/cni"#')
  install_text /etc/containerd/config.toml <<<"$conf"
  if [ "$changed" != "$before" ]; then
    log "restarting containerd with the kubelet's settings"
    systemctl restart containerd
  fi
  systemctl enable --now containerd >/dev/null
}

kubeadm_init() {
  [ -f "$KUBECONFIG" ] && return
  log "kubeadm init (Kubernetes $k8s_release, without kube-proxy)"
  kubeadm init --node-name cp --apiserver-advertise-address "$KNA_CP_IP" \
    --pod-network-cidr "$KNA_POD_NETWORK" --service-cidr "$KNA_SERVICE_CIDR" \
    --kubernetes-version "$k8s_release" \
    --skip-phases=addon/kube-proxy --skip-token-print
}

# kubectl for the vagrant user, so `vagrant ssh cp -c 'kubectl get nodes'` works.
kubectl_for_vagrant() {
  install -d -o vagrant -g vagrant /home/vagrant/.kube
  install -m 0600 -o vagrant -g vagrant "$KUBECONFIG" /home/vagrant/.kube/config
}

# CoreDNS stays on the control plane (its taint is tolerated by CoreDNS), so DNS is
# up before any worker joins and does not move while workers come and go; the
# workers reach it through the routes below.
pin_coredns() {
  kubectl -n kube-system patch deployment coredns --type merge \
    -p '{"spec":{"template":{"spec":{"nodeSelector":{"node-role.kubernetes.io/control-plane":""}}}}}' >/dev/null
}

# The workers' pod networks, through their private-network addresses (one L2), so
# the control plane (the API server, CoreDNS) reaches pods; the workers route the
# other way (kna.service). Between workers the agents' VXLAN overlay carries pods.
pod_routes() {
  local i=0 ip routes=""
  for ip in "${worker_ips[@]}"; do
    i=$((i + 1))
    routes+="ExecStart=ip route replace $(worker_pod_cidr "$i") via $ip"$'\n'
  done
  install_text /etc/systemd/system/kna-pod-routes.service <<EOF
[Unit]
Description=Routes to the pod networks of the kna workers
After=network-online.target
Wants=network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
${routes}
[Install]
WantedBy=multi-user.target
EOF
  systemctl daemon-reload
  systemctl enable kna-pod-routes.service >/dev/null
  systemctl restart kna-pod-routes.service
}

# Server, bootstrap token and CA pin for `kna join`: the token is kept while the
# cluster still knows it, else a new one (kubeadm's default lifetime, 24 h).
join_data() {
  local token="" hash
  [ -f "$JOIN_FILE" ] && token=$(sed -n 's/^KNA_TOKEN=//p' "$JOIN_FILE")
  if [ -z "$token" ] || ! kubeadm token list | awk 'NR > 1 { print $1 }' | grep -qxF "$token"; then
    token=$(kubeadm token create --description "kna workers (Vagrant)")
  fi
  hash=$(ca_cert_hash /etc/kubernetes/pki/ca.crt)
  install_text "$JOIN_FILE" 0600 <<EOF
# kna join data, written by vagrant/control-plane.sh
KNA_SERVER=https://$KNA_CP_IP:6443
KNA_TOKEN=$token
KNA_CA_HASH=$hash
EOF
}

prepare_node
ensure_packages containerd runc containernetworking-plugins gpg
install_kubernetes
k8s_release=$(kubeadm version -o short)
configure_cni_and_containerd
kubeadm_init
kubectl_for_vagrant
pin_coredns
pod_routes
join_data
wait_for 300 "node cp to be Ready" kubectl wait --for=condition=Ready node/cp --timeout=10s
kubectl get nodes -o wide
log "control plane ready; the workers join with $JOIN_FILE (copied to .vagrant-join/ by the Vagrantfile)"
