// Image handling as kubelet does it: imagePullPolicy decides whether to pull; a failed
// pull is ErrImagePull, and while its back-off runs the container waits in
// ImagePullBackOff.
import type { CriClient } from '../cri/client.js';
import { errorMessage } from '../util/errors.js';
import { Backoff } from './backoff.js';

export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';

export class ImagePullError extends Error {
  override name = 'ImagePullError';
  constructor(readonly reason: 'ErrImagePull' | 'ImagePullBackOff' | 'ErrImageNeverPull', message: string) {
    super(message);
  }
}

export class ImageManager {
  private readonly backoff = new Backoff();

  constructor(private readonly cri: CriClient) {}

  /** Returns the image reference to run; throws ImagePullError with kubelet's reasons. */
  async ensure(image: string, policy: PullPolicy, podRef: string): Promise<string> {
    const present = await this.cri.imageStatus(image);
    if (present && policy !== 'Always') return present.id;
    if (policy === 'Never') {
      throw new ImagePullError('ErrImageNeverPull', `Container image "${image}" is not present with pull policy of Never`);
    }
    const key = `${podRef}/${image}`;
    const wait = this.backoff.remaining(key);
    if (wait > 0) throw new ImagePullError('ImagePullBackOff', `Back-off pulling image "${image}"`);
    try {
      const ref = await this.cri.pullImage(image);
      this.backoff.reset(key);
      return ref;
    } catch (err) {
      this.backoff.failed(key);
      throw new ImagePullError('ErrImagePull', `Failed to pull image "${image}": ${errorMessage(err)}`);
    }
  }
}
