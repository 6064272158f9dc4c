// The S3 driver (AWS SDK v3). Keys are stored under the configured prefix
// (taken literally: prefix "data/" and key "a" make the S3 key "data/a").
//
// Integrity:
// - Single PUT: the body streams through a verifier (size and SHA-256). When
//   the expected SHA-256 is known it is sent as `x-amz-checksum-sha256`, so the
//   server itself refuses (BadDigest) a body that differs and never makes it
//   visible; it is also recorded as the `ferry-sha256` user metadata. When it
//   is not known, the SHA-256 computed on the way goes as an aws-chunked
//   trailer (the server checks it and stores its own full-object SHA-256,
//   which stat reports), and no `ferry-sha256` metadata (user metadata must
//   be sent before the body). GET, PUT and UploadPart go through
//   s3ObjectRequests.ts, the rest through the SDK.
// - Multipart: the upload uses S3's SHA-256 part checksums, so the server
//   verifies every part (against the expected part SHA-256 when given). S3
//   cannot verify the whole object's SHA-256 of a multipart upload; the
//   `sha256` given to createMultipart is recorded as `ferry-sha256` and it is
//   the caller's job to send the right parts (each part's digest is returned
//   by writePart/listParts).
// - Listing: ListObjectsV2 returns no user metadata; `checksum` is present only
//   with `{ checksums: true }` (a HEAD per object).
// - Streaming requests (PUT, UploadPart) are not retried by the SDK (the body
//   cannot be replayed); the caller retries on a 'retryable' StorageError.
import { createHash, randomUUID } from 'node:crypto';
import { rootCertificates } from 'node:tls';
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { finished } from 'node:stream/promises';
import { PassThrough, Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  S3Client,
  type HeadObjectCommandOutput,
} from '@aws-sdk/client-s3';
import {
  base64ToHex,
  checkPartNumber,
  checkRange,
  checkWriteArguments,
  expectedValue,
  hexToBase64,
  mapStreamErrors,
  VerifyingStream,
  type ExpectedSha256,
  type VerifierContext,
} from './integrity.ts';
import {
  ChecksumMismatchError,
  InvalidKeyError,
  isSha256Hex,
  ObjectNotFoundError,
  StorageError,
  UploadNotFoundError,
  type ByteRange,
  type CompletedPart,
  type ListOptions,
  type MultipartOptions,
  type ObjectInfo,
  type ObjectStore,
  type PartInfo,
  type PartWriteOptions,
  type StorageErrorKind,
  type WriteOptions,
  type WriteResult,
} from './objectStore.ts';
import { S3ObjectRequests, type PutAnswer } from './s3ObjectRequests.ts';

export interface S3StoreConfig {
  endpoint: string;
  region?: string;
  bucket: string;
  prefix?: string;
  /** Default true (as in the CRD). */
  forcePathStyle?: boolean;
  /** PEM CA certificates trusted for the endpoint in addition to the system ones. */
  caBundleFile?: string;
  /** The same as PEM text (what the operator reads from the job's CA Secret). */
  caBundle?: string;
}

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface S3StoreOptions {
  /** Without them, the SDK's default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, …). */
  credentials?: S3Credentials;
  /** Keys per ListObjectsV2 page, 1–1000 (default 1000). */
  listPageSize?: number;
  /** Concurrent connections to the endpoint (default 64). */
  maxSockets?: number;
  /** Default 10 s. */
  connectionTimeoutMs?: number;
  /** A socket idle this long fails the request (default 120 s). */
  socketTimeoutMs?: number;
  /** Attempts of the SDK for non-streaming requests (default 3). */
  maxAttempts?: number;
  /** Concurrent HEADs of `list(…, { checksums: true })` (default 8). */
  headConcurrency?: number;
}

export const checksumMetadataKey = 'ferry-sha256';

/** Objects up to this size are written from memory in one plain request (see writeBuffered). */
export const bufferedWriteMaxBytes = 256 * 1024;
const maxKeyBytes = 1024;

