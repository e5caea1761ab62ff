// `npm run test-apiserver -- --dir DIR [--port 6443] [--host 127.0.0.1] [--cluster-cidr CIDR]`: runs the
// test control plane on its own and writes DIR/admin.conf (admin kubeconfig) and
// DIR/join-args (the flags for `kna join`), so a join can be tried by hand.
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { TestApiServer } from './server.js';

const { values } = parseArgs({
  options: {
    dir: { type: 'string' },
    port: { type: 'string', default: '6443' },
    host: { type: 'string', default: '127.0.0.1' },
    'no-auto-approve': { type: 'boolean', default: false },
    // node IPAM: Nodes get a /24 of it as spec.podCIDR
    'cluster-cidr': { type: 'string' },
  },
});
if (!values.dir) {
  process.stderr.write('usage: test-apiserver --dir DIR [--port 6443] [--host 127.0.0.1] [--no-auto-approve] [--cluster-cidr CIDR]\n');
  process.exit(2);
}
const dir = resolve(values.dir);
const server = await TestApiServer.start({ dir, host: values.host, port: Number(values.port), autoApproveCsrs: !values['no-auto-approve'], ...(values['cluster-cidr'] ? { clusterCIDR: values['cluster-cidr'] } : {}) });
const token = server.createBootstrapToken({ ttlSeconds: 86400 });
writeFileSync(join(dir, 'admin.conf'), server.adminKubeconfig(), { mode: 0o600 });
writeFileSync(join(dir, 'join-args'), `--server ${server.url} --token ${token} --discovery-token-ca-cert-hash ${server.caHash}\n`, { mode: 0o600 });
process.stdout.write(`test API server on ${server.url}\n  admin kubeconfig: ${join(dir, 'admin.conf')}\n  join: kna join $(cat ${join(dir, 'join-args')})\n`);
const stop = () => {
  void server.stop().then(() => process.exit(0));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
