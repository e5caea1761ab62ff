import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildRangeSets, candidates, canonicalRange, setSize } from '../../cni/ipam/ranges.js';
import { IP } from '../../cni/net/ip.js';
import { CniError } from '../../cni/spec/errors.js';

const take = (it: Iterable<{ ip: IP }>, n = Infinity): string[] => {
  const out: string[] = [];
  for (const c of it) { if (out.length >= n) break; out.push(c.ip.toString()); }
  return out;
};

test('host-local defaults: gateway and start .1, end before broadcast (IPv4) or last (IPv6)', () => {
  const r = canonicalRange({ subnet: '10.1.0.7/24' }, 'r');
  assert.equal(r.subnet.toString(), '10.1.0.0/24');
  assert.deepEqual([r.gateway, r.start, r.end].map(String), ['10.1.0.1', '10.1.0.1', '10.1.0.254']);
  const r6 = canonicalRange({ subnet: 'fd00::/120' }, 'r');
  assert.deepEqual([r6.gateway, r6.start, r6.end].map(String), ['fd00::1', 'fd00::1', 'fd00::ff']);
});

test('range fields are checked against the subnet, errors name the field', () => {
  const err = (rc: Parameters<typeof canonicalRange>[0], re: RegExp) =>
    assert.throws(() => canonicalRange(rc, 'ipam.ranges[0][0]'), (e: unknown) => e instanceof CniError && e.code === 7 && re.test(e.message));
  err({ subnet: '10.1.0.0/24', gateway: '10.2.0.1' }, /^ipam\.ranges\[0\]\[0\]\.gateway: 10\.2\.0\.1 is not in 10\.1\.0\.0\/24/);
  err({ subnet: '10.1.0.0/24', rangeStart: '10.1.1.1' }, /rangeStart/);
  err({ subnet: '10.1.0.0/24', rangeStart: '10.1.0.9', rangeEnd: '10.1.0.8' }, /after rangeEnd/);
  err({ subnet: '10.1.0.0/31' }, /too small/);
});

test('range sets: same family inside a set, no overlaps anywhere', () => {
  assert.throws(() => buildRangeSets([[{ subnet: '10.0.0.0/24' }, { subnet: 'fd00::/64' }]]), /same IP family/);
  assert.throws(() => buildRangeSets([[{ subnet: '10.0.0.0/24' }], [{ subnet: '10.0.0.0/25' }]]), /ipam\.ranges\[1\]\[0\].*overlaps ipam\.ranges\[0\]\[0\]/);
  assert.equal(buildRangeSets([[{ subnet: '10.0.0.0/24' }], [{ subnet: 'fd00::/64' }]]).length, 2);
});

test('candidates: from rangeStart, skipping the gateway', () => {
  const [set] = buildRangeSets([[{ subnet: '10.0.0.0/29' }]]);
  assert.deepEqual(take(candidates(set!)), ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
  assert.equal(setSize(set!), 5n);
});

test('candidates: round-robin after the last reserved, wrapping over ranges, each address once', () => {
  const [set] = buildRangeSets([[{ subnet: '10.0.0.0/29' }, { subnet: '10.0.1.0/30' }]]);
  assert.deepEqual(take(candidates(set!, IP.parse('10.0.0.5'))), ['10.0.0.6', '10.0.1.2', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5']);
  assert.deepEqual(take(candidates(set!, IP.parse('10.0.1.2'))), ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6', '10.0.1.2']);
  // A cursor outside the set (ranges changed) starts from the beginning.
  assert.deepEqual(take(candidates(set!, IP.parse('192.168.0.1')), 2), ['10.0.0.2', '10.0.0.3']);
});

test('candidates honour rangeStart/rangeEnd and a gateway outside them', () => {
  const [set] = buildRangeSets([[{ subnet: '10.0.0.0/24', rangeStart: '10.0.0.100', rangeEnd: '10.0.0.102', gateway: '10.0.0.254' }]]);
  assert.deepEqual(take(candidates(set!)), ['10.0.0.100', '10.0.0.101', '10.0.0.102']);
  assert.equal(setSize(set!), 3n);
});
