// Strict IP / CIDR parsing and arithmetic for the proxy. Everything that ends up in a
// rule goes through here first, so the kernel never sees an address we did not check.
import ipaddr from 'ipaddr.js';
import { isIPv4, isIPv6 } from 'node:net';
import type { IPFamily } from './types.js';

export interface ParsedIP { readonly family: IPFamily; readonly text: string }
export interface ParsedCIDR { readonly family: IPFamily; readonly text: string; readonly network: bigint; readonly prefix: number }

const bits = (family: IPFamily): number => (family === 4 ? 32 : 128);

function toBigInt(bytes: number[]): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

const LEADING_ZERO = /(^|\.)0\d/;

/** Canonical text of an IP (dotted quad, RFC 5952 for IPv6), or undefined when invalid. */
export function parseIP(s: string): ParsedIP | undefined {
  if (typeof s !== 'string') return undefined;
  // node accepts only plain dotted decimal; leading zeros (ambiguous octal forms) are refused.
  if (isIPv4(s)) return LEADING_ZERO.test(s) ? undefined : { family: 4, text: s };
  if (isIPv6(s) && !s.includes('%')) return { family: 6, text: ipaddr.IPv6.parse(s).toRFC5952String() };
  return undefined;
}

/** The address as a number (for range arithmetic). */
export function ipValue(ip: ParsedIP): bigint {
  return toBigInt(ipaddr.parse(ip.text).toByteArray());
}

/** A CIDR with its host bits cleared ("10.0.0.5/8" -> "10.0.0.0/8"), or undefined when invalid. */
export function parseCIDR(s: string): ParsedCIDR | undefined {
  if (typeof s !== 'string') return undefined;
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIP(s.slice(0, slash));
  const p = s.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(p)) return undefined;
  const prefix = Number(p);
  const width = bits(ip.family);
  if (prefix > width) return undefined;
  const hostBits = BigInt(width - prefix);
  const network = (ipValue(ip) >> hostBits) << hostBits;
  return { family: ip.family, network, prefix, text: `${formatIP(ip.family, network)}/${prefix}` };
}

export function formatIP(family: IPFamily, value: bigint): string {
  const n = bits(family) / 8;
  const bytes: number[] = [];
  for (let i = n - 1; i >= 0; i--) bytes.push(Number((value >> BigInt(i * 8)) & 0xffn));
  const a = ipaddr.fromByteArray(bytes);
  return a.kind() === 'ipv6' ? (a as ipaddr.IPv6).toRFC5952String() : a.toString();
}

export function cidrContains(cidr: ParsedCIDR, ip: ParsedIP): boolean {
  if (cidr.family !== ip.family) return false;
  const hostBits = BigInt(bits(cidr.family) - cidr.prefix);
  return (ipValue(ip) >> hostBits) << hostBits === cidr.network;
}

/** Number of addresses in the CIDR. */
export function cidrSize(cidr: ParsedCIDR): bigint {
  return 1n << BigInt(bits(cidr.family) - cidr.prefix);
}

/** "ip:port", with brackets for IPv6 (the form DNAT and conntrack expect). */
export function joinHostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

export const hostMask = (family: IPFamily): string => (family === 4 ? '/32' : '/128');
