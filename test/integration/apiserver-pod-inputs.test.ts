// What API pods read from the API server through the real agent (`kna join`):
// ConfigMaps and Secrets for volumes and env (a change reaching the mounted file;
// a missing one holding the container in CreateContainerConfigError until it is
// created), and service-account tokens by TokenRequest, bound to the pod, in the
// kube-api-access volume the ServiceAccount admission adds and in a projected
// source with an audience, renewed at 80% of the lifetime the server granted.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resourcePath, type KubeObject } from '../../agent/apiserver/client.js';
import { apiPod, joinedNodePerFile, withAgentLog } from '../harness/agent.js';
import { eventually } from '../harness/apiserver.js';

const NODE = 'kna-t-node'; // the harness's --node-name
const BUSYBOX = 'localhost/kna/busybox:latest';
/** The double cuts token lifetimes to this, so renewal (at 80%) comes within the test. */
const TOKEN_SECONDS = 20;

interface PodObj extends KubeObject {
  spec: { volumes?: { name: string; projected?: unknown }[] };
  status?: { phase?: string; containerStatuses?: { state: { waiting?: { reason?: string; message?: string }; running?: unknown } }[] };
}


const joined = joinedNodePerFile('apiin', { server: { maxTokenExpirationSeconds: TOKEN_SECONDS } });

const ns = (resource: string, name?: string) => resourcePath({ resource, namespace: 'default', ...(name ? { name } : {}) });
const b64 = (s: string) => Buffer.from(s).toString('base64');
const withLog = withAgentLog(() => joined.agent);

const pod = apiPod;

async function running(name: string): Promise<void> {
  await eventually(`${name} Running in the API`, async () => (await joined.admin.get<PodObj>(ns('pods', name))).status?.phase === 'Running' || undefined, 60_000).catch(withLog);
}

async function exec(name: string, argv: string[]): Promise<string> {
  return String((await joined.agent.kna(['exec', name, '--', ...argv])).stdout);
}

test('ConfigMaps and Secrets from the API in volumes and env; a ConfigMap change reaches the mounted file', async (t) => {
  await joined.admin.create(ns('configmaps'), { metadata: { name: 'kna-t-cfg' }, data: { greeting: 'hello', 'app.conf': 'v1' } });
  await joined.admin.create(ns('secrets'), { metadata: { name: 'kna-t-sec' }, type: 'Opaque', data: { password: b64('s3cret') } });
  await joined.admin.create(ns('pods'), pod('kna-t-inputs', {
    env: [
      { name: 'GREETING', valueFrom: { configMapKeyRef: { name: 'kna-t-cfg', key: 'greeting' } } },
      { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'kna-t-sec', key: 'password' } } },
    ],
    envFrom: [{ configMapRef: { name: 'kna-t-cfg' }, prefix: 'CM_' }],
    volumeMounts: [{ name: 'cfg', mountPath: '/cfg' }, { name: 'sec', mountPath: '/sec' }],
  }, {
    volumes: [{ name: 'cfg', configMap: { name: 'kna-t-cfg' } }, { name: 'sec', secret: { secretName: 'kna-t-sec', defaultMode: 0o400 } }],
  }));
  await running('kna-t-inputs');
  const env = await exec('kna-t-inputs', ['env']);
  assert.match(env, /^GREETING=hello$/m);
  assert.match(env, /^PASSWORD=s3cret$/m);
  assert.match(env, /^CM_greeting=hello$/m);
  assert.equal(await exec('kna-t-inputs', ['cat', '/cfg/app.conf']), 'v1');
  assert.equal(await exec('kna-t-inputs', ['cat', '/sec/password']), 's3cret');
  assert.match(await exec('kna-t-inputs', ['stat', '-L', '-c', '%a', '/sec/password']), /^400/);

  const cm = await joined.admin.get(ns('configmaps', 'kna-t-cfg'));
  const t0 = Date.now();
  await joined.admin.update(ns('configmaps', 'kna-t-cfg'), { ...cm, data: { greeting: 'hello', 'app.conf': 'v2' } });
  await eventually('the new content in the mounted file', async () => (await exec('kna-t-inputs', ['cat', '/cfg/app.conf'])) === 'v2' || undefined, 45_000).catch(withLog);
  t.diagnostic(`ConfigMap updated -> mounted file changed: ${Date.now() - t0} ms`);
});

