// Typed CRI runtime.v1 client (RuntimeService + ImageService) over @grpc/grpc-js.
//
// One channel serves both services. Every call has a deadline. When the runtime is
// down (e.g. containerd restarting) a call waits at most `connectTimeoutMs` for the
// channel to become READY and otherwise fails with UNAVAILABLE; reconnect backoff is
// capped at 1 s, so the first call after the runtime is back succeeds.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as decode from './decode.js';
import type { Raw } from './decode.js';
import { CriError, GrpcStatus } from './errors.js';
import { packagePath } from '../util/package-path.js';
import type {
  AttachRequest, AuthConfig, Container, ContainerConfig, ContainerEvent, ContainerFilter, ContainerStats,
  ContainerStatsFilter, ContainerStatus, ContainerStatusResult, ExecRequest, ExecSyncResult, Image, ImageFsInfo,
  LinuxContainerResources, PodSandbox, PodSandboxConfig, PodSandboxFilter, PodSandboxStats, PodSandboxStatsFilter,
  PodSandboxStatusResult, RuntimeStatusResult, StreamingUrl, VersionInfo,
} from './types.js';

export interface CriClientOptions {
  /** Deadline of ordinary calls (default 30 s). Long calls get more, see DEADLINES. */
  timeoutMs?: number;
  /** How long a call waits for a (re)connection before failing UNAVAILABLE (default 2 s). */
  connectTimeoutMs?: number;
  /** Told of every unary call when it ends (metrics: cri/metrics.ts). */
  onCall?: (call: string, seconds: number, ok: boolean) => void;
}

/** Deadlines of calls that legitimately take long (CNI, image pulls, graceful stops). */
const DEADLINES = {
  runPodSandbox: 4 * 60_000,
  stopPodSandbox: 2 * 60_000,
  removePodSandbox: 2 * 60_000,
  pullImage: 15 * 60_000,
  /** added to a call's own timeout (ExecSync, StopContainer) */
  margin: 10_000,
} as const;

/** The CRI API version kubelet announces in Version. */
const KUBELET_API_VERSION = '0.1.0';

/** ExecSync output may be up to 16 MiB per stream (CVE-2022-1708 cap) plus framing. */
const MAX_MESSAGE_BYTES = 40 * 1024 * 1024;

const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false, longs: String, enums: String, bytes: Buffer, defaults: true, arrays: true, objects: true,
};

type Service = 'RuntimeService' | 'ImageService';
type Method = protoLoader.MethodDefinition<object, object>;

/** proto/runtime.proto of this package, else under cwd. */
export function criProtoPath(): string {
  const beside = packagePath('proto', 'runtime.proto');
  return existsSync(beside) ? beside : join(process.cwd(), 'proto', 'runtime.proto');
}

let packageDefinition: protoLoader.PackageDefinition | undefined;

function method(service: Service, name: string): Method {
  packageDefinition ??= protoLoader.loadSync(criProtoPath(), LOADER_OPTIONS);
  const svc = packageDefinition[`runtime.v1.${service}`];
  const m = svc && !('format' in svc) ? svc[name] : undefined;
  if (!m) throw new Error(`proto/runtime.proto has no ${service}.${name}`);
  return m;
}

/** unix:///run/x.sock, unix:/run/x.sock or a bare /run/x.sock -> a grpc-js target. */
export function grpcTarget(endpoint: string): string {
  if (endpoint.startsWith('unix:')) return endpoint;
  if (endpoint.startsWith('/')) return `unix://${endpoint}`;
  throw new Error(`container runtime endpoint must be unix:///path or /path, got ${JSON.stringify(endpoint)}`);
}

const short = (id: string): string => id.slice(0, 12);

function toCriError(call: string, err: unknown, context: string | undefined): CriError {
  if (err instanceof CriError) return err;
  const e = err as Partial<grpc.ServiceError>;
  const code = typeof e.code === 'number' ? e.code : GrpcStatus.UNKNOWN;
  const details = e.details || (err instanceof Error ? err.message : String(err));
  return new CriError(call, code, details, context, { cause: err });
}

export class CriClient {
  private readonly timeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly onCall: CriClientOptions['onCall'];

  private constructor(
    readonly endpoint: string,
    private readonly client: grpc.Client,
    opts: CriClientOptions,
  ) {
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 2_000;
    this.onCall = opts.onCall;
  }

