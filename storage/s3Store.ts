// The S3 driver (AWS SDK v3 for listing, HEAD, DELETE and multipart
// bookkeeping; our own requests for the bytes, docs/adr/0010). Keys live
// under the configured prefix, a directory (api/storePaths.ts).
//
// Integrity: a write's body streams through a verifier (size and SHA-256). A
// SHA-256 known up front goes as `x-amz-checksum-sha256`, so the server
// refuses a body that differs, and is recorded as the ferry-sha256 metadata;
// one computed on the way goes as an aws-chunked trailer that the server
// checks and stores as its own full-object SHA-256 (docs/adr/0012). Multipart
// uploads: s3Multipart.ts. A listing carries checksums only with
// `{ checksums: true }` (a HEAD per object: ListObjectsV2 has no metadata).
import type { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type HeadObjectCommandOutput,
} from '@aws-sdk/client-s3';
import type { S3StoreConfig, S3StoreOptions } from './config.ts';
import {
  base64ToHex,
  checkRange,
  checkUpload,
  mapStreamErrors,
  VerifyingStream,
  type ExpectedSha256,
} from './integrity.ts';
import {
  ChecksumMismatchError,
  isSha256Hex,
  ObjectChangedError,
  ObjectNotFoundError,
  StorageError,
  type ByteRange,
  type ListOptions,
  type ObjectInfo,
  type ObjectStore,
  type ReadOptions,
  type WriteOptions,
  type WriteResult,
} from './objectStore.ts';
import { MultipartForwarding } from './multipartUploads.ts';
import { checksumMetadataKey, S3BucketClient, unquote } from './s3Client.ts';
import { probeChecksumRefusal, S3ChecksumTrust } from './s3ChecksumTrust.ts';
import { isDigestRefusal, s3ErrorCode } from './s3Errors.ts';
import { S3Multipart } from './s3Multipart.ts';
import { putStreamed } from './s3StreamedPut.ts';

/** Objects up to this size are written from memory in one plain request (see writeBuffered). */
export const bufferedWriteMaxBytes = 256 * 1024;

export class S3Store extends MultipartForwarding implements ObjectStore {
  readonly description: string;
  readonly recordsChecksums = true;
  readonly bucket: string;
  readonly prefix: string;
  private readonly client: S3BucketClient;
  private readonly trust: S3ChecksumTrust;
  protected readonly uploads: S3Multipart;
  private readonly listPageSize: number;
  private readonly headConcurrency: number;

  /** Throws a permanent StorageError for an unusable configuration (an unreadable CA bundle). */
  constructor(config: S3StoreConfig, options: S3StoreOptions = {}) {
    super();
    this.client = new S3BucketClient(config, options);
    this.description = this.client.description;
    this.bucket = this.client.bucket;
    this.prefix = this.client.prefix;
    this.listPageSize = Math.min(Math.max(Math.trunc(options.listPageSize ?? 1000), 1), 1000);
    this.headConcurrency = Math.max(Math.trunc(options.headConcurrency ?? 8), 1);
    this.trust = new S3ChecksumTrust((operation) => probeChecksumRefusal(this.client, this, operation));
    this.uploads = new S3Multipart(this.client, this.trust, this.listPageSize);
  }

  // ---- listing ----------------------------------------------------------------

