// The NATS access the operator passes on to worker pods, kept current while it
// runs: the kubelet swaps a rotated certificate's files under the running
// operator, and worker Secrets must follow. The files are re-read on a timer;
// a change is taken only when it is whole (the same on two reads in a row, a
// client key that belongs to its certificate), else the last good access is
// kept and the reason logged. See ADR 0016.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from '../../common/logging.ts';
import type { NatsAuth } from '../../common/natsAuth.ts';
import { workerNatsSecretData } from './workerNatsAccess.ts';

type Access = Readonly<Record<string, string>>;

/** Why a worker Secret's NATS entries cannot be used: a client certificate and key that are not a pair. */
export function natsAccessDefect(access: Access): string | undefined {
  const cert = access['nats-client.crt'];
  const key = access['nats-client.key'];
  if (cert === undefined || key === undefined) return undefined;
  try {
    return new X509Certificate(cert).checkPrivateKey(createPrivateKey(key))
      ? undefined
      : 'the client key does not belong to the client certificate';
  } catch (err) {
    return `the client certificate or key cannot be parsed: ${(err as Error).message}`;
  }
}

export class LiveNatsAccess {
  private access: Access;
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners: Array<() => void> = [];
  private readonly auth: NatsAuth;
  private readonly log: Logger;

  private constructor(auth: NatsAuth, initial: Access, log: Logger) {
    this.auth = auth;
    this.access = initial;
    this.log = log;
  }

  /** Reads the files now; a file that cannot be read is a configuration error, as at any start-up. */
  static async load(auth: NatsAuth, log: Logger): Promise<LiveNatsAccess> {
    return new LiveNatsAccess(auth, await workerNatsSecretData(auth), log);
  }

  /** What worker Secrets should hold now. */
  get current(): Access {
    return this.access;
  }

  /** Calls `listener` after each change taken. */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** Re-reads every `intervalMs` until stopped. */
  start(intervalMs: number): void {
    this.stop();
    const tick = () => {
      this.timer = setTimeout(() => void this.refresh().finally(() => this.timer && tick()), intervalMs);
      this.timer.unref();
    };
    tick();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Reads the files and takes what they hold if it is whole and new; says whether it changed. */
  async refresh(): Promise<boolean> {
    let first: Access;
    let second: Access;
    try {
      first = await workerNatsSecretData(this.auth);
      second = await workerNatsSecretData(this.auth);
    } catch (err) {
      this.log.warn('cannot re-read the NATS access files; worker pods keep the last good access', {
        error: (err as Error).message,
      });
      return false;
    }
    if (isDeepStrictEqual(second, this.access)) return false;
    if (!isDeepStrictEqual(first, second)) return false; // caught mid-swap: the next round sees it whole
    const defect = natsAccessDefect(second);
    if (defect) {
      this.log.warn('the NATS access files changed but cannot be used yet; keeping the last good access', {
        reason: defect,
      });
      return false;
    }
    const changed = Object.keys({ ...this.access, ...second }).filter((k) => this.access[k] !== second[k]);
    this.access = second;
    this.log.info('the NATS access files changed; running jobs get the new access', { changed });
    for (const listener of this.listeners) listener();
    return true;
  }
}
