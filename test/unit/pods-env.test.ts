import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EnvError, envReferences, expand, fieldRefValue, formatMap, resolveCommand, resolveEnv, type EnvContext } from '../../agent/pods/env.js';
import { c, makePod, NODE } from './pods-fixtures.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const ctx = (extra: Partial<EnvContext> = {}): EnvContext => ({
  podIPs: ['10.88.0.5', 'fd00::5'],
  hostIPs: ['192.168.1.10'],
  configMaps: new Map([['cfg', { data: { LOG: 'debug', PORT: '8080' } }]]),
  secrets: new Map([['db', { data: { user: b64('admin'), pass: b64('s3cret') } }]]),
  nodeAllocatable: { cpu: '2', memory: '4Gi', 'ephemeral-storage': '10Gi' },
  ...extra,
});
const envOf = (spec: Record<string, unknown>, cx = ctx(), meta: Record<string, unknown> = {}) => {
  const pod = makePod({ containers: [c('web', spec)] }, { labels: { app: 'web' }, annotations: { note: 'n' }, ...meta });
  return Object.fromEntries(resolveEnv(pod, pod.spec.containers[0]!, cx).map((e) => [e.name, e.value]));
};

test('$(VAR) expansion: defined replaced, undefined kept, $$ escapes', () => {
  const vars = new Map([['A', 'x'], ['B', 'y']]);
  const e = (s: string) => expand(s, (n) => vars.get(n));
  assert.equal(e('$(A)-$(B)'), 'x-y');
  assert.equal(e('$(MISSING)'), '$(MISSING)');
  assert.equal(e('$$(A)'), '$(A)');
  assert.equal(e('$$$(A)'), '$x');
  assert.equal(e('a$b'), 'a$b');
  assert.equal(e('cost $'), 'cost $');
  assert.equal(e('$(A'), '$(A');
  assert.equal(e('$()'), '$()');
  assert.equal(e('no refs'), 'no refs');
});

test('env values expand against earlier variables only, envFrom first and overridden by env', () => {
  const env = envOf({
    envFrom: [{ configMapRef: { name: 'cfg' }, prefix: 'CFG_' }, { secretRef: { name: 'db' } }],
    env: [
      { name: 'URL', value: 'http://$(HOST):$(CFG_PORT)/$(LATER)' },
      { name: 'HOST', value: 'localhost' },
      { name: 'LATER', value: 'x' },
      { name: 'user', value: 'override' },
      { name: 'EMPTY', value: '' },
    ],
  });
  assert.deepEqual(env, {
    CFG_LOG: 'debug', CFG_PORT: '8080', user: 'override', pass: 's3cret',
    URL: 'http://$(HOST):8080/$(LATER)', HOST: 'localhost', LATER: 'x', EMPTY: '',
  });
});

test('command and args expand against the final env', () => {
  const pod = makePod({ containers: [c('web', { command: ['sh', '-c', 'echo $(GREETING) $$(HOME) $(NOPE)'], args: ['$(GREETING)'], env: [{ name: 'GREETING', value: 'hi' }] })] });
  const ct = pod.spec.containers[0]!;
  const env = resolveEnv(pod, ct, ctx());
  assert.deepEqual(resolveCommand(ct, env), { command: ['sh', '-c', 'echo hi $(HOME) $(NOPE)'], args: ['hi'] });
  assert.deepEqual(resolveCommand({}, env), {});
});

test('downward API fields', () => {
  const ref = (fieldPath: string) => ({ name: fieldPath, valueFrom: { fieldRef: { fieldPath } } });
  const env = envOf({ env: ['metadata.name', 'metadata.namespace', 'metadata.uid', "metadata.labels['app']", "metadata.annotations['note']", "metadata.labels['none']",
    'spec.nodeName', 'spec.serviceAccountName', 'status.hostIP', 'status.hostIPs', 'status.podIP', 'status.podIPs'].map(ref) }, ctx(), { uid: 'u-1' });
  assert.deepEqual(env, {
    'metadata.name': 'web', 'metadata.namespace': 'default', 'metadata.uid': 'u-1', "metadata.labels['app']": 'web', "metadata.annotations['note']": 'n',
    "metadata.labels['none']": '', 'spec.nodeName': NODE, 'spec.serviceAccountName': '', 'status.hostIP': '192.168.1.10', 'status.hostIPs': '192.168.1.10',
    'status.podIP': '10.88.0.5', 'status.podIPs': '10.88.0.5,fd00::5',
  });
  assert.equal(formatMap({ b: 'x"y', a: '1' }), 'a="1"\nb="x\\"y"');
  const pod = makePod({ containers: [c('a')] }, { labels: { z: '1', a: '2' } });
  assert.equal(fieldRefValue(pod, 'metadata.labels', { podIPs: [], hostIPs: [] }), 'a="2"\nz="1"');
});

