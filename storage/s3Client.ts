// The connection to one bucket that every part of the S3 driver shares: the
// keep-alive agents (with the job's CA bundle), the SDK client for listing,
// HEAD, DELETE and multipart bookkeeping, our own requests for the bytes
// (s3ObjectRequests.ts, docs/adr/0010), the key layout under the prefix, and
// the mapping of failures to StorageErrors.
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { rootCertificates } from 'node:tls';
import { S3Client } from '@aws-sdk/client-s3';
import { directoryPrefix } from '../api/storePaths.ts';
import type { S3StoreConfig, S3StoreOptions } from './config.ts';
import type { VerifierContext } from './integrity.ts';
import { InvalidKeyError, StorageError } from './objectStore.ts';
import { classifyS3Error, s3StorageError } from './s3Errors.ts';
import { S3ObjectRequests } from './s3ObjectRequests.ts';

/** The user metadata entry holding the SHA-256 Ferry recorded for an object. */
export const checksumMetadataKey = 'ferry-sha256';
const maxKeyBytes = 1024;

export class S3BucketClient {
  readonly description: string;
  readonly bucket: string;
  /** The configured prefix as a directory ('' or ending in '/'): what every listing, key and delete is under. */
  readonly prefix: string;
  readonly sdk: S3Client;
  /** GET, PUT and UploadPart: the requests that carry object bytes. */
  readonly objects: S3ObjectRequests;
  private readonly agents: { http: HttpAgent; https: HttpsAgent };
  /** Set once a request reached the bucket: afterwards a HEAD 404 means the object is absent. */
  private reached = false;

  /** Throws a permanent StorageError when the CA bundle cannot be read. */
  constructor(config: S3StoreConfig, options: S3StoreOptions) {
    this.bucket = config.bucket;
    this.prefix = directoryPrefix(config.prefix);
    this.description = `s3 store ${config.endpoint} bucket "${config.bucket}"${this.prefix ? ` prefix "${this.prefix}"` : ''}`;
    const ca = this.trustedCertificates(config);
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
    this.sdk = new S3Client({
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
      credentials: () => this.sdk.config.credentials(),
      connectionTimeoutMs,
      socketTimeoutMs,
      maxAttempts,
      retryable: (err) => classifyS3Error(err, this.bucket).kind === 'retryable',
    });
  }

  /** The system's CA certificates and the job's, when it has a bundle; undefined for the system's alone. */
  private trustedCertificates(config: S3StoreConfig): string[] | undefined {
    if (config.caBundle !== undefined) return [...rootCertificates, config.caBundle];
    if (config.caBundleFile === undefined) return undefined;
    try {
      return [...rootCertificates, readFileSync(config.caBundleFile, 'utf8')];
    } catch (err) {
      throw new StorageError(`cannot read the CA bundle ${config.caBundleFile}: ${(err as Error).message}`, {
        kind: 'permanent',
        store: this.description,
        operation: 'open',
        code: 'CaBundle',
        cause: err,
      });
    }
  }

  /** Whether a request has reached the bucket (so it exists and the credentials work). */
  get bucketVerified(): boolean {
    return this.reached;
  }

  /** Records that a request reached the bucket. */
  markReached(): void {
    this.reached = true;
  }

  /** `err` as the StorageError of `operation` on this store. */
  fail(err: unknown, operation: string, key?: string): StorageError {
    return s3StorageError(err, this.bucket, this.description, operation, key);
  }

  /** The full S3 key; throws InvalidKeyError for a key S3 cannot hold. */
  fullKey(key: string, operation: string): string {
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

  context(operation: string, key: string): VerifierContext {
    return { store: this.description, operation, key };
  }

  /** Runs one request: marks the bucket reached when it succeeds, maps its failure to a StorageError. */
  async send<T>(operation: string, key: string | undefined, run: () => Promise<T>): Promise<T> {
    try {
      const result = await run();
      this.reached = true;
      return result;
    } catch (err) {
      throw this.fail(err, operation, key);
    }
  }

  close(): void {
    this.sdk.destroy();
    this.agents.http.destroy();
    this.agents.https.destroy();
  }
}

/** An ETag as S3 answers it, without its quotes. */
export function unquote(etag: string | undefined): string | undefined {
  return etag?.replaceAll('"', '');
}
