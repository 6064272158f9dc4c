// How source workers find the destination workers of their job, among those
// announced in NATS KV (api/announcements.ts).
import type { NatsConnection } from '@nats-io/transport-node';
import { announcedUrls, announcementTtlMs } from '../api/announcements.ts';
import { endpointsBucket } from '../api/tasks.ts';
import { backoffDelay, type Backoff } from '../common/backoff.ts';

/** No destination worker of the job is announced (or reachable) now. */
export class NoDestinationError extends Error {}

/** How a source worker waits for a destination to be announced: re-read at these intervals. */
const announcementWait: Backoff = { initialMs: 250, maxMs: 5_000 };

/**
 * The job's announced destination endpoints, read afresh at most every
 * `cacheMs`. An endpoint that refused a connection is passed over until its
 * announcement could have expired: a destination pod that was killed cannot
 * withdraw it, and tasks sent to it would only fail.
 */
export class DestinationDirectory {
  private readonly nc: NatsConnection;
  private readonly jobUid: string;
  private readonly cacheMs: number;
  private cached: { at: number; urls: string[] } | undefined;
  private readonly refused = new Map<string, number>();
  private next = 0;

  constructor(nc: NatsConnection, jobUid: string, cacheMs = 5_000) {
    this.nc = nc;
    this.jobUid = jobUid;
    this.cacheMs = cacheMs;
  }

  /** One endpoint, round robin; throws when no destination worker is announced (and reachable). */
  async pick(): Promise<string> {
    if (!this.cached || Date.now() - this.cached.at > this.cacheMs || this.cached.urls.length === 0) {
      const urls = await announcedUrls(this.nc, endpointsBucket, `${this.jobUid}.*`);
      this.cached = { at: Date.now(), urls };
    }
    for (const [url, until] of this.refused) if (until <= Date.now()) this.refused.delete(url);
    const urls = this.cached.urls.filter((u) => !this.refused.has(u));
    if (urls.length === 0)
      throw new NoDestinationError(`no reachable destination worker of job ${this.jobUid} is announced yet`);
    return urls[this.next++ % urls.length]!;
  }

  /**
   * One endpoint, waiting up to `maxWaitMs` (re-reading the announcements with
   * back-off) while none is announced: a destination pod being replaced is
   * back in seconds, and a task handed back meanwhile would only spin through
   * the queue's deliveries. `waiting` is told on every re-read (the task is
   * still alive); throws NoDestinationError when the wait is over.
   */
  async pickWaiting(maxWaitMs: number, waiting: () => void = () => {}): Promise<string> {
    const giveUpAt = Date.now() + maxWaitMs;
    for (let retry = 1; ; retry++) {
      try {
        return await this.pick();
      } catch (err) {
        if (!(err instanceof NoDestinationError) || Date.now() >= giveUpAt) throw err;
      }
      waiting();
      const pause = Math.min(backoffDelay(announcementWait, retry), Math.max(0, giveUpAt - Date.now()));
      await new Promise((r) => setTimeout(r, pause));
      this.cached = undefined;
    }
  }

  /** `url` refused a connection: its worker is gone; pass it over, and look for a new one. */
  refusedConnection(url: string): void {
    this.refused.set(url, Date.now() + announcementTtlMs);
    this.cached = undefined;
  }
}
