// kubelet's Events from the real agent (`kna join`) in the test API server: a pod's
// Pulled / Created / Started (init and app containers, kubelet's involvedObject,
// source and fieldPath, no duplicates) and Killing on delete; a crash loop's BackOff
// as one Event whose count grows; a failing liveness probe's Unhealthy and Killing;
// a failed pull's Pulling and Failed; a static pod's Events with its own UID under
// kubelet's name. Then the API sink on its own: repeats patched, a deleted Event
// created again, a server gone away neither blocks nor fails the caller.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { ApiClient, resourcePath, type KubeObject } from '../../agent/apiserver/client.js';
import { ApiEvents, type CoreEvent } from '../../agent/apiserver/events.js';
import { createLogger } from '../../agent/util/log.js';
import { apiPod, joinedNodePerFile, withAgentLog } from '../harness/agent.js';
import { eventually, startTestApiServer } from '../harness/apiserver.js';

const NODE = 'kna-t-node'; // the harness's --node-name
const BUSYBOX = 'localhost/kna/busybox:latest';

interface PodObj extends KubeObject {
  status?: { phase?: string; containerStatuses?: { restartCount: number }[] };
}


const joined = joinedNodePerFile('apiev', { manifests: { 'static.yaml': `
apiVersion: v1
kind: Pod
metadata: { name: kna-t-ev-static }
spec:
  terminationGracePeriodSeconds: 0
  containers: [{ name: s, image: ${BUSYBOX}, imagePullPolicy: IfNotPresent, command: [sleep, '3600'] }]
` } });

const ns = (resource: string, name?: string) => resourcePath({ resource, namespace: 'default', ...(name ? { name } : {}) });
const withLog = withAgentLog(() => joined.agent);

const pod = apiPod;

/** The Events about one object, as `kubectl describe` asks for them. */
async function eventsOf(name: string, uid?: string): Promise<CoreEvent[]> {
  const sel = [`involvedObject.name=${name}`, 'involvedObject.namespace=default', 'involvedObject.kind=Pod', ...(uid ? [`involvedObject.uid=${uid}`] : [])].join(',');
  return (await joined.admin.list<CoreEvent>(ns('events'), { fieldSelector: sel })).items;
}

const summary = (evs: CoreEvent[]) => evs.map((e) => `${e.type} ${e.reason} ${e.involvedObject.fieldPath ?? '-'} x${e.count}: ${e.message}`).join('\n');

async function waitEvents(name: string, what: string, pred: (evs: CoreEvent[]) => boolean, ms = 60_000): Promise<CoreEvent[]> {
  let last: CoreEvent[] = [];
  return eventually(what, async () => {
    last = await eventsOf(name);
    return pred(last) ? last : undefined;
  }, ms).catch((err: unknown) => withLog(new Error(`${(err as Error).message}\nevents of ${name}:\n${summary(last)}`)));
}

const one = (evs: CoreEvent[], reason: string, fieldPath?: string) => {
  const found = evs.filter((e) => e.reason === reason && e.involvedObject.fieldPath === fieldPath);
  assert.equal(found.length, 1, `one ${reason} Event for ${fieldPath ?? 'the pod'}:\n${summary(evs)}`);
  return found[0]!;
};

