#!/usr/bin/env node
// kna: the node agent and its client commands. Each command loads only what it
// needs, so `kna get pods` starts quickly.
import { Command, Option } from 'commander';
import { ConfigError, errorMessage } from '../util/errors.js';
import { DEFAULTS, OVERLAYS, PROXY_MODES } from '../config.js';
import { IPVS_SCHEDULERS } from '../proxy/ipvs/scheduler.js';
import { VERSION } from '../version.js';

const collect = (v: string, prev: string[] = []) => prev.concat(v.split(',').filter(Boolean));
const program = new Command('kna')
  .description('kube-node-agent: kubelet, CNI, kube-proxy and overlay in one process.\nRuns the pods and Services of a manifest folder on containerd (standalone), or joins a cluster (kna join).')
  .version(VERSION, '--version')
  .showHelpAfterError();

const rootDirOption = () => new Option('--root-dir <dir>', 'the agent\'s state directory').default(DEFAULTS.rootDir);

/** `kna run`'s flags; `kna join` takes them too, as it goes on running as the agent. */
const runFlags = (cmd: Command): Command => cmd
  .option('--config <file>', 'YAML config file (KubeletConfiguration field names where one exists); flags override it')
  .option('--node-name <name>', `this node's name (default: hostname, ${DEFAULTS.nodeName})`)
  .option('--kubeconfig <file>', 'kubeconfig of a control plane; absent = standalone mode')
  .option('--manifests <dir>', 'folder of Pod manifests (static pods) and, in standalone mode, Services, ConfigMaps, Secrets')
  .option('--container-runtime-endpoint <endpoint>', `CRI socket (default ${DEFAULTS.containerRuntimeEndpoint})`)
  .option('--root-dir <dir>', `the agent's state directory (default ${DEFAULTS.rootDir})`)
  .option('--pod-cidr <cidr>', `this node's pod network (default: joined, the Node's spec.podCIDR; standalone, ${DEFAULTS.podCIDR})`)
  .option('--cluster-dns <ip>', 'DNS server IP for pods with dnsPolicy ClusterFirst (repeatable)', collect)
  .option('--cluster-domain <domain>', `cluster DNS domain (default ${DEFAULTS.clusterDomain})`)
  .addOption(new Option('--proxy-mode <mode>', `Service proxy backend (default ${DEFAULTS.proxyMode})`).choices(PROXY_MODES))
  .addOption(new Option('--ipvs-scheduler <name>', `IPVS scheduler with --proxy-mode ipvs (default ${DEFAULTS.ipvsScheduler})`).choices(IPVS_SCHEDULERS))
  .addOption(new Option('--overlay <kind>', `pod network between nodes (default ${DEFAULTS.overlay}); needs --cluster-cidr, and --peers when standalone (joined: peers from the Nodes)`).choices(OVERLAYS))
  .option('--peers <file>', 'overlay peers: YAML/JSON list of {name, nodeIP, podCIDR, vtepMAC}, watched for changes (the agent logs its own entry); joined, added to the Nodes\' peers and winning on a name')
  .option('--overlay-iface <name>', 'the overlay\'s underlay interface (default: the one holding --node-ip)')
  .option('--node-ip <ip>', 'this node\'s underlay address (default: the address of --overlay-iface, else the first host address)')
  .option('--cni-bin-dir <dir>', `where CNI plugins live (default ${DEFAULTS.cniBinDir})`)
  .option('--cni-conf-dir <dir>', `where the node's CNI conflist is written (default ${DEFAULTS.cniConfDir})`)
  .option('--cni-bridge <name>', `the pod network's Linux bridge (default ${DEFAULTS.cniBridge})`)
  .option('--healthz-bind-address <host:port>', `healthz endpoint (default ${DEFAULTS.healthzBindAddress})`)
  .option('--metrics-bind-address <host:port>', `Prometheus metrics endpoint (default ${DEFAULTS.metricsBindAddress})`)
  .option('--kubelet-address <ip>', `the kubelet HTTPS API's listen address, served with a control plane (default ${DEFAULTS.kubeletAddress})`)
  .option('--kubelet-port <port>', `the kubelet HTTPS API's port (default ${DEFAULTS.kubeletPort})`)
  .option('--service-cluster-ip-range <cidr>', `Service IP range (default ${DEFAULTS.serviceClusterIPRange})`)
  .option('--cluster-cidr <cidr>', 'pod network of the whole cluster; traffic from outside it to Services is masqueraded')
  .option('--nodeport-addresses <cidr>', 'node addresses that accept NodePorts (repeatable; default all)', collect)
  .option('--masquerade-all', 'masquerade all Service traffic')
  .option('--kube-reserved <list>', 'resources kept for Kubernetes daemons, taken off the Node\'s allocatable: cpu=100m,memory=256Mi,ephemeral-storage=1Gi,pid=1000')
  .option('--system-reserved <list>', 'resources kept for the OS, taken off allocatable (same syntax as --kube-reserved)')
  .option('--register-with-taints <taints>', 'taints the Node is created with: key=value:Effect,key:Effect (repeatable; Effect NoSchedule, PreferNoSchedule or NoExecute)', collect)
  .option('--node-labels <labels>', 'labels of the Node: key=value,... (repeatable); in the kubernetes.io and k8s.io namespaces only what kubelet may set (not node-role.kubernetes.io)', collect)
  .option('--max-pods <n>', `pods this node admits at most (default ${DEFAULTS.maxPods})`)
  .addOption(new Option('--log-format <format>', 'json (default) or text').choices(['json', 'text']))
  .option('--log-level <level>', 'trace, debug, info, warn, error');

