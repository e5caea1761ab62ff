// Getting a client certificate through the certificates.k8s.io API, as kubelet's
// TLS bootstrap and rotation do: a new key, a CertificateSigningRequest for
// system:node:<name>, then wait until it is approved and signed (or denied).
import { X509Certificate } from 'node:crypto';
import type { ApiClient, KubeObject } from './client.js';
import { resourcePath } from './client.js';
import { ApiError } from './errors.js';
import { sleep } from './retry.js';
import { createCsr, generateEcKey, spkiOf, type AltNames } from './x509.js';

export const KUBELET_CLIENT_SIGNER = 'kubernetes.io/kube-apiserver-client-kubelet';
export const KUBELET_SERVING_SIGNER = 'kubernetes.io/kubelet-serving';
const CSR_PATH = resourcePath({ group: 'certificates.k8s.io', resource: 'certificatesigningrequests' });

/** The CSR was denied or failed; `reason` is the condition's. */
export class CsrRejectedError extends Error {
  override readonly name = 'CsrRejectedError';
  constructor(readonly csrName: string, readonly condition: string, readonly reason: string, detail: string) {
    super(`certificate signing request ${csrName} was ${condition === 'Denied' ? 'denied' : 'not signed (Failed)'}${reason ? `: ${reason}` : ''}${detail ? `: ${detail}` : ''}`);
  }
}

export class CsrTimeoutError extends Error {
  override readonly name = 'CsrTimeoutError';
  constructor(readonly csrName: string, ms: number) {
    super(`certificate signing request ${csrName} was not approved and signed within ${Math.round(ms / 1000)} s (approve it with: kubectl certificate approve ${csrName})`);
  }
}

interface Csr extends KubeObject {
  status?: { certificate?: string; conditions?: { type: string; status?: string; reason?: string; message?: string }[] };
}

export interface CertificateRequest {
  nodeName: string;
  signerName?: string;
  usages?: string[];
  expirationSeconds?: number;
  /** subjectAltNames (serving certificates: the node's IPs and hostname) */
  altNames?: AltNames;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** called with the CSR's name once it is created (for logs) */
  onCreated?: (name: string) => void;
}

/** Requests a node client certificate and waits for it. Returns PEM cert and key. */
export async function requestNodeCertificate(client: ApiClient, r: CertificateRequest): Promise<{ certPem: string; keyPem: string; csrName: string }> {
  const { privateKey, keyPem } = generateEcKey();
  const csrPem = createCsr({ subject: { commonName: `system:node:${r.nodeName}`, organizations: ['system:nodes'] }, privateKey, ...r.altNames });
  const created = await client.create<Csr>(CSR_PATH, {
    apiVersion: 'certificates.k8s.io/v1',
    kind: 'CertificateSigningRequest',
    metadata: { generateName: 'node-csr-' },
    spec: {
      request: Buffer.from(csrPem).toString('base64'),
      signerName: r.signerName ?? KUBELET_CLIENT_SIGNER,
      usages: r.usages ?? ['digital signature', 'client auth'],
      ...(r.expirationSeconds ? { expirationSeconds: r.expirationSeconds } : {}),
    },
  });
  const name = created.metadata.name;
  r.onCreated?.(name);
  const certPem = await waitForCertificate(client, name, r.timeoutMs ?? 15 * 60_000, r.signal);
  // The signer must have certified *our* key.
  const cert = new X509Certificate(certPem);
  if (!cert.publicKey.export({ type: 'spki', format: 'der' }).equals(spkiOf(privateKey))) {
    throw new Error(`certificate issued for CSR ${name} does not match the key we generated`);
  }
  return { certPem, keyPem, csrName: name };
}

/** Watches one CSR (fieldSelector metadata.name) until it has a certificate or is denied/failed. */
export async function waitForCertificate(client: ApiClient, name: string, timeoutMs: number, signal?: AbortSignal): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  const fieldSelector = `metadata.name=${name}`;
  const verdict = (csr: Csr): string | undefined => {
    for (const c of csr.status?.conditions ?? []) {
      if ((c.type === 'Denied' || c.type === 'Failed') && c.status !== 'False') throw new CsrRejectedError(name, c.type, c.reason ?? '', c.message ?? '');
    }
    const cert = csr.status?.certificate;
    return cert ? Buffer.from(cert, 'base64').toString('utf8') : undefined;
  };
  while (Date.now() < deadline && !signal?.aborted) {
    try {
      const list = await client.list<Csr>(CSR_PATH, { fieldSelector });
      const csr = list.items[0];
      if (!csr) throw new ApiError('GET', `${CSR_PATH}/${name}`, 404, 'NotFound', `certificatesigningrequests "${name}" not found (deleted before it was signed)`);
      const done = verdict(csr);
      if (done) return done;
      const left = Math.max(1, Math.ceil((deadline - Date.now()) / 1000));
      const timer = new AbortController();
      const stop = () => timer.abort();
      signal?.addEventListener('abort', stop, { once: true });
      const t = setTimeout(stop, left * 1000 + 1000);
      try {
        for await (const ev of client.watch<Csr>(CSR_PATH, { fieldSelector, resourceVersion: list.metadata.resourceVersion, timeoutSeconds: left }, timer.signal)) {
          if (ev.type === 'ERROR') break;
          if (ev.type === 'DELETED') throw new ApiError('WATCH', CSR_PATH, 404, 'NotFound', `certificatesigningrequests "${name}" was deleted before it was signed`);
          if (ev.type === 'ADDED' || ev.type === 'MODIFIED') {
            const got = verdict(ev.object);
            if (got) return got;
          }
        }
      } finally {
        clearTimeout(t);
        signal?.removeEventListener('abort', stop);
      }
    } catch (err) {
      if (err instanceof CsrRejectedError || (err instanceof ApiError && [401, 403, 404].includes(err.code))) throw err;
      if (Date.now() >= deadline) break;
      await sleep(1000, signal);
    }
  }
  throw new CsrTimeoutError(name, timeoutMs);
}