  /** Opens a lazily connecting channel; no I/O happens until the first call. */
  static connect(endpoint: string, opts: CriClientOptions = {}): CriClient {
    const client = new grpc.Client(grpcTarget(endpoint), grpc.credentials.createInsecure(), {
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1_000,
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    });
    return new CriClient(endpoint, client, opts);
  }

  close(): void {
    this.client.close();
  }

  // ---------------------------------------------------------------- plumbing

  private async waitReady(call: string, context: string | undefined): Promise<void> {
    const channel = this.client.getChannel();
    if (channel.getConnectivityState(true) === grpc.connectivityState.READY) return;
    await new Promise<void>((resolve, reject) => {
      this.client.waitForReady(Date.now() + this.connectTimeoutMs, (err) => {
        if (!err) return resolve();
        reject(new CriError(call, GrpcStatus.UNAVAILABLE,
          `runtime not reachable at ${this.endpoint} within ${this.connectTimeoutMs} ms`, context, { cause: err }));
      });
    });
  }

  private async unary(service: Service, call: string, request: object, context?: string, deadlineMs?: number): Promise<Raw> {
    const started = performance.now();
    const done = (ok: boolean) => this.onCall?.(call, (performance.now() - started) / 1000, ok);
    try {
      await this.waitReady(call, context);
    } catch (err) {
      done(false);
      throw err;
    }
    const m = method(service, call);
    const deadline = Date.now() + (deadlineMs ?? this.timeoutMs);
    return new Promise<Raw>((resolve, reject) => {
      this.client.makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, request, new grpc.Metadata(),
        { deadline }, (err, res) => {
          done(!err);
          if (err) reject(toCriError(call, err, context));
          else resolve(decode.asRecord(res) ?? {});
        });
    });
  }

  private runtime(call: string, request: object, context?: string, deadlineMs?: number): Promise<Raw> {
    return this.unary('RuntimeService', call, request, context, deadlineMs);
  }

  private image(call: string, request: object, context?: string, deadlineMs?: number): Promise<Raw> {
    return this.unary('ImageService', call, request, context, deadlineMs);
  }

  // ---------------------------------------------------------------- runtime

  async version(): Promise<VersionInfo> {
    return decode.versionInfo(await this.runtime('Version', { version: KUBELET_API_VERSION }));
  }

  /** Runtime conditions (RuntimeReady, NetworkReady); `info` only when verbose. */
  async status(verbose = false): Promise<RuntimeStatusResult> {
    return decode.runtimeStatus(await this.runtime('Status', { verbose }));
  }

  async updateRuntimeConfig(podCidr: string): Promise<void> {
    await this.runtime('UpdateRuntimeConfig', { runtimeConfig: { networkConfig: { podCidr } } });
  }

  /** Cgroup driver the runtime uses; UNIMPLEMENTED on containerd 1.6. */
  async runtimeConfig(): Promise<{ cgroupDriver: string }> {
    const res = await this.runtime('RuntimeConfig', {});
    const linux = decode.asRecord(res.linux);
    return { cgroupDriver: typeof linux?.cgroupDriver === 'string' ? linux.cgroupDriver : 'SYSTEMD' };
  }

  // ---------------------------------------------------------------- sandboxes

  /** Creates and starts a pod sandbox (network included); returns its id. */
  async runPodSandbox(config: PodSandboxConfig, runtimeHandler = ''): Promise<string> {
    const context = `pod ${config.metadata.namespace}/${config.metadata.name}`;
    const res = await this.runtime('RunPodSandbox', { config, runtimeHandler }, context, DEADLINES.runPodSandbox);
    if (typeof res.podSandboxId !== 'string' || res.podSandboxId === '') {
      throw new CriError('RunPodSandbox', GrpcStatus.INTERNAL, 'runtime returned no pod_sandbox_id', context);
    }
    return res.podSandboxId;
  }

  /** Stops every container and tears down the network; idempotent. */
  async stopPodSandbox(podSandboxId: string): Promise<void> {
    await this.runtime('StopPodSandbox', { podSandboxId }, `sandbox ${short(podSandboxId)}`, DEADLINES.stopPodSandbox);
  }

  /** Removes the sandbox and its containers; idempotent. */
  async removePodSandbox(podSandboxId: string): Promise<void> {
    await this.runtime('RemovePodSandbox', { podSandboxId }, `sandbox ${short(podSandboxId)}`, DEADLINES.removePodSandbox);
  }

  async podSandboxStatus(podSandboxId: string, verbose = false): Promise<PodSandboxStatusResult> {
    const context = `sandbox ${short(podSandboxId)}`;
    const res = await this.runtime('PodSandboxStatus', { podSandboxId, verbose }, context);
    try {
      return decode.podSandboxStatusResult(res);
    } catch (err) {
      throw new CriError('PodSandboxStatus', GrpcStatus.INTERNAL, (err as Error).message, context);
    }
  }

  async listPodSandbox(filter?: PodSandboxFilter): Promise<PodSandbox[]> {
    const res = await this.runtime('ListPodSandbox', { filter: filter && wrapState(filter) });
    return decode.list(res.items, decode.podSandbox);
  }

  async podSandboxStats(podSandboxId: string): Promise<PodSandboxStats | undefined> {
    const res = await this.runtime('PodSandboxStats', { podSandboxId }, `sandbox ${short(podSandboxId)}`);
    const stats = decode.asRecord(res.stats);
    return stats && decode.podSandboxStats(stats);
  }

  async listPodSandboxStats(filter?: PodSandboxStatsFilter): Promise<PodSandboxStats[]> {
    const res = await this.runtime('ListPodSandboxStats', { filter });
    return decode.list(res.stats, decode.podSandboxStats);
  }

  async portForward(podSandboxId: string, ports: number[]): Promise<StreamingUrl> {
    const res = await this.runtime('PortForward', { podSandboxId, port: ports }, `sandbox ${short(podSandboxId)}`);
    return { url: typeof res.url === 'string' ? res.url : '' };
  }

  // ---------------------------------------------------------------- containers

  /** Creates a container in a sandbox; `sandboxConfig` is the one given to runPodSandbox. */
  async createContainer(podSandboxId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig): Promise<string> {
    const pod = sandboxConfig.metadata;
    const context = `container ${config.metadata.name} of pod ${pod.namespace}/${pod.name}`;
    const res = await this.runtime('CreateContainer', { podSandboxId, config, sandboxConfig }, context);
    if (typeof res.containerId !== 'string' || res.containerId === '') {
      throw new CriError('CreateContainer', GrpcStatus.INTERNAL, 'runtime returned no container_id', context);
    }
    return res.containerId;
  }

  async startContainer(containerId: string): Promise<void> {
    await this.runtime('StartContainer', { containerId }, `container ${short(containerId)}`);
  }

  /** Signals the stop signal, then SIGKILL after `timeoutSec` (0 = at once); idempotent. */
  async stopContainer(containerId: string, timeoutSec: number): Promise<void> {
    await this.runtime('StopContainer', { containerId, timeout: timeoutSec }, `container ${short(containerId)}`,
      Math.max(0, timeoutSec) * 1000 + this.timeoutMs);
  }

  /** Removes a container (killing it if running); idempotent. */
  async removeContainer(containerId: string): Promise<void> {
    await this.runtime('RemoveContainer', { containerId }, `container ${short(containerId)}`);
  }

  async listContainers(filter?: ContainerFilter): Promise<Container[]> {
    const res = await this.runtime('ListContainers', { filter: filter && wrapState(filter) });
    return decode.list(res.containers, decode.container);
  }

  async containerStatus(containerId: string): Promise<ContainerStatus> {
    return (await this.containerStatusVerbose(containerId, false)).status;
  }

  /** ContainerStatus with the runtime's `info` map (JSON strings: pid, runtimeSpec...). */
  async containerStatusVerbose(containerId: string, verbose = true): Promise<ContainerStatusResult> {
    const context = `container ${short(containerId)}`;
    const res = await this.runtime('ContainerStatus', { containerId, verbose }, context);
    try {
      return decode.containerStatusResult(res);
    } catch (err) {
      throw new CriError('ContainerStatus', GrpcStatus.INTERNAL, (err as Error).message, context);
    }
  }

  async updateContainerResources(containerId: string, linux: LinuxContainerResources, annotations?: Record<string, string>): Promise<void> {
    await this.runtime('UpdateContainerResources', { containerId, linux, annotations }, `container ${short(containerId)}`);
  }

  /** Asks the runtime to reopen the container's log file (after rotation). */
  async reopenContainerLog(containerId: string): Promise<void> {
    await this.runtime('ReopenContainerLog', { containerId }, `container ${short(containerId)}`);
  }

  /** Runs `cmd` in the container and waits; the runtime kills it after `timeoutSec` (0 = never). */
  async execSync(containerId: string, cmd: string[], timeoutSec: number): Promise<ExecSyncResult> {
    const deadline = (timeoutSec > 0 ? timeoutSec * 1000 : this.timeoutMs) + DEADLINES.margin;
    const res = await this.runtime('ExecSync', { containerId, cmd, timeout: timeoutSec }, `container ${short(containerId)}`, deadline);
    return {
      stdout: Buffer.isBuffer(res.stdout) ? res.stdout : Buffer.alloc(0),
      stderr: Buffer.isBuffer(res.stderr) ? res.stderr : Buffer.alloc(0),
      exitCode: decode.num(res.exitCode),
    };
  }

  /** Prepares a streaming exec; returns the runtime's streaming-server URL. */
  async exec(req: ExecRequest): Promise<StreamingUrl> {
    const res = await this.runtime('Exec', req, `container ${short(req.containerId)}`);
    return { url: typeof res.url === 'string' ? res.url : '' };
  }

  async attach(req: AttachRequest): Promise<StreamingUrl> {
    const res = await this.runtime('Attach', req, `container ${short(req.containerId)}`);
    return { url: typeof res.url === 'string' ? res.url : '' };
  }

  async containerStats(containerId: string): Promise<ContainerStats | undefined> {
    const res = await this.runtime('ContainerStats', { containerId }, `container ${short(containerId)}`);
    const stats = decode.asRecord(res.stats);
    return stats && decode.containerStats(stats);
  }

  async listContainerStats(filter?: ContainerStatsFilter): Promise<ContainerStats[]> {
    const res = await this.runtime('ListContainerStats', { filter });
    return decode.list(res.stats, decode.containerStats);
  }

  /**
   * Container lifecycle events. containerd 1.6 answers UNIMPLEMENTED (the iterator
   * throws a CriError; see isUnimplemented) so callers fall back to relisting.
   * Ends quietly when `signal` aborts.
   */
  async *containerEvents(signal?: AbortSignal): AsyncGenerator<ContainerEvent> {
    await this.waitReady('GetContainerEvents', undefined);
    const m = method('RuntimeService', 'GetContainerEvents');
    const stream = this.client.makeServerStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, {}, new grpc.Metadata());
    const cancel = (): void => stream.cancel();
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      for await (const msg of stream as AsyncIterable<unknown>) {
        yield decode.containerEvent(decode.asRecord(msg) ?? {});
      }
    } catch (err) {
      if (signal?.aborted) return;
      throw toCriError('GetContainerEvents', err, undefined);
    } finally {
      signal?.removeEventListener('abort', cancel);
      stream.cancel();
    }
  }

  // ---------------------------------------------------------------- images

  async listImages(filter?: string): Promise<Image[]> {
    const res = await this.image('ListImages', { filter: filter ? { image: { image: filter } } : undefined });
    return decode.list(res.images, decode.image);
  }

  /** The image, or undefined when it is not present. */
  async imageStatus(image: string): Promise<Image | undefined> {
    const res = await this.image('ImageStatus', { image: { image } }, `image ${image}`);
    const img = decode.asRecord(res.image);
    return img && decode.image(img);
  }

  /** Pulls an image; returns its image_ref (the image id). */
  async pullImage(image: string, sandboxConfig?: PodSandboxConfig, auth?: AuthConfig): Promise<string> {
    const res = await this.image('PullImage', { image: { image }, auth, sandboxConfig }, `image ${image}`, DEADLINES.pullImage);
    return typeof res.imageRef === 'string' ? res.imageRef : '';
  }

  /** Removes an image; idempotent. */
  async removeImage(image: string): Promise<void> {
    await this.image('RemoveImage', { image: { image } }, `image ${image}`);
  }

  async imageFsInfo(): Promise<ImageFsInfo> {
    return decode.imageFsInfo(await this.image('ImageFsInfo', {}));
  }
}

/** Filters take a bare state; the wire wants it wrapped ({state: {state}}) so "unset" differs from 0. */
function wrapState<F extends { state?: string }>(filter: F): Omit<F, 'state'> & { state?: { state: string } } {
  const { state, ...rest } = filter;
  return state === undefined ? rest : { ...rest, state: { state } };
}
