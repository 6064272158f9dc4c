// The listing contract between the operator (the client, operator/planner/
// workerListing.ts) and a worker (the server, worker/listing/): how the
// operator lists a store only that side's worker pods can reach (a filesystem
// store on their volume). See docs/adr/0005.
//
//   GET /v1/listing?prefix=<p>&startAfter=<key>&limit=<n>&checksums=1
//     Authorization: Bearer <job token>
//   → 200 ListingPage: the objects whose key starts with `prefix` and is
//     greater than `startAfter` (UTF-8 bytes), in strictly increasing UTF-8 byte
//     order, at most `limit` (≤ maxListingPageObjects, fewer when the page's
//     objects to hash reach maxListingPageHashBytes); `complete` is true when no
//     object follows the page's last one. The next page is asked for with
//     startAfter = the last key received; an empty page is always complete.
//     With checksums=1 each object carries the SHA-256 of its content.
//
//   POST /v1/checksums   { "keys": [<key>, …] }   (at most maxChecksumKeys)
//     Authorization: Bearer <job token>
//   → 200 { "objects": [ListedObject with sha256, …] }: the SHA-256 of each
//     key's content, in the order asked; a key that does not exist (any more)
//     is left out. The planner asks only for the objects whose equality it
//     cannot decide otherwise (same key and size on both sides), so a first
//     copy reads nothing twice.
//
// Errors are the transfer protocol's JSON `{ "error": { kind, code, message } }`
// (worker/transfer/protocol.ts): 401 Unauthorized, 400 BadRequest/InvalidKey,
// 404 NoSuchPath (the source path does not exist), 500 permanent and 503
// retryable storage errors.
import type { WorkerRole } from './names.ts';

export const listingPath = '/v1/listing';
export const maxListingPageObjects = 1000;
/** A page stops growing once its objects to hash add up to this many bytes. */
export const maxListingPageHashBytes = 256 * 1024 * 1024;

/**
 * GET nameFoldingPath (job token) → 200 NameFoldingAnswer: whether the side's
 * filesystem volume stores two keys differing only in case, or in NFC vs NFD,
 * as one file (storage/filesystemNameFolding.ts; probed once per worker).
 */
export const nameFoldingPath = '/v1/name-folding';

export interface NameFoldingAnswer {
  foldsCase: boolean;
  foldsNormalisation: boolean;
}

export const checksumsPath = '/v1/checksums';
export const maxChecksumKeys = 1000;

export interface ChecksumsRequest {
  keys: string[];
}

export interface ChecksumsResponse {
  objects: ListedObject[];
}

export interface ListedObject {
  key: string;
  size: number;
  /** RFC 3339. */
  lastModified: string;
  /** Lowercase hex, when asked for (or recorded by the store). */
  sha256?: string;
  /** The S3 ETag, when the store has one. */
  etag?: string;
  /** The store's identity of this version of the object (ObjectInfo.version: a file's inode, size, mtime, ctime). */
  version?: string;
}

export interface ListingPage {
  objects: ListedObject[];
  complete: boolean;
}

/** NATS KV bucket where every worker announces its listing endpoint (both roles). */
export const listingEndpointsBucket = 'ferry-listing-endpoints';

/** A worker's entry in the bucket; `${jobUid}.${role}.>` selects a side's workers. */
export function listingEndpointKey(jobUid: string, role: WorkerRole, podName: string): string {
  return `${jobUid}.${role}.${podName}`;
}
