import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cidr, IP } from '../../cni/net/ip.js';

test('IPv4 parsing is strict', () => {
  assert.equal(IP.parse('10.0.0.1').toString(), '10.0.0.1');
  assert.equal(IP.parse('255.255.255.255').value, 0xffffffffn);
  for (const bad of ['10.0.0', '10.0.0.256', '010.0.0.1', '1.2.3.4.5', '1.2.3.-1', ' 1.2.3.4', '1.2.3.4 ', '0x7f.0.0.1', '']) {
    assert.equal(IP.tryParse(bad), undefined, bad);
  }
});

test('IPv6 parsing and RFC 5952 output', () => {
  const cases: Array<[string, string]> = [
    ['::', '::'], ['::1', '::1'], ['FE80::1', 'fe80::1'], ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'], ['2001:db8::', '2001:db8::'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'], ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'], ['::ffff:1.2.3.4', '::ffff:102:304'],
    ['fd00:0:0:1::', 'fd00:0:0:1::'],
  ];
  for (const [input, want] of cases) assert.equal(IP.parse(input).toString(), want, input);
  for (const bad of [':::', '1::2::3', 'fe80::1%eth0', 'gggg::1', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '12345::', '::1.2.3']) {
    assert.equal(IP.tryParse(bad), undefined, bad);
  }
});

test('bytes round trip and arithmetic', () => {
  const ip = IP.parse('10.1.2.3');
  assert.deepEqual([...ip.bytes()], [10, 1, 2, 3]);
  assert.ok(IP.fromBytes(ip.bytes()).equals(ip));
  assert.equal(IP.parse('fd00::ff').add(1n).toString(), 'fd00::100');
  assert.ok(IP.parse('10.0.0.1').compare(IP.parse('10.0.0.2')) < 0);
  assert.throws(() => IP.parse('255.255.255.255').add(1n), RangeError);
});

test('CIDR math', () => {
  const c = Cidr.parse('10.1.2.3/24');
  assert.equal(c.toString(), '10.1.2.3/24');
  assert.equal(c.masked().toString(), '10.1.2.0/24');
  assert.equal(c.last().toString(), '10.1.2.255');
  assert.ok(c.contains(IP.parse('10.1.2.200')));
  assert.ok(!c.contains(IP.parse('10.1.3.1')));
  assert.ok(!c.contains(IP.parse('::1')));
  assert.ok(Cidr.parse('10.0.0.0/8').overlaps(Cidr.parse('10.5.0.0/16')));
  assert.ok(!Cidr.parse('10.0.0.0/16').overlaps(Cidr.parse('10.1.0.0/16')));
  assert.equal(Cidr.parse('fd00::/64').last().toString(), 'fd00::ffff:ffff:ffff:ffff');
  assert.equal(Cidr.parse('0.0.0.0/0').masked().toString(), '0.0.0.0/0');
  for (const bad of ['10.0.0.0', '10.0.0.0/33', '10.0.0.0/08', 'fd00::/129', '10.0.0.0/-1', 'x/24']) assert.equal(Cidr.tryParse(bad), undefined, bad);
});
