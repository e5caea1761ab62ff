#!/usr/bin/env bash
# A worker VM ("wN"): the agent from this checkout, set up by scripts/lib.sh as on any
# host (Debian packages, Node 24, build, `kna`, CNI plugin, our containerd config),
# with containerd and the agent as systemd services. The agent joins the control
# plane with the join data in .vagrant-join/join.env, which the Vagrantfile copied
# from cp and rsync brought here. Run as root by the Vagrantfile; safe to run again.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
source "$(dirname "$0")/common.sh"

index=${KNA_WORKER_INDEX:?set by the Vagrantfile}
name=w$index
node_ip=${worker_ips[index - 1]:?no address for $name in KNA_WORKER_IPS}
KNA_POD_CIDR=$(worker_pod_cidr "$index") # lib.sh's ensure_cni writes the first conflist with it
join_src=$KNA_SRC/.vagrant-join/join.env

if ! grep -q '^KNA_TOKEN=' "$join_src" 2>/dev/null; then
  echo "no join data in $join_src: bring the control plane up first (vagrant up cp)," >&2
  echo "then: vagrant reload --provision $name (rsync copies .vagrant-join/ at boot)" >&2
  exit 1
fi

prepare_node
ensure_packages # the agent's own list
ensure_node
ensure_build
install_cli
ensure_cni
# Debian's containerd service is not used on a worker: the agent has its own.
systemctl disable --now containerd.service >/dev/null 2>&1 || true

mkdir -p /etc/kna
conf=$(containerd_config)
install_text "$KNA_CONTAINERD_CONF" <<<"$conf"
# KillMode=process: restarting containerd leaves the containers' shims running.
install_text /etc/systemd/system/kna-containerd.service <<EOF
[Unit]
Description=containerd for kna (own socket, root and CNI folders)
After=network.target local-fs.target

[Service]
ExecStart=/usr/bin/containerd --config $KNA_CONTAINERD_CONF
Type=notify
Delegate=yes
KillMode=process
Restart=always
RestartSec=5
LimitNOFILE=infinity
TasksMax=infinity
OOMScoreAdjust=-999

[Install]
WantedBy=multi-user.target
EOF
systemctl daemon-reload
systemctl enable kna-containerd.service >/dev/null
systemctl restart kna-containerd.service
wait_for 60 "containerd on $KNA_CONTAINERD_SOCK" ctr -a "$KNA_CONTAINERD_SOCK" version
ensure_images # the local pause image is the sandbox image

install_text /etc/kna/join.env 0600 <"$join_src"
# The overlay's peers come from the other Nodes' annotations (no peers file); a static
# list from an earlier provisioning would only shadow them.
rm -f /etc/kna/peers.yaml
# --pod-cidr stays: cp's routes to the workers' pods (control-plane.sh) are static, so
# each worker keeps its planned /24 (the Node's spec.podCIDR agrees when joined in order).
args=(--node-name "$name" --node-ip "$node_ip" --pod-cidr "$KNA_POD_CIDR"
  --cluster-cidr "$KNA_POD_NETWORK" --service-cluster-ip-range "$KNA_SERVICE_CIDR" --cluster-dns "$KNA_CLUSTER_DNS"
  --overlay vxlan
  --root-dir "$KNA_ROOT" --container-runtime-endpoint "unix://$KNA_CONTAINERD_SOCK"
  --cni-bin-dir "$KNA_CNI_BIN" --cni-conf-dir "$KNA_CNI_CONF" --log-format text)
# `kna join` bootstraps once, then runs as the node's agent; restarted later, it finds
# its credentials under the root dir and skips the (by then expired) token.
install_text /etc/systemd/system/kna.service <<EOF
[Unit]
Description=kube-node-agent (kna): pods, pod network and Service proxy of this node
After=network-online.target kna-containerd.service
Wants=network-online.target
Requires=kna-containerd.service

[Service]
EnvironmentFile=/etc/kna/join.env
# The control plane's own pods (CoreDNS) sit behind its bridge.
ExecStartPre=ip route replace $KNA_CP_POD_CIDR via $KNA_CP_IP
ExecStart=/usr/local/bin/kna join --server \${KNA_SERVER} --token \${KNA_TOKEN} --discovery-token-ca-cert-hash \${KNA_CA_HASH} ${args[*]}
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
EOF
systemctl daemon-reload
systemctl enable kna.service >/dev/null
log "starting kna on $name ($node_ip, pods in $KNA_POD_CIDR); log: journalctl -u kna"
systemctl restart kna.service
if ! wait_for 300 "$name to join (the agent's local API)" kna get pods; then
  journalctl -u kna.service -n 30 --no-pager >&2
  exit 1
fi
log "$name joined; on cp: kubectl get nodes -o wide"
