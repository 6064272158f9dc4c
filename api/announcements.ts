// Where workers' endpoints are announced: each destination worker announces
// its object endpoint in a NATS KV bucket under `<jobUid>.<podName>`, refreshed
// well within the bucket's TTL, so an entry of a pod that died expires on its
// own. Every worker (both roles) also announces its listing endpoint, the same
// way, for the operator (api/listing.ts). Workers announce; source workers
// (worker/endpoints.ts) and the operator (operator/planner/workerListing.ts) read.
import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm, type KV } from '@nats-io/kv';
import { endpointsBucket } from './tasks.ts';
import { listingEndpointKey, listingEndpointsBucket } from './listing.ts';
import type { WorkerRole } from './names.ts';

/** How long an announcement outlives its last refresh (a dead worker's, at most). */
export const announcementTtlMs = 30_000;

async function bucket(nc: NatsConnection, name = endpointsBucket): Promise<KV> {
  return new Kvm(nc).create(name, { ttl: announcementTtlMs, history: 1 });
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
  const timer = setInterval(() => void kv.put(key, url).catch(() => {}), announcementTtlMs / 3);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await kv.delete(key);
  };
}
