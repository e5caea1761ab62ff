// `kna join`: kubeadm's token discovery and kubelet's TLS bootstrap.
//   1. read cluster-info from kube-public anonymously, not yet trusting the server;
//   2. check its JWS signature with the bootstrap token (proves the server knows the token);
//   3. pin the CA it carries by the SHA-256 of its public key (proves it is the right cluster);
//   4. read cluster-info again over TLS verified by that CA;
//   5. with the token, request a client certificate for system:node:<name>;
//   6. write <root-dir>/kubeconfig and <root-dir>/pki/kubelet-client.{crt,key}.
// Restarted with valid credentials already in the root dir, it skips all of this.
import { X509Certificate } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { ApiClient, resourcePath } from './client.js';
import { CsrRejectedError, CsrTimeoutError, requestNodeCertificate } from './certificates.js';
import { ApiConnectionError, ApiError, JoinError } from './errors.js';
import { parseBootstrapToken, verifyDetached } from './jws.js';
import { loadKubeconfig, nodeKubeconfig, parseKubeconfig } from './kubeconfig.js';
import { caCertHash, certificateValidity, parseCertificates } from './x509.js';

export interface JoinOptions {
  /** https://HOST:6443 */
  server: string;
  /** bootstrap token ID.SECRET */
  token: string;
  /** --discovery-token-ca-cert-hash values, "sha256:<hex>" (any one may match) */
  caCertHashes: string[];
  /** --discovery-token-unsafe-skip-ca-verification */
  unsafeSkipCAVerification?: boolean;
  nodeName: string;
  rootDir: string;
  /** how long to wait for the CSR to be approved and signed (default 5 min) */
  csrTimeoutMs?: number;
  log?: Logger;
}

export interface JoinResult {
  kubeconfigPath: string;
  /** false when valid credentials were already there */
  bootstrapped: boolean;
}

/** Where the node keeps its credentials under the root dir. */
export function credentialPaths(rootDir: string) {
  return {
    kubeconfig: join(rootDir, 'kubeconfig'),
    cert: join(rootDir, 'pki', 'kubelet-client.crt'),
    key: join(rootDir, 'pki', 'kubelet-client.key'),
  };
}

const CLUSTER_INFO = resourcePath({ resource: 'configmaps', namespace: 'kube-public', name: 'cluster-info' });

export async function joinCluster(o: JoinOptions): Promise<JoinResult> {
  const paths = credentialPaths(o.rootDir);
  if (await hasValidCredentials(paths.kubeconfig)) {
    o.log?.info({ kubeconfig: paths.kubeconfig }, 'credentials already present; skipping TLS bootstrap');
    return { kubeconfigPath: paths.kubeconfig, bootstrapped: false };
  }
  const token = parseBootstrapToken(o.token);
  if (!token) throw new JoinError('--token: a bootstrap token has the form [a-z0-9]{6}.[a-z0-9]{16}, e.g. abcdef.0123456789abcdef');
  const pins = o.caCertHashes.map((h) => h.toLowerCase());
  for (const h of pins) if (!/^sha256:[0-9a-f]{64}$/.test(h)) throw new JoinError(`--discovery-token-ca-cert-hash ${h}: must be "sha256:" followed by 64 hex digits`);
  if (pins.length === 0 && !o.unsafeSkipCAVerification) throw new JoinError('--discovery-token-ca-cert-hash is required (or --discovery-token-unsafe-skip-ca-verification)');
  let server: string;
  try {
    const u = new URL(o.server.includes('://') ? o.server : `https://${o.server}`);
    if (u.protocol !== 'https:') throw new Error('not https');
    server = u.origin;
  } catch {
    throw new JoinError(`--server ${o.server}: must be an https://HOST:PORT URL`);
  }

  // 1-3: discovery.
  const insecure = new ApiClient({ server, insecureSkipTLSVerify: true }, { userAgent: 'kna-join', timeoutMs: 10_000 });
  let info: { data?: Record<string, string> };
  try {
    info = await insecure.get(CLUSTER_INFO);
  } catch (err) {
    throw discoveryError(server, err);
  } finally {
    insecure.close();
  }
  const kubeconfigText = info.data?.kubeconfig;
  if (!kubeconfigText) throw new JoinError(`cluster-info in kube-public on ${server} has no "kubeconfig" key`);
  const jws = info.data?.[`jws-kubeconfig-${token.id}`];
  if (!jws) throw new JoinError(`token id "${token.id}" is not valid for this cluster (unknown or expired): cluster-info carries no signature for it. Create a new one with "kubeadm token create"`);
  if (!verifyDetached(jws, kubeconfigText, token.id, token.secret)) throw new JoinError(`the cluster-info signature for token id "${token.id}" does not verify with this token's secret: wrong token secret, or the server is not who it claims to be`);
  const refs = parseKubeconfig(kubeconfigText, 'cluster-info kubeconfig', '/');
  const caPem = refs.ca?.data;
  if (!caPem) throw new JoinError('the cluster-info kubeconfig carries no certificate-authority-data');
  const found = parseCertificates(caPem).map((c) => caCertHash(c.raw));
  if (!o.unsafeSkipCAVerification && !found.some((h) => pins.includes(h))) {
    throw new JoinError(`the cluster CA does not match --discovery-token-ca-cert-hash: the server's CA public key hash is ${found.join(', ')}, expected ${pins.join(' or ')}`);
  }
  o.log?.info({ server, caHash: found[0] }, 'cluster-info verified by token signature and CA pin');

  // 4: read cluster-info again, now verifying the server against the pinned CA.
  const pinned = new ApiClient({ server, caPem }, { userAgent: 'kna-join', timeoutMs: 10_000 });
  try {
    const again = await pinned.get<{ data?: Record<string, string> }>(CLUSTER_INFO);
    if (again.data?.kubeconfig !== kubeconfigText) throw new JoinError('cluster-info changed between the unverified and the verified read; try again');
  } catch (err) {
    if (err instanceof JoinError) throw err;
    throw discoveryError(server, err, true);
  } finally {
    pinned.close();
  }

  // 5: TLS bootstrap with the token.
  const bootstrap = new ApiClient({ server, caPem, token: o.token }, { userAgent: 'kna-join', timeoutMs: 30_000 });
  let issued: { certPem: string; keyPem: string; csrName: string };
  try {
    issued = await requestNodeCertificate(bootstrap, {
      nodeName: o.nodeName,
      timeoutMs: o.csrTimeoutMs ?? 5 * 60_000,
      onCreated: (name) => o.log?.info({ csr: name }, 'certificate signing request created, waiting for approval'),
    });
  } catch (err) {
    throw bootstrapError(server, token.id, err);
  } finally {
    bootstrap.close();
  }
  const ca = new X509Certificate(caPem);
  if (!new X509Certificate(issued.certPem).checkIssued(ca)) throw new JoinError(`the certificate issued for ${issued.csrName} is not signed by the cluster CA`);

  // 6: credentials on disk, key 0600.
  await mkdir(dirname(paths.key), { recursive: true, mode: 0o700 });
  await writeAtomic(paths.key, issued.keyPem, 0o600);
  await writeAtomic(paths.cert, issued.certPem, 0o644);
  await writeAtomic(paths.kubeconfig, nodeKubeconfig({ server, caPem, certFile: paths.cert, keyFile: paths.key }), 0o600);
  o.log?.info({ kubeconfig: paths.kubeconfig, csr: issued.csrName, notAfter: certificateValidity(issued.certPem).notAfter }, 'joined: client certificate issued');
  return { kubeconfigPath: paths.kubeconfig, bootstrapped: true };
}