const authCodes = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'XAdminUserNotFound', // versitygw: unknown access key
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'AllAccessDisabled',
  'AccountProblem',
  'AuthorizationHeaderMalformed',
  'CredentialsProviderError',
]);
const retryableCodes = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'TooManyRequests',
  'RequestLimitExceeded',
  'BandwidthLimitExceeded',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'InternalError',
  'ServiceUnavailable',
  'OperationAborted',
  'XAmzContentSHA256Mismatch',
  'IncompleteBody',
  'NetworkingError',
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ERR_STREAM_PREMATURE_CLOSE',
]);
const tlsCodes = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * The same failures recognised by their message: an error raised outside the
 * SDK's realm (a test runner's VM context, say) reaches it as a plain string,
 * without its code.
 */
const tlsMessage =
  /unable to verify the first certificate|self[- ]signed certificate|unable to get local issuer certificate|certificate has expired|certificate is not yet valid|does not match certificate's altnames/i;

export interface S3ErrorClassification {
  kind: StorageErrorKind;
  code: string | undefined;
  status: number | undefined;
  problem: string;
}

/** Classifies an SDK or network error: what went wrong, and whether retrying can help. */
export function classifyS3Error(err: unknown, bucket: string): S3ErrorClassification {
  const e = err as {
    name?: string;
    code?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
    $retryable?: unknown;
  };
  const status = e?.$metadata?.httpStatusCode;
  const name = e?.name && e.name !== 'Error' && e.name !== 'UnknownError' ? e.name : undefined;
  const code = typeof e?.code === 'string' ? e.code : name;
  const detail = e?.message && e.message !== 'UnknownError' ? `: ${e.message}` : '';
  const suffix = `${code ? ` (${code}${status ? `, HTTP ${status}` : ''})` : status ? ` (HTTP ${status})` : ''}`;
  if (code === 'NoSuchBucket')
    return { kind: 'permanent', code, status, problem: `bucket "${bucket}" does not exist${suffix}` };
  if (code !== undefined && authCodes.has(code))
    return {
      kind: 'permanent',
      code,
      status,
      problem: `${code === 'AccessDenied' ? 'access denied' : 'the credentials were refused'}${suffix}${detail}`,
    };
  if ((code !== undefined && tlsCodes.has(code)) || (code === undefined && tlsMessage.test(detail)))
    return {
      kind: 'permanent',
      code,
      status,
      problem: `TLS: the endpoint's certificate is not trusted${suffix}${detail}`,
    };
  if (code !== undefined && retryableCodes.has(code))
    return { kind: 'retryable', code, status, problem: `${retryableProblem(code)}${suffix}${detail}` };
  if (status !== undefined) {
    if (status >= 500 || status === 429 || status === 408)
      return { kind: 'retryable', code, status, problem: `server error${suffix}${detail}` };
    if (status === 403)
      return { kind: 'permanent', code, status, problem: `access denied${suffix}${detail}` };
    return { kind: 'permanent', code, status, problem: `request refused${suffix}${detail}` };
  }
  // No HTTP response at all: a network failure, or the SDK's own timeout.
  return { kind: 'retryable', code, status, problem: `request failed${suffix}${detail}` };
}

function retryableProblem(code: string): string {
  if (code === 'SlowDown' || code.includes('Throttl') || code.includes('Limit') || code === 'TooManyRequests')
    return 'throttled by the server';
  if (code.includes('Timeout') || code === 'ETIMEDOUT') return 'timed out';
  if (code.startsWith('E')) return 'network error';
  return 'server error';
}

function errorCode(err: unknown): string | undefined {
  const name = (err as { name?: string } | undefined)?.name;
  return name;
}

function unquote(etag: string | undefined): string | undefined {
  return etag?.replaceAll('"', '');
}

export class S3Store implements ObjectStore {
  readonly description: string;
  readonly recordsChecksums = true;
  readonly bucket: string;
  readonly prefix: string;
  private readonly client: S3Client;
  /** GET, PUT and UploadPart: the requests that carry object bytes (s3ObjectRequests.ts). */
  private readonly objects: S3ObjectRequests;
  private readonly agents: { http: HttpAgent; https: HttpsAgent };
  private readonly listPageSize: number;
  private readonly headConcurrency: number;
  /** Set once a request reached the bucket: afterwards a HEAD 404 means the object is absent. */
  private bucketVerified = false;
  /**
   * The operations ('write', 'writePart') for which the server has answered
   * with the very SHA-256 it was sent (as a header or a trailer) and has
   * refused a deliberately wrong one (probeChecksums) — so it checks them,
   * refusing a mismatch before committing, as S3 does: then an expected
   * SHA-256 is left to it alone (sendChecked).
   */
  private readonly serverChecksTrailers = new Set<string>();
  /** Per operation, whether the server refused a deliberately wrong SHA-256 (asked once). */
  private readonly checksumProbes = new Map<string, Promise<boolean>>();

