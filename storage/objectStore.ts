// The one interface through which the operator (listing) and the workers
// (copying) reach an object store, S3 or a mounted filesystem, and the errors
// every driver throws.
//
// Keys are always relative to the store's configured root (the S3 prefix, or
// the filesystem path under the mount) and are compared as UTF-8 bytes.
import type { Readable } from 'node:stream';

/** A SHA-256 of an object's whole content, as lowercase hex. */
export interface ObjectChecksum {
  algorithm: 'SHA256';
  value: string;
}

export interface ObjectInfo {
  /** The key relative to the store's prefix (S3) or root directory (filesystem). */
  key: string;
  size: number;
  /** The S3 ETag without quotes; absent for the filesystem. Not a content hash for multipart objects. */
  etag?: string;
  lastModified: Date;
  /**
   * The SHA-256 of the whole object, when the store knows it: from the
   * `ferry-sha256` user metadata Ferry records on S3 writes (or S3's own
   * full-object SHA-256, when present). Always absent for the filesystem driver,
   * which keeps no checksums (see filesystemStore.ts).
   */
  checksum?: ObjectChecksum;
  /** User metadata (S3 `stat` only, without Ferry's own `ferry-*` entries). */
  metadata?: Record<string, string>;
  /**
   * What identifies this version of the object: it changes whenever the
   * content may have (S3: the ETag; filesystem: the file's inode, size,
   * mtime and ctime in nanoseconds). Opaque: compare it for equality,
   * and only with what the same store reported; `read` can be pinned to it.
   */
  version?: string;
}

/** Options of `read`. */
export interface ReadOptions {
  /**
   * Read only this version of the object (ObjectInfo.version): the read fails
   * with {@link ObjectChangedError} when the store holds another. S3 sends
   * `If-Match`; the filesystem compares the file's identity when opening it.
   */
  version?: string;
}

/** An inclusive byte range, as in HTTP `Range: bytes=start-end`. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface ListOptions {
  /**
   * S3 only: also fetch each object's `ferry-sha256` metadata (one HEAD per
   * object, a few at a time, order kept). ListObjectsV2 does not return user
   * metadata, so without this `checksum` is absent from S3 listings. Ignored by
   * the filesystem driver.
   */
  checksums?: boolean;
}

export interface WriteOptions {
  /** The exact number of bytes the body yields. A body of any other length fails the write. */
  size: number;
  /** The expected SHA-256 (hex) of the body. When the body differs, nothing is written. */
  sha256?: string;
  /**
   * The expected SHA-256 (hex) when it is known only once the body has ended
   * (the trailer of the request that carries it): asked for then, and checked
   * like `sha256`; a body that ends without one writes nothing
   * (MissingChecksumError). Ignored when `sha256` is given.
   */
  trailingSha256?: () => string | undefined;
  /** User metadata (S3 only; ignored by the filesystem driver). Keys are lowercase ASCII. */
  metadata?: Record<string, string>;
}

/** A part's expected SHA-256: up front, or once its body has ended (see WriteOptions). */
export type PartWriteOptions = Pick<WriteOptions, 'sha256' | 'trailingSha256'>;

export interface WriteResult {
  /** The SHA-256 (hex) of the bytes written, computed while streaming. */
  sha256: string;
  size: number;
  etag?: string;
}

export interface MultipartOptions {
  /** The expected SHA-256 (hex) of the whole object; recorded as its checksum (see completeMultipart). */
  sha256?: string;
  /** User metadata (S3 only). */
  metadata?: Record<string, string>;
}

export interface PartInfo {
  /** 1 … 10000. */
  partNumber: number;
  etag: string;
  size: number;
  /** The part's SHA-256 as hex. */
  sha256?: string;
}

export type CompletedPart = Pick<PartInfo, 'partNumber' | 'etag'> & { sha256?: string };

/**
 * An object store. Every method may throw a {@link StorageError}; its `kind`
 * tells the caller whether retrying the same call can succeed ('retryable':
 * network failures, timeouts, 5xx, throttling, a body that did not match its
 * size or checksum) or not ('permanent': missing bucket or root, denied access,
 * bad credentials, an unsafe key). Errors thrown by the *body* stream a caller
 * passes to `write`/`writePart` are re-thrown unchanged, so a source store's
 * error keeps its own classification.
 *
 * Writes are atomic: an object is either absent, or present with its previous
 * content, or present with the complete new content — never partially written
 * and never with content that failed its checksum.
 */