/** Parsed `kna run` flags (commander's camelCase) → AgentConfig, over --config when given. */
async function agentConfig(opts: Record<string, unknown>, joining = false) {
  const { resolveConfig } = await import('../config.js');
  const { config: file, ...flags } = opts;
  const map: Record<string, string> = { podCidr: 'podCIDR', clusterDns: 'clusterDNS', serviceClusterIpRange: 'serviceClusterIPRange', clusterCidr: 'clusterCIDR', nodeIp: 'nodeIP' };
  const renamed = Object.fromEntries(Object.entries(flags).map(([k, v]) => [map[k] ?? k, v]));
  return resolveConfig(renamed, file as string | undefined, joining);
}

runFlags(program
  .command('run')
  .description('Run the node agent: pods from --manifests (static pods) and, with --kubeconfig, the API server\'s pods for this node, on containerd over CRI, their network and Services.'))
  .action(async (opts: Record<string, unknown>) => {
    const { runAgent } = await import('../agent.js');
    await runAgent(await agentConfig(opts));
  });

runFlags(program
  .command('join')
  .description('Join a control plane as kubeadm does (token discovery, TLS bootstrap; skipped when credentials exist under --root-dir), then run as `kna run --kubeconfig <root-dir>/kubeconfig`. Takes every `kna run` flag.')
  .requiredOption('--server <url>', 'the API server, https://HOST:6443')
  .requiredOption('--token <id.secret>', 'bootstrap token')
  .option('--discovery-token-ca-cert-hash <sha256:hex>', 'pin of the cluster CA public key (repeatable)', collect)
  .option('--discovery-token-unsafe-skip-ca-verification', 'trust the CA in cluster-info without a pin'))
  .action(async (opts: Record<string, unknown>) => {
    const { server, token, discoveryTokenCaCertHash, discoveryTokenUnsafeSkipCaVerification, ...rest } = opts;
    const { runAgent } = await import('../agent.js');
    await runAgent(await agentConfig(rest, true), {
      join: { server: String(server), token: String(token), caCertHashes: (discoveryTokenCaCertHash as string[] | undefined) ?? [], unsafeSkipCAVerification: discoveryTokenUnsafeSkipCaVerification === true },
    });
  });

const get = program.command('get').description('Show what the running agent holds.');
get
  .command('pods')
  .description('List the pods of this node with their status (as the running agent sees them).')
  .addOption(new Option('-o, --output <format>', 'output format').choices(['json', 'wide', 'yaml']))
  .addOption(rootDirOption())
  .action(async (opts: { output?: string; rootDir: string }) => {
    const { getPods } = await import('./get.js');
    await getPods(opts.rootDir, opts.output);
  });

program
  .command('logs')
  .description('Print the logs of a container of a pod on this node.')
  .argument('<pod>', 'pod name, or NAMESPACE/NAME')
  .option('-c, --container <name>', 'container name (default: the only or first container)')
  .option('-n, --namespace <ns>', 'namespace', 'default')
  .option('-f, --follow', 'keep streaming new lines')
  .option('-p, --previous', 'logs of the previous instance of the container')
  .option('--tail <n>', 'only the last N lines', (v) => Number.parseInt(v, 10))
  .option('--timestamps', 'prefix lines with their time')
  .addOption(rootDirOption())
  .action(async (pod: string, opts) => {
    const { logs } = await import('./logs.js');
    await logs(pod, opts);
  });

program
  .command('exec')
  .description('Run a command in a container of a pod on this node.')
  .argument('<pod>', 'pod name, or NAMESPACE/NAME')
  .argument('<command...>', 'command and arguments (after --)')
  .option('-c, --container <name>', 'container name (default: the first container)')
  .option('-n, --namespace <ns>', 'namespace', 'default')
  .option('-i, --stdin', 'pass stdin to the command')
  .option('-t, --tty', 'allocate a TTY')
  .addOption(rootDirOption())
  .action(async (pod: string, command: string[], opts) => {
    const { exec } = await import('./exec.js');
    process.exitCode = await exec(pod, command, opts);
  });

