// hostPort → pod DNAT rules (runtimeConfig.portMappings), for one pod address.
// Per mapping, in order: mark hairpin traffic (from pods of this network, which
// would otherwise get replies straight from the pod instead of from the host
// address) and, for IPv4, traffic from 127.0.0.1 (needs route_localnet on the
// bridge); then DNAT. Marked packets are masqueraded by KNA-CNI-HP-MASQ.
// The block goes to the top of KNA-CNI-HOSTPORTS: the newest pod wins a port.
import type { Cidr } from '../net/ip.js';
import { HOSTPORT_MARK, HOSTPORTS_CHAIN, tagComment, type Rule } from '../netfilter/rules.js';
import type { PortMapping } from '../spec/config.js';

export function hostPortRules(podAddress: Cidr, mappings: readonly PortMapping[], tag: string): Rule[] {
  const fam = podAddress.family;
  const comment = tagComment(tag);
  const rules: Rule[] = [];
  const add = (spec: string): void => { rules.push({ table: 'nat', chain: HOSTPORTS_CHAIN, spec, top: true }); };
  for (const m of mappings) {
    if (m.hostIP && m.hostIP.family !== fam) continue;
    const dst = m.hostIP && !m.hostIP.isUnspecified() ? `-d ${m.hostIP}/${m.hostIP.bits} ` : '';
    const base = `${dst}-p ${m.protocol} -m ${m.protocol} --dport ${m.hostPort}`;
    add(`${base} -s ${podAddress.masked()} ${comment} -j MARK --set-xmark ${HOSTPORT_MARK}`);
    if (fam === 4) add(`${base} -s 127.0.0.1/32 ${comment} -j MARK --set-xmark ${HOSTPORT_MARK}`);
    const to = fam === 4 ? `${podAddress.ip}:${m.containerPort}` : `[${podAddress.ip}]:${m.containerPort}`;
    add(`${base} ${comment} -j DNAT --to-destination ${to}`);
  }
  return rules;
}

/** Whether any mapping applies to IPv4 from localhost (so the bridge needs route_localnet). */
export function needsLocalnet(podAddresses: readonly Cidr[], mappings: readonly PortMapping[]): boolean {
  return mappings.length > 0 && podAddresses.some((a) => a.family === 4) && mappings.some((m) => !m.hostIP || m.hostIP.family === 4);
}
