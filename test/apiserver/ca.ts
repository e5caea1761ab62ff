// The test control plane's certificate authority: a self-signed EC P-256 CA that
// issues the API server's serving certificate, the admin client certificate and
// certificates for approved CSRs. Certificates are real X.509 v3 that node's TLS
// verifies.
import { createHash, createPublicKey, randomBytes, sign, verify, X509Certificate, type KeyObject } from 'node:crypto';
import * as der from '../../agent/apiserver/der.js';
import {
  encodeAltNames, encodeName, extension, fromPem, generateEcKey, loadPrivateKey, OID, signatureAlgorithm, spkiOf, toPem,
  type AltNames, type Subject,
} from '../../agent/apiserver/x509.js';

export class CsrError extends Error {
  override readonly name = 'CsrError';
}

/** What the signer needs from a PKCS#10 request, after checking its self-signature. */
export interface ParsedCsr {
  commonName: string;
  organizations: string[];
  spki: Buffer;
  /** the subjectAltName extension value, if the request carried one */
  subjectAltName?: Buffer;
}

const KEY_USAGE_BITS: Record<string, number> = {
  'digital signature': 0,
  'content commitment': 1,
  'key encipherment': 2,
  'data encipherment': 3,
  'key agreement': 4,
  'cert sign': 5,
  'crl sign': 6,
};
const EXT_KEY_USAGE: Record<string, string> = { 'client auth': OID.clientAuth, 'server auth': OID.serverAuth };

export function parseCsr(pem: string): ParsedCsr {
  const [body] = fromPem(pem, 'CERTIFICATE REQUEST');
  if (!body) throw new CsrError('spec.request: no "CERTIFICATE REQUEST" PEM block');
  try {
    const [info, alg, sig] = der.children(der.read(body));
    if (!info || !alg || !sig) throw new CsrError('spec.request: malformed CertificationRequest');
    const [, name, spkiNode, attrs] = der.children(info);
    if (!name || !spkiNode) throw new CsrError('spec.request: malformed CertificationRequestInfo');
    const algOid = der.readOid(der.children(alg)[0]!);
    const digest = algOid === OID.ecdsaWithSHA256 || algOid === OID.sha256WithRSA ? 'sha256' : undefined;
    if (!digest) throw new CsrError(`spec.request: unsupported signature algorithm ${algOid}`);
    const key = createPublicKey({ key: spkiNode.raw, format: 'der', type: 'spki' });
    if (!verify(digest, info.raw, key, der.readBitString(sig))) throw new CsrError('spec.request: signature does not verify');
    const out: ParsedCsr = { commonName: '', organizations: [], spki: Buffer.from(spkiNode.raw) };
    for (const rdn of der.children(name)) {
      for (const atv of der.children(rdn)) {
        const [type, value] = der.children(atv);
        const id = der.readOid(type!);
        if (id === OID.commonName) out.commonName = der.readString(value!);
        if (id === OID.organization) out.organizations.push(der.readString(value!));
      }
    }
    for (const attr of attrs ? der.children(attrs) : []) {
      const [type, values] = der.children(attr);
      if (der.readOid(type!) !== OID.extensionRequest) continue;
      for (const ext of der.children(der.children(values!)[0]!)) {
        const parts = der.children(ext);
        if (der.readOid(parts[0]!) === OID.subjectAltName) out.subjectAltName = Buffer.from(parts[parts.length - 1]!.content);
      }
    }
    return out;
  } catch (err) {
    if (err instanceof CsrError) throw err;
    throw new CsrError(`spec.request: cannot parse: ${(err as Error).message}`);
  }
}

function keyUsageBits(usages: string[]): Buffer {
  let bits = 0;
  for (const u of usages) if (u in KEY_USAGE_BITS) bits |= 0x80 >> KEY_USAGE_BITS[u]!;
  // DER named bit string: trailing zero bits dropped and counted as unused.
  let unused = 0;
  while (unused < 7 && bits !== 0 && !(bits & (1 << unused))) unused++;
  return der.bitString(Buffer.from([bits]), bits === 0 ? 0 : unused);
}

