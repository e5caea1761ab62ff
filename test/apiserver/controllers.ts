// The controllers a kubeadm control plane runs that a joining node depends on:
// the bootstrap signer (cluster-info JWS per token), the token cleaner, the CSR
// approver (kubelet client certificates, like kubeadm's csrapprover) and signer,
// the namespace helpers (default ServiceAccount, kube-root-ca.crt), the TTL
// controller (node.alpha.kubernetes.io/ttl, which sizes kubelets' object caches), and
// node IPAM (spec.podCIDR from a cluster CIDR, as --allocate-node-cidrs does).
import { randomUUID } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import { signDetached } from '../../agent/apiserver/jws.js';
import { isExpired, readBootstrapSecret } from './auth.js';
import { CsrError, parseCsr, type CertificateAuthority } from './ca.js';
import { now } from './admission.js';
import type { Change, Obj, Store } from './store.js';
import type { Loose as Any } from './store.js';


export interface ControllerOptions {
  autoApproveCsrs: boolean;
  certificateDurationSeconds: number;
  /** node IPAM: each Node gets a /nodeCIDRMaskSize of it as spec.podCIDR (kube-controller-manager --cluster-cidr); absent: off */
  clusterCIDR?: string;
  nodeCIDRMaskSize?: number;
}

/**
 * The next free node CIDR, as kube-controller-manager's range allocator picks it: the
 * subnets of `clusterCIDR` in order, starting after the last one handed out
 * (`next`) and wrapping, skipping those in `used`. Returns it and the following
 * candidate index, or undefined when all are taken.
 */
export function allocateNodeCIDR(clusterCIDR: string, maskSize: number, used: Iterable<string>, next = 0): { cidr: string; next: number } | undefined {
  const [base, len] = ipaddr.parseCIDR(clusterCIDR);
  if (base.kind() !== 'ipv4' || maskSize < len || maskSize > 32) throw new Error(`node IPAM: cannot cut /${maskSize} subnets from ${clusterCIDR}`);
  const start = ipaddr.IPv4.networkAddressFromCIDR(clusterCIDR).toByteArray().reduce((a, b) => a * 256 + b, 0);
  const count = 2 ** (maskSize - len);
  const taken = new Set(used);
  for (let k = 0; k < count; k++) {
    const i = (next + k) % count;
    const n = start + i * 2 ** (32 - maskSize);
    const cidr = `${[24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.')}/${maskSize}`;
    if (!taken.has(cidr)) return { cidr, next: (i + 1) % count };
  }
  return undefined;
}

const NODE_TTL = 'node.alpha.kubernetes.io/ttl';
export const KUBELET_CLIENT_SIGNER = 'kubernetes.io/kube-apiserver-client-kubelet';
const SIGNERS = new Set([KUBELET_CLIENT_SIGNER, 'kubernetes.io/kube-apiserver-client', 'kubernetes.io/kubelet-serving']);

/** A new object's metadata, as the API server fills it in for in-process writers. */
export function newMeta(name: string, namespace?: string): Obj['metadata'] {
  return { name, ...(namespace ? { namespace } : {}), uid: randomUUID(), resourceVersion: '', creationTimestamp: now() };
}

export class Controllers {
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private pending = false;
  private nextNodeCIDR = 0;

  constructor(
    private readonly store: Store,
    private readonly ca: CertificateAuthority,
    private opts: ControllerOptions,
  ) {}

  /** Turns node IPAM on (a cluster CIDR) or off, and assigns pod CIDRs to the Nodes that lack one. */
  nodeIpam(clusterCIDR: string | undefined, nodeCIDRMaskSize = 24): void {
    this.opts = { ...this.opts, clusterCIDR, nodeCIDRMaskSize };
    for (const n of this.store.list('nodes')) this.assignPodCIDR(n.metadata.name);
  }

  start(): void {
    this.unsubscribe = this.store.onChange((c) => this.onChange(c));
    // Expiry is a matter of time, not of writes: look again every second.
    this.timer = setInterval(() => this.cleanTokens(), 1000);
    this.timer.unref();
    this.resyncAll();
  }

  stop(): void {
    this.unsubscribe?.();
    if (this.timer) clearInterval(this.timer);
  }

  resyncAll(): void {
    for (const ns of this.store.list('namespaces')) this.ensureNamespaceObjects(ns.metadata.name);
    this.cleanTokens();
    this.signClusterInfo();
    for (const csr of this.store.list('certificatesigningrequests.certificates.k8s.io')) this.reconcileCsr(csr);
    for (const n of this.store.list('nodes')) this.assignPodCIDR(n.metadata.name);
  }

