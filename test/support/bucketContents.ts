// Filling a source bucket and reading a destination back, independently of
// Ferry's code: what end-to-end tests compare a job's outcome with.
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';

export const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export async function streamSha(stream: Readable): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** key → SHA-256 of each object's content. */
export const hashes = (contents: Map<string, Buffer>) =>
  new Map([...contents].map(([key, body]) => [key, sha(body)]));

/**
 * Creates `bucket` holding `contents`; with `ferryChecksums`, each object
 * carries its SHA-256 as Ferry records it (ferry-sha256 metadata).
 */
export async function bucketWith(
  s3: S3Client,
  bucket: string,
  contents: Map<string, Buffer>,
  ferryChecksums = false,
): Promise<void> {
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await putObjects(s3, bucket, contents, ferryChecksums);
}

/** Writes `contents` into the existing `bucket` (see bucketWith). */
export async function putObjects(
  s3: S3Client,
  bucket: string,
  contents: Map<string, Buffer>,
  ferryChecksums = false,
): Promise<void> {
  const entries = [...contents];
  // 25 at a time: hundreds of objects fill in a second, without flooding the server.
  for (let i = 0; i < entries.length; i += 25)
    await Promise.all(
      entries.slice(i, i + 25).map(([Key, Body]) =>
        s3.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key,
            Body,
            ...(ferryChecksums ? { Metadata: { 'ferry-sha256': sha(Body) } } : {}),
          }),
        ),
      ),
    );
}

/** The bucket's objects, key → SHA-256 of the content read back (streamed). */
export async function bucketHashes(s3: S3Client, bucket: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    for (const { Key } of page.Contents ?? []) {
      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key }));
      out.set(Key!, await streamSha(got.Body as Readable));
    }
    token = page.NextContinuationToken;
  } while (token);
  return out;
}