test('a missing ConfigMap holds the container in CreateContainerConfigError until it is created; optional ones may be missing', async () => {
  await joined.admin.create(ns('pods'), pod('kna-t-waits', {
    env: [
      { name: 'MODE', valueFrom: { configMapKeyRef: { name: 'kna-t-later', key: 'mode' } } },
      { name: 'EXTRA', valueFrom: { secretKeyRef: { name: 'kna-t-never', key: 'x', optional: true } } },
    ],
    volumeMounts: [{ name: 'opt', mountPath: '/opt-cfg' }],
  }, { volumes: [{ name: 'opt', configMap: { name: 'kna-t-never', optional: true } }] }));
  const waiting = await eventually('CreateContainerConfigError in the API', async () => {
    const w = (await joined.admin.get<PodObj>(ns('pods', 'kna-t-waits'))).status?.containerStatuses?.[0]?.state.waiting;
    return w?.reason === 'CreateContainerConfigError' ? w : undefined;
  }, 60_000).catch(withLog);
  assert.match(waiting.message ?? '', /configmap "kna-t-later" not found/);
  await joined.admin.create(ns('configmaps'), { metadata: { name: 'kna-t-later' }, data: { mode: 'late' } });
  await running('kna-t-waits');
  assert.match(await exec('kna-t-waits', ['env']), /^MODE=late$/m);
});

test('service-account tokens by TokenRequest: the kube-api-access volume, an audience, renewal at 80%', async (t) => {
  const dir = '/var/run/secrets/kubernetes.io/serviceaccount';
  const body = pod('kna-t-token', { volumeMounts: [{ name: 'vault', mountPath: '/vault' }] }, {
    volumes: [{ name: 'vault', projected: { sources: [{ serviceAccountToken: { audience: 'kna-t-vault', expirationSeconds: 3600, path: 'token' } }] } }],
  });
  delete (body.spec as { automountServiceAccountToken?: boolean }).automountServiceAccountToken;
  const created = await joined.admin.create<PodObj>(ns('pods'), body);
  assert.ok(created.spec.volumes?.some((v) => v.name.startsWith('kube-api-access-') && v.projected), 'the ServiceAccount admission added its volume');
  await running('kna-t-token');

  assert.equal(await exec('kna-t-token', ['cat', `${dir}/namespace`]), 'default');
  assert.equal(await exec('kna-t-token', ['cat', `${dir}/ca.crt`]), joined.server.ca.certPem.trim());
  const review = async (token: string, audiences?: string[]) => (await joined.admin.create<{ status: { authenticated?: boolean; user?: { username?: string; extra?: Record<string, string[]> } } }>(
    '/apis/authentication.k8s.io/v1/tokenreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, ...(audiences ? { audiences } : {}) } })).status;
  const first = await exec('kna-t-token', ['cat', `${dir}/token`]);
  const who = await review(first);
  assert.equal(who.authenticated, true);
  assert.equal(who.user?.username, 'system:serviceaccount:default:default');
  assert.deepEqual(who.user?.extra?.['authentication.kubernetes.io/pod-uid'], [created.metadata.uid], 'bound to the pod');
  const vault = await exec('kna-t-token', ['cat', '/vault/token']);
  assert.equal((await review(vault, ['kna-t-vault'])).authenticated, true, 'the projected token carries its audience');
  assert.notEqual((await review(vault, ['someone-else'])).authenticated, true);

  // The server granted TOKEN_SECONDS: a new token is in the file after 80% of that, before the old one expires.
  const t0 = Date.now();
  const second = await eventually('a renewed token in the file', async () => {
    const now = await exec('kna-t-token', ['cat', `${dir}/token`]);
    return now !== first ? now : undefined;
  }, TOKEN_SECONDS * 1000 + 15_000).catch(withLog);
  const renewedAfter = Date.now() - t0;
  t.diagnostic(`token renewed ${renewedAfter} ms after it was first read (lifetime ${TOKEN_SECONDS} s)`);
  assert.equal((await review(second)).authenticated, true);
});
