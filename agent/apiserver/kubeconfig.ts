// Kubeconfig files: reading the current context into what a client needs, and
// writing the node's own (certificate files, as kubelet's kubeconfig refers to
// them, so rotation only swaps files).
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { z } from 'zod';
import { KubeconfigError } from './errors.js';

/** Everything needed to talk to one API server as one user. */
export interface ClusterAccess {
  server: string;
  /** PEM bundle of trusted CAs; absent = the system's */
  caPem?: string;
  /** skip server certificate checks (only for reading cluster-info before the CA is pinned) */
  insecureSkipTLSVerify?: boolean;
  token?: string;
  certPem?: string;
  keyPem?: string;
  /** where the client certificate and key live, when they are files (rotation rewrites them) */
  certFile?: string;
  keyFile?: string;
}

const cluster = z.object({
  server: z.string(),
  'certificate-authority': z.string().optional(),
  'certificate-authority-data': z.string().optional(),
  'insecure-skip-tls-verify': z.boolean().optional(),
});
const user = z.object({
  token: z.string().optional(),
  tokenFile: z.string().optional(),
  'client-certificate': z.string().optional(),
  'client-certificate-data': z.string().optional(),
  'client-key': z.string().optional(),
  'client-key-data': z.string().optional(),
});
const schema = z.object({
  clusters: z.array(z.object({ name: z.string(), cluster })).nullish(),
  users: z.array(z.object({ name: z.string(), user })).nullish(),
  contexts: z.array(z.object({ name: z.string(), context: z.object({ cluster: z.string(), user: z.string().optional() }) })).nullish(),
  'current-context': z.string().nullish(),
});

type Source = { data?: string; file?: string };
export interface KubeconfigRefs {
  server: string;
  insecureSkipTLSVerify: boolean;
  ca?: Source;
  cert?: Source;
  key?: Source;
  token?: Source;
}

/** The current context of a kubeconfig text, with relative paths resolved against `baseDir`. Pure. */
export function parseKubeconfig(text: string, where: string, baseDir: string): KubeconfigRefs {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new KubeconfigError(`${where}: not YAML: ${(err as Error).message}`);
  }
  const r = schema.safeParse(doc);
  if (!r.success) throw new KubeconfigError(`${where}: ${r.error.issues[0]!.path.join('.')}: ${r.error.issues[0]!.message}`);
  const k = r.data;
  const ctxName = k['current-context'];
  const ctx = ctxName ? k.contexts?.find((c) => c.name === ctxName)?.context : k.contexts?.[0]?.context;
  if (ctxName && !ctx) throw new KubeconfigError(`${where}: current-context "${ctxName}" is not among contexts`);
  const theCluster = ctx ? k.clusters?.find((c) => c.name === ctx.cluster)?.cluster : k.clusters?.[0]?.cluster;
  if (!theCluster) throw new KubeconfigError(`${where}: no cluster${ctx ? ` named "${ctx.cluster}"` : ''}`);
  const theUser = ctx?.user !== undefined ? k.users?.find((u) => u.name === ctx.user)?.user : k.users?.[0]?.user;
  if (ctx?.user && !theUser) throw new KubeconfigError(`${where}: no user named "${ctx.user}"`);
  const path = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  const src = (data: string | undefined, file: string | undefined): Source | undefined =>
    data ? { data: Buffer.from(data, 'base64').toString('utf8') } : file ? { file: path(file) } : undefined;
  const out: KubeconfigRefs = { server: theCluster.server, insecureSkipTLSVerify: theCluster['insecure-skip-tls-verify'] ?? false };
  const ca = src(theCluster['certificate-authority-data'], theCluster['certificate-authority']);
  const cert = src(theUser?.['client-certificate-data'], theUser?.['client-certificate']);
  const key = src(theUser?.['client-key-data'], theUser?.['client-key']);
  const token = theUser?.token ? { data: theUser.token } : theUser?.tokenFile ? { file: path(theUser.tokenFile) } : undefined;
  if (ca) out.ca = ca;
  if (cert) out.cert = cert;
  if (key) out.key = key;
  if (token) out.token = token;
  if (!/^https?:\/\//.test(out.server)) throw new KubeconfigError(`${where}: cluster.server "${out.server}" must be an https:// URL`);
  return out;
}

/** Reads a kubeconfig and every file it names. */
export async function loadKubeconfig(path: string): Promise<ClusterAccess> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new KubeconfigError(`--kubeconfig ${path}: ${(err as Error).message}`);
  }
  const refs = parseKubeconfig(text, path, dirname(path));
  const read = async (s: Source | undefined, field: string) => {
    if (!s) return undefined;
    if (s.data !== undefined) return s.data;
    try {
      return await readFile(s.file!, 'utf8');
    } catch (err) {
      throw new KubeconfigError(`${path}: ${field} ${s.file}: ${(err as Error).message}`);
    }
  };
  const access: ClusterAccess = { server: refs.server.replace(/\/+$/, '') };
  if (refs.insecureSkipTLSVerify) access.insecureSkipTLSVerify = true;
  const caPem = await read(refs.ca, 'certificate-authority');
  const certPem = await read(refs.cert, 'client-certificate');
  const keyPem = await read(refs.key, 'client-key');
  const token = (await read(refs.token, 'tokenFile'))?.trim();
  if (caPem) access.caPem = caPem;
  if (certPem) access.certPem = certPem;
  if (keyPem) access.keyPem = keyPem;
  if (token) access.token = token;
  if (refs.cert?.file) access.certFile = refs.cert.file;
  if (refs.key?.file) access.keyFile = refs.key.file;
  if (!!certPem !== !!keyPem) throw new KubeconfigError(`${path}: client-certificate and client-key must be given together`);
  return access;
}

/** The node's kubeconfig: the CA inline, the client certificate and key as files. */
export function nodeKubeconfig(o: { server: string; caPem: string; certFile: string; keyFile: string }): string {
  return toYaml({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'default-cluster', cluster: { server: o.server, 'certificate-authority-data': Buffer.from(o.caPem).toString('base64') } }],
    users: [{ name: 'default-auth', user: { 'client-certificate': o.certFile, 'client-key': o.keyFile } }],
    contexts: [{ name: 'default-context', context: { cluster: 'default-cluster', namespace: 'default', user: 'default-auth' } }],
    'current-context': 'default-context',
    preferences: {},
  });
}
