// A streamed PUT or UploadPart with its SHA-256: the body goes through a
// verifier (size, and SHA-256 unless the server is trusted with it) into the
// request, and the SHA-256 travels as a header when known up front or as the
// aws-chunked trailer otherwise (docs/adr/0010, docs/adr/0012). A streamed
// body cannot be replayed: the caller retries on a 'retryable' StorageError.
import { PassThrough, type Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { expectedValue, VerifyingStream, type ExpectedSha256 } from './integrity.ts';
import { ChecksumMismatchError, StorageError } from './objectStore.ts';
import type { S3BucketClient } from './s3Client.ts';
import type { ChecksummedOperation, S3ChecksumTrust } from './s3ChecksumTrust.ts';
import { isDigestRefusal } from './s3Errors.ts';
import type { PutAnswer } from './s3ObjectRequests.ts';

/** How the SHA-256 goes with the request: as a header, or as the trailer. */
export type PutChecksum = { sha256: string } | { trailingSha256: () => string | undefined };

export interface StreamedPut {
  operation: ChecksummedOperation;
  key: string;
  body: Readable;
  size: number;
  /** Known up front (the server checks it before committing). */
  sha256: string | undefined;
  /** Known once the body has ended; ignored when `sha256` is given. */
  trailing: (() => string | undefined) | undefined;
  /** Makes the request with `payload` (never erroring) and the checksum to send. */
  put: (payload: Readable, abortSignal: AbortSignal, checksum: PutChecksum) => Promise<PutAnswer>;
  /** Removes what an unconfirmed upload stored. */
  discard: () => Promise<void>;
}

/**
 * Sends `request.body` with its SHA-256: one known up front, or else one that
 * comes at the body's end or that is computed here, which goes as the
 * trailer. Once the server has shown that it checks them (S3ChecksumTrust),
 * an expected SHA-256 is left to it alone. Returns the answer and the SHA-256
 * stored; a body that differs from it is a ChecksumMismatchError.
 */
export async function putStreamed(
  bucket: S3BucketClient,
  trust: S3ChecksumTrust,
  request: StreamedPut,
): Promise<{ output: PutAnswer; sha256: string }> {
  const { operation, key, sha256, trailing } = request;
  const serverChecks = (sha256 ?? trailing) !== undefined && trust.leftToServer(operation);
  const { output, sha256: digest } = await putVerified(
    bucket,
    request,
    sha256 ?? trailing,
    (payload, abortSignal, digest) =>
      request.put(
        payload,
        abortSignal,
        sha256 ? { sha256 } : { trailingSha256: serverChecks ? trailing! : digest },
      ),
    !serverChecks,
  );
  bucket.markReached();
  const expected = expectedValue(sha256 ?? trailing);
  if (expected !== undefined && output.sha256 === expected) {
    if (!serverChecks) await trust.echoed(operation);
  } else if (serverChecks) {
    // The server did not answer with the SHA-256 it was to check: what it
    // stored is unverified. Never leave it behind; hash here from now on.
    trust.withdraw(operation);
    await request.discard();
    throw new ChecksumMismatchError(bucket.description, operation, key, expected!);
  }
  // A body whose bytes hashed here differ from `sha256` failed in putVerified already.
  return { output, sha256: digest ?? expected! };
}

/**
 * Sends the body through a verifier as the payload of `send`. Body errors are
 * re-thrown unchanged; a size or checksum mismatch found here or by the server
 * is a Size/ChecksumMismatchError.
 */
async function putVerified<T>(
  bucket: S3BucketClient,
  { operation, key, body, size }: StreamedPut,
  sha256: ExpectedSha256 | undefined,
  send: (payload: Readable, abortSignal: AbortSignal, digest: () => string | undefined) => Promise<T>,
  hashing: boolean,
): Promise<{ output: T; sha256: string | undefined }> {
  const verifier = new VerifyingStream(bucket.context(operation, key), size, sha256, { hashing });
  // The payload handed to the request never errors: a failing body or
  // verifier aborts the request and ends the payload quietly, so the error
  // reported is the body's or the verifier's, not the request's.
  const payload = new PassThrough();
  const abort = new AbortController();
  let bodyError: unknown;
  let verifierError: unknown;
  body.on('error', (err) => {
    bodyError ??= err;
    verifier.destroy(err);
  });
  verifier.on('error', (err) => {
    verifierError ??= err;
    abort.abort(err);
    payload.destroy();
  });
  const flushed = finished(verifier, { readable: false });
  flushed.catch(() => undefined);
  body.pipe(verifier).pipe(payload);
  let output: T;
  try {
    output = await send(payload, abort.signal, () => verifier.sha256);
    await flushed;
  } catch (err) {
    body.unpipe(verifier);
    body.destroy();
    verifier.destroy();
    payload.destroy();
    if (bodyError !== undefined) throw bodyError;
    if (verifierError instanceof StorageError) throw verifierError;
    const expected = expectedValue(sha256);
    if (expected !== undefined && isDigestRefusal(err))
      throw new ChecksumMismatchError(bucket.description, operation, key, expected, verifier.sha256);
    throw bucket.fail(err, operation, key);
  }
  if (hashing && verifier.sha256 === undefined)
    throw bucket.fail(new Error('the body did not end'), operation, key);
  return { output, sha256: verifier.sha256 };
}
