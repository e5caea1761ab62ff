// The status patch a node sends for one of its pods, as kubelet's status manager
// does: the node owns some status fields and some condition types, others belong
// to other writers (the scheduler's nominatedNodeName, readiness gates'
// conditions...) and are kept as the server has them. The patch carries
// metadata.uid so it cannot land on a pod of the same name created since. Pure.
import { POD_STATUS_KEYS, twoWayMergePatch } from './strategic-patch.js';

type JsonObject = Record<string, unknown>;

/** Status fields the node writes; absent from the node's status = removed. */
const OWNED_FIELDS = ['phase', 'message', 'reason', 'hostIP', 'hostIPs', 'podIP', 'podIPs', 'startTime', 'initContainerStatuses', 'containerStatuses', 'qosClass'];

/** Drops null-valued keys (as the API server stores them) so equal states compare equal. */
function dropNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(dropNulls);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== null).map(([k, x]) => [k, dropNulls(x)]));
  return v;
}

/** The server's status with the node's own fields and conditions replaced by `ours`. */
export function mergeNodeOwnedStatus(server: JsonObject, ours: JsonObject): JsonObject {
  const out: JsonObject = { ...server };
  for (const k of OWNED_FIELDS) {
    // An empty list is absent, as the API server stores it (omitempty): no patch to write it again and again.
    if (ours[k] === undefined || (Array.isArray(ours[k]) && ours[k].length === 0)) delete out[k];
    else out[k] = ours[k];
  }
  const mine = (ours.conditions ?? []) as { type: string }[];
  const types = new Set(mine.map((c) => c.type));
  const others = ((server.conditions ?? []) as { type: string }[]).filter((c) => !types.has(c.type));
  out.conditions = [...mine, ...others];
  return out;
}

/** The strategic merge patch from the server's pod to our status, or undefined when nothing differs. */
export function podStatusPatch(uid: string, serverStatus: JsonObject | undefined, ours: JsonObject): JsonObject | undefined {
  const base = dropNulls(serverStatus ?? {}) as JsonObject;
  const want = dropNulls(mergeNodeOwnedStatus(base, ours)) as JsonObject;
  const patch = twoWayMergePatch({ status: base }, { status: want }, POD_STATUS_KEYS);
  return patch ? { metadata: { uid }, ...patch } : undefined;
}
