#!/usr/bin/env node
// containerd's config for kna: its own root/state/socket so it never collides with
// another containerd, and the settings measured as required on these hosts
// (restrict_oom_score_adj, cgroupfs, a local pause image, our own CNI dirs).
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

/** @param {{root:string,state:string,cniBin:string,cniConf:string,sandboxImage?:string,streamPort?:string}} o */
export function containerdConfig(o) {
  const q = (s) => JSON.stringify(s);
  return `version = 2
root = ${q(o.root)}
state = ${q(o.state)}
[grpc]
  address = ${q(o.state + '/containerd.sock')}
[ttrpc]
  address = ${q(o.state + '/containerd.sock.ttrpc')}
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = ${q(o.sandboxImage ?? 'localhost/kna/pause:latest')}
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = ${q(o.streamPort ?? '0')}
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        # runc's own state, else /run/containerd/runc, shared with a distro containerd
        Root = ${q(o.state + '/runc')}
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = ${q(o.cniBin)}
    conf_dir = ${q(o.cniConf)}
    max_conf_num = 1
`;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      root: { type: 'string' }, state: { type: 'string' },
      'cni-bin': { type: 'string' }, 'cni-conf': { type: 'string' },
    },
  });
  process.stdout.write(containerdConfig({
    root: values.root, state: values.state, cniBin: values['cni-bin'], cniConf: values['cni-conf'],
  }));
}
