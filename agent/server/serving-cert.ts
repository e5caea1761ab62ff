// The kubelet API's serving certificate, as kubelet's serverTLSBootstrap gets it: a
// CSR with signer kubernetes.io/kubelet-serving for system:node:<name> with the
// node's IPs and hostname as SANs, approved by a cluster admin (or an approver) and
// signed by the cluster CA. Until it is issued (real clusters do not auto-approve
// serving CSRs) the server uses a self-signed certificate, logged as such, and
// swaps in the signed one the moment it arrives. Renewed at 80% of its lifetime.
import { randomBytes, sign, X509Certificate } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ApiClient } from '../apiserver/client.js';
import { KUBELET_SERVING_SIGNER, requestNodeCertificate } from '../apiserver/certificates.js';
import * as der from '../apiserver/der.js';
import { sleep } from '../apiserver/retry.js';
import { encodeAltNames, encodeName, extension, fromPem, generateEcKey, OID, signatureAlgorithm, spkiOf, toPem, type AltNames } from '../apiserver/x509.js';
import { errorMessage } from '../util/errors.js';

export interface KeyPair {
  certPem: string;
  keyPem: string;
}

/** A self-signed server certificate for `commonName` with the given SANs. Pure apart from key generation. */
export function selfSignedCertificate(o: { commonName: string; altNames: AltNames; days?: number; now?: Date }): KeyPair {
  const { privateKey, keyPem } = generateEcKey();
  const now = o.now ?? new Date();
  const notAfter = new Date(now.getTime() + (o.days ?? 365) * 86400_000);
  const serial = randomBytes(16);
  serial[0]! &= 0x7f;
  const name = encodeName({ commonName: o.commonName });
  const { algorithm, digest } = signatureAlgorithm(privateKey);
  const extensions = [
    extension(OID.basicConstraints, true, der.sequence()),
    extension(OID.extKeyUsage, false, der.sequence(der.oid(OID.serverAuth))),
    extension(OID.subjectAltName, false, encodeAltNames(o.altNames)),
  ];
  const tbs = der.sequence(
    der.explicit(0, der.integer(2n)), der.integer(serial), algorithm, name,
    der.sequence(der.time(new Date(now.getTime() - 60_000)), der.time(notAfter)), name, spkiOf(privateKey),
    der.explicit(3, der.sequence(...extensions)),
  );
  const certPem = toPem('CERTIFICATE', der.sequence(tbs, algorithm, der.bitString(sign(digest, tbs, privateKey))));
  return { certPem, keyPem };
}

/** A stored pair still usable: issued by `caPem`, not expired, and with `minLeftMs` of life left. */
export function usablePair(pair: KeyPair, caPem: string, now = Date.now(), minLeftMs = 0): boolean {
  try {
    const cert = new X509Certificate(pair.certPem);
    const ca = new X509Certificate(caPem);
    return cert.checkIssued(ca) && cert.verify(ca.publicKey) && Date.parse(cert.validTo) - now > minLeftMs && Date.parse(cert.validFrom) <= now + 60_000;
  } catch {
    return false;
  }
}

export interface ServingCertOptions {
  client: ApiClient;
  nodeName: string;
  /** where kubelet-server-current.pem lives (cert + key in one file, as kubelet keeps it) */
  pkiDir: string;
  caPem: string;
  altNames: AltNames;
  log: Logger;
}

export class ServingCertificate {
  private pair: KeyPair;
  private readonly ac = new AbortController();
  private readonly listeners: ((p: KeyPair) => void)[] = [];
  /** true once the CA-signed certificate is in use */
  signed = false;

  constructor(private readonly o: ServingCertOptions) {
    this.pair = selfSignedCertificate({ commonName: `${o.nodeName}@${Math.floor(Date.now() / 1000)}`, altNames: o.altNames });
  }

  get current(): KeyPair {
    return this.pair;
  }

  get file(): string {
    return join(this.o.pkiDir, 'kubelet-server-current.pem');
  }

  onChange(fn: (p: KeyPair) => void): void {
    this.listeners.push(fn);
  }

  /** Loads a stored signed pair if there is a good one; then keeps it fresh in the background. */
  async start(): Promise<void> {
    const stored = await this.load();
    if (stored) this.use(stored, 'loaded');
    else this.o.log.warn({ sans: this.o.altNames }, 'kubelet API: serving with a self-signed certificate until the kubelet-serving CSR is approved and signed');
    void this.loop();
  }

  stop(): void {
    this.ac.abort();
  }

  private use(p: KeyPair, how: string): void {
    this.pair = p;
    this.signed = true;
    const cert = new X509Certificate(p.certPem);
    this.o.log.info({ how, notAfter: cert.validTo, sans: cert.subjectAltName }, 'kubelet API: serving certificate signed by the cluster CA in use');
    for (const fn of this.listeners) fn(p);
  }

  private async load(): Promise<KeyPair | undefined> {
    try {
      const text = await readFile(this.file, 'utf8');
      const cert = fromPem(text, 'CERTIFICATE')[0];
      const key = /-----BEGIN (EC |)PRIVATE KEY-----[\s\S]*?-----END \1PRIVATE KEY-----\n?/.exec(text)?.[0];
      if (!cert || !key) return undefined;
      const pair = { certPem: toPem('CERTIFICATE', cert), keyPem: key };
      return usablePair(pair, this.o.caPem, Date.now(), this.renewLeftMs(pair)) ? pair : undefined;
    } catch {
      return undefined;
    }
  }

  private async save(p: KeyPair): Promise<void> {
    await mkdir(this.o.pkiDir, { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.tmp`;
    await writeFile(tmp, p.certPem + p.keyPem, { mode: 0o600 });
    await rename(tmp, this.file);
  }

  /** Time left at which to renew: 20% of the lifetime. */
  private renewLeftMs(p: KeyPair): number {
    const c = new X509Certificate(p.certPem);
    return (Date.parse(c.validTo) - Date.parse(c.validFrom)) * 0.2;
  }

  private async loop(): Promise<void> {
    const signal = this.ac.signal;
    while (!signal.aborted) {
      if (this.signed) {
        const c = new X509Certificate(this.pair.certPem);
        const wait = Date.parse(c.validTo) - this.renewLeftMs(this.pair) - Date.now();
        if (wait > 0) {
          await sleep(Math.min(wait, 2 ** 31 - 1), signal);
          continue;
        }
      }
      try {
        const r = await requestNodeCertificate(this.o.client, {
          nodeName: this.o.nodeName,
          signerName: KUBELET_SERVING_SIGNER,
          usages: ['digital signature', 'server auth'],
          altNames: this.o.altNames,
          signal,
          onCreated: (name) => this.o.log.info({ csr: name, signer: KUBELET_SERVING_SIGNER }, `kubelet API: serving certificate requested; approve it with: kubectl certificate approve ${name}`),
        });
        const pair = { certPem: r.certPem, keyPem: r.keyPem };
        await this.save(pair);
        this.use(pair, `issued for CSR ${r.csrName}`);
      } catch (err) {
        if (signal.aborted) return;
        this.o.log.warn({ err: errorMessage(err) }, 'kubelet API: serving certificate request failed; retrying in 30 s');
        await sleep(30_000, signal);
      }
    }
  }
}
