// How source workers find the destination workers of their job, among those
// announced in NATS KV (api/announcements.ts).
import type { NatsConnection } from '@nats-io/transport-node';
import { announcedUrls, announcementTtlMs } from '../api/announcements.ts';
import { endpointsBucket } from '../api/tasks.ts';

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
      throw new Error(`no reachable destination worker of job ${this.jobUid} is announced yet`);
    return urls[this.next++ % urls.length]!;
  }

  /** `url` refused a connection: its worker is gone; pass it over, and look for a new one. */
  refusedConnection(url: string): void {
    this.refused.set(url, Date.now() + announcementTtlMs);
    this.cached = undefined;
  }
}