test('a pod from the API: Pulled (already present), Created, Started per container, as kubelet records them; Killing on delete', async () => {
  const created = await joined.admin.create<PodObj>(ns('pods'), pod('kna-t-ev-run', {}, {
    initContainers: [{ name: 'init', image: BUSYBOX, imagePullPolicy: 'IfNotPresent', command: ['true'] }],
  }));
  const uid = created.metadata.uid!;
  await eventually('Running in the API', async () => (await joined.admin.get<PodObj>(ns('pods', 'kna-t-ev-run'))).status?.phase === 'Running' || undefined, 60_000).catch(withLog);
  const evs = await waitEvents('kna-t-ev-run', 'Started of the app container', (e) => e.some((x) => x.reason === 'Started' && x.involvedObject.fieldPath === 'spec.containers{c}'));
  for (const [fieldPath, c] of [['spec.initContainers{init}', 'init'], ['spec.containers{c}', 'c']] as const) {
    const pulled = one(evs, 'Pulled', fieldPath);
    assert.equal(pulled.message, `Container image "${BUSYBOX}" already present on machine`);
    assert.equal(one(evs, 'Created', fieldPath).message, `Created container: ${c}`);
    assert.equal(one(evs, 'Started', fieldPath).message, `Started container ${c}`);
  }
  const started = one(evs, 'Started', 'spec.containers{c}');
  assert.deepEqual(started.involvedObject, { kind: 'Pod', apiVersion: 'v1', namespace: 'default', name: 'kna-t-ev-run', uid, fieldPath: 'spec.containers{c}' });
  assert.deepEqual(started.source, { component: 'kubelet', host: NODE });
  assert.equal(started.reportingComponent, 'kubelet');
  assert.equal(started.reportingInstance, NODE);
  assert.equal(started.type, 'Normal');
  assert.equal(started.count, 1);
  assert.equal(started.metadata.namespace, 'default');
  assert.match(started.metadata.name, /^kna-t-ev-run\.[0-9a-f]{16}$/);
  assert.ok(started.firstTimestamp && started.firstTimestamp === started.lastTimestamp);
  // kubectl's own selectors work on them (source is source.component).
  const bySource = (await joined.admin.list<CoreEvent>(ns('events'), { fieldSelector: `involvedObject.uid=${uid},source=kubelet,reason=Started` })).items;
  assert.equal(bySource.length, 2);

  // Resyncs of a running pod record nothing new.
  await new Promise((r) => setTimeout(r, 3000));
  const later = await eventsOf('kna-t-ev-run', uid);
  assert.equal(later.length, 6, `still six Events:\n${summary(later)}`);
  assert.ok(later.every((e) => e.count === 1 && e.type === 'Normal'), summary(later));

  await joined.admin.delete(ns('pods', 'kna-t-ev-run'));
  const killing = one(await waitEvents('kna-t-ev-run', 'Killing', (e) => e.some((x) => x.reason === 'Killing')), 'Killing', 'spec.containers{c}');
  assert.equal(killing.message, 'Stopping container c');
});

test('a crash loop: one BackOff Event for the container whose count grows', async () => {
  const created = await joined.admin.create<PodObj>(ns('pods'), pod('kna-t-ev-crash', { command: ['sh', '-c', 'exit 3'] }));
  const evs = await waitEvents('kna-t-ev-crash', 'a BackOff Event with count > 1', (e) => e.some((x) => x.reason === 'BackOff' && x.count > 1), 90_000);
  const backoff = one(evs, 'BackOff', 'spec.containers{c}');
  assert.equal(backoff.type, 'Warning');
  assert.equal(backoff.message, `Back-off restarting failed container c in pod kna-t-ev-crash_default(${created.metadata.uid})`);
  assert.ok(Date.parse(backoff.lastTimestamp) > Date.parse(backoff.firstTimestamp), 'lastTimestamp moved on');
  // Each restart is the same Started again: counted, not a new Event.
  assert.ok(one(evs, 'Started', 'spec.containers{c}').count >= 2, summary(evs));
  await joined.admin.delete(ns('pods', 'kna-t-ev-crash'));
});