export interface ObjectStore {
  /** A human-readable description naming the store (endpoint, bucket, prefix or directory), for messages and logs. */
  readonly description: string;
  /** Whether `write` records checksums that `stat`/`list` report back (S3: yes; filesystem: no). */
  readonly recordsChecksums: boolean;

  /**
   * Every object whose key starts with `prefix` (may be ''), with key >
   * `startAfter` when given, in strictly increasing UTF-8 byte order of the key
   * — the same order in every driver (S3 ListObjectsV2's order), so two
   * listings can be merged. Fetched page by page (or directory by directory)
   * as the caller iterates; the whole listing is never held in memory.
   * Internal entries (the filesystem's temporary and staging files) never
   * appear.
   */
  list(prefix: string, startAfter?: string, options?: ListOptions): AsyncIterable<ObjectInfo>;

  /** The object's description, or undefined when it does not exist. */
  stat(key: string): Promise<ObjectInfo | undefined>;

  /**
   * A stream of the object's bytes (or of the inclusive range; an `end` past
   * the object's end is clamped, a `start` at or past it is a permanent
   * StorageError with code InvalidRange). Throws {@link ObjectNotFoundError}
   * when the object does not exist. Errors while streaming are StorageErrors
   * emitted by the stream. The caller must consume or destroy the stream (it
   * holds a file or a connection).
   *
   * The bytes are all of one version: a version given in `options` that the
   * store no longer holds fails the read (ObjectChangedError, before any
   * byte); an S3 GET is one version by itself, and the filesystem driver
   * checks the file's identity again after the last byte, failing the stream
   * with ObjectChangedError (before it ends) when the file changed meanwhile.
   */
  read(key: string, range?: ByteRange, options?: ReadOptions): Promise<Readable>;

  /**
   * Writes the object atomically from `body`, which must yield exactly
   * `options.size` bytes. The SHA-256 is computed while streaming; when
   * `options.sha256` is given and differs, the write is discarded and
   * {@link ChecksumMismatchError} thrown (the object keeps its previous state).
   * Idempotent: writing the same content again is harmless.
   */
  write(key: string, body: Readable, options: WriteOptions): Promise<WriteResult>;

  /** Removes the object. Succeeds when it does not exist (idempotent). */
  delete(key: string): Promise<void>;

  /**
   * Starts a multipart upload and returns its id. Nothing is visible under the
   * key until completeMultipart. S3: every part but the last must be at least
   * 5 MiB; at most 10000 parts.
   */
  createMultipart(key: string, options?: MultipartOptions): Promise<string>;

  /**
   * Stores one part (atomically: a part is either stored whole or not at all).
   * Re-sending a part number replaces it. When `options.sha256` (or
   * `options.trailingSha256`, as in WriteOptions) is given, a part whose bytes
   * differ is rejected with ChecksumMismatchError.
   */
  writePart(
    key: string,
    uploadId: string,
    partNumber: number,
    body: Readable,
    size: number,
    options?: PartWriteOptions,
  ): Promise<PartInfo>;

  /** The parts stored so far, by ascending part number (so a resumed copy re-sends only the missing ones). */
  listParts(key: string, uploadId: string): Promise<PartInfo[]>;

  /**
   * Makes the object visible, atomically, as the concatenation of `parts`
   * (ascending part numbers, each as stored). The filesystem driver verifies
   * the whole object against the upload's `sha256` and discards it on mismatch
   * (ChecksumMismatchError); S3 can only verify each part (see s3Multipart.ts).
   * Throws UploadNotFoundError when the upload does not exist (completed or
   * aborted already).
   */
  completeMultipart(key: string, uploadId: string, parts: CompletedPart[]): Promise<WriteResult | void>;

  /** Discards the upload and its parts. Succeeds when the upload does not exist (idempotent). */
  abortMultipart(key: string, uploadId: string): Promise<void>;

  /** Releases connections and other resources. */
  close(): Promise<void>;
}

export type StorageErrorKind = 'retryable' | 'permanent';

export interface StorageErrorDetails {
  kind: StorageErrorKind;
  /** The store's description (see ObjectStore.description). */
  store: string;
  operation: string;
  key?: string;
  /** The server's error code (S3 `NoSuchBucket`, …) or the system error code (`EACCES`, …). */
  code?: string;
  cause?: unknown;
}

