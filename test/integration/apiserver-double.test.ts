// The test API server itself: the wire protocol semantics the agent relies on,
// checked through our REST client against HTTPS on loopback.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiClient, resourcePath, type KubeObject, type WatchEvent } from '../../agent/apiserver/client.js';
import { ApiError } from '../../agent/apiserver/errors.js';
import { watchList, type InformerEvent } from '../../agent/apiserver/watch.js';
import { defer, eventually, startTestApiServer } from '../harness/apiserver.js';

const cms = (ns: string) => resourcePath({ resource: 'configmaps', namespace: ns });
const cm = (ns: string, name: string) => resourcePath({ resource: 'configmaps', namespace: ns, name });
const pods = (ns: string) => resourcePath({ resource: 'pods', namespace: ns });

async function rejects(p: Promise<unknown>, code: number, reason: string): Promise<ApiError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ApiError, `expected ApiError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.equal(err.reason, reason, err.message);
    return err;
  }
  assert.fail(`expected ${code} ${reason}`);
}

/** Collects watch events until `n` have arrived (bookmarks included when asked). */
async function collect(client: ApiClient, path: string, query: Record<string, string | boolean | number>, n: number, during: () => Promise<void> = async () => {}): Promise<WatchEvent[]> {
  const ac = new AbortController();
  const out: WatchEvent[] = [];
  const reading = (async () => {
    for await (const ev of client.watch(path, query, ac.signal)) {
      out.push(ev);
      if (out.length >= n) break;
    }
  })();
  await new Promise((r) => setTimeout(r, 50));
  await during();
  await Promise.race([reading, new Promise((_, reject) => setTimeout(() => reject(new Error(`only ${out.length}/${n} events: ${JSON.stringify(out.map((e) => e.type))}`)), 10_000))]);
  ac.abort();
  return out;
}

test('discovery documents list groups, versions and resources with verbs', async (t) => {
  const { admin } = await startTestApiServer(t);
  const api = await admin.get<{ kind: string; versions: string[] }>('/api');
  assert.deepEqual([api.kind, api.versions], ['APIVersions', ['v1']]);
  const groups = await admin.get<{ groups: { name: string; preferredVersion: { groupVersion: string } }[] }>('/apis');
  for (const g of ['coordination.k8s.io', 'discovery.k8s.io', 'certificates.k8s.io', 'authentication.k8s.io', 'authorization.k8s.io']) {
    assert.equal(groups.groups.find((x) => x.name === g)?.preferredVersion.groupVersion, `${g}/v1`);
  }
  const core = await admin.get<{ resources: { name: string; verbs: string[]; namespaced: boolean; kind: string }[] }>('/api/v1');
  const byName = Object.fromEntries(core.resources.map((r) => [r.name, r]));
  assert.ok(byName.pods!.verbs.includes('watch'));
  assert.equal(byName.nodes!.namespaced, false);
  assert.deepEqual(byName['pods/status']!.verbs, ['get', 'patch', 'update']);
  assert.equal(byName['serviceaccounts/token']!.kind, 'TokenRequest');
  const leases = await admin.get<{ groupVersion: string; resources: { name: string }[] }>('/apis/coordination.k8s.io/v1');
  assert.deepEqual(leases.resources.map((r) => r.name), ['leases']);
  const version = await admin.get<{ gitVersion: string }>('/version');
  assert.match(version.gitVersion, /^v1\.\d+\.\d+/);
});

test('create, get, update with optimistic concurrency, no-op updates, delete, errors as Status', async (t) => {
  const { admin } = await startTestApiServer(t);
  const created = await admin.create<KubeObject & { data: Record<string, string> }>(cms('default'), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', labels: { app: 'x' } }, data: { k: 'v' } });
  assert.equal(created.kind, 'ConfigMap');
  assert.ok(created.metadata.uid && created.metadata.resourceVersion && created.metadata.creationTimestamp);
  await rejects(admin.create(cms('default'), { metadata: { name: 'a' } }), 409, 'AlreadyExists');
  await rejects(admin.get(cm('default', 'nope')), 404, 'NotFound');
  await rejects(admin.create(cms('no-such-ns'), { metadata: { name: 'a' } }), 404, 'NotFound');
  await rejects(admin.create(cms('default'), { metadata: { name: 'Bad_Name' } }), 422, 'Invalid');

  const updated = await admin.update<KubeObject & { data: Record<string, string> }>(cm('default', 'a'), { ...created, data: { k: 'w' } });
  assert.ok(Number(updated.metadata.resourceVersion) > Number(created.metadata.resourceVersion));
  assert.equal(updated.metadata.uid, created.metadata.uid);
  const stale = await rejects(admin.update(cm('default', 'a'), { ...created, data: { k: 'z' } }), 409, 'Conflict');
  assert.match(stale.serverMessage, /the object has been modified/);
  const same = await admin.update<KubeObject>(cm('default', 'a'), updated);
  assert.equal(same.metadata.resourceVersion, updated.metadata.resourceVersion, 'a no-op update does not bump resourceVersion');

  const gone = await admin.delete<{ kind: string; status: string }>(cm('default', 'a'));
  assert.deepEqual([gone.kind, gone.status], ['Status', 'Success']);
  await rejects(admin.delete(cm('default', 'a')), 404, 'NotFound');
});

test('list with label and field selectors, limit and continue', async (t) => {
  const { admin } = await startTestApiServer(t);
  for (const [name, tier] of [['a', 'web'], ['b', 'db'], ['c', 'web'], ['d', 'cache']] as const) {
    await admin.create(cms('default'), { metadata: { name, labels: { tier } } });
  }
  const names = (l: { items: KubeObject[] }) => l.items.map((i) => i.metadata.name).filter((n) => n !== 'kube-root-ca.crt');
  assert.deepEqual(names(await admin.list(cms('default'), { labelSelector: 'tier=web' })), ['a', 'c']);
  assert.deepEqual(names(await admin.list(cms('default'), { labelSelector: 'tier in (db,cache)' })), ['b', 'd']);
  assert.deepEqual(names(await admin.list(cms('default'), { labelSelector: 'tier,tier notin (web)' })), ['b', 'd']);
  assert.deepEqual(names(await admin.list(cms('default'), { fieldSelector: 'metadata.name=b' })), ['b']);
  assert.deepEqual(names(await admin.list('/api/v1/configmaps', { fieldSelector: 'metadata.namespace=default,metadata.name!=a', labelSelector: 'tier' })), ['b', 'c', 'd']);
  await rejects(admin.list(cms('default'), { fieldSelector: 'data.k=v' }), 400, 'BadRequest');
  await rejects(admin.list(cms('default'), { labelSelector: 'tier in web' }), 400, 'BadRequest');
  const page1 = await admin.list(cms('default'), { labelSelector: 'tier', limit: 3 });
  assert.equal(page1.items.length, 3);
  assert.ok(page1.metadata.continue);
  const page2 = await admin.list(cms('default'), { labelSelector: 'tier', limit: 3, continue: page1.metadata.continue });
  assert.deepEqual([...names(page1), ...names(page2)], ['a', 'b', 'c', 'd']);
  assert.equal(page2.metadata.continue, undefined);
});

test('watch: events after a resourceVersion, in order, with selector transitions', async (t) => {
  const { admin } = await startTestApiServer(t);
  const list = await admin.list(cms('default'));
  const events = await collect(admin, cms('default'), { resourceVersion: list.metadata.resourceVersion, labelSelector: 'app=x' }, 4, async () => {
    const a = await admin.create<KubeObject>(cms('default'), { metadata: { name: 'a', labels: { app: 'x' } } });
    await admin.create(cms('default'), { metadata: { name: 'other', labels: { app: 'y' } } });
    await admin.patch(cm('default', 'a'), { data: { k: 'v' } }, 'merge');
    await admin.patch(cm('default', 'a'), { metadata: { labels: { app: 'z' } } }, 'merge');
    await admin.patch(cm('default', 'other'), { metadata: { labels: { app: 'x' } } }, 'merge');
    assert.ok(a.metadata.uid);
  });
  assert.deepEqual(events.map((e) => [e.type, (e.object as KubeObject).metadata.name]), [['ADDED', 'a'], ['MODIFIED', 'a'], ['DELETED', 'a'], ['ADDED', 'other']]);
  const rvs = events.map((e) => Number((e.object as KubeObject).metadata.resourceVersion));
  assert.deepEqual(rvs, [...rvs].sort((x, y) => x - y));
  assert.equal((events[0]!.object as KubeObject).kind, 'ConfigMap');
  // resourceVersion "0" (or none): the current state first, as ADDED.
  const initial = await collect(admin, cms('default'), { resourceVersion: '0', labelSelector: 'app=x' }, 1);
  assert.deepEqual(initial.map((e) => [e.type, (e.object as KubeObject).metadata.name]), [['ADDED', 'other']]);
});

test('watch: bookmarks carry the current resourceVersion; a too old resourceVersion gets 410 Expired', async (t) => {
  const { server, admin } = await startTestApiServer(t, { bookmarkIntervalMs: 100 });
  const rv0 = (await admin.list(cms('default'))).metadata.resourceVersion;
  const bm = await collect(admin, cms('default'), { resourceVersion: rv0, allowWatchBookmarks: true }, 1, async () => {
    await admin.create(cms('kube-system'), { metadata: { name: 'elsewhere' } });
  });
  assert.equal(bm[0]!.type, 'BOOKMARK');
  const bookmark = bm[0]!.object as KubeObject;
  assert.equal(bookmark.kind, 'ConfigMap');
  assert.ok(Number(bookmark.metadata.resourceVersion) > Number(rv0), 'bookmark moves past changes in other namespaces');

  server.compact();
  const expired = await collect(admin, cms('default'), { resourceVersion: rv0 }, 1);
  assert.equal(expired[0]!.type, 'ERROR');
  const status = expired[0]!.object as { code: number; reason: string; message: string };
  assert.deepEqual([status.code, status.reason], [410, 'Expired']);
  assert.match(status.message, /too old resource version/);
});

test('watchList relists after 410 and reports what it missed as events', async (t) => {
  const { server, admin } = await startTestApiServer(t);
  await admin.create(cms('default'), { metadata: { name: 'keep' } });
  await admin.create(cms('default'), { metadata: { name: 'drop' } });
  const seen: string[] = [];
  const inf = watchList<KubeObject>(admin, cms('default'), (ev: InformerEvent<KubeObject>) => { seen.push(`${ev.type} ${ev.object.metadata.name}`); }, { watchTimeoutSeconds: 1, minBackoffMs: 2000 });
  defer(t, () => inf.stop());
  await inf.synced();
  assert.ok(seen.includes('ADDED keep') && seen.includes('ADDED drop'));
  // Break its watch (it backs off before resuming), change things meanwhile, then
  // write elsewhere and compact: whenever it resumes, its resourceVersion is too old.
  await eventually('the informer to be watching', () => server.openWatches > 0 || undefined);
  server.closeWatches();
  await admin.patch(cm('default', 'keep'), { data: { k: 'v' } }, 'merge');
  await admin.delete(cm('default', 'drop'));
  await admin.create(cms('kube-system'), { metadata: { name: 'bump' } });
  server.compact();
  await eventually('a relist after 410', () => inf.stats.expired >= 1 || undefined);
  await eventually('the store to match the server', () => !inf.store.has('default/drop') && (inf.store.get('default/keep') as { data?: { k: string } } | undefined)?.data?.k === 'v' || undefined);
  assert.ok(seen.includes('DELETED drop'));
  assert.ok(seen.includes('MODIFIED keep'));
});

test('patch: merge, strategic (status lists by key) and JSON patch; preconditions and media types', async (t) => {
  const { admin } = await startTestApiServer(t);
  const pod = await admin.create<KubeObject & { status: { phase: string } }>(pods('default'), {
    metadata: { name: 'p' }, spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'busybox' }] },
  });
  assert.equal(pod.status.phase, 'Pending');
  const status = resourcePath({ resource: 'pods', namespace: 'default', name: 'p', subresource: 'status' });
  await admin.patch(status, { status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }, { type: 'PodScheduled', status: 'True' }], containerStatuses: [{ name: 'c', ready: false, restartCount: 0 }] } }, 'strategic');
  const p2 = await admin.patch<KubeObject & { spec: { nodeName: string }; status: { conditions: { type: string; status: string }[]; containerStatuses: { ready: boolean; restartCount: number }[] } }>(
    status, { status: { conditions: [{ type: 'Ready', status: 'True' }], containerStatuses: [{ name: 'c', ready: true }] }, spec: { nodeName: 'elsewhere' } }, 'strategic');
  assert.deepEqual(p2.status.conditions, [{ type: 'Ready', status: 'True' }, { type: 'PodScheduled', status: 'True' }]);
  assert.deepEqual(p2.status.containerStatuses, [{ name: 'c', ready: true, restartCount: 0 }]);
  assert.equal(p2.spec.nodeName, 'n1', 'the status subresource ignores spec');
  const p3 = await admin.patch<KubeObject & { status: { phase: string } }>(resourcePath({ resource: 'pods', namespace: 'default', name: 'p' }), { metadata: { labels: { a: 'b' } }, status: { phase: 'Failed' } }, 'merge');
  assert.equal(p3.metadata.labels?.a, 'b');
  assert.equal(p3.status.phase, 'Running', 'the main resource ignores status');
  const p4 = await admin.patch<KubeObject>(resourcePath({ resource: 'pods', namespace: 'default', name: 'p' }), [{ op: 'add', path: '/metadata/annotations', value: { x: 'y' } }], 'json');
  assert.equal(p4.metadata.annotations?.x, 'y');
  await rejects(admin.patch(resourcePath({ resource: 'pods', namespace: 'default', name: 'p' }), { metadata: { resourceVersion: '1', labels: { c: 'd' } } }, 'merge'), 409, 'Conflict');
  await rejects(admin.patch(resourcePath({ resource: 'pods', namespace: 'default', name: 'p' }), [{ op: 'test', path: '/metadata/name', value: 'q' }], 'json'), 422, 'Invalid');
  await rejects(admin.request('PATCH', resourcePath({ resource: 'pods', namespace: 'default', name: 'p' }), { body: {}, contentType: 'application/apply-patch+yaml' }), 415, 'UnsupportedMediaType');
});

test('graceful pod deletion: deletionTimestamp first, gone on a grace-0 delete; unscheduled pods go at once', async (t) => {
  const { admin } = await startTestApiServer(t);
  const podPath = resourcePath({ resource: 'pods', namespace: 'default', name: 'p' });
  const created = await admin.create<KubeObject>(pods('default'), { metadata: { name: 'p' }, spec: { nodeName: 'n1', terminationGracePeriodSeconds: 20, containers: [{ name: 'c', image: 'busybox' }] } });
  const marked = await admin.delete<KubeObject>(podPath);
  assert.ok(marked.metadata.deletionTimestamp);
  assert.equal(marked.metadata.deletionGracePeriodSeconds, 20);
  assert.ok((await admin.get<KubeObject>(podPath)).metadata.deletionTimestamp, 'still there while the kubelet terminates it');
  await rejects(admin.delete(podPath, { gracePeriodSeconds: 0, preconditions: { uid: 'wrong' } }), 409, 'Conflict');
  await admin.delete(podPath, { gracePeriodSeconds: 0, preconditions: { uid: created.metadata.uid! } });
  await rejects(admin.get(podPath), 404, 'NotFound');
  await admin.create(pods('default'), { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } });
  await admin.delete(podPath);
  await rejects(admin.get(podPath), 404, 'NotFound');
});

test('authentication and authorization: anonymous, bad tokens, nodes, service account tokens, reviews', async (t) => {
  const { server, admin } = await startTestApiServer(t);
  const anon = new ApiClient({ server: server.url, caPem: server.ca.certPem });
  const bad = new ApiClient({ server: server.url, caPem: server.ca.certPem, token: 'not-a-token' });
  defer(t, () => { anon.close(); bad.close(); });
  const info = await anon.get<{ data: Record<string, string> }>(resourcePath({ resource: 'configmaps', namespace: 'kube-public', name: 'cluster-info' }));
  assert.ok(info.data.kubeconfig);
  const forbidden = await rejects(anon.list(resourcePath({ resource: 'nodes' })), 403, 'Forbidden');
  assert.match(forbidden.serverMessage, /User "system:anonymous" cannot list resource "nodes"/);
  await rejects(anon.get('/api'), 403, 'Forbidden');
  await rejects(bad.get('/api'), 401, 'Unauthorized');

  // A node may touch its own Node but not another's.
  server.addUser('node-token', { username: 'system:node:n1', groups: ['system:nodes'] });
  const node = new ApiClient({ server: server.url, caPem: server.ca.certPem, token: 'node-token' });
  defer(t, () => node.close());
  await node.create(resourcePath({ resource: 'nodes' }), { metadata: { name: 'n1' } });
  await rejects(node.create(resourcePath({ resource: 'nodes' }), { metadata: { name: 'n2' } }), 403, 'Forbidden');
  await rejects(node.get(cm('default', 'kube-root-ca.crt')), 403, 'Forbidden');

  // TokenRequest for a pod's service account; TokenReview authenticates it for the audience.
  const pod = await admin.create<KubeObject>(pods('default'), { metadata: { name: 'p' }, spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'busybox' }] } });
  await node.get(cm('default', 'kube-root-ca.crt')); // referenced by the pod's projected volume now
  const tr = await node.create<{ status: { token: string; expirationTimestamp: string } }>(
    resourcePath({ resource: 'serviceaccounts', namespace: 'default', name: 'default', subresource: 'token' }),
    { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: ['api'], expirationSeconds: 3600, boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'p', uid: pod.metadata.uid } } },
  );
  assert.ok(new Date(tr.status.expirationTimestamp) > new Date());
  const review = await node.create<{ status: { authenticated: boolean; user: { username: string; groups: string[] }; audiences: string[] } }>(
    resourcePath({ group: 'authentication.k8s.io', resource: 'tokenreviews' }), { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: tr.status.token, audiences: ['api'] } });
  assert.equal(review.status.authenticated, true);
  assert.equal(review.status.user.username, 'system:serviceaccount:default:default');
  assert.ok(review.status.user.groups.includes('system:serviceaccounts:default'));
  const wrongAudience = await admin.create<{ status: { authenticated?: boolean } }>(resourcePath({ group: 'authentication.k8s.io', resource: 'tokenreviews' }), { spec: { token: tr.status.token, audiences: ['other'] } });
  assert.notEqual(wrongAudience.status.authenticated, true);

  // SubjectAccessReview answers with the same authorizer; grants add permissions.
  const sar = (user: string, groups: string[], resourceAttributes: Record<string, string>) =>
    admin.create<{ status: { allowed: boolean } }>(resourcePath({ group: 'authorization.k8s.io', resource: 'subjectaccessreviews' }), { spec: { user, groups, resourceAttributes } });
  assert.equal((await sar('system:node:n1', ['system:nodes'], { verb: 'patch', resource: 'nodes', subresource: 'status', name: 'n1' })).status.allowed, true);
  assert.equal((await sar('system:node:n1', ['system:nodes'], { verb: 'patch', resource: 'nodes', subresource: 'status', name: 'n2' })).status.allowed, false);
  assert.equal((await sar('alice', [], { verb: 'get', resource: 'nodes', subresource: 'proxy', name: 'n1' })).status.allowed, false);
  server.grant({ users: ['alice'], verbs: ['get', 'create'], resources: ['nodes/proxy'] });
  assert.equal((await sar('alice', [], { verb: 'get', resource: 'nodes', subresource: 'proxy', name: 'n1' })).status.allowed, true);
});
