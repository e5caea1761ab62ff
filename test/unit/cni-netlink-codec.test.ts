import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as c from '../../cni/netlink/codec.js';

test('attributes are 4-byte aligned, nested ones flagged', () => {
  const a = c.strAttr(c.IFLA_IFNAME, 'eth0'); // 4 + "eth0\0" = 9 -> 12
  assert.equal(a.length, 12);
  assert.equal(a.readUInt16LE(0), 9);
  assert.equal(a.readUInt16LE(2), c.IFLA_IFNAME);
  const n = c.nested(c.IFLA_LINKINFO, c.strAttr(c.IFLA_INFO_KIND, 'veth'));
  assert.equal(n.readUInt16LE(2), c.IFLA_LINKINFO | 0x8000);
  assert.equal(c.parseAttrs(n.subarray(4)).get(c.IFLA_INFO_KIND)!.toString(), 'veth\0');
});

test('a link message round-trips through parseLink', () => {
  const body = Buffer.concat([
    c.ifinfomsg({ index: 7, flags: c.IFF_UP }),
    c.strAttr(c.IFLA_IFNAME, 'kna0'),
    c.u32Attr(c.IFLA_MTU, 1450),
    c.bytesAttr(c.IFLA_ADDRESS, Uint8Array.from([2, 0, 0, 0, 0, 1])),
    c.u32Attr(c.IFLA_MASTER, 3),
    c.strAttr(c.IFLA_IFALIAS, 'kna-cni/n/c/eth0'),
    c.nested(c.IFLA_LINKINFO, c.strAttr(c.IFLA_INFO_KIND, 'bridge')),
  ]);
  const [m] = c.splitMessages(c.message(c.RTM_NEWLINK, 0, 42, body));
  assert.equal(m!.type, c.RTM_NEWLINK);
  assert.equal(m!.seq, 42);
  assert.deepEqual({ ...c.parseLink(m!.body), mac: [...c.parseLink(m!.body).mac!] }, {
    index: 7, flags: c.IFF_UP, name: 'kna0', mtu: 1450, mac: [2, 0, 0, 0, 0, 1], master: 3, kind: 'bridge', alias: 'kna-cni/n/c/eth0',
  });
});

test('several messages in one datagram; errors carry a positive errno', () => {
  const err = Buffer.alloc(20);
  err.writeInt32LE(-17, 0); // -EEXIST
  const buf = Buffer.concat([c.message(c.NLMSG_ERROR, 0, 1, err), c.message(c.NLMSG_DONE, 0, 2, Buffer.alloc(4))]);
  const ms = c.splitMessages(buf);
  assert.deepEqual(ms.map((m) => [m.type, m.seq]), [[c.NLMSG_ERROR, 1], [c.NLMSG_DONE, 2]]);
  assert.equal(c.errorOf(ms[0]!.body), 17);
});

test('address messages', () => {
  const body = Buffer.concat([c.ifaddrmsg({ family: c.AF_INET, prefixlen: 24, index: 5 }), c.bytesAttr(c.IFA_LOCAL, Uint8Array.from([10, 0, 0, 1]))]);
  const a = c.parseAddr(body);
  assert.deepEqual({ ...a, address: [...a.address] }, { family: c.AF_INET, prefixlen: 24, index: 5, address: [10, 0, 0, 1] });
});
