// `npm run harness -- up --nodes N --dir DIR` / `npm run harness -- down --dir DIR`:
// a local multi-node playground built from namespaces (see playground.ts).
import { Command } from 'commander';
import { down, up } from './playground.js';

const program = new Command('harness').description('a local multi-node kna playground made of network namespaces');
program.command('up')
  .description('start N standalone nodes (containerd + agent each, vxlan overlay); DIR/nodes.json lists them')
  .requiredOption('--dir <dir>', 'folder for nodes.json, peers.json and each node\'s root dir, manifests and log')
  .option('--nodes <n>', 'how many nodes', '2')
  .option('--proxy-mode <mode>', 'the agents\' Service proxy', 'iptables')
  .action(async (o: { dir: string; nodes: string; proxyMode: string }) => {
    const state = await up({ nodes: Number(o.nodes), dir: o.dir, proxyMode: o.proxyMode });
    for (const n of state.nodes) {
      console.log(`${n.name}  ${n.nodeIP}  pods ${n.podCIDR}  manifests ${n.manifests}\n  ip netns exec ${n.netns} kna get pods --root-dir ${n.rootDir}`);
    }
    console.log(`down: npm run harness -- down --dir ${o.dir}`);
  });
program.command('down')
  .description('stop everything `up` started in DIR and remove it')
  .requiredOption('--dir <dir>', 'the folder given to up')
  .action(async (o: { dir: string }) => down(o.dir));

// The children are detached and unref'd, and gRPC's own timers do not hold the event
// loop either: without a handle of our own, Node could exit mid-command (code 13).
const keepAlive = setInterval(() => {}, 60_000);
try {
  await program.parseAsync();
  clearInterval(keepAlive);
  // The detached nodes keep running; nothing of ours should hold the loop open.
  process.exit(0);
} catch (err) {
  console.error(`harness: ${(err as Error).message}`);
  process.exit(1);
}