test('resourceFieldRef: divisors round up, unset limits are the node allocatable', () => {
  const r = (resource: string, divisor?: string, containerName?: string) => ({ name: `${resource}/${divisor ?? ''}`, valueFrom: { resourceFieldRef: { resource, ...(divisor ? { divisor } : {}), ...(containerName ? { containerName } : {}) } } });
  const env = envOf({
    resources: { limits: { cpu: '250m', memory: '100Mi' }, requests: { cpu: '100m' } },
    env: [r('limits.cpu'), r('limits.cpu', '1m'), r('requests.cpu', '1m'), r('limits.memory'), r('limits.memory', '1Mi'), r('requests.memory', '1Gi'), r('limits.ephemeral-storage', '1Gi')],
  });
  assert.deepEqual(env, {
    'limits.cpu/': '1', 'limits.cpu/1m': '250', 'requests.cpu/1m': '100', 'limits.memory/': String(100 * 2 ** 20), 'limits.memory/1Mi': '100',
    'requests.memory/1Gi': '1', 'limits.ephemeral-storage/1Gi': '10',
  });
  const none = envOf({ env: [r('limits.cpu', '1m'), r('limits.memory', '1Mi'), r('requests.cpu', '1m')] });
  assert.deepEqual(none, { 'limits.cpu/1m': '2000', 'limits.memory/1Mi': '4096', 'requests.cpu/1m': '0' });
});

test('missing ConfigMaps, Secrets and keys are CreateContainerConfigError unless optional', () => {
  const fails = (spec: Record<string, unknown>, message: string) =>
    assert.throws(() => envOf(spec), (err: unknown) => err instanceof EnvError && err.reason === 'CreateContainerConfigError' && err.message === message);
  fails({ env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'x', key: 'k' } } }] }, 'configmap "x" not found');
  fails({ env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'k' } } }] }, "couldn't find key k in ConfigMap default/cfg");
  fails({ env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'nope', key: 'k' } } }] }, 'secret "nope" not found');
  fails({ env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'db', key: 'k' } } }] }, "couldn't find key k in Secret default/db");
  fails({ envFrom: [{ configMapRef: { name: 'x' } }] }, 'configmap "x" not found');
  fails({ envFrom: [{ secretRef: { name: 'x' } }] }, 'secret "x" not found');
  assert.deepEqual(envOf({
    envFrom: [{ configMapRef: { name: 'x', optional: true } }, { secretRef: { name: 'x', optional: true } }],
    env: [
      { name: 'A', valueFrom: { configMapKeyRef: { name: 'x', key: 'k', optional: true } } },
      { name: 'B', valueFrom: { secretKeyRef: { name: 'db', key: 'k', optional: true } } },
      { name: 'C', valueFrom: { secretKeyRef: { name: 'db', key: 'user' } } },
    ],
  }), { C: 'admin' });
  // stringData (plain text) is read too
  assert.deepEqual(envOf({ env: [{ name: 'P', valueFrom: { secretKeyRef: { name: 's', key: 'p' } } }] }, ctx({ secrets: new Map([['s', { stringData: { p: 'plain' } }]]) })), { P: 'plain' });
});

test('envReferences lists what to fetch', () => {
  const pod = makePod({ containers: [c('a', {
    envFrom: [{ configMapRef: { name: 'c1' } }, { secretRef: { name: 's1' } }],
    env: [{ name: 'A', valueFrom: { configMapKeyRef: { name: 'c2', key: 'k' } } }, { name: 'B', valueFrom: { secretKeyRef: { name: 's1', key: 'k' } } }],
  })] });
  assert.deepEqual(envReferences(pod.spec.containers[0]!), { configMaps: ['c1', 'c2'], secrets: ['s1'] });
});
