// Starts test/harness/overlay-main.js inside a node namespace and waits for it to be
// ready (kernel synced with the peers file). stop() is SIGTERM (kernel state stays),
// kill() is SIGKILL; both by the child's pid.
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import type { OverlayOptions } from '../../agent/network/overlay.js';
import type { PeerInfo } from '../../agent/network/peers.js';
import type { TestNode } from './nodes.js';

export interface OverlayAgent {
  node: TestNode;
  self: PeerInfo;
  podMtu: number;
  /** The child's stderr (pino JSON lines) so far. */
  logs(): string;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

export type OverlayAgentOptions = Partial<Omit<OverlayOptions, 'logger'>> & { mode: OverlayOptions['mode']; peers: string; logLevel?: string };

const MAIN = join(process.cwd(), 'dist/test/harness/overlay-main.js');

/** Runs Overlay.remove() in the node (a fresh process): deletes our routes and the device. */
export async function removeOverlay(node: TestNode, opts: OverlayAgentOptions): Promise<void> {
  const full = { nodeName: node.name, nodeIP: node.ip, podCIDR: node.podCIDR, ...opts };
  await execa('ip', ['netns', 'exec', node.netns, process.execPath, MAIN, JSON.stringify(full), '--remove']);
}

export async function startOverlayAgent(node: TestNode, opts: OverlayAgentOptions): Promise<OverlayAgent> {
  const full = { nodeName: node.name, nodeIP: node.ip, podCIDR: node.podCIDR, ...opts };
  const child: ResultPromise = execa('ip', ['netns', 'exec', node.netns, process.execPath, MAIN, JSON.stringify(full)], { reject: false, buffer: false });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
  const ready = await new Promise<{ self: PeerInfo; podMtu: number }>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`overlay on ${node.name}: not ready after 20s\n${err}`)), 20_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{"ready"'));
      if (line) { clearTimeout(timer); resolve(JSON.parse(line) as { self: PeerInfo; podMtu: number }); }
    });
    void child.then((r) => { clearTimeout(timer); reject(new Error(`overlay on ${node.name} exited (${r.exitCode ?? r.signal})\n${err}`)); });
  });
  const end = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await child;
  };
  return { node, self: ready.self, podMtu: ready.podMtu, logs: () => err, stop: () => end('SIGTERM'), kill: () => end('SIGKILL') };
}
