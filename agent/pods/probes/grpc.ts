// gRPC probe: grpc.health.v1.Health/Check on podIP:port; SERVING is success.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { joinHostPort, resolveHost, resolvePort } from './target.js';
import { ProbeSpecError, type GRPCAction, type ProbeOutcome } from './types.js';
import { PROBE_USER_AGENT } from './http.js';

/** proto/health.proto of this repo, found upwards from this module (works from source and from dist/). */
export function healthProtoPath(): string {
  for (let d = dirname(fileURLToPath(import.meta.url)); ; d = dirname(d)) {
    const p = join(d, 'proto', 'health.proto');
    if (existsSync(p)) return p;
    if (dirname(d) === d) throw new ProbeSpecError('proto/health.proto not found above ' + fileURLToPath(import.meta.url));
  }
}

export interface HealthCheckResponse { status: string }
type CheckFn = (
  req: { service: string },
  md: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res?: HealthCheckResponse) => void,
) => grpc.ClientUnaryCall;
export type HealthClient = grpc.Client & { Check: CheckFn };
type HealthClientCtor = (new (address: string, creds: grpc.ChannelCredentials, opts?: grpc.ClientOptions) => HealthClient) & { service: grpc.ServiceDefinition };

let cached: HealthClientCtor | undefined;
/** The grpc.health.v1.Health client constructor (service definition in `.service`, for servers in tests). */
export function healthService(): HealthClientCtor {
  if (!cached) {
    const def = protoLoader.loadSync(healthProtoPath(), { keepCase: true, enums: String, defaults: true });
    const pkg = grpc.loadPackageDefinition(def) as unknown as { grpc: { health: { v1: { Health: HealthClientCtor } } } };
    cached = pkg.grpc.health.v1.Health;
  }
  return cached;
}

export interface GrpcOptions {
  podIP?: string | undefined;
  timeoutMs: number;
  signal: AbortSignal;
}

export function grpcProbe(action: GRPCAction, opts: GrpcOptions): Promise<ProbeOutcome> {
  // The v1 API has no host for gRPC probes: always the pod IP.
  const host = resolveHost(undefined, opts.podIP, 'grpc');
  const port = resolvePort(action.port, {}, 'grpc');
  const addr = joinHostPort(host, port);
  const secs = `${opts.timeoutMs / 1000}s`;
  const Health = healthService();
  const client = new Health(addr, grpc.credentials.createInsecure(), { 'grpc.primary_user_agent': PROBE_USER_AGENT });
  return new Promise<ProbeOutcome>((resolve) => {
    let call: grpc.ClientUnaryCall | undefined;
    const onAbort = () => call?.cancel();
    call = client.Check({ service: action.service ?? '' }, new grpc.Metadata(), { deadline: Date.now() + opts.timeoutMs }, (err, res) => {
      opts.signal.removeEventListener('abort', onAbort);
      if (err) {
        let output: string;
        if (err.code === grpc.status.DEADLINE_EXCEEDED || err.code === grpc.status.CANCELLED) output = `timeout: health rpc did not complete within ${secs}`;
        else if (err.code === grpc.status.UNIMPLEMENTED) output = `this server does not implement the grpc health protocol (grpc.health.v1.Health): ${err.details}`;
        else if (err.code === grpc.status.UNAVAILABLE) output = `failed to connect service "${addr}": ${err.details}`;
        else output = `error: health rpc probe failed: ${grpc.status[err.code]}: ${err.details}`;
        resolve({ result: 'Failure', output });
      } else if (res?.status !== 'SERVING') {
        resolve({ result: 'Failure', output: `service unhealthy (responded with "${res?.status ?? 'UNKNOWN'}")` });
      } else {
        resolve({ result: 'Success', output: '' });
      }
    });
    if (opts.signal.aborted) onAbort();
    else opts.signal.addEventListener('abort', onAbort, { once: true });
  }).finally(() => client.close());
}