  constructor(config: S3StoreConfig, options: S3StoreOptions = {}) {
    this.bucket = config.bucket;
    this.prefix = config.prefix ?? '';
    this.description = `s3 store ${config.endpoint} bucket "${config.bucket}"${this.prefix ? ` prefix "${this.prefix}"` : ''}`;
    this.listPageSize = Math.min(Math.max(Math.trunc(options.listPageSize ?? 1000), 1), 1000);
    this.headConcurrency = Math.max(Math.trunc(options.headConcurrency ?? 8), 1);
    let ca: string[] | undefined;
    if (config.caBundle !== undefined) ca = [...rootCertificates, config.caBundle];
    else if (config.caBundleFile !== undefined) {
      try {
        ca = [...rootCertificates, readFileSync(config.caBundleFile, 'utf8')];
      } catch (err) {
        throw new StorageError(
          `cannot read the CA bundle ${config.caBundleFile}: ${(err as Error).message}`,
          {
            kind: 'permanent',
            store: this.description,
            operation: 'open',
            code: 'CaBundle',
            cause: err,
          },
        );
      }
    }
    const maxSockets = options.maxSockets ?? 64;
    this.agents = {
      http: new HttpAgent({ keepAlive: true, maxSockets }),
      https: new HttpsAgent({ keepAlive: true, maxSockets, ...(ca ? { ca } : {}) }),
    };
    const region = config.region ?? 'us-east-1';
    const forcePathStyle = config.forcePathStyle ?? true;
    const maxAttempts = options.maxAttempts ?? 3;
    const connectionTimeoutMs = options.connectionTimeoutMs ?? 10_000;
    const socketTimeoutMs = options.socketTimeoutMs ?? 120_000;
    this.client = new S3Client({
      endpoint: config.endpoint,
      region,
      forcePathStyle,
      ...(options.credentials ? { credentials: options.credentials } : {}),
      maxAttempts,
      // Checksums only where Ferry asks for them (SHA-256), not the SDK's default CRC32 on every request.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      logger: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
      requestHandler: {
        httpAgent: this.agents.http,
        httpsAgent: this.agents.https,
        connectionTimeout: connectionTimeoutMs,
        socketTimeout: socketTimeoutMs,
      },
    });
    this.objects = new S3ObjectRequests({
      endpoint: config.endpoint,
      region,
      bucket: config.bucket,
      forcePathStyle,
      agents: this.agents,
      // The SDK's provider: the given credentials, or its default chain (refreshed when they expire).
      credentials: () => this.client.config.credentials(),
      connectionTimeoutMs,
      socketTimeoutMs,
      maxAttempts,
      retryable: (err) => classifyS3Error(err, this.bucket).kind === 'retryable',
    });
  }

  // ---- helpers ----------------------------------------------------------------

  private fail(err: unknown, operation: string, key?: string): StorageError {
    if (err instanceof StorageError) return err;
    const { kind, code, problem } = classifyS3Error(err, this.bucket);
    return new StorageError(problem, { kind, store: this.description, operation, key, code, cause: err });
  }

  /** The full S3 key; throws InvalidKeyError for a key S3 cannot hold. */
  private fullKey(key: string, operation: string): string {
    if (key === '') throw new InvalidKeyError(this.description, operation, key, 'it is empty');
    const full = this.prefix + key;
    if (Buffer.byteLength(full, 'utf8') > maxKeyBytes)
      throw new InvalidKeyError(
        this.description,
        operation,
        key,
        `with the prefix it is longer than ${maxKeyBytes} bytes`,
      );
    return full;
  }

  private context(operation: string, key: string): VerifierContext {
    return { store: this.description, operation, key };
  }

  private async send<T>(operation: string, key: string | undefined, run: () => Promise<T>): Promise<T> {
    try {
      const result = await run();
      this.bucketVerified = true;
      return result;
    } catch (err) {
      throw this.fail(err, operation, key);
    }
  }

