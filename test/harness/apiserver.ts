// Starts the test API server for one test and an admin client for it; both go
// away when the test ends, as do the temporary directories made here.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { ApiClient } from '../../agent/apiserver/client.js';
import { TestApiServer, type TestApiServerOptions } from '../apiserver/server.js';

export interface TestControlPlane {
  server: TestApiServer;
  admin: ApiClient;
}

const stacks = new WeakMap<TestContext, (() => unknown)[]>();

/** Runs `fn` when the test ends, after everything deferred later (last in, first out). */
export function defer(t: TestContext, fn: () => unknown): void {
  let stack = stacks.get(t);
  if (!stack) {
    const fns: (() => unknown)[] = [];
    stacks.set(t, (stack = fns));
    t.after(async () => {
      for (const f of fns.reverse()) await f();
    });
  }
  stack.push(fn);
}

/** A fresh temporary directory "kna-t-<what>-<pid>-…", removed after the test. */
export function tempDir(t: TestContext, what: string): string {
  const dir = mkdtempSync(join(tmpdir(), `kna-t-${what}-${process.pid}-`));
  defer(t, () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export async function startTestApiServer(t: TestContext, opts: TestApiServerOptions = {}): Promise<TestControlPlane> {
  const server = await TestApiServer.start(opts);
  const admin = adminClient(server);
  defer(t, async () => {
    admin.close();
    await server.stop();
  });
  return { server, admin };
}

export function adminClient(server: TestApiServer): ApiClient {
  return new ApiClient({ server: server.url, caPem: server.ca.certPem, token: server.adminToken }, { timeoutMs: 10_000 });
}

/** Polls `check` until it returns a value (not undefined), or fails after `ms`. */
export async function eventually<T>(what: string, check: () => T | undefined | Promise<T | undefined>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}
