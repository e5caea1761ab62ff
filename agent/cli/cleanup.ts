// `kna cleanup`: removes what the agent made, for down.sh and mode changes. Pods go
// through CRI (so CNI DEL runs and IPs are released), then their volumes (tmpfs
// mounts), cgroups, the node's CNI config, kna-cni's shared chains once no pod uses them,
// proxy rules and the overlay's device and routes.
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CriClient } from '../cri/client.js';
import { isNotFound } from '../cri/errors.js';
import { removeUnusedInfrastructure } from '../../cni/netfilter/iptables.js';
import { CONFLIST_NAME } from '../network/cni-config.js';
import { removeCgroup } from '../pods/cgroups.js';
import { L, MANAGED_BY } from '../pods/labels.js';
import { cgroupParent } from '../pods/qos.js';
import { teardownVolumes } from '../pods/volumes/index.js';
import { cleanupIptables } from '../proxy/iptables/restore.js';
import { deleteTable } from '../proxy/nftables/nft.js';
import { commandRunner, CommandStartError } from '../proxy/runner.js';
import { errorMessage } from '../util/errors.js';

export interface CleanupOptions {
  containerRuntimeEndpoint: string;
  rootDir: string;
  cniConfDir: string;
  /** Remove the Service proxy's rules too (default); --no-proxy-rules keeps them. */
  proxyRules?: boolean;
  /** Remove the overlay's device and routes too (default); --no-overlay keeps them. */
  overlay?: boolean;
}

export async function cleanup(o: CleanupOptions): Promise<void> {
  const cri = CriClient.connect(o.containerRuntimeEndpoint);
  const uids = new Set<string>();
  try {
    const sandboxes = await cri.listPodSandbox({ labelSelector: { [L.managedBy]: MANAGED_BY } });
    const ignoreGone = (err: unknown) => { if (!isNotFound(err)) throw err; };
    for (const s of sandboxes) {
      await cri.stopPodSandbox(s.id).catch(ignoreGone);
      await cri.removePodSandbox(s.id).catch(ignoreGone);
      const uid = s.labels[L.podUid];
      if (uid) uids.add(uid);
    }
    console.log(`removed ${sandboxes.length} pod sandbox(es)`);
  } finally {
    cri.close();
  }
  for (const uid of await readdir(join(o.rootDir, 'pods')).catch(() => [])) uids.add(uid);
  for (const uid of uids) {
    await teardownVolumes(uid, { rootDir: o.rootDir });
    for (const q of ['Guaranteed', 'Burstable', 'BestEffort'] as const) await removeCgroup(cgroupParent(q, uid));
  }
  await rm(join(o.cniConfDir, CONFLIST_NAME), { force: true });
  // kna-cni's chains are shared by every runtime on the host that uses it: they go only
  // when no pod has a rule left in them (under the plugin's own lock).
  for (const family of [4, 6] as const) {
    const removed = await removeUnusedInfrastructure(family).catch((err: unknown) => {
      if (family === 4) console.error(`kna cleanup: kna-cni's iptables chains: ${errorMessage(err)}`);
      return false;
    });
    if (removed) console.log(`removed kna-cni's IPv${family} chains`);
  }
  if (o.proxyRules !== false) {
    await cleanupIptables(commandRunner(), 4);
    // nftables mode's table; a host without the nft command never had one.
    for (const family of [4, 6] as const) {
      await deleteTable(commandRunner(), family).catch((err: unknown) => { if (!(err instanceof CommandStartError)) throw err; });
    }
    // IPVS mode: virtual servers, kube-ipvs0, its ipsets (and the iptables chains both modes share).
    const { IpvsBackend } = await import('../proxy/ipvs/backend.js');
    await new IpvsBackend(commandRunner(), 4).cleanup();
  }
  if (o.overlay !== false) {
    const { removeOverlayState } = await import('../network/overlay.js');
    console.log(`removed ${await removeOverlayState()} overlay object(s)`);
  }
}
