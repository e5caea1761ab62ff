// Image handling as kubelet does it: imagePullPolicy decides whether to pull; a failed
// pull is ErrImagePull, and while its back-off runs the container waits in
// ImagePullBackOff.
import type { CriClient } from '../cri/client.js';
import { errorMessage } from '../util/errors.js';
import { Backoff } from './backoff.js';
import { Reason, type EventType } from './events.js';

export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';

export class ImagePullError extends Error {
  override name = 'ImagePullError';
  constructor(readonly reason: 'ErrImagePull' | 'ImagePullBackOff' | 'ErrImageNeverPull', message: string) {
    super(message);
  }
}

/** Receives the image events of one lookup (kubelet's Pulling, Pulled, Failed, BackOff, ErrImageNeverPull). */
export type ImageEventSink = (type: EventType, reason: string, message: string) => void;

export class ImageManager {
  private readonly backoff = new Backoff();
  /** ImageStatus calls in flight: pods starting together that use one image share one. */
  private readonly lookups = new Map<string, ReturnType<CriClient['imageStatus']>>();

  constructor(private readonly cri: CriClient) {}

  private status(image: string): ReturnType<CriClient['imageStatus']> {
    let p = this.lookups.get(image);
    if (!p) {
      p = this.cri.imageStatus(image).finally(() => this.lookups.delete(image));
      this.lookups.set(image, p);
    }
    return p;
  }

  /** Returns the image reference to run; throws ImagePullError with kubelet's reasons. */
  async ensure(image: string, policy: PullPolicy, podRef: string, report: ImageEventSink = () => undefined): Promise<string> {
    const present = await this.status(image);
    if (present && policy !== 'Always') {
      report('Normal', Reason.pulled, `Container image "${image}" already present on machine`);
      return present.id;
    }
    if (policy === 'Never') {
      const err = new ImagePullError('ErrImageNeverPull', `Container image "${image}" is not present with pull policy of Never`);
      report('Warning', Reason.errImageNeverPull, err.message);
      throw err;
    }
    const key = `${podRef}/${image}`;
    const wait = this.backoff.remaining(key);
    if (wait > 0) {
      const err = new ImagePullError('ImagePullBackOff', `Back-off pulling image "${image}"`);
      report('Normal', Reason.backOff, err.message);
      throw err;
    }
    report('Normal', Reason.pulling, `Pulling image "${image}"`);
    const t0 = Date.now();
    try {
      const ref = await this.cri.pullImage(image);
      this.backoff.reset(key);
      const ms = Date.now() - t0;
      report('Normal', Reason.pulled, `Successfully pulled image "${image}" in ${ms < 1000 ? `${ms}ms` : `${ms / 1000}s`}`);
      return ref;
    } catch (err) {
      this.backoff.failed(key);
      const e = new ImagePullError('ErrImagePull', `Failed to pull image "${image}": ${errorMessage(err)}`);
      report('Warning', Reason.failed, e.message);
      throw e;
    }
  }
}
