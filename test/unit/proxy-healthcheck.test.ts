import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { pino } from 'pino';
import { ServiceHealthServer } from '../../agent/proxy/healthcheck.js';
import { freePort } from '../harness/proxy-lab.js';


test('answers like kube-proxy: 200 with local endpoints, 503 without or when the proxy is stale', async (t) => {
  let proxyHealthy = true;
  const hs = new ServiceHealthServer({ bindAddress: '127.0.0.1', proxyHealthy: () => proxyHealthy, logger: pino({ level: 'silent' }) });
  t.after(() => hs.close());
  const port = await freePort();
  await hs.syncServices(new Map([['default/web', port]]));
  hs.syncEndpoints(new Map([['default/web', 2]]));

  let res = await fetch(`http://127.0.0.1:${port}/healthz`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  assert.deepEqual(await res.json(), { service: { namespace: 'default', name: 'web' }, localEndpoints: 2, serviceProxyHealthy: true });

  hs.syncEndpoints(new Map());
  res = await fetch(`http://127.0.0.1:${port}/`);
  assert.equal(res.status, 503);
  assert.equal(((await res.json()) as { localEndpoints: number }).localEndpoints, 0);

  hs.syncEndpoints(new Map([['default/web', 1]]));
  proxyHealthy = false;
  res = await fetch(`http://127.0.0.1:${port}/`);
  assert.equal(res.status, 503);
  assert.equal(((await res.json()) as { serviceProxyHealthy: boolean }).serviceProxyHealthy, false);

  await hs.syncServices(new Map());
  await assert.rejects(fetch(`http://127.0.0.1:${port}/`));
});

test('a port held by someone else is logged, not fatal', async (t) => {
  const holder = createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => holder.close(r)));
  const { port } = holder.address() as { port: number };
  const errors: string[] = [];
  const logger = pino({ level: 'error' }, { write: (s: string) => { errors.push(s); } });
  const hs = new ServiceHealthServer({ bindAddress: '127.0.0.1', proxyHealthy: () => true, logger });
  t.after(() => hs.close());
  await hs.syncServices(new Map([['default/web', port]]));
  assert.deepEqual(hs.ports(), new Map());
  assert.match(errors.join(''), /failed to start service health check server/);
});
