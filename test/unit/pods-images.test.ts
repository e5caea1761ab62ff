// Image lookups: pull policies, and pods starting together sharing one ImageStatus call.
// An in-memory image store stands in for containerd's image service.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CriClient } from '../../agent/cri/client.js';
import { ImageManager, ImagePullError } from '../../agent/pods/images.js';

function images(present: string[]) {
  const calls = { status: 0, pull: 0 };
  const cri = {
    imageStatus: async (image: string) => {
      calls.status++;
      await new Promise((r) => setTimeout(r, 5));
      return present.includes(image) ? { id: `sha256:${image}` } : undefined;
    },
    pullImage: async (image: string) => { calls.pull++; throw new Error(`${image}: not found`); },
  } as unknown as CriClient;
  return { calls, manager: new ImageManager(cri) };
}

test('pods starting together share one ImageStatus call per image; later lookups ask again', async () => {
  const { calls, manager } = images(['busybox']);
  const refs = await Promise.all(Array.from({ length: 10 }, (_, i) => manager.ensure('busybox', 'IfNotPresent', `pod-${i}`)));
  assert.deepEqual(new Set(refs), new Set(['sha256:busybox']));
  assert.equal(calls.status, 1);
  await manager.ensure('busybox', 'IfNotPresent', 'pod-late');
  assert.equal(calls.status, 2, 'nothing is cached once the lookup is done');
});

test('pull policies: Never without the image fails at once, a failed pull backs off', async () => {
  const { calls, manager } = images([]);
  await assert.rejects(manager.ensure('missing', 'Never', 'p'), (e: unknown) => e instanceof ImagePullError && e.reason === 'ErrImageNeverPull');
  assert.equal(calls.pull, 0);
  await assert.rejects(manager.ensure('missing', 'IfNotPresent', 'p'), (e: unknown) => e instanceof ImagePullError && e.reason === 'ErrImagePull');
  await assert.rejects(manager.ensure('missing', 'IfNotPresent', 'p'), (e: unknown) => e instanceof ImagePullError && e.reason === 'ImagePullBackOff');
  assert.equal(calls.pull, 1, 'no second pull during the back-off');
});
