// Per-pod masquerade: traffic from the pod's address leaving the network's
// subnets (and not multicast) leaves with the node's address. Rules sit in the
// shared KNA-CNI-MASQ chain; a RETURN there only ends that chain, and no other
// pod's rule can match this pod's source address.
import type { Cidr, Family } from '../net/ip.js';
import { MASQ_CHAIN, tagComment, type Rule } from '../netfilter/rules.js';

const MULTICAST: Record<Family, string> = { 4: '224.0.0.0/4', 6: 'ff00::/8' };

export function masqRules(podAddress: Cidr, networkSubnets: readonly Cidr[], tag: string): Rule[] {
  const src = `-s ${podAddress.ip}/${podAddress.ip.bits}`;
  const comment = tagComment(tag);
  const rules: Rule[] = networkSubnets
    .filter((s) => s.family === podAddress.family)
    .map((s) => ({ table: 'nat', chain: MASQ_CHAIN, spec: `${src} -d ${s.masked()} ${comment} -j RETURN` }));
  rules.push({ table: 'nat', chain: MASQ_CHAIN, spec: `${src} ! -d ${MULTICAST[podAddress.family]} ${comment} -j MASQUERADE` });
  return rules;
}