  private onChange(c: Change): void {
    // Run after the write that triggered us has returned, as a separate controller would.
    if (c.key === 'namespaces' && c.type === 'ADDED') queueMicrotask(() => this.ensureNamespaceObjects(c.object.metadata.name));
    if (c.key === 'certificatesigningrequests.certificates.k8s.io' && c.type !== 'DELETED') queueMicrotask(() => this.reconcileCsr(c.object));
    if (c.key === 'nodes' && c.type !== 'DELETED' && c.object.metadata.annotations?.[NODE_TTL] === undefined) queueMicrotask(() => this.annotateTTL(c.object.metadata.name));
    if (c.key === 'nodes' && c.type !== 'DELETED' && !(c.object as Any).spec?.podCIDR) queueMicrotask(() => this.assignPodCIDR(c.object.metadata.name));
    const tokenOrInfo = (c.key === 'secrets' && c.object.metadata.namespace === 'kube-system' && c.object.metadata.name.startsWith('bootstrap-token-'))
      || (c.key === 'configmaps' && c.object.metadata.namespace === 'kube-public' && c.object.metadata.name === 'cluster-info');
    if (tokenOrInfo && !this.pending) {
      this.pending = true;
      queueMicrotask(() => {
        this.pending = false;
        this.signClusterInfo();
      });
    }
  }

  /** kube-controller-manager's TTL controller: 0 s for clusters of up to 100 nodes (all the double ever has). */
  private annotateTTL(name: string): void {
    const node = this.store.get('nodes', undefined, name);
    if (!node || node.metadata.annotations?.[NODE_TTL] !== undefined) return;
    this.store.put('nodes', { ...node, metadata: { ...node.metadata, annotations: { ...node.metadata.annotations, [NODE_TTL]: '0' } } });
  }

  /** The range allocator: a Node without spec.podCIDR gets the next free subnet (a deleted Node's is free again). */
  private assignPodCIDR(name: string): void {
    const cluster = this.opts.clusterCIDR;
    const node = this.store.get('nodes', undefined, name) as Any | undefined;
    if (!cluster || !node || node.spec?.podCIDR) return;
    const used = this.store.list('nodes').map((n) => (n as Any).spec?.podCIDR).filter((c): c is string => typeof c === 'string');
    const got = allocateNodeCIDR(cluster, this.opts.nodeCIDRMaskSize ?? 24, used, this.nextNodeCIDR);
    if (!got) return; // CIDRNotAvailable: the real controller records an event and retries
    this.nextNodeCIDR = got.next;
    this.store.put('nodes', { ...node, spec: { ...node.spec, podCIDR: got.cidr, podCIDRs: [got.cidr] } });
  }

  private ensureNamespaceObjects(ns: string): void {
    if (!this.store.get('namespaces', undefined, ns)) return;
    if (!this.store.get('serviceaccounts', ns, 'default')) this.store.put('serviceaccounts', { metadata: newMeta('default', ns) });
    const cm = this.store.get('configmaps', ns, 'kube-root-ca.crt');
    if (!cm) {
      this.store.put('configmaps', {
        metadata: { ...newMeta('kube-root-ca.crt', ns), annotations: { 'kubernetes.io/description': 'Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.' } },
        data: { 'ca.crt': this.ca.certPem },
      });
    }
  }

  // ---------------------------------------------------------------- bootstrap tokens

  private tokens() {
    return this.store.list('secrets', 'kube-system').map(readBootstrapSecret).filter((t) => t !== undefined);
  }

  /** The token cleaner: expired bootstrap tokens are deleted. */
  private cleanTokens(): void {
    for (const t of this.tokens()) if (isExpired(t)) this.store.remove('secrets', 'kube-system', `bootstrap-token-${t.id}`);
  }

  /** The bootstrap signer: one jws-kubeconfig-<id> per valid signing token, no others. */
  private signClusterInfo(): void {
    const cm = this.store.get('configmaps', 'kube-public', 'cluster-info') as Any | undefined;
    const content = cm?.data?.kubeconfig;
    if (!cm || typeof content !== 'string') return;
    const want: Record<string, string> = {};
    for (const t of this.tokens()) if (t.usages.has('signing') && !isExpired(t)) want[`jws-kubeconfig-${t.id}`] = signDetached(content, t.id, t.secret);
    const data: Record<string, string> = Object.fromEntries(Object.entries(cm.data as Record<string, string>).filter(([k]) => !k.startsWith('jws-kubeconfig-')));
    Object.assign(data, want);
    if (JSON.stringify(Object.entries(data).sort()) !== JSON.stringify(Object.entries(cm.data).sort())) this.store.put('configmaps', { ...cm, data });
  }

