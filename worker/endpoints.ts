// How source workers find the destination workers of their job: each
// destination worker announces its object endpoint in a NATS KV bucket under
// `<jobUid>.<podName>`, refreshed well within the bucket's TTL, so an entry of
// a pod that died expires on its own. Source workers pick among the live ones.
// Every worker (both roles) also announces its listing endpoint, the same way,
// for the operator (api/listing.ts).
import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm, type KV } from '@nats-io/kv';
import { endpointsBucket } from '../api/tasks.ts';
import { listingEndpointKey, listingEndpointsBucket } from '../api/listing.ts';
import type { WorkerRole } from '../api/names.ts';

const ttlMs = 30_000;

async function bucket(nc: NatsConnection, name = endpointsBucket): Promise<KV> {
  return new Kvm(nc).create(name, { ttl: ttlMs, history: 1 });
}

/** Announces `url` until the returned stop function is called (which withdraws it). */
export async function announceDestination(
  nc: NatsConnection,
  jobUid: string,
  podName: string,
  url: string,
): Promise<() => Promise<void>> {
  return announce(await bucket(nc), `${jobUid}.${podName}`, url);
}

/** Announces a worker's listing endpoint (either role) until the returned function withdraws it. */
export async function announceListing(
  nc: NatsConnection,
  jobUid: string,
  role: WorkerRole,
  podName: string,
  url: string,
): Promise<() => Promise<void>> {
  return announce(await bucket(nc, listingEndpointsBucket), listingEndpointKey(jobUid, role, podName), url);
}

/** The URLs announced in bucket `name` under keys matching `filter` (NATS subject wildcards), sorted. */
export async function announcedUrls(nc: NatsConnection, name: string, filter: string): Promise<string[]> {
  const kv = await bucket(nc, name);
  const urls: string[] = [];
  for await (const key of await kv.keys(filter)) {
    const entry = await kv.get(key);
    if (entry && entry.operation === 'PUT') urls.push(entry.string());
  }
  return urls.sort();
}

async function announce(kv: KV, key: string, url: string): Promise<() => Promise<void>> {
  await kv.put(key, url);
  const timer = setInterval(() => void kv.put(key, url).catch(() => {}), ttlMs / 3);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await kv.delete(key);
  };
}

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
    this.refused.set(url, Date.now() + ttlMs);
    this.cached = undefined;
  }
}