/** A failed storage operation. The message names the store, the operation, the key and the problem. */
export class StorageError extends Error {
  readonly kind: StorageErrorKind;
  readonly store: string;
  readonly operation: string;
  readonly key: string | undefined;
  readonly code: string | undefined;

  constructor(problem: string, details: StorageErrorDetails) {
    const where = details.key === undefined ? '' : ` ${JSON.stringify(details.key)}`;
    super(`${details.store}: ${details.operation}${where}: ${problem}`, { cause: details.cause });
    this.name = new.target.name;
    this.kind = details.kind;
    this.store = details.store;
    this.operation = details.operation;
    this.key = details.key;
    this.code = details.code;
  }
}

/** A key the store cannot hold safely (traversal, absolute, empty segment, reserved name, too long…). Permanent. */
export class InvalidKeyError extends StorageError {
  constructor(store: string, operation: string, key: string, reason: string) {
    super(`invalid key: ${reason}`, { kind: 'permanent', store, operation, key, code: 'InvalidKey' });
  }
}

/** `read` of an object that does not exist. Permanent (for this attempt: the object is gone). */
export class ObjectNotFoundError extends StorageError {
  constructor(store: string, operation: string, key: string, cause?: unknown) {
    super('no such object', { kind: 'permanent', store, operation, key, code: 'NoSuchKey', cause });
  }
}

/** A multipart upload id the store does not know (completed, aborted or never created). Permanent. */
export class UploadNotFoundError extends StorageError {
  constructor(store: string, operation: string, key: string, uploadId: string, cause?: unknown) {
    super(`no such multipart upload ${JSON.stringify(uploadId)}`, {
      kind: 'permanent',
      store,
      operation,
      key,
      code: 'NoSuchUpload',
      cause,
    });
  }
}

/**
 * A read pinned to a version (ReadOptions.version) found another, or a file
 * changed while it was read. Retryable: reading again reads the new version
 * whole (a caller that combines several reads must start over).
 */
export class ObjectChangedError extends StorageError {
  constructor(store: string, operation: string, key: string, problem: string, cause?: unknown) {
    super(`the object changed: ${problem}`, {
      kind: 'retryable',
      store,
      operation,
      key,
      code: 'SourceChanged',
      cause,
    });
  }
}

/**
 * The bytes received did not have the expected SHA-256; nothing was written.
 * Retryable: the source may have changed or the bytes were corrupted in
 * transit; the caller should re-read the source's checksum and cap attempts.
 */
export class ChecksumMismatchError extends StorageError {
  readonly expected: string;
  readonly actual: string | undefined;

  constructor(store: string, operation: string, key: string, expected: string, actual?: string) {
    super(
      `SHA-256 mismatch: expected ${expected}, got ${actual ?? 'a different checksum (reported by the server)'}; nothing was written`,
      { kind: 'retryable', store, operation, key, code: 'ChecksumMismatch' },
    );
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * The body ended without the SHA-256 that was to follow it (an HTTP trailer
 * that never came, or was malformed); nothing was written. Permanent: a
 * sender that promises a trailer and does not send one, or a proxy that strips
 * trailers, would fail the same way every time.
 */
export class MissingChecksumError extends StorageError {
  constructor(store: string, operation: string, key: string) {
    super('the body ended without the SHA-256 that was to follow it; nothing was written', {
      kind: 'permanent',
      store,
      operation,
      key,
      code: 'MissingChecksum',
    });
  }
}

/** The body yielded more or fewer bytes than announced; nothing was written. Retryable (the source may have changed). */
export class SizeMismatchError extends StorageError {
  readonly expected: number;
  /** The bytes the body yielded, or 'more' when it went on past the expected size. */
  readonly actual: number | 'more';

  constructor(store: string, operation: string, key: string, expected: number, actual: number | 'more') {
    super(`size mismatch: expected ${expected} bytes, the body yielded ${actual}; nothing was written`, {
      kind: 'retryable',
      store,
      operation,
      key,
      code: 'SizeMismatch',
    });
    this.expected = expected;
    this.actual = actual;
  }
}

/** Compares keys as S3 orders them: by their UTF-8 bytes. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

const hexSha256 = /^[0-9a-f]{64}$/;

/** Whether `value` is a SHA-256 as lowercase hex. */
export function isSha256Hex(value: string): boolean {
  return hexSha256.test(value);
}