test('a failing liveness probe: Unhealthy, then Killing with the reason, and the container restarts', async () => {
  await joined.admin.create(ns('pods'), pod('kna-t-ev-live', {
    livenessProbe: { exec: { command: ['cat', '/tmp/kna-t-absent'] }, periodSeconds: 1, failureThreshold: 2 },
  }));
  const evs = await waitEvents('kna-t-ev-live', 'Unhealthy and Killing', (e) => e.some((x) => x.reason === 'Unhealthy') && e.some((x) => x.reason === 'Killing'), 60_000);
  const unhealthy = one(evs, 'Unhealthy', 'spec.containers{c}');
  assert.equal(unhealthy.type, 'Warning');
  assert.match(unhealthy.message, /^Liveness probe failed: .*kna-t-absent/);
  assert.ok(unhealthy.count >= 2, `failureThreshold 2: at least two failed attempts, counted on one Event:\n${summary(evs)}`);
  assert.equal(one(evs, 'Killing', 'spec.containers{c}').message, 'Container c failed liveness probe, will be restarted');
  await eventually('restartCount 1 in the API', async () => ((await joined.admin.get<PodObj>(ns('pods', 'kna-t-ev-live'))).status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1 || undefined, 30_000).catch(withLog);
  await joined.admin.delete(ns('pods', 'kna-t-ev-live'));
});

test('an image that cannot be pulled: Pulling, Failed with the reason, then Error: ErrImagePull', async () => {
  const image = 'localhost/kna/kna-t-absent:v1'; // a registry on loopback that is not there
  await joined.admin.create(ns('pods'), pod('kna-t-ev-pull', { image, imagePullPolicy: 'Always' }));
  const evs = await waitEvents('kna-t-ev-pull', 'Pulling and both Failed', (e) => e.some((x) => x.reason === 'Pulling') && e.filter((x) => x.reason === 'Failed').length >= 2);
  assert.equal(one(evs, 'Pulling', 'spec.containers{c}').message, `Pulling image "${image}"`);
  const failed = evs.filter((e) => e.reason === 'Failed');
  assert.ok(failed.every((e) => e.type === 'Warning' && e.involvedObject.fieldPath === 'spec.containers{c}'), summary(evs));
  assert.ok(failed.some((e) => e.message.startsWith(`Failed to pull image "${image}": `)), summary(evs));
  assert.ok(failed.some((e) => e.message === 'Error: ErrImagePull'), summary(evs));
  await joined.admin.delete(ns('pods', 'kna-t-ev-pull'));
});

test('a static pod\'s Events carry its own UID and kubelet\'s name for it (its mirror\'s, <name>-<node>)', async () => {
  const local = await joined.agent.waitPod('kna-t-ev-static', (p) => p.status.phase === 'Running', 'static pod Running');
  const evs = await waitEvents(`kna-t-ev-static-${NODE}`, 'Started', (e) => e.some((x) => x.reason === 'Started'));
  const started = one(evs, 'Started', 'spec.containers{s}');
  assert.equal(started.involvedObject.uid, local.metadata.uid);
  assert.equal(started.involvedObject.namespace, 'default');
  assert.match(started.metadata.name, new RegExp(`^kna-t-ev-static-${NODE}\\.[0-9a-f]{16}$`));
  assert.deepEqual(await eventsOf('kna-t-ev-static'), [], 'none under the file\'s name');
});

test('the API sink: repeats patch one Event, a deleted one is created again, a server gone away neither blocks nor throws', async (t) => {
  const cp = await startTestApiServer(t);
  const client = new ApiClient({ server: cp.server.url, caPem: cp.server.ca.certPem, token: cp.server.adminToken }, { timeoutMs: 2000 });
  t.after(() => client.close());
  const registry = new Registry();
  const sink = new ApiEvents({ client, nodeName: 'kna-t-n1', log: createLogger('json', 'silent'), registry, retryDelaysMs: [100, 100] });
  t.after(() => sink.stop(0));
  const p = { metadata: { name: 'kna-t-sink', namespace: 'default', uid: 'kna-t-uid-1' } };
  const list = async () => (await cp.admin.list<CoreEvent>(ns('events'), { fieldSelector: 'involvedObject.name=kna-t-sink' })).items;

  for (let i = 0; i < 3; i++) sink.event(p, 'Warning', 'BackOff', 'Back-off restarting failed container c in pod kna-t-sink_default(kna-t-uid-1)', 'spec.containers{c}');
  const first = await eventually('one Event with count 3', async () => { const l = await list(); return l.length === 1 && l[0]!.count === 3 ? l[0] : undefined; }, 10_000);
  await cp.admin.delete(ns('events', first.metadata.name));
  sink.event(p, 'Warning', 'BackOff', 'Back-off restarting failed container c in pod kna-t-sink_default(kna-t-uid-1)', 'spec.containers{c}');
  const again = await eventually('created again with count 4', async () => { const l = await list(); return l.length === 1 && l[0]!.count === 4 ? l[0] : undefined; }, 10_000);
  assert.equal(again.metadata.name, first.metadata.name);
  assert.equal(again.firstTimestamp, first.firstTimestamp);

  await cp.server.stop();
  const t0 = performance.now();
  for (let i = 0; i < 50; i++) sink.event(p, 'Normal', 'Pulled', `message ${i}`);
  const callMs = performance.now() - t0;
  assert.ok(callMs < 50, `event() does not wait for the server (${callMs.toFixed(1)} ms for 50)`);
  const t1 = performance.now();
  await sink.stop(300);
  const stopMs = performance.now() - t1;
  assert.ok(stopMs < 3000, `stop() drains briefly, then gives up (${Math.round(stopMs)} ms)`);
  const metrics = await registry.getSingleMetricAsString('kna_events_recorded_total');
  assert.match(metrics, /result="created"} 2/);
  assert.match(metrics, /result="patched"} 2/);
  assert.match(metrics, /result="dropped"} \d+/);
  t.diagnostic(`50 events with the server away: event() ${callMs.toFixed(1)} ms in all, stop() ${Math.round(stopMs)} ms`);
});
