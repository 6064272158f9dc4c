// Multipart uploads on S3 (docs/adr/0006). The upload uses S3's SHA-256 part
// checksums, so the server verifies every part (against the expected part
// SHA-256 when given). S3 cannot verify the whole object's SHA-256 of a
// multipart upload: the `sha256` given to create is recorded as ferry-sha256
// and it is the caller's job to send the right parts (each part's digest is
// returned by writePart and listParts).
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListPartsCommand,
} from '@aws-sdk/client-s3';
import { base64ToHex, checkUpload, checkWriteArguments, hexToBase64 } from './integrity.ts';
import { StorageError, UploadNotFoundError } from './objectStore.ts';
import type { CompletedPart, MultipartOptions, ObjectStore, PartInfo } from './objectStore.ts';
import type { MultipartUploads } from './multipartUploads.ts';
import { checksumMetadataKey, unquote, type S3BucketClient } from './s3Client.ts';
import type { S3ChecksumTrust } from './s3ChecksumTrust.ts';
import { s3ErrorCode } from './s3Errors.ts';
import { putStreamed } from './s3StreamedPut.ts';

/** The multipart half of the S3 driver; its methods are ObjectStore's of the same names. */
export class S3Multipart implements MultipartUploads {
  private readonly bucket: S3BucketClient;
  private readonly trust: S3ChecksumTrust;
  /** Parts per ListParts page (S3's default and maximum is 1000). */
  private readonly partsPageSize: number;

  constructor(bucket: S3BucketClient, trust: S3ChecksumTrust, partsPageSize = 1000) {
    this.bucket = bucket;
    this.trust = trust;
    this.partsPageSize = partsPageSize;
  }

  private uploadError(err: unknown, operation: string, key: string, uploadId: string): StorageError {
    const cause = err instanceof StorageError ? err.cause : err;
    if (s3ErrorCode(cause) === 'NoSuchUpload')
      return new UploadNotFoundError(this.bucket.description, operation, key, uploadId, cause);
    return this.bucket.fail(err, operation, key);
  }

  async createMultipart(key: string, options: MultipartOptions = {}): Promise<string> {
    const { bucket } = this;
    const Key = bucket.fullKey(key, 'createMultipart');
    const sha256 = checkWriteArguments(bucket.context('createMultipart', key), 0, options.sha256);
    const output = await bucket.send('createMultipart', key, () =>
      bucket.sdk.send(
        new CreateMultipartUploadCommand({
          Bucket: bucket.bucket,
          Key,
          ChecksumAlgorithm: 'SHA256',
          Metadata: { ...options.metadata, ...(sha256 ? { [checksumMetadataKey]: sha256 } : {}) },
        }),
      ),
    );
    if (!output.UploadId)
      throw bucket.fail(new Error('the server returned no UploadId'), 'createMultipart', key);
    return output.UploadId;
  }

  async writePart(
    ...[key, uploadId, partNumber, body, size, options = {}]: Parameters<ObjectStore['writePart']>
  ): Promise<PartInfo> {
    const { bucket } = this;
    const { target: Key, sha256 } = checkUpload(
      bucket.context('writePart', key),
      body,
      () => bucket.fullKey(key, 'writePart'),
      { size, sha256: options.sha256, partNumber },
    );
    try {
      const { output, sha256: digest } = await putStreamed(bucket, this.trust, {
        operation: 'writePart',
        key,
        body,
        size,
        sha256,
        trailing: options.trailingSha256,
        put: (payload, abortSignal, checksum) =>
          bucket.objects.put({
            key: Key,
            size,
            body: payload,
            part: { uploadId, partNumber },
            abortSignal,
            ...checksum,
          }),
        // An unconfirmed part is replaced when its task sends it again.
        discard: async () => undefined,
      });
      if (!output.etag) throw new Error('the server returned no ETag');
      return { partNumber, etag: output.etag, size, sha256: digest };
    } catch (err) {
      throw this.uploadError(err, 'writePart', key, uploadId);
    }
  }

  async listParts(key: string, uploadId: string): Promise<PartInfo[]> {
    const { bucket } = this;
    const Key = bucket.fullKey(key, 'listParts');
    const parts: PartInfo[] = [];
    let marker: string | undefined;
    for (;;) {
      let page;
      try {
        page = await bucket.sdk.send(
          new ListPartsCommand({
            Bucket: bucket.bucket,
            Key,
            UploadId: uploadId,
            MaxParts: this.partsPageSize,
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
      if (!page.IsTruncated) break;
      // A truncated page without a marker cannot be continued; stopping would
      // pass the parts seen so far off as all of them.
      if (!page.NextPartNumberMarker)
        throw new StorageError('the server said the part listing is truncated but gave no marker', {
          kind: 'permanent',
          store: bucket.description,
          operation: 'listParts',
          key,
          code: 'IncompleteListing',
        });
      marker = page.NextPartNumberMarker;
    }
    return parts.sort((a, b) => a.partNumber - b.partNumber);
  }

  async completeMultipart(key: string, uploadId: string, parts: CompletedPart[]): Promise<void> {
    const { bucket } = this;
    const Key = bucket.fullKey(key, 'completeMultipart');
    // The upload uses SHA-256 part checksums: completing needs each part's.
    let digests = new Map(parts.filter((p) => p.sha256).map((p) => [p.partNumber, p.sha256!]));
    if (digests.size < parts.length)
      digests = new Map(
        (await this.listParts(key, uploadId)).filter((p) => p.sha256).map((p) => [p.partNumber, p.sha256!]),
      );
    try {
      await bucket.sdk.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket.bucket,
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
    const { bucket } = this;
    const Key = bucket.fullKey(key, 'abortMultipart');
    try {
      await bucket.sdk.send(
        new AbortMultipartUploadCommand({ Bucket: bucket.bucket, Key, UploadId: uploadId }),
      );
    } catch (err) {
      if (s3ErrorCode(err) === 'NoSuchUpload') return;
      throw bucket.fail(err, 'abortMultipart', key);
    }
  }
}
