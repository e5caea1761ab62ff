// The inputs of API pods: the ConfigMap/Secret TTL cache (kubelet's Cache strategy)
// and the service-account token manager (TokenRequest, renewed at 80% of lifetime).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KubeObject } from '../../agent/apiserver/client.js';
import { ApiConnectionError, ApiError } from '../../agent/apiserver/errors.js';
import { ApiObjectCache, DEFAULT_OBJECT_TTL_MS, ObjectFetchError, objectTTLFromNode } from '../../agent/apiserver/objects.js';
import { refreshTime, ServiceAccountTokens, TokenRequestError } from '../../agent/apiserver/tokens.js';

/** An API server in a map: path -> object, or an error to throw. */
function fakeGet(objects: Map<string, KubeObject | Error>) {
  const calls: string[] = [];
  return {
    calls,
    client: {
      get: async <T>(path: string): Promise<T> => {
        calls.push(path);
        const o = objects.get(path);
        if (o instanceof Error) throw o;
        if (!o) throw new ApiError('GET', path, 404, 'NotFound', 'not found');
        return structuredClone(o) as T;
      },
    },
  };
}

const CM = '/api/v1/namespaces/ns/configmaps/cfg';
const cm = (v: string): KubeObject => ({ metadata: { name: 'cfg', namespace: 'ns', resourceVersion: v }, data: { k: v } });

test('objects are cached for the TTL; a new pod never gets a copy older than itself', async () => {
  let now = 1000;
  const objects = new Map<string, KubeObject | Error>([[CM, cm('1')]]);
  const api = fakeGet(objects);
  let ttl = 10_000;
  const cache = new ApiObjectCache({ client: api.client, ttlMs: () => ttl, now: () => now });
  const a = cache.forPod('uid-a');
  assert.deepEqual((await a.configMap('ns', 'cfg'))?.data, { k: '1' });
  objects.set(CM, cm('2'));
  now += 5000;
  assert.deepEqual((await a.configMap('ns', 'cfg'))?.data, { k: '1' }, 'within the TTL: cached');
  assert.equal(api.calls.length, 1);
  // A pod first seen now does not take the copy read before it.
  now += 1;
  const b = cache.forPod('uid-b');
  assert.deepEqual((await b.configMap('ns', 'cfg'))?.data, { k: '2' });
  assert.equal(api.calls.length, 2);
  objects.set(CM, cm('3'));
  now += 10_000;
  assert.deepEqual((await cache.forPod('uid-a').configMap('ns', 'cfg'))?.data, { k: '3' }, 'after the TTL: read again');
  // TTL 0 (small clusters): every lookup reads, concurrent ones share one GET.
  ttl = 0;
  now += 1;
  const n = api.calls.length;
  await Promise.all([a.configMap('ns', 'cfg'), a.configMap('ns', 'cfg')]);
  assert.equal(api.calls.length, n + 1);
});

test('missing objects are undefined; errors throw, except an unreachable server with a cached copy', async () => {
  let now = 0;
  const objects = new Map<string, KubeObject | Error>([[CM, cm('1')]]);
  const api = fakeGet(objects);
  const cache = new ApiObjectCache({ client: api.client, ttlMs: () => 0, now: () => now });
  const p = cache.forPod('u');
  assert.equal(await p.secret('ns', 'nope'), undefined);
  assert.deepEqual((await p.configMap('ns', 'cfg'))?.data, { k: '1' });
  objects.set(CM, new ApiConnectionError('https://x', 'ECONNREFUSED', 'refused'));
  now += 10;
  assert.deepEqual((await p.configMap('ns', 'cfg'))?.data, { k: '1' }, 'the cached copy while the API server is away');
  objects.set(CM, new ApiError('GET', CM, 403, 'Forbidden', 'no relationship found between node and this object'));
  now += 10;
  await assert.rejects(async () => p.configMap('ns', 'cfg'), (e: unknown) => e instanceof ObjectFetchError && /configmap "cfg" in namespace "ns".*403 Forbidden/.test(e.message));
  objects.set('/api/v1/namespaces/ns/secrets/s', new ApiConnectionError('https://x', 'ECONNREFUSED', 'refused'));
  await assert.rejects(async () => p.secret('ns', 's'), ObjectFetchError, 'nothing cached: an error, not "missing"');
});

test('the TTL comes from the node annotation the TTL controller sets', () => {
  assert.equal(objectTTLFromNode({ metadata: { name: 'n', annotations: { 'node.alpha.kubernetes.io/ttl': '15' } } }), 15_000);
  assert.equal(objectTTLFromNode({ metadata: { name: 'n', annotations: { 'node.alpha.kubernetes.io/ttl': '0' } } }), 0);
  assert.equal(objectTTLFromNode({ metadata: { name: 'n', annotations: { 'node.alpha.kubernetes.io/ttl': 'x' } } }), undefined);
  assert.equal(objectTTLFromNode({ metadata: { name: 'n' } }), undefined);
  assert.equal(DEFAULT_OBJECT_TTL_MS, 60_000);
});

test('tokens: one TokenRequest bound to the pod, reused until 80% of the lifetime, then renewed', async () => {
  let now = Date.parse('2026-01-01T00:00:00Z');
  const bodies: { path: string; body: { spec: Record<string, unknown> } }[] = [];
  let fail = false;
  const client = {
    create: async <T>(path: string, body: unknown): Promise<T> => {
      if (fail) throw new ApiConnectionError('https://x', 'ECONNREFUSED', 'refused');
      bodies.push({ path, body: body as { spec: Record<string, unknown> } });
      // The server cuts lifetimes to 1000 s.
      const s = Math.min(1000, (body as { spec: { expirationSeconds: number } }).spec.expirationSeconds);
      return { spec: { expirationSeconds: s }, status: { token: `t${bodies.length}`, expirationTimestamp: new Date(now + s * 1000).toISOString() } } as T;
    },
  };
  const tokens = new ServiceAccountTokens({ client, now: () => now });
  const req = { namespace: 'ns', serviceAccountName: 'sa', podName: 'p', podUid: 'u1', audience: 'vault', expirationSeconds: 3607 };
  assert.equal(await tokens.provider(req), 't1');
  assert.equal(bodies[0]!.path, '/api/v1/namespaces/ns/serviceaccounts/sa/token');
  assert.deepEqual(bodies[0]!.body.spec, { audiences: ['vault'], expirationSeconds: 3607, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: 'p', uid: 'u1' } });
  now += 799_000;
  assert.equal(await tokens.provider(req), 't1', 'before 80% of the 1000 s the server granted');
  now += 1000;
  assert.equal(await tokens.provider(req), 't2', 'at 80%: renewed');
  assert.equal(await tokens.provider({ ...req, audience: undefined }), 't3', 'another audience, another token');
  assert.deepEqual(bodies[2]!.body.spec.audiences, []);
  // Renewal failing: the current token serves until it expires, then it is an error.
  now += 800_000;
  fail = true;
  assert.equal(await tokens.provider(req), 't2');
  now += 200_000;
  await assert.rejects(tokens.provider(req), TokenRequestError);
  assert.equal(refreshTime(0, 100 * 24 * 3600_000), 24 * 3600_000, 'at most a day old');
});
