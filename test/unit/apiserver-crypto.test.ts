// JWS detached signatures, the CA pin, DER, CSRs and certificates of the test CA.
import assert from 'node:assert/strict';
import { createHash, createHmac, X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import * as der from '../../agent/apiserver/der.js';
import { parseBootstrapToken, signDetached, verifyDetached } from '../../agent/apiserver/jws.js';
import { caCertHash, certificateValidity, createCsr, generateEcKey, spkiOf } from '../../agent/apiserver/x509.js';
import { CertificateAuthority, CsrError, parseCsr } from '../apiserver/ca.js';

test('detached JWS is header..signature with HS256 over header.payload keyed by the token secret', () => {
  const content = 'apiVersion: v1\nkind: Config\n';
  const jws = signDetached(content, 'abcdef', '0123456789abcdef');
  const [h, empty, sig] = jws.split('.');
  assert.equal(empty, '');
  assert.equal(Buffer.from(h!, 'base64url').toString(), '{"alg":"HS256","kid":"abcdef"}');
  const want = createHmac('sha256', '0123456789abcdef').update(`${h}.${Buffer.from(content).toString('base64url')}`).digest('base64url');
  assert.equal(sig, want);
  assert.ok(verifyDetached(jws, content, 'abcdef', '0123456789abcdef'));
});

test('detached JWS rejects a wrong secret, kid, content or shape', () => {
  const jws = signDetached('x', 'abcdef', '0123456789abcdef');
  assert.equal(verifyDetached(jws, 'x', 'abcdef', '0123456789abcdee'), false);
  assert.equal(verifyDetached(jws, 'x', 'abcdeg', '0123456789abcdef'), false);
  assert.equal(verifyDetached(jws, 'y', 'abcdef', '0123456789abcdef'), false);
  const [h, , s] = jws.split('.');
  assert.equal(verifyDetached(`${h}.eA.${s}`, 'x', 'abcdef', '0123456789abcdef'), false);
  const none = Buffer.from('{"alg":"none","kid":"abcdef"}').toString('base64url');
  assert.equal(verifyDetached(`${none}..`, 'x', 'abcdef', '0123456789abcdef'), false);
});

test('bootstrap tokens parse only in the [a-z0-9]{6}.[a-z0-9]{16} form', () => {
  assert.deepEqual(parseBootstrapToken('abcdef.0123456789abcdef'), { id: 'abcdef', secret: '0123456789abcdef' });
  for (const bad of ['ABCDEF.0123456789abcdef', 'abcdef0123456789abcdef', 'abcde.0123456789abcdef', 'abcdef.0123456789abcde']) assert.equal(parseBootstrapToken(bad), undefined);
});

test('DER: OIDs, integers and lengths round-trip', () => {
  for (const id of ['2.5.4.3', '1.2.840.10045.4.3.2', '1.3.6.1.5.5.7.3.2', '2.999.1']) assert.equal(der.readOid(der.read(der.oid(id))), id);
  assert.deepEqual(der.integer(0n), Buffer.from([2, 1, 0]));
  assert.deepEqual(der.integer(128n), Buffer.from([2, 2, 0, 128]));
  assert.deepEqual(der.integer(Buffer.from([0, 0, 1])), Buffer.from([2, 1, 1]));
  const long = der.octetString(Buffer.alloc(300, 7));
  assert.deepEqual(long.subarray(0, 4), Buffer.from([4, 0x82, 1, 44]));
  assert.equal(der.read(long).content.length, 300);
  assert.deepEqual(der.children(der.read(der.sequence(der.utf8('a'), der.boolean(true)))).map((c) => c.tag), [der.TAG.UTF8_STRING, der.TAG.BOOLEAN]);
});

test('the CA pin is sha256 of the DER SubjectPublicKeyInfo', () => {
  const ca = CertificateAuthority.create();
  const spki = new X509Certificate(ca.certPem).publicKey.export({ type: 'spki', format: 'der' });
  assert.equal(caCertHash(ca.certPem), `sha256:${createHash('sha256').update(spki).digest('hex')}`);
  assert.match(caCertHash(ca.certPem), /^sha256:[0-9a-f]{64}$/);
});

test('a CSR we make is parsed and its signature verified by the test CA', () => {
  const { privateKey } = generateEcKey();
  const pem = createCsr({ subject: { commonName: 'system:node:n1', organizations: ['system:nodes'] }, privateKey, dnsNames: ['n1'], ipAddresses: ['10.1.2.3'] });
  const csr = parseCsr(pem);
  assert.equal(csr.commonName, 'system:node:n1');
  assert.deepEqual(csr.organizations, ['system:nodes']);
  assert.deepEqual(csr.spki, spkiOf(privateKey));
  assert.ok(csr.subjectAltName);
  // One flipped bit in the signed part breaks it.
  const body = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  body[40]! ^= 1;
  const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${body.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  assert.throws(() => parseCsr(tampered), CsrError);
  assert.throws(() => parseCsr('nothing'), /no "CERTIFICATE REQUEST"/);
});

test('issued certificates chain to the CA with the requested subject, usages and lifetime', () => {
  const ca = CertificateAuthority.create();
  const { privateKey } = generateEcKey();
  const notAfter = new Date(Date.now() + 3600_000);
  const pem = ca.issue({ subject: { commonName: 'system:node:n1', organizations: ['system:nodes'] }, spki: spkiOf(privateKey), notAfter, usages: ['digital signature', 'client auth'] });
  const cert = new X509Certificate(pem);
  const caCert = new X509Certificate(ca.certPem);
  assert.ok(cert.checkIssued(caCert));
  assert.ok(cert.verify(caCert.publicKey));
  assert.equal(cert.ca, false);
  assert.equal(caCert.ca, true);
  assert.equal(cert.subject, 'O=system:nodes\nCN=system:node:n1');
  assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.2']);
  const v = certificateValidity(pem);
  // X.509 times have whole seconds: the certificate keeps the requested second.
  assert.equal(v.notAfter.getTime() / 1000, Math.floor(notAfter.getTime() / 1000));
  assert.ok(v.notBefore.getTime() < Date.now());
});
