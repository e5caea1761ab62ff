// The node's CNI network configuration list, built from its pod CIDR(s). Pure:
// the agent writes the result into the CNI conf dir (rewriting the file in place,
// as containerd ignores new files) and installs dist/cni/kna-cni in the bin dir.
//
// 'kna-cni' (default): one plugin entry doing bridge, IPAM, portmap and masquerade.
// 'reference': Debian's bridge + host-local + portmap chain, the benchmark baseline
// and a fallback when the TypeScript plugin cannot run.

export interface ConflistOptions {
  name: string;
  bridge: string;
  /** One per family (dual stack = an IPv4 and an IPv6 CIDR). */
  podCidrs: string[];
  mtu?: number;
  /** Destinations not masqueraded besides the pod CIDRs (the cluster's pod network). */
  nonMasqueradeCidrs?: string[];
  cniVersion?: string;
  dataDir?: string;
  plugin?: 'kna-cni' | 'reference';
}

export function buildConflist(opts: ConflistOptions): object {
  if (opts.podCidrs.length === 0) throw new Error('buildConflist: podCidrs must name at least one CIDR');
  const ipam = {
    type: 'host-local',
    // One range set per CIDR: a pod gets one address from each (dual stack).
    ranges: opts.podCidrs.map((subnet) => [{ subnet }]),
    ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
  };
  const bridge = {
    bridge: opts.bridge,
    isGateway: true,
    isDefaultGateway: true,
    ipMasq: true,
    ...(opts.nonMasqueradeCidrs?.length ? { nonMasqueradeCIDRs: opts.nonMasqueradeCidrs } : {}),
    hairpinMode: true,
    ...(opts.mtu ? { mtu: opts.mtu } : {}),
    ipam,
  };
  const plugins = (opts.plugin ?? 'kna-cni') === 'kna-cni'
    ? [{ type: 'kna-cni', ...bridge, capabilities: { portMappings: true } }]
    : [{ type: 'bridge', ...bridge }, { type: 'portmap', capabilities: { portMappings: true } }];
  return { cniVersion: opts.cniVersion ?? '1.0.0', name: opts.name, plugins };
}
