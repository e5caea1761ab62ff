// The relist's change detection: which pods' workers get woken. A runtime listing held
// in memory stands in for containerd here; the relist logic is what is under test.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CriClient } from '../../agent/cri/client.js';
import { ContainerState, PodSandboxState, type Container, type PodSandbox } from '../../agent/cri/types.js';
import { L, MANAGED_BY } from '../../agent/pods/labels.js';
import { Relister } from '../../agent/pods/pleg.js';

const labels = (uid: string) => ({ [L.podUid]: uid, [L.podName]: uid, [L.podNamespace]: 'default', [L.managedBy]: MANAGED_BY, [L.node]: 'n1' });
const sandbox = (uid: string, id: string): PodSandbox => ({ id, state: PodSandboxState.READY, createdAt: 1, labels: labels(uid), annotations: {}, runtimeHandler: '' });
const container = (uid: string, id: string, state: ContainerState = ContainerState.RUNNING): Container =>
  ({ id, podSandboxId: `s-${uid}`, imageRef: '', state, createdAt: 1, labels: { ...labels(uid), [L.containerName]: 'app' }, annotations: {}, imageId: '' });

/** A runtime whose lists can be held back, to interleave a relist with a worker's refresh. */
function runtime() {
  const state = { sandboxes: [] as PodSandbox[], containers: [] as Container[] };
  let gate: Promise<void> | undefined;
  const matches = (l: Record<string, string>, sel?: { labelSelector?: Record<string, string> }) =>
    Object.entries(sel?.labelSelector ?? {}).every(([k, v]) => l[k] === v);
  const cri = {
    listPodSandbox: async (sel?: { labelSelector?: Record<string, string> }) => {
      const snap = state.sandboxes.filter((s) => matches(s.labels, sel));
      const g = gate;
      await g;
      return snap;
    },
    listContainers: async (sel?: { labelSelector?: Record<string, string> }) => {
      const snap = state.containers.filter((c) => matches(c.labels, sel));
      const g = gate;
      await g;
      return snap;
    },
  } as unknown as CriClient;
  return {
    state, cri,
    /** Lists called until the next call of the returned function wait for it. */
    hold(): () => void { let open!: () => void; gate = new Promise((r) => (open = r)); return open; },
    /** Lists called from now on answer at once (held ones still wait). */
    release(): void { gate = undefined; },
  };
}

test('relist reports pods whose sandboxes or containers changed, and pods that went away', async () => {
  const rt = runtime();
  const r = new Relister(rt.cri, 'n1');
  rt.state.sandboxes.push(sandbox('a', 's-a'), sandbox('b', 's-b'));
  rt.state.containers.push(container('a', 'c-a'));
  assert.deepEqual([...await r.relist()].sort(), ['a', 'b']);
  assert.deepEqual([...await r.relist()], [], 'nothing changed');
  rt.state.containers[0] = container('a', 'c-a', ContainerState.EXITED);
  assert.deepEqual([...await r.relist()], ['a']);
  rt.state.sandboxes = rt.state.sandboxes.filter((s) => s.id !== 's-b');
  assert.deepEqual([...await r.relist()], ['b']);
  assert.equal(r.pod('b'), undefined);
});

test('a worker refreshing its pod while a relist is in flight is not woken for its own change', async () => {
  const rt = runtime();
  const r = new Relister(rt.cri, 'n1');
  rt.state.sandboxes.push(sandbox('a', 's-a'));
  await r.relist();
  // The relist lists the runtime before the worker starts its container...
  const open = rt.hold();
  const inFlight = r.relist();
  rt.release();
  rt.state.containers.push(container('a', 'c-a'));
  // ...and the worker refreshes after making it, before the relist finishes.
  await r.refresh('a');
  open();
  assert.deepEqual([...await inFlight], [], 'the older listing does not count as a change');
  assert.equal(r.pod('a')?.containers.length, 1, 'the worker\'s newer view is kept');
  assert.deepEqual([...await r.relist()], [], 'nor does the next relist, which sees what the worker saw');
  // A change nobody recorded is still reported.
  rt.state.containers[0] = container('a', 'c-a', ContainerState.EXITED);
  assert.deepEqual([...await r.relist()], ['a']);
});

test('a pod recorded by its worker is compared against that record at the next relist', async () => {
  const rt = runtime();
  const r = new Relister(rt.cri, 'n1');
  await r.relist();
  rt.state.sandboxes.push(sandbox('a', 's-a'));
  rt.state.containers.push(container('a', 'c-a'));
  r.record({ uid: 'a', name: 'a', namespace: 'default', sandboxes: [sandbox('a', 's-a')], containers: [container('a', 'c-a')] });
  assert.deepEqual([...await r.relist()], []);
});

test('a pod whose worker is syncing is not reported; what changed shows once it is done', async () => {
  const rt = runtime();
  const r = new Relister(rt.cri, 'n1');
  rt.state.sandboxes.push(sandbox('a', 's-a'));
  await r.relist();
  rt.state.containers.push(container('a', 'c-a'));
  assert.deepEqual([...await r.relist(() => true)], [], 'busy: the worker is acting on it');
  assert.equal(r.pod('a')?.containers.length, 0, 'the view before the sync is kept');
  assert.deepEqual([...await r.relist(() => false)], ['a'], 'done without recording: the change is reported');
});
