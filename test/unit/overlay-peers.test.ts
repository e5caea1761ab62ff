import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parsePeers, PeersFileError, PeersWatcher, writePeersFile, type PeerInfo } from '../../agent/network/peers.js';

test('YAML and JSON lists parse; MACs are lower-cased; vtepMAC is optional', () => {
  const yaml = '- name: a\n  nodeIP: 172.30.0.10\n  podCIDR: 10.240.0.0/24\n  vtepMAC: 0E:6B:AC:1E:00:0A\n- {name: b, nodeIP: 172.30.0.11, podCIDR: 10.240.1.0/24}\n';
  assert.deepEqual(parsePeers(yaml), [
    { name: 'a', nodeIP: '172.30.0.10', podCIDR: '10.240.0.0/24', vtepMAC: '0e:6b:ac:1e:00:0a' },
    { name: 'b', nodeIP: '172.30.0.11', podCIDR: '10.240.1.0/24' },
  ]);
  assert.deepEqual(parsePeers('[{"name":"a","nodeIP":"1.2.3.4","podCIDR":"10.0.0.0/24"}]'), [{ name: 'a', nodeIP: '1.2.3.4', podCIDR: '10.0.0.0/24' }]);
  assert.deepEqual(parsePeers(''), []);
});

test('errors name the file and the field', () => {
  const bad = (text: string, re: RegExp) => assert.throws(() => parsePeers(text, 'peers.yaml'), (e: unknown) => e instanceof PeersFileError && re.test(e.message));
  bad('[{"name":"a","nodeIP":"1.2.3","podCIDR":"10.0.0.0/24"}]', /^peers\.yaml: \[0\]\.nodeIP: must be an IPv4 address$/);
  bad('[{"name":"a","nodeIP":"1.2.3.4","podCIDR":"10.0.0.1/24"}]', /^peers\.yaml: \[0\]\.podCIDR: must be an IPv4 network CIDR/);
  bad('[{"name":"a","nodeIP":"1.2.3.4","podCIDR":"10.0.0.0/24","vtepMAC":"zz"}]', /\[0\]\.vtepMAC: must be a MAC/);
  bad('[{"name":"A_b","nodeIP":"1.2.3.4","podCIDR":"10.0.0.0/24"}]', /\[0\]\.name: must be a lowercase DNS-1123/);
  bad('[{"name":"a","nodeIP":"1.2.3.4","podCIDR":"10.0.0.0/24","extra":1}]', /\[0\]: .*extra/i);
  bad('[{"name":"a","podCIDR":"10.0.0.0/24"}]', /\[0\]\.nodeIP: /);
  bad('{"name":"a"}', /^peers\.yaml: /);
  bad('[{"name":"a","nodeIP":"1.2.3.4","podCIDR":"10.0.0.0/24"},{"name":"a","nodeIP":"1.2.3.5","podCIDR":"10.0.1.0/24"}]', /\[1\]\.name: duplicates \[0\]\.name/);
  bad('[{"name":"a","nodeIP":"1.2.3.4","podCIDR":"10.0.0.0/24"},{"name":"b","nodeIP":"1.2.3.4","podCIDR":"10.0.1.0/24"}]', /\[1\]\.nodeIP: duplicates/);
  bad('[{"name":"a","nodeIP":"1.2.3.4","podCIDR":"10.0.0.0/16"},{"name":"b","nodeIP":"1.2.3.5","podCIDR":"10.0.1.0/24"}]', /\[1\]\.podCIDR: overlaps \[0\]\.podCIDR/);
  bad('- [unclosed', /not valid YAML or JSON/);
});

test('the watcher reports changes (atomic writes), ignores invalid files and unchanged content', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kna-t-peers-'));
  const file = join(dir, 'peers.yaml');
  const seen: PeerInfo[][] = [];
  let wake: () => void = () => {};
  const w = new PeersWatcher(file, (p) => { seen.push(p); wake(); }, { rescanMs: 50 });
  t.after(() => { w.stop(); rmSync(dir, { recursive: true, force: true }); });
  const next = () => new Promise<void>((r) => { wake = r; });

  assert.equal(await w.start(), undefined, 'missing file: no list (not an empty one)');
  const a: PeerInfo = { name: 'a', nodeIP: '172.30.0.10', podCIDR: '10.240.0.0/24' };
  const b: PeerInfo = { name: 'b', nodeIP: '172.30.0.11', podCIDR: '10.240.1.0/24' };
  let got = next();
  await writePeersFile(file, [a]);
  await got;
  assert.deepEqual(seen.at(-1), [a]);

  writeFileSync(file, 'not: [a list');
  writeFileSync(file, '[{"name":"x"}]');
  got = next();
  await writePeersFile(file, [a, b]);
  await got;
  assert.deepEqual(seen.at(-1), [a, b]);
  const count = seen.length;
  writeFileSync(file, JSON.stringify([a, b]));
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(seen.length, count, 'same list in other formatting: no event');
});
