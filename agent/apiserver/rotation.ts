// Client certificate rotation, as kubelet's certificate manager does it: at a
// jittered 70-84% of the certificate's lifetime, ask for a new one with a new
// key (authenticating with the current certificate), write key and certificate
// files, and switch the client to them.
import type { Logger } from 'pino';
import type { ApiClient } from './client.js';
import { requestNodeCertificate } from './certificates.js';
import { writeAtomic } from './join.js';
import { Backoff, sleep } from './retry.js';
import { certificateValidity } from './x509.js';

export interface RotationOptions {
  nodeName: string;
  log?: Logger;
  /** fraction of the lifetime at which to renew; default kubelet's 0.7 × (1 + 0.2 × random) */
  deadlineFraction?: () => number;
  csrTimeoutMs?: number;
  onRotated?: (notAfter: Date) => void;
}

const DAY = 86_400_000;

/** When to renew a certificate valid from notBefore to notAfter. */
export function rotationDeadline(v: { notBefore: Date; notAfter: Date }, fraction: number): Date {
  return new Date(v.notBefore.getTime() + (v.notAfter.getTime() - v.notBefore.getTime()) * fraction);
}

export class CertificateRotator {
  rotations = 0;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(private readonly client: ApiClient, private readonly o: RotationOptions) {}

  start(): void {
    const a = this.client.credentials;
    if (!a.certPem || !a.certFile || !a.keyFile) {
      this.o.log?.info('client certificate is not in files; rotation off');
      return;
    }
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    const backoff = new Backoff(1000, 5 * 60_000);
    while (!signal.aborted) {
      const validity = certificateValidity(this.client.credentials.certPem!);
      const fraction = this.o.deadlineFraction?.() ?? 0.7 * (1 + 0.2 * Math.random());
      const deadline = rotationDeadline(validity, fraction);
      this.o.log?.info({ notAfter: validity.notAfter, rotateAt: deadline }, 'client certificate rotation scheduled');
      // setTimeout holds at most ~24.8 days: wait in steps.
      while (!signal.aborted && Date.now() < deadline.getTime()) await sleep(Math.min(deadline.getTime() - Date.now(), DAY), signal);
      while (!signal.aborted) {
        try {
          await this.rotate(signal);
          backoff.reset();
          break;
        } catch (err) {
          if (signal.aborted) return;
          const delay = backoff.next();
          this.o.log?.error({ err: (err as Error).message, retryInMs: delay }, 'client certificate rotation failed');
          await sleep(delay, signal);
        }
      }
    }
  }

  /** Gets a new certificate now and switches to it. */
  async rotate(signal?: AbortSignal): Promise<void> {
    const access = this.client.credentials;
    const { certPem, keyPem, csrName } = await requestNodeCertificate(this.client, {
      nodeName: this.o.nodeName,
      timeoutMs: this.o.csrTimeoutMs ?? 15 * 60_000,
      ...(signal ? { signal } : {}),
    });
    // Key first: a crash between the two renames leaves the old certificate with a key it does not match,
    // which loadKubeconfig users see at once, rather than a silently wrong pair later.
    await writeAtomic(access.keyFile!, keyPem, 0o600);
    await writeAtomic(access.certFile!, certPem, 0o644);
    this.client.setAccess({ ...access, certPem, keyPem });
    this.rotations++;
    const { notAfter } = certificateValidity(certPem);
    this.o.log?.info({ csr: csrName, notAfter }, 'client certificate rotated');
    this.o.onRotated?.(notAfter);
  }
}
