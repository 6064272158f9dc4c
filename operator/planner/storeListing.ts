// Where the planner gets each side's listing from: an S3 store is listed by
// the operator itself; a filesystem store lives on a volume only that side's
// worker pods mount, so one of them lists it (workerListing.ts, ADR 0005).
import type * as k8s from '@kubernetes/client-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { workerTokenKey, workerTokenSecretName, type WorkerRole } from '../../api/names.ts';
import type { ReplicationJob, Store } from '../../api/v1alpha1/index.ts';
import type { Logger } from '../../common/logging.ts';
import { openObjectStore } from '../../storage/index.ts';
import { StorageError, type ObjectStore } from '../../storage/objectStore.ts';
import { settleWithChecksums, type ChecksumsOnRequest } from './checksumsOnDemand.ts';
import { RecordedChecksums } from './recordedChecksums.ts';
import { mergeListings, type KeyDecision } from './listingMerge.ts';
import { StoresOverlapError } from './storeOverlap.ts';
import { ListingError, WorkerListing } from './workerListing.ts';

/** What the planner needs of a store: its sorted listing (ObjectStore.list's contract). */
export type StoreListing = Pick<ObjectStore, 'description' | 'list' | 'close'>;

export interface StoreListingContext {
  core: k8s.CoreV1Api;
  nats: () => Promise<NatsConnection>;
  /** Stops a listing that waits for its worker. */
  signal?: AbortSignal;
  log?: Logger;
}

async function secretValue(core: k8s.CoreV1Api, namespace: string, name: string, key: string) {
  const secret = await core.readNamespacedSecret({ name, namespace });
  const raw = secret.data?.[key];
  if (!raw) throw new Error(`Secret ${namespace}/${name} has no key ${key}`);
  return Buffer.from(raw, 'base64').toString('utf8');
}

/**
 * An S3 store the operator reaches itself (to list it, or to abort the uploads
 * a deleted job left open), with the job's credentials and CA bundle.
 */
export async function openS3Store(
  namespace: string,
  spec: NonNullable<Store['s3']>,
  core: k8s.CoreV1Api,
): Promise<ObjectStore> {
  const ref = spec.credentialsSecretRef;
  const value = (key: string) => secretValue(core, namespace, ref.name, key);
  const { credentialsSecretRef: _c, caBundleSecretRef: caRef, ...s3 } = spec;
  // The workers mount the CA Secret; the operator reads it.
  const caBundle = caRef ? await secretValue(core, namespace, caRef.name, caRef.key ?? 'ca.crt') : undefined;
  return openObjectStore(
    { s3: { ...s3, forcePathStyle: s3.forcePathStyle ?? true, ...(caBundle ? { caBundle } : {}) } },
    {
      accessKeyId: await value(ref.accessKeyIdKey ?? 'AWS_ACCESS_KEY_ID'),
      secretAccessKey: await value(ref.secretAccessKeyKey ?? 'AWS_SECRET_ACCESS_KEY'),
    },
  );
}

/** The listing of the job's `role` side. */
export async function openStoreListing(
  job: ReplicationJob,
  role: WorkerRole,
  context: StoreListingContext,
): Promise<StoreListing> {
  const namespace = job.metadata!.namespace!;
  const store: Store = role === 'source' ? job.spec.source : job.spec.destination;
  if (store.filesystem) {
    const { claimName, path = '/' } = store.filesystem;
    return new WorkerListing({
      nats: context.nats,
      jobUid: job.metadata!.uid!,
      role,
      token: await secretValue(
        context.core,
        namespace,
        workerTokenSecretName(job.metadata!.name!),
        workerTokenKey,
      ),
      description: `filesystem store ${claimName}:${path}`,
      signal: context.signal,
      log: context.log,
    });
  }
  return openS3Store(namespace, store.s3!, context.core);
}

/**
 * The merged listings of both sides, one decision per key. Both are listed
 * without checksums; a checksum is asked for only when a decision needs it
 * (checksumsOnDemand.ts): from the worker, which hashes the file, for a
 * worker-listed side; with a HEAD for the recorded one on an S3 side
 * (recordedChecksums.ts).
 */
export function mergeStoreListings(
  source: StoreListing,
  destination: StoreListing,
  /** Where each listing resumes (a plan checkpoint): keys after these. */
  from: { sourceAfter?: string; destinationAfter?: string } = {},
): AsyncIterable<KeyDecision> {
  const onRequest = (side: StoreListing): ChecksumsOnRequest | undefined =>
    side instanceof WorkerListing
      ? side
      : 'stat' in side
        ? new RecordedChecksums(side as ObjectStore)
        : undefined;
  const listing = (side: StoreListing, after: string | undefined) =>
    side.list('', after, { checksums: !onRequest(side) });
  const merged = mergeListings(
    listing(source, from.sourceAfter),
    listing(destination, from.destinationAfter),
  );
  return settleWithChecksums(merged, {
    source: onRequest(source),
    destination: onRequest(destination),
  });
}

/**
 * The job's failure when planning stopped on `err` and trying again cannot
 * help (overlapping stores, a permanent listing or storage error); undefined when it may.
 */
export function listingFailure(err: unknown): { reason: string; message: string } | undefined {
  if (err instanceof StoresOverlapError) return { reason: err.reason, message: err.message };
  if ((err instanceof ListingError || err instanceof StorageError) && err.kind === 'permanent')
    return { reason: 'ListingFailed', message: `listing failed: ${err.message}` };
  return undefined;
}
