// The HTTP contract between a source worker (the client, destinationClient.ts)
// and a destination worker (the server, destinationEndpoint.ts) of a copy task.
//
//   PUT /v1/objects?key=<urlencoded key>
//     Authorization: Bearer <job token>
//     Content-Length: <size>                (or, for a chunked body, x-ferry-size: <size>)
//     x-ferry-sha256: <hex>                 (optional: the source's SHA-256, when known up front)
//     body: the object's bytes
//     trailer x-ferry-sha256: <hex>         (a chunked body's: the SHA-256 the source computed
//                                           while sending; required when `Trailer` announces it)
//   → 201 { "sha256": "<hex of the bytes stored>", "size": <n> }
//
//   A source sends an object over trailerMinBytes chunked, with its SHA-256 as
//   the trailer: the destination then checks the bytes against the source's
//   own hash without computing a second one when its store's server checks it
//   (S3, which refuses a mismatching upload before committing it).
//
//   DELETE /v1/objects?key=<urlencoded key>
//     Authorization: Bearer <job token>
//   → 204 (also when the object does not exist)
//
// A large object travels as parts (copyPart tasks; see partEndpoint.ts), each
// possibly from a different source worker to a different destination worker:
//
//   PUT /v1/parts?key=<key>&part=<n>&parts=<count>
//     Authorization, Content-Length as above
//     x-ferry-object-size: <size of the whole object>
//     x-ferry-object-sha256: <hex>          (optional: the whole object's SHA-256, when planned)
//     x-ferry-source-version: <urlencoded>  (optional: the source version the part was read from;
//                                           a part of another version than the upload's starts
//                                           the upload over for it, docs/adr/0033)
//     body: the part's bytes
//   → 201 { "sha256", "size", "completed", "copiesAll"? }  the part is stored (or the object is
//     already complete); copiesAll: this part's task restarted the upload, so it sends every part
//
//   POST /v1/parts/complete?key=<key>&part=<n>&parts=<count>
//     x-ferry-object-size: <size>
//   → 200 { "completed": true|false, "completedBy": <part>, "missing": <parts not stored yet> }
//     Completes the object when every part is stored. A source worker calls it
//     after checking its part's SHA-256, so whichever worker stores the last
//     part makes the object visible.
//
// The destination writes through ObjectStore.write: atomically, verifying the
// size (Content-Length) and, when given, the SHA-256. A body cut short (the
// client disconnected) leaves nothing visible.
//
// Errors are JSON `{ "error": { "kind", "code", "message" } }`:
//   401 permanent  Unauthorized      missing or wrong token
//   400 permanent  InvalidKey / BadRequest / InvalidArgument / MissingChecksum
//                                   bad key, missing Content-Length, malformed x-ferry-sha256,
//                                   a trailer announced but missing or malformed
//   409 retryable  ChecksumMismatch / SizeMismatch
//                                   the body did not match its checksum or length; nothing written
//   503 retryable  <store code>     a retryable storage error (network, throttling, 5xx…)
//   500 permanent  <store code>     a permanent storage error (denied, missing bucket…)
//   404 permanent  NotFound         any other path (so a mis-addressed client fails loudly)
//   405 permanent  MethodNotAllowed any other method on /v1/objects
import type { TransferErrorKind } from '../../api/errorBody.ts';

export const objectsPath = '/v1/objects';
export const partsPath = '/v1/parts';
export const completePath = '/v1/parts/complete';
export const sha256Header = 'x-ferry-sha256';
/** The size of a chunked body (which has no Content-Length). */
export const sizeHeader = 'x-ferry-size';
/**
 * Objects at least this big go chunked with their SHA-256 as a trailer: the
 * smallest size an S3 destination streams rather than buffers
 * (s3Store.ts bufferedWriteMaxBytes + 1; a unit test keeps the two in step).
 * Below it the store hashes the buffered bytes anyway (to sign them), and the
 * framing would cost more than it saves.
 */
export const trailerMinBytes = 256 * 1024 + 1;
export const objectSizeHeader = 'x-ferry-object-size';
export const objectSha256Header = 'x-ferry-object-sha256';
export const sourceVersionHeader = 'x-ferry-source-version';

export interface PutResult {
  sha256: string;
  size: number;
}

export interface PartPutResult extends PutResult {
  /** The object is already complete (a late, re-delivered part): nothing was stored. */
  completed: boolean;
  /** This part's task restarted the upload for a new source version: it sends the other parts too (ADR 0033). */
  copiesAll?: boolean;
}

export interface CompleteResult {
  completed: boolean;
  /** The part whose request completed the object (when completed). */
  completedBy?: number;
  /** Part numbers not stored yet (when not completed). */
  missing: number[];
}

/** What identifies one part of a large object on the wire. */
export interface PartAddress {
  key: string;
  partNumber: number;
  partCount: number;
  objectSize: number;
  objectSha256?: string;
  /** The source version the part is read from (ObjectInfo.version). */
  sourceVersion?: string;
}

/** A failed transfer (from an error response, the network, or the source side). */
export class TransferError extends Error {
  readonly kind: TransferErrorKind;
  readonly code: string;
  /** The HTTP status of the response, when there was one. */
  readonly status: number | undefined;

  constructor(
    kind: TransferErrorKind,
    code: string,
    message: string,
    options?: { status?: number; cause?: unknown },
  ) {
    super(message, { cause: options?.cause });
    this.name = 'TransferError';
    this.kind = kind;
    this.code = code;
    this.status = options?.status;
  }
}

/** The path (with query) addressing `key`. */
export function objectPath(key: string): string {
  return `${objectsPath}?key=${encodeURIComponent(key)}`;
}

/** The path (with query) addressing one part of `key`. */
export function partPath(part: PartAddress): string {
  return `${partsPath}?key=${encodeURIComponent(part.key)}&part=${part.partNumber}&parts=${part.partCount}`;
}

/** The path (with query) completing `key` once its parts are stored. */
export function completionPath(part: PartAddress): string {
  return `${completePath}?key=${encodeURIComponent(part.key)}&part=${part.partNumber}&parts=${part.partCount}`;
}