/** Writes via a temporary file and rename, so a reader never sees half a file. */
export async function writeAtomic(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, text, { mode });
  await chmod(tmp, mode);
  await rename(tmp, path);
}

async function hasValidCredentials(kubeconfig: string): Promise<boolean> {
  try {
    await readFile(kubeconfig);
  } catch {
    return false;
  }
  try {
    const access = await loadKubeconfig(kubeconfig);
    if (!access.certPem) return !!access.token;
    return certificateValidity(access.certPem).notAfter > new Date();
  } catch {
    return false;
  }
}

function discoveryError(server: string, err: unknown, verified = false): JoinError {
  if (err instanceof ApiConnectionError) {
    if (verified && err.isTls) return new JoinError(`the API server at ${server} does not present a certificate valid for the pinned CA and this address (${err.code}): ${err.message}`);
    return new JoinError(`cannot reach the API server at ${server}: ${err.code} (${err.message.replace(/^cannot reach the API server at \S+: /, '')})`);
  }
  if (err instanceof ApiError) {
    if (err.code === 404) return new JoinError(`no cluster-info ConfigMap in kube-public on ${server}: is this a kubeadm-style control plane?`);
    if (err.code === 401 || err.code === 403) return new JoinError(`cluster-info on ${server} is not readable anonymously (${err.code} ${err.reason}); the control plane must allow anonymous GET of kube-public/cluster-info`);
    return new JoinError(`reading cluster-info from ${server} failed: ${err.message}`);
  }
  return new JoinError(`reading cluster-info from ${server} failed: ${(err as Error).message}`);
}

function bootstrapError(server: string, tokenId: string, err: unknown): JoinError {
  if (err instanceof CsrRejectedError || err instanceof CsrTimeoutError) return new JoinError(err.message);
  if (err instanceof ApiError && err.code === 401) return new JoinError(`the API server rejected bootstrap token "${tokenId}" (401 Unauthorized): it expired or was deleted`);
  if (err instanceof ApiError && err.code === 403) return new JoinError(`bootstrap token "${tokenId}" may not create certificate signing requests (403 Forbidden): ${err.serverMessage}`);
  if (err instanceof ApiConnectionError) return new JoinError(`lost the API server at ${server} during TLS bootstrap: ${err.code}`);
  return new JoinError(`TLS bootstrap failed: ${(err as Error).message}`);
}

/** The join flags of a `join-args` line (as the test API server writes it). */
export function parseJoinArgs(line: string): { server: string; token: string; caCertHashes: string[] } {
  const words = line.trim().split(/\s+/);
  const get = (flag: string) => words.flatMap((w, i) => (w === flag && words[i + 1] ? [words[i + 1]!] : []));
  return { server: get('--server')[0] ?? '', token: get('--token')[0] ?? '', caCertHashes: get('--discovery-token-ca-cert-hash') };
}