  async *list(prefix: string, startAfter?: string, options: ListOptions = {}): AsyncIterable<ObjectInfo> {
    const { client } = this;
    let token: string | undefined;
    do {
      const page = await client.send('list', prefix, () =>
        client.sdk.send(
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
          ...(object.ETag ? { etag: unquote(object.ETag)!, version: unquote(object.ETag)! } : {}),
          lastModified: object.LastModified ?? new Date(0),
        });
      }
      yield* options.checksums ? this.withChecksums(infos) : infos;
      token = nextListingToken(page, this.description, prefix);
    } while (token);
  }

  /** `infos` with each one's checksum from a HEAD, headConcurrency at a time, in order. */
  private async *withChecksums(infos: ObjectInfo[]): AsyncIterable<ObjectInfo> {
    for (let i = 0; i < infos.length; i += this.headConcurrency) {
      const window = infos.slice(i, i + this.headConcurrency);
      const heads = await Promise.all(window.map((info) => this.head(info.key, 'list')));
      for (const [j, info] of window.entries()) {
        const checksum = heads[j]?.checksum;
        yield checksum ? { ...info, checksum } : info;
      }
    }
  }

  // ---- objects ----------------------------------------------------------------

  stat(key: string): Promise<ObjectInfo | undefined> {
    return this.head(key, 'stat');
  }

  /** HEAD; undefined when absent. HEAD responses carry no error code, so an unexplained 404/403 is re-asked with a listing. */
  private async head(key: string, operation: string): Promise<ObjectInfo | undefined> {
    const { client } = this;
    const Key = client.fullKey(key, operation);
    let head: HeadObjectCommandOutput;
    try {
      head = await client.sdk.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key, ChecksumMode: 'ENABLED' }),
      );
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status !== 404 && status !== 403) throw client.fail(err, operation, key);
      if (status === 404 && client.bucketVerified) return undefined;
      // A listing's error body names the problem (NoSuchBucket, InvalidAccessKeyId, …).
      await client.send(operation, key, () =>
        client.sdk.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: Key, MaxKeys: 1 })),
      );
      if (status === 404) return undefined;
      throw client.fail(err, operation, key);
    }
    client.markReached();
    const metadata = Object.fromEntries(
      Object.entries(head.Metadata ?? {}).filter(([name]) => !name.startsWith('ferry-')),
    );
    const checksum = checksumOf(head);
    return {
      key,
      size: head.ContentLength ?? 0,
      ...(head.ETag ? { etag: unquote(head.ETag)!, version: unquote(head.ETag)! } : {}),
      lastModified: head.LastModified ?? new Date(0),
      ...(checksum ? { checksum } : {}),
      metadata,
    };
  }

  /** A GET is one version by itself (S3 serves each request from one); `options.version` pins it with If-Match. */
  async read(key: string, range?: ByteRange, options: ReadOptions = {}): Promise<Readable> {
    const { client } = this;
    const Key = client.fullKey(key, 'read');
    checkRange(client.context('read', key), range);
    let body: Readable;
    try {
      body = await client.objects.get(Key, range, options.version);
    } catch (err) {
      if (s3ErrorCode(err) === 'NoSuchKey') throw new ObjectNotFoundError(this.description, 'read', key, err);
      if (s3ErrorCode(err) === 'PreconditionFailed')
        throw new ObjectChangedError(
          this.description,
          'read',
          key,
          `it is no longer the version with ETag ${options.version}`,
          err,
        );
      throw client.fail(err, 'read', key);
    }
    client.markReached();
    return mapStreamErrors(body, (err) => client.fail(err, 'read', key));
  }

  async write(key: string, body: Readable, options: WriteOptions): Promise<WriteResult> {
    const { client } = this;
    const { target: Key, sha256 } = checkUpload(
      client.context('write', key),
      body,
      () => client.fullKey(key, 'write'),
      options,
    );
    const trailing = sha256 === undefined ? options.trailingSha256 : undefined;
    if (options.size <= bufferedWriteMaxBytes)
      return this.writeBuffered(Key, key, body, options, sha256 ?? trailing);
    const metadata = { ...options.metadata, ...(sha256 ? { [checksumMetadataKey]: sha256 } : {}) };
    const { output, sha256: stored } = await putStreamed(client, this.trust, {
      operation: 'write',
      key,
      body,
      size: options.size,
      sha256,
      trailing,
      put: (payload, abortSignal, checksum) =>
        client.objects.put({
          key: Key,
          size: options.size,
          body: payload,
          metadata,
          abortSignal,
          ...checksum,
        }),
      discard: () => this.delete(key),
    });
    return { sha256: stored, size: options.size, ...(output.etag ? { etag: output.etag } : {}) };
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
    const verifier = new VerifyingStream(this.client.context('write', key), options.size, expected);
    const chunks = await collectVerified(body, verifier);
    const digest = verifier.sha256!;
    let output;
    try {
      output = await this.client.objects.put({
        key: Key,
        size: options.size,
        body: Buffer.concat(chunks, options.size),
        sha256: digest,
        metadata: { ...options.metadata, [checksumMetadataKey]: digest },
      });
    } catch (err) {
      if (isDigestRefusal(err)) throw new ChecksumMismatchError(this.description, 'write', key, digest);
      throw this.client.fail(err, 'write', key);
    }
    this.client.markReached();
    return { sha256: digest, size: options.size, ...(output.etag ? { etag: output.etag } : {}) };
  }

  async delete(key: string): Promise<void> {
    const Key = this.client.fullKey(key, 'delete');
    try {
      await this.client.sdk.send(new DeleteObjectCommand({ Bucket: this.bucket, Key }));
    } catch (err) {
      if (s3ErrorCode(err) === 'NoSuchKey') return;
      throw this.client.fail(err, 'delete', key);
    }
    this.client.markReached();
  }

  async close(): Promise<void> {
    this.client.close();
  }
}

/** The object's SHA-256: the one Ferry recorded, or S3's own when it covers the whole object. */
function checksumOf(head: HeadObjectCommandOutput): ObjectInfo['checksum'] {
  const recorded = head.Metadata?.[checksumMetadataKey]?.toLowerCase();
  if (recorded !== undefined && isSha256Hex(recorded)) return { algorithm: 'SHA256', value: recorded };
  // Not a multipart composite ("…-N").
  const native = head.ChecksumSHA256;
  if (native && !native.includes('-') && (head.ChecksumType ?? 'FULL_OBJECT') === 'FULL_OBJECT') {
    const hex = base64ToHex(native);
    if (isSha256Hex(hex)) return { algorithm: 'SHA256', value: hex };
  }
  return undefined;
}

/**
 * Reads `body` whole through `verifier`. The body's own errors come out
 * unchanged, the verifier's as StorageErrors. (Not stream.pipeline: its
 * set-up and teardown cost more than a 4 KiB object's bytes.)
 */
function collectVerified(body: Readable, verifier: VerifyingStream): Promise<Buffer[]> {
  return new Promise<Buffer[]>((resolve, reject) => {
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
}

/**
 * Where the next page of a listing starts, or undefined when the listing is
 * complete. A page that says more follows but gives no token cannot be
 * continued: ending there would pass a partial listing off as whole, and a
 * Sync would delete what it never saw. So it fails, permanently.
 */
function nextListingToken(
  page: { IsTruncated?: boolean; NextContinuationToken?: string },
  store: string,
  prefix: string,
): string | undefined {
  if (!page.IsTruncated) return undefined;
  if (page.NextContinuationToken) return page.NextContinuationToken;
  throw new StorageError('the server said the listing is truncated but gave no continuation token', {
    kind: 'permanent',
    store,
    operation: 'list',
    key: prefix,
    code: 'IncompleteListing',
  });
}