program
  .command('port-forward')
  .description('Forward local ports to ports of a pod on this node (LOCAL:REMOTE, REMOTE, or :REMOTE for any free local port).')
  .argument('<pod>', 'pod name, or NAMESPACE/NAME')
  .argument('<ports...>', 'ports to forward')
  .option('-n, --namespace <ns>', 'namespace', 'default')
  .option('--address <ip>', 'local address to listen on', '127.0.0.1')
  .addOption(rootDirOption())
  .action(async (pod: string, ports: string[], opts) => {
    const { portForward } = await import('./port-forward.js');
    const reason = await portForward(pod, ports, opts);
    process.stderr.write(`kna port-forward: ${reason}\n`);
    process.exitCode = 1;
  });

program
  .command('explain')
  .description('Explain how the agent handles an object.')
  .command('service')
  .description('Show a Service, its endpoints, and the netfilter rules made for it.')
  .argument('<service>', 'NAMESPACE/NAME, or NAME with -n')
  .option('-n, --namespace <ns>', 'namespace', 'default')
  .addOption(rootDirOption())
  .action(async (svc: string, opts: { namespace: string; rootDir: string }) => {
    const { callAgent, expectOk, podRef, readAll } = await import('./local-client.js');
    const { ns, name } = podRef(svc, opts.namespace);
    const path = ['explain', 'service', ns, name].map(encodeURIComponent).join('/');
    process.stdout.write(await readAll(await expectOk(await callAgent(opts.rootDir, 'GET', `/${path}`))));
  });

program
  .command('cleanup')
  .description('Remove what the agent made: its pods in containerd, proxy rules, CNI config. Run with the agent stopped.')
  .option('--container-runtime-endpoint <endpoint>', 'CRI socket', DEFAULTS.containerRuntimeEndpoint)
  .addOption(rootDirOption())
  .option('--cni-conf-dir <dir>', 'CNI conf dir', DEFAULTS.cniConfDir)
  .option('--no-proxy-rules', 'keep the Service proxy\'s netfilter rules')
  .option('--no-overlay', 'keep the overlay\'s VXLAN device and routes')
  .action(async (opts) => {
    const { cleanup } = await import('./cleanup.js');
    await cleanup(opts);
  });

program
  .command('cni-config')
  .description('Write the node\'s CNI conflist for a pod CIDR (the agent does this itself at start).')
  .requiredOption('--pod-cidr <cidr>', 'the node\'s pod network')
  .option('--cni-conf-dir <dir>', 'CNI conf dir', DEFAULTS.cniConfDir)
  .option('--cni-bridge <name>', 'the pod network\'s Linux bridge', DEFAULTS.cniBridge)
  .addOption(rootDirOption())
  .action(async (opts: { podCidr: string; cniConfDir: string; cniBridge: string; rootDir: string }) => {
    const { resolveConfig } = await import('../config.js');
    const { nodeConflist, writeCniConfig } = await import('../network/cni-config.js');
    const cfg = resolveConfig({ podCIDR: opts.podCidr, cniConfDir: opts.cniConfDir, cniBridge: opts.cniBridge, rootDir: opts.rootDir });
    await writeCniConfig(cfg.cniConfDir, nodeConflist({ podCidrs: [cfg.podCIDR], bridge: cfg.cniBridge, rootDir: cfg.rootDir }));
  });

program
  .command('version')
  .description('Print the agent version and the container runtime it talks to.')
  .option('--container-runtime-endpoint <endpoint>', 'CRI socket', DEFAULTS.containerRuntimeEndpoint)
  .action(async (opts: { containerRuntimeEndpoint: string }) => {
    console.log(`kna ${VERSION} (node ${process.version})`);
    const { CriClient } = await import('../cri/client.js');
    const cri = CriClient.connect(opts.containerRuntimeEndpoint, { timeoutMs: 3000 });
    try {
      const v = await cri.version();
      console.log(`runtime ${v.runtimeName} ${v.runtimeVersion} (CRI ${v.runtimeApiVersion}) at ${opts.containerRuntimeEndpoint}`);
    } catch (err) {
      console.log(`runtime at ${opts.containerRuntimeEndpoint}: unreachable (${errorMessage(err)})`);
    } finally {
      cri.close();
    }
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`kna: ${err instanceof ConfigError ? err.message : errorMessage(err)}\n`);
  process.exit(err instanceof ConfigError ? 2 : 1);
});
