// X.509 pieces a node needs: an EC P-256 key, a PKCS#10 request for it, PEM
// framing, the CA pin kubeadm prints (sha256 of the SubjectPublicKeyInfo), and
// the parts of a name / extension list that certificates share. Pure apart from
// key generation.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, X509Certificate, type KeyObject } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import * as der from './der.js';

export const OID = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  ecPublicKey: '1.2.840.10045.2.1',
  ecdsaWithSHA256: '1.2.840.10045.4.3.2',
  sha256WithRSA: '1.2.840.113549.1.1.11',
  extensionRequest: '1.2.840.113549.1.9.14',
  subjectAltName: '2.5.29.17',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  basicConstraints: '2.5.29.19',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

export class CertificateError extends Error {
  override readonly name = 'CertificateError';
}

export interface Subject {
  commonName: string;
  organizations?: string[];
}

export interface AltNames {
  dnsNames?: string[];
  ipAddresses?: string[];
}

// ------------------------------------------------------------------ PEM

export function toPem(type: string, body: Buffer): string {
  const b64 = body.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${type}-----\n${b64}\n-----END ${type}-----\n`;
}

/** The DER bodies of every PEM block of the given type, in order. */
export function fromPem(text: string, type: string): Buffer[] {
  const re = new RegExp(`-----BEGIN ${type}-----([\\s\\S]*?)-----END ${type}-----`, 'g');
  return [...text.matchAll(re)].map((m) => Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
}

// ------------------------------------------------------------------ keys

/** A new EC P-256 key, as kubelet makes for its client certificate. */
export function generateEcKey(): { privateKey: KeyObject; keyPem: string } {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { privateKey, keyPem: privateKey.export({ type: 'sec1', format: 'pem' }) as string };
}

export function loadPrivateKey(pem: string): KeyObject {
  return createPrivateKey(pem);
}

/** The DER SubjectPublicKeyInfo of a key (private keys give their public half). */
export function spkiOf(key: KeyObject): Buffer {
  return createPublicKey(key).export({ type: 'spki', format: 'der' });
}

/** The signature algorithm identifier and digest for a key we sign with. */
export function signatureAlgorithm(key: KeyObject): { algorithm: Buffer; digest: string } {
  if (key.asymmetricKeyType === 'ec') return { algorithm: der.sequence(der.oid(OID.ecdsaWithSHA256)), digest: 'sha256' };
  if (key.asymmetricKeyType === 'rsa') return { algorithm: der.sequence(der.oid(OID.sha256WithRSA), der.nullValue()), digest: 'sha256' };
  throw new CertificateError(`unsupported key type ${key.asymmetricKeyType ?? 'unknown'}`);
}

// ------------------------------------------------------------------ names and extensions

/** Name in Go's pkix order: O before CN. */
export function encodeName(s: Subject): Buffer {
  const rdn = (type: string, value: string) => der.set(der.sequence(der.oid(type), der.utf8(value)));
  return der.sequence(...(s.organizations ?? []).map((o) => rdn(OID.organization, o)), rdn(OID.commonName, s.commonName));
}

export function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return der.sequence(der.oid(id), ...(critical ? [der.boolean(true)] : []), der.octetString(value));
}

/** GeneralNames for subjectAltName: dNSName [2], iPAddress [7]. */
export function encodeAltNames(alt: AltNames): Buffer {
  const names = [
    ...(alt.dnsNames ?? []).map((d) => der.implicitPrimitive(2, Buffer.from(d, 'ascii'))),
    ...(alt.ipAddresses ?? []).map((ip) => {
      if (!ipaddr.isValid(ip)) throw new CertificateError(`subjectAltName: ${ip} is not an IP address`);
      return der.implicitPrimitive(7, Buffer.from(ipaddr.parse(ip).toByteArray()));
    }),
  ];
  return der.sequence(...names);
}

// ------------------------------------------------------------------ CSR

/** A PKCS#10 request (RFC 2986) signed by `privateKey`, PEM "CERTIFICATE REQUEST". */
export function createCsr(o: { subject: Subject; privateKey: KeyObject } & AltNames): string {
  const spki = spkiOf(o.privateKey);
  const wantsSan = (o.dnsNames?.length ?? 0) + (o.ipAddresses?.length ?? 0) > 0;
  const attributes = wantsSan
    ? der.sequence(der.oid(OID.extensionRequest), der.set(der.sequence(extension(OID.subjectAltName, false, encodeAltNames(o)))))
    : Buffer.alloc(0);
  const info = der.sequence(der.integer(0n), encodeName(o.subject), spki, der.tlv(0xa0, attributes));
  const { algorithm, digest } = signatureAlgorithm(o.privateKey);
  const signature = sign(digest, info, o.privateKey);
  return toPem('CERTIFICATE REQUEST', der.sequence(info, algorithm, der.bitString(signature)));
}

// ------------------------------------------------------------------ certificates

/**
 * The pin `--discovery-token-ca-cert-hash` carries: "sha256:" + hex of the
 * SHA-256 of the CA certificate's DER SubjectPublicKeyInfo.
 */
export function caCertHash(caPem: string | Buffer): string {
  const spki = new X509Certificate(caPem).publicKey.export({ type: 'spki', format: 'der' });
  return 'sha256:' + createHash('sha256').update(spki).digest('hex');
}

/** Every certificate in a PEM bundle, parsed. */
export function parseCertificates(pem: string | Buffer): X509Certificate[] {
  return fromPem(pem.toString(), 'CERTIFICATE').map((d) => new X509Certificate(d));
}

/** notBefore / notAfter of the first certificate in a PEM bundle. */
export function certificateValidity(pem: string | Buffer): { notBefore: Date; notAfter: Date } {
  const [cert] = parseCertificates(pem);
  if (!cert) throw new CertificateError('no CERTIFICATE block found');
  return { notBefore: new Date(cert.validFrom), notAfter: new Date(cert.validTo) };
}
