// What both drivers share for writes: a pass-through stream that counts and
// hashes the bytes it forwards and fails when they do not match what was
// announced, plus checks on caller-supplied checksums and ranges.
import { createHash, type Hash } from 'node:crypto';
import { finished, PassThrough, Transform, type Readable, type TransformCallback } from 'node:stream';
import {
  ChecksumMismatchError,
  isSha256Hex,
  MissingChecksumError,
  SizeMismatchError,
  StorageError,
  type ByteRange,
} from './objectStore.ts';

export interface VerifierContext {
  store: string;
  operation: string;
  key: string;
}

/** An expected SHA-256: known up front, or asked for once the body has ended (an HTTP trailer's). */
export type ExpectedSha256 = string | (() => string | undefined);

/**
 * Forwards its input unchanged while computing its SHA-256 and counting it.
 * Fails (so whatever consumes it aborts) as soon as the input exceeds `size`,
 * and at the end when it is shorter or, when `expected` is given, hashes
 * differently — or, for an expected SHA-256 asked for at the end, when none
 * arrived. After a successful end, `sha256` holds the hex digest.
 *
 * With `hashing: false` it only counts: for a store whose server checks the
 * expected SHA-256 itself before committing (s3StreamedPut.ts), so the bytes are not
 * hashed twice. `sha256` then stays undefined, and an expected SHA-256 asked
 * for at the end must still have arrived.
 */
export class VerifyingStream extends Transform {
  bytes = 0;
  sha256: string | undefined;
  private readonly hash: Hash | undefined;
  private readonly context: VerifierContext;
  private readonly expectedSize: number;
  private readonly expected: ExpectedSha256 | undefined;

  constructor(
    context: VerifierContext,
    expectedSize: number,
    expected?: ExpectedSha256,
    options: { hashing?: boolean } = {},
  ) {
    super();
    this.context = context;
    this.expectedSize = expectedSize;
    this.expected = expected;
    this.hash = options.hashing === false ? undefined : createHash('sha256');
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.expectedSize) {
      const { store, operation, key } = this.context;
      callback(new SizeMismatchError(store, operation, key, this.expectedSize, 'more'));
      return;
    }
    this.hash?.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const { store, operation, key } = this.context;
    if (this.bytes !== this.expectedSize) {
      callback(new SizeMismatchError(store, operation, key, this.expectedSize, this.bytes));
      return;
    }
    const expected = expectedValue(this.expected);
    if (this.expected !== undefined && expected === undefined) {
      callback(new MissingChecksumError(store, operation, key));
      return;
    }
    if (!this.hash) return callback();
    const digest = this.hash.digest('hex');
    if (expected !== undefined && digest !== expected) {
      callback(new ChecksumMismatchError(store, operation, key, expected, digest));
      return;
    }
    this.sha256 = digest;
    callback();
  }
}

/** The value of an expected SHA-256 (undefined when it is asked for at the end and has not arrived). */
export function expectedValue(expected: ExpectedSha256 | undefined): string | undefined {
  return typeof expected === 'function' ? expected() : expected;
}

/** Checks a caller's size and optional SHA-256 before any byte moves; returns the SHA-256 lowercased. */
export function checkWriteArguments(
  context: VerifierContext,
  size: number,
  sha256: string | undefined,
): string | undefined {
  const { store, operation, key } = context;
  if (!Number.isSafeInteger(size) || size < 0)
    throw new StorageError(`size must be a non-negative integer, got ${size}`, {
      kind: 'permanent',
      store,
      operation,
      key,
      code: 'InvalidArgument',
    });
  if (sha256 === undefined) return undefined;
  const lower = sha256.toLowerCase();
  if (!isSha256Hex(lower))
    throw new StorageError(`sha256 must be 64 hex digits, got ${JSON.stringify(sha256)}`, {
      kind: 'permanent',
      store,
      operation,
      key,
      code: 'InvalidArgument',
    });
  return lower;
}

export function checkPartNumber(context: VerifierContext, partNumber: number): void {
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10_000)
    throw new StorageError(`part number must be an integer from 1 to 10000, got ${partNumber}`, {
      kind: 'permanent',
      ...context,
      code: 'InvalidArgument',
    });
}

/**
 * The checks of a write's (or a part's) arguments, before any of its bytes
 * are read: `locate` maps the key (throwing InvalidKeyError), then the part
 * number, the size and the expected SHA-256 are checked. On failure `body` is
 * destroyed (nobody will read it) and the error thrown. Returns what `locate`
 * gave and the expected SHA-256, normalised.
 */
export function checkUpload<T>(
  context: VerifierContext,
  body: Readable,
  locate: () => T,
  upload: { size: number; sha256?: string | undefined; partNumber?: number },
): { target: T; sha256: string | undefined } {
  try {
    const target = locate();
    if (upload.partNumber !== undefined) checkPartNumber(context, upload.partNumber);
    return { target, sha256: checkWriteArguments(context, upload.size, upload.sha256) };
  } catch (err) {
    body.destroy();
    throw err;
  }
}

export function checkRange(context: VerifierContext, range: ByteRange | undefined): void {
  if (range === undefined) return;
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start)
    throw new StorageError(`invalid byte range ${start}-${end}`, {
      kind: 'permanent',
      ...context,
      code: 'InvalidRange',
    });
}

export function hexToBase64(hex: string): string {
  return Buffer.from(hex, 'hex').toString('base64');
}

export function base64ToHex(base64: string): string {
  return Buffer.from(base64, 'base64').toString('hex');
}

/**
 * Re-emits `stream`'s bytes, turning its errors into the errors `mapError`
 * makes (StorageErrors). A pass-through rather than an async generator: this
 * sits on every byte a source worker reads, and a promise per chunk shows.
 */
export function mapStreamErrors(stream: Readable, mapError: (err: unknown) => Error): Readable {
  const mapped = new PassThrough();
  // Errors, and a close before the end (which would otherwise leave `mapped` waiting forever).
  finished(stream, (err) => {
    if (err) mapped.destroy(mapError(err));
  });
  // A consumer that gives up early releases the file or connection at once,
  // not when the next chunk happens to arrive.
  mapped.once('close', () => stream.destroy());
  stream.pipe(mapped);
  return mapped;
}
