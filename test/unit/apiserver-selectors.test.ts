import assert from 'node:assert/strict';
import { test } from 'node:test';
import { matchFields, matchLabels, parseFieldSelector, parseLabelSelector, SelectorError } from '../apiserver/selectors.js';

const labels = { app: 'web', tier: 'front', 'kubernetes.io/service-name': 'svc', n: '5' };
const m = (sel: string) => matchLabels(parseLabelSelector(sel), labels);

test('label selectors: equality, inequality, sets, existence', () => {
  assert.ok(m('app=web'));
  assert.ok(m('app==web'));
  assert.ok(!m('app!=web'));
  assert.ok(m('app!=db'));
  assert.ok(m('missing!=x'));
  assert.ok(m('app in (web, db)'));
  assert.ok(!m('app notin (web,db)'));
  assert.ok(m('missing notin (a)'));
  assert.ok(m('tier'));
  assert.ok(!m('!tier'));
  assert.ok(m('!missing'));
  assert.ok(m('kubernetes.io/service-name=svc,app in (web),tier'));
  assert.ok(!m('app=web,tier=back'));
  assert.ok(m('n>4') && !m('n<5'));
  assert.ok(m(''));
});

test('label selectors: malformed input is an error', () => {
  assert.throws(() => parseLabelSelector('app in web'), SelectorError);
  assert.throws(() => parseLabelSelector('-bad=x'), SelectorError);
  assert.throws(() => parseLabelSelector('a=b c'), SelectorError);
});

test('field selectors: =, ==, != on nested fields, absent fields are ""', () => {
  const pod = { metadata: { name: 'p', namespace: 'ns' }, spec: { nodeName: 'n1', hostNetwork: false } };
  assert.ok(matchFields(parseFieldSelector('spec.nodeName=n1'), pod));
  assert.ok(matchFields(parseFieldSelector('spec.nodeName==n1,metadata.namespace!=kube-system'), pod));
  assert.ok(!matchFields(parseFieldSelector('spec.nodeName!=n1'), pod));
  assert.ok(matchFields(parseFieldSelector('status.phase='), pod));
  assert.ok(matchFields(parseFieldSelector('spec.hostNetwork=false'), pod));
  assert.deepEqual(parseFieldSelector('metadata.name=a\\,b'), [{ field: 'metadata.name', op: '=', value: 'a,b' }]);
  assert.throws(() => parseFieldSelector('nonsense'), SelectorError);
});
