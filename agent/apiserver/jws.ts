// Detached JWS (RFC 7515 appendix F) with HS256, as the bootstrap signer puts in
// cluster-info: "jws-kubeconfig-<token-id>" = header..signature over the
// kubeconfig text, keyed by the token's secret, header {"alg":"HS256","kid":<id>}.
import { createHmac, timingSafeEqual } from 'node:crypto';

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

/** The signature the bootstrap signer computes for `content` and a token. */
export function signDetached(content: string, tokenId: string, tokenSecret: string): string {
  // Go's encoding/json writes map keys sorted, so this is byte-for-byte what go-jose emits.
  const header = b64url(JSON.stringify({ alg: 'HS256', kid: tokenId }));
  const mac = createHmac('sha256', tokenSecret).update(`${header}.${b64url(content)}`).digest();
  return `${header}..${b64url(mac)}`;
}

/**
 * True when `jws` is a valid detached HS256 signature of `content` by this token.
 * Checks the header (alg HS256, kid = token id) rather than comparing strings, so a
 * signer that orders header fields differently still verifies.
 */
export function verifyDetached(jws: string, content: string, tokenId: string, tokenSecret: string): boolean {
  const parts = jws.split('.');
  if (parts.length !== 3 || parts[1] !== '') return false;
  const [header, , sig] = parts as [string, string, string];
  let h: unknown;
  try {
    h = JSON.parse(Buffer.from(header, 'base64url').toString('utf8'));
  } catch {
    return false;
  }
  if (typeof h !== 'object' || h === null) return false;
  const { alg, kid } = h as { alg?: unknown; kid?: unknown };
  if (alg !== 'HS256' || kid !== tokenId) return false;
  const want = createHmac('sha256', tokenSecret).update(`${header}.${b64url(content)}`).digest();
  const got = Buffer.from(sig, 'base64url');
  return got.length === want.length && timingSafeEqual(got, want);
}

export interface BootstrapToken {
  id: string;
  secret: string;
}

/** Parses "abcdef.0123456789abcdef" (the bootstrap token format, [a-z0-9]{6}.[a-z0-9]{16}). */
export function parseBootstrapToken(token: string): BootstrapToken | undefined {
  const m = /^([a-z0-9]{6})\.([a-z0-9]{16})$/.exec(token);
  return m ? { id: m[1]!, secret: m[2]! } : undefined;
}
