import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readManifestDir } from '../../agent/pods/manifest/reader.js';

const pod = (image: string) => `apiVersion: v1\nkind: Pod\nmetadata: { name: a }\nspec:\n  containers: [{ name: c, image: ${image} }]\n`;

test('a rescan sees edits, also same-size ones, and forgets removed files', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kna-t-manifests-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'a.yaml');
  writeFileSync(file, pod('img:v1'));
  const first = await readManifestDir(dir, 'n1');
  assert.equal(first.objects[0]?.kind === 'Pod' && first.objects[0].pod.spec.containers[0]!.image, 'img:v1');
  writeFileSync(file, pod('img:v2')); // same size: the mtime tells
  utimesSync(file, new Date(), new Date(Date.now() + 5000));
  const second = await readManifestDir(dir, 'n1');
  assert.equal(second.objects[0]?.kind === 'Pod' && second.objects[0].pod.spec.containers[0]!.image, 'img:v2');
  assert.notEqual(first.objects[0]?.kind === 'Pod' && first.objects[0].pod.metadata.uid, second.objects[0]?.kind === 'Pod' && second.objects[0].pod.metadata.uid);
  unlinkSync(file);
  assert.deepEqual((await readManifestDir(dir, 'n1')).objects, []);
});
