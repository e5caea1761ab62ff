// GC (spec 1.1): remove what belongs to attachments of this network that the
// runtime no longer knows: reservations, tagged iptables rules, tagged host veths.
// Rules and links first, reservations last (the order DEL relies on).
import { Ipam } from '../ipam/ipam.js';
import { setFamily } from '../ipam/ranges.js';
import { parseAttachmentTag } from '../net/names.js';
import { deleteTagged } from '../netfilter/iptables.js';
import { deleteLink, listLinks } from '../netlink/links.js';
import { Rtnl } from '../netlink/socket.js';
import type { NetConfig } from '../spec/config.js';
import { Code, CniError } from '../spec/errors.js';
import { cacheDir, requireIpam } from './attachment.js';

export async function cmdGc(conf: NetConfig): Promise<void> {
  const valid = conf.validAttachments;
  if (!valid) throw new CniError(Code.InvalidNetworkConfig, 'cni.dev/valid-attachments: required for GC');
  const ipam = new Ipam(requireIpam(conf), conf.name);
  const keep = new Set(valid.map((a) => `${a.containerId}/${a.ifname}`));
  const stale = (tag: string): boolean => {
    const t = parseAttachmentTag(tag);
    return t !== undefined && t.network === conf.name && !keep.has(`${t.containerId}/${t.ifname}`);
  };

  const families = new Set(ipam.sets.map(setFamily));
  const rules = Promise.all([...families].map((f) => deleteTagged(f, stale)));
  const links = (async () => {
    const nl = await Rtnl.open(cacheDir(conf));
    try {
      for (const l of await listLinks(nl)) {
        if (l.alias && l.kind === 'veth' && stale(l.alias)) await deleteLink(nl, l.name);
      }
    } finally {
      nl.close();
    }
  })();
  await Promise.all([rules, links]);
  ipam.gc(valid);
}
