// Mutual exclusion between plugin processes without flock (Node has none):
// holding the lock = listening on an abstract unix socket named after the store.
// The kernel frees the name the moment the holder exits, kill -9 included, so a
// lock can never go stale and there is no pid file to recover.
//
// Abstract socket names are per network namespace, which is what the one user,
// the iptables repair (netfilter/iptables.ts), needs: iptables is per netns too.
// Waiting is polling, so keep held sections short and rare: IPAM needs no lock at
// all (see ipam.ts).
import { createServer, type Server } from 'node:net';
import { fnv64 } from '../net/names.js';
import { Code, CniError } from '../spec/errors.js';

export async function withLock<T>(key: string, fn: () => Promise<T> | T, timeoutMs = 30_000): Promise<T> {
  const server = await acquire(`\0kna-cni-lock/${fnv64(key)}`, key, timeoutMs);
  try {
    return await fn();
  } finally {
    server.close();
  }
}

async function acquire(name: string, key: string, timeoutMs: number): Promise<Server> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    const r = await tryListen(name);
    if (r.server) return r.server;
    if (r.error.code !== 'EADDRINUSE') {
      throw new CniError(Code.IoFailure, `lock ${key}: listen on abstract socket failed: ${r.error.message}`);
    }
    if (Date.now() > deadline) throw new CniError(Code.TryAgainLater, `lock ${key}: still held by another kna-cni after ${timeoutMs} ms`);
    // Jittered back-off, growing to 10 ms: holders keep it for about a millisecond.
    await new Promise((res) => setTimeout(res, Math.random() * Math.min(10, 1 + attempt)));
  }
}

function tryListen(name: string): Promise<{ server: Server; error?: undefined } | { server?: undefined; error: NodeJS.ErrnoException }> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => resolve({ error }));
    server.listen({ path: name }, () => {
      server.unref();
      resolve({ server });
    });
  });
}