  private checksumOf(head: HeadObjectCommandOutput): ObjectInfo['checksum'] {
    const recorded = head.Metadata?.[checksumMetadataKey]?.toLowerCase();
    if (recorded !== undefined && isSha256Hex(recorded)) return { algorithm: 'SHA256', value: recorded };
    // S3's own SHA-256, when it covers the whole object (not a multipart composite "…-N").
    const native = head.ChecksumSHA256;
    if (native && !native.includes('-') && (head.ChecksumType ?? 'FULL_OBJECT') === 'FULL_OBJECT') {
      const hex = base64ToHex(native);
      if (isSha256Hex(hex)) return { algorithm: 'SHA256', value: hex };
    }
    return undefined;
  }

  /** HEAD; undefined when absent. HEAD responses carry no error code, so an unexplained 404/403 is re-asked with a listing. */
  private async head(key: string, operation: string): Promise<ObjectInfo | undefined> {
    const Key = this.fullKey(key, operation);
    let head: HeadObjectCommandOutput;
    try {
      head = await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key, ChecksumMode: 'ENABLED' }),
      );
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status !== 404 && status !== 403) throw this.fail(err, operation, key);
      if (status === 404 && this.bucketVerified) return undefined;
      // A listing's error body names the problem (NoSuchBucket, InvalidAccessKeyId, …).
      await this.send(operation, key, () =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: Key, MaxKeys: 1 })),
      );
      if (status === 404) return undefined;
      throw this.fail(err, operation, key);
    }
    this.bucketVerified = true;
    const metadata = Object.fromEntries(
      Object.entries(head.Metadata ?? {}).filter(([name]) => !name.startsWith('ferry-')),
    );
    return {
      key,
      size: head.ContentLength ?? 0,
      ...(head.ETag ? { etag: unquote(head.ETag)! } : {}),
      lastModified: head.LastModified ?? new Date(0),
      ...(this.checksumOf(head) ? { checksum: this.checksumOf(head)! } : {}),
      metadata,
    };
  }

  /**
   * Sends `body` through a verifier as the payload of `command` (PUT or
   * UploadPart). Body errors are re-thrown unchanged; a size or checksum
   * mismatch found locally or by the server is a Size/ChecksumMismatchError.
   */
  private async sendVerified<T>(
    operation: string,
    key: string,
    body: Readable,
    size: number,
    sha256: ExpectedSha256 | undefined,
    send: (payload: Readable, abortSignal: AbortSignal, digest: () => string | undefined) => Promise<T>,
    hashing = true,
  ): Promise<{ output: T; sha256: string | undefined }> {
    const verifier = new VerifyingStream(this.context(operation, key), size, sha256, { hashing });
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
      const code = errorCode(err);
      const expected = expectedValue(sha256);
      if (expected !== undefined && (code === 'BadDigest' || code === 'InvalidDigest'))
        throw new ChecksumMismatchError(this.description, operation, key, expected, verifier.sha256);
      throw this.fail(err, operation, key);
    }
    if (hashing && verifier.sha256 === undefined)
      throw this.fail(new Error('the body did not end'), operation, key);
    return { output, sha256: verifier.sha256 };
  }

  // ---- listing ----------------------------------------------------------------

  async *list(prefix: string, startAfter?: string, options: ListOptions = {}): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      const page = await this.send('list', prefix, () =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.prefix + prefix,
            MaxKeys: this.listPageSize,
            ...(token ? { ContinuationToken: token } : {}),
            ...(!token && startAfter ? { StartAfter: this.prefix + startAfter } : {}),
          }),
        ),
      );
      const infos: ObjectInfo[] = [];
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined || !object.Key.startsWith(this.prefix)) continue;
        infos.push({
          key: object.Key.slice(this.prefix.length),
          size: object.Size ?? 0,
          ...(object.ETag ? { etag: unquote(object.ETag)! } : {}),
          lastModified: object.LastModified ?? new Date(0),
        });
      }
      if (options.checksums) {
        for (let i = 0; i < infos.length; i += this.headConcurrency) {
          const window = infos.slice(i, i + this.headConcurrency);
          const heads = await Promise.all(window.map((info) => this.head(info.key, 'list')));
          for (const [j, info] of window.entries()) {
            const checksum = heads[j]?.checksum;
            yield checksum ? { ...info, checksum } : info;
          }
        }
      } else {
        yield* infos;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  // ---- objects ----------------------------------------------------------------

  stat(key: string): Promise<ObjectInfo | undefined> {
    return this.head(key, 'stat');
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    const Key = this.fullKey(key, 'read');
    checkRange(this.context('read', key), range);
    let body: Readable;
    try {
      body = await this.objects.get(Key, range);
    } catch (err) {
      if (errorCode(err) === 'NoSuchKey') throw new ObjectNotFoundError(this.description, 'read', key, err);
      throw this.fail(err, 'read', key);
    }
    this.bucketVerified = true;
    return mapStreamErrors(body, (err) => this.fail(err, 'read', key));
  }

  /**
   * A small object is read whole first (at most bufferedWriteMaxBytes held),
   * verified, and sent as one plain request with its SHA-256 — which the
   * server checks before committing and which is recorded as ferry-sha256
   * even when it was not known up front. A streamed upload's chunked signing
   * and trailer cost more than the object itself at these sizes.
   */
  private async writeBuffered(
    Key: string,
    key: string,
    body: Readable,
    options: WriteOptions,
    expected: ExpectedSha256 | undefined,
  ): Promise<WriteResult> {
    const verifier = new VerifyingStream(this.context('write', key), options.size, expected);
    // The body's own errors come out unchanged, the verifier's as StorageErrors.
    // (Not stream.pipeline: its set-up and teardown cost more than a 4 KiB object's bytes.)
    const chunks = await new Promise<Buffer[]>((resolve, reject) => {
      const held: Buffer[] = [];
      body.once('error', (err) => {
        verifier.destroy();
        reject(err);
      });
      verifier.once('error', (err) => {
        body.destroy();
        reject(err);
      });
      verifier.on('data', (chunk: Buffer) => held.push(chunk));
      verifier.once('end', () => resolve(held));
      body.pipe(verifier);
    });
    const digest = verifier.sha256!;
    let output;
    try {
      output = await this.objects.put({
        key: Key,
        size: options.size,
        body: Buffer.concat(chunks, options.size),
        sha256: digest,
        metadata: { ...options.metadata, [checksumMetadataKey]: digest },
      });
    } catch (err) {
      const code = errorCode(err);
      if (code === 'BadDigest' || code === 'InvalidDigest')
        throw new ChecksumMismatchError(this.description, 'write', key, digest);
      throw this.fail(err, 'write', key);
    }
    this.bucketVerified = true;
    return { sha256: digest, size: options.size, ...(output.etag ? { etag: output.etag } : {}) };
  }

  async write(key: string, body: Readable, options: WriteOptions): Promise<WriteResult> {
    let Key: string;
    let sha256: string | undefined;
    try {
      Key = this.fullKey(key, 'write');
      sha256 = checkWriteArguments(this.context('write', key), options.size, options.sha256);
    } catch (err) {
      body.destroy();
      throw err;
    }
    const trailing = sha256 === undefined ? options.trailingSha256 : undefined;
    if (options.size <= bufferedWriteMaxBytes)
      return this.writeBuffered(Key, key, body, options, sha256 ?? trailing);
    const metadata = { ...options.metadata, ...(sha256 ? { [checksumMetadataKey]: sha256 } : {}) };
    const { output, sha256: stored } = await this.sendChecked(
      'write',
      key,
      body,
      options.size,
      sha256,
      trailing,
      (payload, abortSignal, checksum) =>
        this.objects.put({ key: Key, size: options.size, body: payload, metadata, abortSignal, ...checksum }),
      () => this.delete(key),
    );
    return { sha256: stored, size: options.size, ...(output.etag ? { etag: output.etag } : {}) };
  }

  /**
   * Sends a streamed body through sendVerified with its SHA-256: one known up
   * front (the server checks it before committing), or else one that comes at
   * the body's end (`trailing`) or that we compute, which goes as the upload's
   * trailer (checked all the same). Once the server has shown that it checks
   * trailers, a trailing SHA-256 is left to it alone: the bytes are not hashed
   * here a second time. `discard` removes what an unconfirmed upload stored.
   * Returns the answer and the SHA-256 stored.
   */
  private async sendChecked(
    operation: string,
    key: string,
    body: Readable,
    size: number,
    sha256: string | undefined,
    trailing: (() => string | undefined) | undefined,
    put: (
      payload: Readable,
      abortSignal: AbortSignal,
      checksum: { sha256: string } | { trailingSha256: () => string | undefined },
    ) => Promise<PutAnswer>,
    discard: () => Promise<void>,
  ): Promise<{ output: PutAnswer; sha256: string }> {
    // A SHA-256 known up front goes as a header, a trailing one as the trailer: the server
    // checks either the same way, so once it has shown it does, neither is hashed here.
    const serverChecks = (sha256 ?? trailing) !== undefined && this.serverChecksTrailers.has(operation);
    const { output, sha256: digest } = await this.sendVerified(
      operation,
      key,
      body,
      size,
      sha256 ?? trailing,
      (payload, abortSignal, digest) =>
        put(
          payload,
          abortSignal,
          sha256 ? { sha256 } : { trailingSha256: serverChecks ? trailing! : digest },
        ),
      !serverChecks,
    );
    this.bucketVerified = true;
    const expected = expectedValue(sha256 ?? trailing);
    if (expected !== undefined && output.sha256 === expected) {
      // An echo proves the server stores the SHA-256, not that it checks it: that takes a refusal.
      if (!serverChecks && (await this.refusesWrongChecksum(operation)))
        this.serverChecksTrailers.add(operation);
    } else if (serverChecks) {
      // The server did not answer with the SHA-256 it was to check: what it
      // stored is unverified. Never leave it behind; hash here from now on.
      this.serverChecksTrailers.delete(operation);
      await discard();
      throw new ChecksumMismatchError(this.description, operation, key, expected!);
    }
    // A body whose bytes hashed here differ from `sha256` failed in sendVerified already.
    return { output, sha256: digest ?? expected! };
  }

  /** Whether `operation` leaves SHA-256 checks to the server (see serverChecksTrailers). */
  leavesChecksumsToServer(operation: 'write' | 'writePart'): boolean {
    return this.serverChecksTrailers.has(operation);
  }

  private refusesWrongChecksum(operation: string): Promise<boolean> {
    let probe = this.checksumProbes.get(operation);
    if (!probe) {
      probe = this.probeChecksums(operation).catch(() => false);
      this.checksumProbes.set(operation, probe);
    }
    return probe;
  }

  /**
   * Sends one byte under the store's prefix with a trailing SHA-256 that is not
   * its own (as a PUT, or as the part of an upload made for it) and tells whether the
   * server refused it. A server that accepts it stores what it does not check:
   * the probe is removed and the bytes keep being hashed here.
   */
  private async probeChecksums(operation: string): Promise<boolean> {
    const key = `.ferry-checksum-probe/${randomUUID()}`;
    const Key = this.fullKey(key, operation);
    const notItsSha256 = createHash('sha256').update('not the probe').digest('hex');
    const part =
      operation === 'writePart' ? { uploadId: await this.createMultipart(key), partNumber: 1 } : undefined;
    try {
      // Streamed with the SHA-256 as its trailer: the very check left to the server.
      await this.objects.put({
        key: Key,
        size: 1,
        body: Readable.from([Buffer.from('x')]),
        trailingSha256: () => notItsSha256,
        ...(part ? { part } : {}),
      });
    } catch (err) {
      const code = errorCode(err);
      return code === 'BadDigest' || code === 'InvalidDigest';
    } finally {
      if (part) await this.abortMultipart(key, part.uploadId).catch(() => undefined);
    }
    if (!part) await this.delete(key).catch(() => undefined);
    return false;
  }

  async delete(key: string): Promise<void> {
    const Key = this.fullKey(key, 'delete');
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key }));
    } catch (err) {
      if (errorCode(err) === 'NoSuchKey') return;
      throw this.fail(err, 'delete', key);
    }
    this.bucketVerified = true;
  }

  // ---- multipart --------------------------------------------------------------

  private uploadError(err: unknown, operation: string, key: string, uploadId: string): StorageError {
    if (errorCode(err) === 'NoSuchUpload')
      return new UploadNotFoundError(this.description, operation, key, uploadId, err);
    return this.fail(err, operation, key);
  }

  async createMultipart(key: string, options: MultipartOptions = {}): Promise<string> {
    const Key = this.fullKey(key, 'createMultipart');
    const sha256 = checkWriteArguments(this.context('createMultipart', key), 0, options.sha256);
    const output = await this.send('createMultipart', key, () =>
      this.client.send(
        new CreateMultipartUploadCommand({
          Bucket: this.bucket,
          Key,
          ChecksumAlgorithm: 'SHA256',
          Metadata: { ...options.metadata, ...(sha256 ? { [checksumMetadataKey]: sha256 } : {}) },
        }),
      ),
    );
    if (!output.UploadId)
      throw this.fail(new Error('the server returned no UploadId'), 'createMultipart', key);
    return output.UploadId;
  }

  async writePart(
    key: string,
    uploadId: string,
    partNumber: number,
    body: Readable,
    size: number,
    options: PartWriteOptions = {},
  ): Promise<PartInfo> {
    let Key: string;
    let sha256: string | undefined;
    try {
      Key = this.fullKey(key, 'writePart');
      checkPartNumber(this.context('writePart', key), partNumber);
      sha256 = checkWriteArguments(this.context('writePart', key), size, options.sha256);
    } catch (err) {
      body.destroy();
      throw err;
    }
    try {
      const { output, sha256: digest } = await this.sendChecked(
        'writePart',
        key,
        body,
        size,
        sha256,
        options.trailingSha256,
        (payload, abortSignal, checksum) =>
          this.objects.put({
            key: Key,
            size,
            body: payload,
            part: { uploadId, partNumber },
            abortSignal,
            ...checksum,
          }),
        // An unconfirmed part is replaced when its task sends it again.
        async () => undefined,
      );
      if (!output.etag) throw new Error('the server returned no ETag');
      return { partNumber, etag: output.etag, size, sha256: digest };
    } catch (err) {
      if (err instanceof StorageError && errorCode(err.cause) === 'NoSuchUpload')
        throw new UploadNotFoundError(this.description, 'writePart', key, uploadId, err.cause);
      throw this.uploadError(err, 'writePart', key, uploadId);
    }
  }

  async listParts(key: string, uploadId: string): Promise<PartInfo[]> {
    const Key = this.fullKey(key, 'listParts');
    const parts: PartInfo[] = [];
    let marker: string | undefined;
    for (;;) {
      let page;
      try {
        page = await this.client.send(
          new ListPartsCommand({
            Bucket: this.bucket,
            Key,
            UploadId: uploadId,
            ...(marker ? { PartNumberMarker: marker } : {}),
          }),
        );
      } catch (err) {
        throw this.uploadError(err, 'listParts', key, uploadId);
      }
      for (const part of page.Parts ?? []) {
        if (part.PartNumber === undefined || !part.ETag) continue;
        parts.push({
          partNumber: part.PartNumber,
          etag: unquote(part.ETag)!,
          size: part.Size ?? 0,
          ...(part.ChecksumSHA256 ? { sha256: base64ToHex(part.ChecksumSHA256) } : {}),
        });
      }
      if (!page.IsTruncated || !page.NextPartNumberMarker) break;
      marker = page.NextPartNumberMarker;
    }
    return parts.sort((a, b) => a.partNumber - b.partNumber);
  }

  async completeMultipart(key: string, uploadId: string, parts: CompletedPart[]): Promise<void> {
    const Key = this.fullKey(key, 'completeMultipart');
    // The upload uses SHA-256 part checksums: completing needs each part's.
    let digests = new Map(parts.filter((p) => p.sha256).map((p) => [p.partNumber, p.sha256!]));
    if (digests.size < parts.length)
      digests = new Map(
        (await this.listParts(key, uploadId)).filter((p) => p.sha256).map((p) => [p.partNumber, p.sha256!]),
      );
    try {
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key,
          UploadId: uploadId,
          MultipartUpload: {
            Parts: parts.map((p) => ({
              PartNumber: p.partNumber,
              ETag: `"${unquote(p.etag)}"`,
              ...(digests.has(p.partNumber)
                ? { ChecksumSHA256: hexToBase64(digests.get(p.partNumber)!) }
                : {}),
            })),
          },
        }),
      );
    } catch (err) {
      throw this.uploadError(err, 'completeMultipart', key, uploadId);
    }
  }

  async abortMultipart(key: string, uploadId: string): Promise<void> {
    const Key = this.fullKey(key, 'abortMultipart');
    try {
      await this.client.send(
        new AbortMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId: uploadId }),
      );
    } catch (err) {
      if (errorCode(err) === 'NoSuchUpload') return;
      throw this.fail(err, 'abortMultipart', key);
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
    this.agents.http.destroy();
    this.agents.https.destroy();
  }
}
