// kna port-forward's port arguments, in kubectl's forms.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePortSpec } from '../../agent/cli/port-forward.js';
import { ConfigError } from '../../agent/util/errors.js';

test('port specs: REMOTE, LOCAL:REMOTE and :REMOTE (any free local port)', () => {
  assert.deepEqual(parsePortSpec('8080'), { local: 8080, remote: 8080 });
  assert.deepEqual(parsePortSpec('18080:80'), { local: 18080, remote: 80 });
  assert.deepEqual(parsePortSpec(':80'), { local: 0, remote: 80 });
});

test('bad port specs name the port and what is wrong', () => {
  for (const [spec, msg] of [['0', /remote port "0": must be a number from 1 to 65535/], ['80:0', /remote port "0"/], ['65536', /remote port "65536"/],
    ['x:80', /local port "x"/], ['1:2:3', /port "1:2:3": must be REMOTE, LOCAL:REMOTE or :REMOTE/], ['', /remote port ""/], ['8o', /remote port "8o"/]] as const) {
    assert.throws(() => parsePortSpec(spec), (e: unknown) => e instanceof ConfigError && msg.test(e.message), spec);
  }
});
