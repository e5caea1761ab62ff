// Entry of a stand-alone overlay process for tests and benchmarks, started inside a
// node namespace (`ip netns exec NODE node overlay-main.js '<json options>'`): it runs
// the Overlay on a watched peers file, prints one JSON line {ready, self, podMtu} on
// stdout once the kernel matches the file, and on SIGTERM stops (kernel state stays).
// With a second argument `--remove` it removes what the overlay made and exits.
import { Overlay, type OverlayOptions } from '../../agent/network/overlay.js';
import { PeersWatcher } from '../../agent/network/peers.js';
import { createLogger } from '../../agent/util/log.js';

type Options = Omit<OverlayOptions, 'logger'> & { peers: string; logLevel?: string };

const { peers, logLevel, ...opts } = JSON.parse(process.argv[2] ?? '{}') as Options;
const logger = createLogger('json', logLevel ?? 'info');
const overlay = new Overlay({ ...opts, logger });
if (process.argv[3] === '--remove') {
  await overlay.remove();
  process.stdout.write(JSON.stringify({ removed: true }) + '\n');
  process.exit(0);
}
const watcher = new PeersWatcher(peers, (peers) => void overlay.setPeers(peers).catch(() => {}), { logger, rescanMs: 1000 });

const first = await watcher.start();
if (first) await overlay.setPeers(first);
await overlay.start();
process.stdout.write(JSON.stringify({ ready: true, self: overlay.self(), podMtu: overlay.podMtu() }) + '\n');

// Keeps the event loop alive (the netlink socket and watchers are unref'd).
const keepAlive = setInterval(() => {}, 1 << 30);
process.on('SIGTERM', () => {
  watcher.stop();
  void overlay.stop().then(() => {
    clearInterval(keepAlive);
    logger.info('overlay process stopped');
  });
});