const keyId = (spki: Buffer): Buffer => {
  const bits = der.readBitString(der.children(der.read(spki))[1]!);
  return createHash('sha1').update(bits).digest();
};

export interface IssueOptions {
  subject: Subject;
  spki: Buffer;
  notAfter: Date;
  usages: string[];
  isCA?: boolean;
  altNames?: AltNames;
  /** a ready subjectAltName value (copied from a CSR) */
  subjectAltName?: Buffer;
}

export class CertificateAuthority {
  private constructor(
    readonly certPem: string,
    readonly keyPem: string,
    private readonly key: KeyObject,
    private readonly cert: X509Certificate,
  ) {}

  static create(commonName = 'kubernetes', years = 10): CertificateAuthority {
    const { privateKey, keyPem } = generateEcKey();
    const spki = spkiOf(privateKey);
    const notAfter = new Date(Date.now() + years * 365 * 86400_000);
    const pem = signCertificate({ subject: { commonName }, spki, notAfter, usages: ['digital signature', 'key encipherment', 'cert sign'], isCA: true }, { commonName }, spki, privateKey);
    return new CertificateAuthority(pem, keyPem, privateKey, new X509Certificate(pem));
  }

  static load(certPem: string, keyPem: string): CertificateAuthority {
    return new CertificateAuthority(certPem, keyPem, loadPrivateKey(keyPem), new X509Certificate(certPem));
  }

  issue(o: IssueOptions): string {
    const notAfter = o.notAfter > new Date(this.cert.validTo) ? new Date(this.cert.validTo) : o.notAfter;
    const caSpki = spkiOf(this.key);
    return signCertificate({ ...o, notAfter }, { commonName: this.cert.subject.replace(/^CN=/, '') }, caSpki, this.key);
  }

  /** A fresh key and certificate, e.g. the API server's serving pair or the admin client. */
  issueKeyPair(o: Omit<IssueOptions, 'spki'>): { certPem: string; keyPem: string } {
    const { privateKey, keyPem } = generateEcKey();
    return { certPem: this.issue({ ...o, spki: spkiOf(privateKey) }), keyPem };
  }
}

function signCertificate(o: IssueOptions, issuer: Subject, issuerSpki: Buffer, issuerKey: KeyObject): string {
  const serial = randomBytes(16);
  serial[0]! &= 0x7f;
  // Backdated to tolerate clock skew, as kube-controller-manager does (5 min), but never by more
  // than a tenth of a short lifetime, so rotation at 70% of it still lies in the future.
  const backdate = Math.min(5 * 60_000, (o.notAfter.getTime() - Date.now()) / 10);
  const notBefore = new Date(Date.now() - Math.max(0, backdate));
  const extKeyUsages = o.usages.filter((u) => u in EXT_KEY_USAGE).map((u) => der.oid(EXT_KEY_USAGE[u]!));
  const san = o.subjectAltName ?? (o.altNames ? encodeAltNames(o.altNames) : undefined);
  const extensions = [
    extension(OID.keyUsage, true, keyUsageBits(o.usages)),
    ...(extKeyUsages.length ? [extension(OID.extKeyUsage, false, der.sequence(...extKeyUsages))] : []),
    extension(OID.basicConstraints, true, o.isCA ? der.sequence(der.boolean(true)) : der.sequence()),
    extension(OID.subjectKeyIdentifier, false, der.octetString(keyId(o.spki))),
    ...(o.isCA ? [] : [extension(OID.authorityKeyIdentifier, false, der.sequence(der.implicitPrimitive(0, keyId(issuerSpki))))]),
    ...(san ? [extension(OID.subjectAltName, false, san)] : []),
  ];
  const { algorithm, digest } = signatureAlgorithm(issuerKey);
  const tbs = der.sequence(
    der.explicit(0, der.integer(2n)),
    der.integer(serial),
    algorithm,
    encodeName(issuer),
    der.sequence(der.time(notBefore), der.time(o.notAfter)),
    encodeName(o.subject),
    o.spki,
    der.explicit(3, der.sequence(...extensions)),
  );
  return toPem('CERTIFICATE', der.sequence(tbs, algorithm, der.bitString(sign(digest, tbs, issuerKey))));
}