  // ---------------------------------------------------------------- CSRs

  private reconcileCsr(snapshot: Obj): void {
    const csr = this.store.get('certificatesigningrequests.certificates.k8s.io', undefined, snapshot.metadata.name) as Any | undefined;
    if (!csr) return;
    const conditions = (csr.status?.conditions ?? []) as Any[];
    const has = (t: string) => conditions.some((c) => c.type === t && c.status !== 'False');
    if (has('Denied') || has('Failed') || csr.status?.certificate) return;
    if (!has('Approved')) {
      if (this.opts.autoApproveCsrs) this.autoApprove(csr);
      return;
    }
    if (SIGNERS.has(csr.spec.signerName)) this.sign(csr);
  }

  /** kubeadm's csrapprover: node client CSRs from bootstrappers (nodeclient) or from the node itself (selfnodeclient). */
  private autoApprove(csr: Any): void {
    if (csr.spec.signerName !== KUBELET_CLIENT_SIGNER) return;
    let req;
    try {
      req = parseCsr(Buffer.from(csr.spec.request, 'base64').toString('utf8'));
    } catch {
      return;
    }
    if (!isNodeClientCsr(req, csr.spec.usages)) return;
    const groups = (csr.spec.groups ?? []) as string[];
    const self = csr.spec.username === req.commonName && groups.includes('system:nodes');
    if (!self && !groups.includes('system:bootstrappers') && !groups.includes('system:masters')) return;
    const t = now();
    csr.status = { ...(csr.status ?? {}), conditions: [{ type: 'Approved', status: 'True', reason: 'AutoApproved', message: `Auto approving ${self ? 'self ' : ''}kubelet client certificate after SubjectAccessReview.`, lastUpdateTime: t, lastTransitionTime: t }] };
    this.store.put('certificatesigningrequests.certificates.k8s.io', csr);
  }

  private sign(csr: Any): void {
    const fail = (message: string) => {
      const t = now();
      csr.status = { ...(csr.status ?? {}), conditions: [...(csr.status?.conditions ?? []), { type: 'Failed', status: 'True', reason: 'SignerValidationFailure', message, lastUpdateTime: t, lastTransitionTime: t }] };
      this.store.put('certificatesigningrequests.certificates.k8s.io', csr);
    };
    let req;
    try {
      req = parseCsr(Buffer.from(csr.spec.request, 'base64').toString('utf8'));
    } catch (err) {
      return fail(err instanceof CsrError ? err.message : String(err));
    }
    const usages = csr.spec.usages as string[];
    if (csr.spec.signerName === KUBELET_CLIENT_SIGNER && !isNodeClientCsr(req, usages)) return fail('invalid certificate request for kubelet client: subject must be O=system:nodes, CN=system:node:<name>, usages client auth (+digital signature, key encipherment), no SANs');
    if (csr.spec.signerName === 'kubernetes.io/kubelet-serving' && !(req.organizations.join() === 'system:nodes' && req.commonName.startsWith('system:node:') && usages.includes('server auth'))) return fail('invalid certificate request for kubelet serving');
    const seconds = Math.min(this.opts.certificateDurationSeconds, Number(csr.spec.expirationSeconds ?? Infinity));
    const pem = this.ca.issue({
      subject: { commonName: req.commonName, organizations: req.organizations },
      spki: req.spki,
      notAfter: new Date(Date.now() + seconds * 1000),
      usages,
      ...(req.subjectAltName && csr.spec.signerName === 'kubernetes.io/kubelet-serving' ? { subjectAltName: req.subjectAltName } : {}),
    });
    csr.status = { ...(csr.status ?? {}), certificate: Buffer.from(pem).toString('base64') };
    this.store.put('certificatesigningrequests.certificates.k8s.io', csr);
  }
}

function isNodeClientCsr(req: { commonName: string; organizations: string[]; subjectAltName?: Buffer }, usages: string[]): boolean {
  const allowed = new Set(['digital signature', 'key encipherment', 'client auth']);
  return req.organizations.length === 1 && req.organizations[0] === 'system:nodes'
    && req.commonName.startsWith('system:node:') && req.subjectAltName === undefined
    && usages.includes('client auth') && usages.every((u) => allowed.has(u));
}
