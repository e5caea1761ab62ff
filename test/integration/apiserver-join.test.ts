// `kna join` end to end against the test API server: discovery with the pinned
// CA and the token's JWS, TLS bootstrap through a CSR, credentials on disk; and a
// clear error for each bad credential.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { test } from 'node:test';
import { ApiClient, resourcePath, type KubeObject } from '../../agent/apiserver/client.js';
import { JoinError } from '../../agent/apiserver/errors.js';
import { credentialPaths, joinCluster, type JoinOptions } from '../../agent/apiserver/join.js';
import { loadKubeconfig } from '../../agent/apiserver/kubeconfig.js';
import { TestApiServer } from '../apiserver/server.js';
import { adminClient, defer, eventually, startTestApiServer, tempDir } from '../harness/apiserver.js';

const node = `kna-t-node-${process.pid}`;

async function joinFails(o: JoinOptions, pattern: RegExp): Promise<void> {
  await assert.rejects(joinCluster(o), (err: unknown) => {
    assert.ok(err instanceof JoinError, `expected JoinError, got ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  });
}

test('join: discovery, TLS bootstrap, credentials written; a second run reuses them', async (t) => {
  const { server } = await startTestApiServer(t, { autoApproveCsrs: true });
  const rootDir = tempDir(t, 'join');
  const token = server.createBootstrapToken();
  const r = await joinCluster({ server: server.url, token, caCertHashes: [server.caHash], nodeName: node, rootDir });
  assert.deepEqual(r, { kubeconfigPath: credentialPaths(rootDir).kubeconfig, bootstrapped: true });
  const paths = credentialPaths(rootDir);
  assert.equal((await stat(paths.key)).mode & 0o777, 0o600);
  assert.equal((await stat(paths.kubeconfig)).mode & 0o777, 0o600);
  const cert = new X509Certificate(await readFile(paths.cert));
  assert.equal(cert.subject, `O=system:nodes\nCN=system:node:${node}`);
  assert.ok(cert.checkIssued(new X509Certificate(server.ca.certPem)));

  // The kubeconfig authenticates as the node.
  const client = new ApiClient(await loadKubeconfig(r.kubeconfigPath));
  defer(t, () => client.close());
  const me = await client.create<{ status: { userInfo: { username: string; groups: string[] } } }>(resourcePath({ group: 'authentication.k8s.io', resource: 'selfsubjectreviews' }), { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' });
  assert.equal(me.status.userInfo.username, `system:node:${node}`);
  assert.ok(me.status.userInfo.groups.includes('system:nodes'));

  // The CSR went through the API with the kubelet's signer and usages, from the bootstrap identity.
  const admin = adminClient(server);
  defer(t, () => admin.close());
  const csrs = (await admin.list<KubeObject & { spec: { signerName: string; usages: string[]; username: string } }>(resourcePath({ group: 'certificates.k8s.io', resource: 'certificatesigningrequests' }))).items;
  assert.equal(csrs.length, 1);
  assert.equal(csrs[0]!.spec.signerName, 'kubernetes.io/kube-apiserver-client-kubelet');
  assert.deepEqual(csrs[0]!.spec.usages, ['digital signature', 'client auth']);
  assert.equal(csrs[0]!.spec.username, `system:bootstrap:${token.split('.')[0]}`);

  const again = await joinCluster({ server: server.url, token: 'zzzzzz.zzzzzzzzzzzzzzzz', caCertHashes: [server.caHash], nodeName: node, rootDir });
  assert.equal(again.bootstrapped, false);
});

test('join: a wrong CA hash, an unknown, expired or wrong token, bad flags', async (t) => {
  const { server } = await startTestApiServer(t, { autoApproveCsrs: true });
  const rootDir = tempDir(t, 'join-bad');
  const token = server.createBootstrapToken();
  const base = { server: server.url, token, caCertHashes: [server.caHash], nodeName: node, rootDir };
  await joinFails({ ...base, caCertHashes: [`sha256:${'0'.repeat(64)}`] }, /cluster CA does not match --discovery-token-ca-cert-hash: the server's CA public key hash is sha256:[0-9a-f]{64}/);
  await joinFails({ ...base, token: 'abcdef.0123456789abcdef' }, /token id "abcdef" is not valid for this cluster \(unknown or expired\)/);
  const expired = server.createBootstrapToken({ expiration: new Date(Date.now() - 1000) });
  await joinFails({ ...base, token: expired }, new RegExp(`token id "${expired.split('.')[0]}" is not valid for this cluster \\(unknown or expired\\)`));
  await joinFails({ ...base, token: `${token.split('.')[0]}.0000000000000000` }, /signature .* does not verify/);
  await joinFails({ ...base, token: 'not-a-token' }, /--token: a bootstrap token has the form/);
  await joinFails({ ...base, caCertHashes: ['md5:1234'] }, /--discovery-token-ca-cert-hash md5:1234: must be "sha256:"/);
  await assert.rejects(stat(credentialPaths(rootDir).kubeconfig), 'nothing written on failure');
});

test('join: a denied CSR fails with the reason; an approved one succeeds', async (t) => {
  const { server, admin } = await startTestApiServer(t, { autoApproveCsrs: false });
  const token = server.createBootstrapToken();
  const csrPath = resourcePath({ group: 'certificates.k8s.io', resource: 'certificatesigningrequests' });
  const pending = async (n: number) => eventually(`CSR #${n}`, async () => {
    const items = (await admin.list<KubeObject & { status: { conditions?: unknown[] } }>(csrPath)).items.filter((c) => !c.status.conditions);
    return items.length ? items[0]!.metadata.name : undefined;
  });

  const denied = joinCluster({ server: server.url, token, caCertHashes: [server.caHash], nodeName: node, rootDir: tempDir(t, 'join-deny') });
  const first = await pending(1);
  server.decideCsr(first, false, 'NotOnThisCluster');
  await assert.rejects(denied, (err: unknown) => err instanceof JoinError && new RegExp(`certificate signing request ${first} was denied: NotOnThisCluster`).test(err.message));

  const approved = joinCluster({ server: server.url, token, caCertHashes: [server.caHash], nodeName: node, rootDir: tempDir(t, 'join-approve') });
  server.decideCsr(await pending(2), true);
  assert.equal((await approved).bootstrapped, true);
});

test('join: an unreachable server is named in the error', async (t) => {
  const server = await TestApiServer.start();
  const url = server.url;
  const hash = server.caHash;
  await server.stop();
  await joinFails({ server: url, token: 'abcdef.0123456789abcdef', caCertHashes: [hash], nodeName: node, rootDir: tempDir(t, 'join-down') }, new RegExp(`cannot reach the API server at ${url.replace(/[.]/g, '\\.')}: ECONNREFUSED`));
});
