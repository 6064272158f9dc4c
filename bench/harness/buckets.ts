// The benchmarks' data: seeding a source bucket, and checking that a
// destination holds exactly what the source holds (keys, sizes and, where both
// are plain MD5 ETags, content), so a fast but wrong run cannot look good.
import { randomBytes } from 'node:crypto';
import {
  CreateBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type _Object,
} from '@aws-sdk/client-s3';
import type { S3Credentials } from '../../test/bed/s3Server.ts';

/** One S3 endpoint of the benchmark (the source or the destination server). */
export interface S3Endpoint {
  name: string;
  endpoint: string;
  region: string;
  credentials: S3Credentials;
}

export function clientFor(s3: S3Endpoint): S3Client {
  return new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    credentials: s3.credentials,
    forcePathStyle: true,
  });
}

export interface DataSet {
  /** What the scenario is called in the tables. */
  label: string;
  count: number;
  objectSize: number;
}

export const keyOf = (i: number) => `data/${String(i).padStart(6, '0')}.bin`;

export async function createBucket(client: S3Client, bucket: string): Promise<void> {
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
}

/** Fills `bucket` with the data set's objects (random bytes, so nothing compresses or dedupes). */
export async function seed(client: S3Client, bucket: string, data: DataSet, parallel = 32): Promise<void> {
  await createBucket(client, bucket);
  // Objects share one random body per writer: the content is incompressible, and
  // a 64 MiB buffer per object in flight would cost gigabytes of memory.
  const bodies = Array.from({ length: Math.min(parallel, data.count) }, () => randomBytes(data.objectSize));
  let next = 0;
  await Promise.all(
    bodies.map(async (body) => {
      for (let i = next++; i < data.count; i = next++) {
        // A distinct first word per object, so equal sizes never mean equal content.
        const own = Buffer.from(body);
        own.writeUInt32BE(i, 0);
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: keyOf(i), Body: own }));
      }
    }),
  );
}

export async function listAll(client: S3Client, bucket: string): Promise<_Object[]> {
  const objects: _Object[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    objects.push(...(page.Contents ?? []));
    token = page.NextContinuationToken;
  } while (token);
  return objects;
}

export interface Verification {
  objects: number;
  bytes: number;
  /** Objects whose content was compared through their MD5 ETags. */
  etagsCompared: number;
}

const plainMd5 = (etag: string | undefined) => !!etag && /^"?[0-9a-f]{32}"?$/.test(etag);

/**
 * Throws unless the destination holds exactly the source's keys with the same
 * sizes, and the same MD5 ETag wherever both sides have one (single-part
 * uploads); multipart ETags are not content hashes and are not compared.
 */
export async function verifyCopy(
  source: { client: S3Client; bucket: string },
  destination: { client: S3Client; bucket: string },
  what: string,
): Promise<Verification> {
  const [want, got] = await Promise.all([
    listAll(source.client, source.bucket),
    listAll(destination.client, destination.bucket),
  ]);
  const byKey = new Map(got.map((o) => [o.Key!, o]));
  const problems: string[] = [];
  let bytes = 0;
  let etagsCompared = 0;
  for (const o of want) {
    const copy = byKey.get(o.Key!);
    if (!copy) problems.push(`missing ${o.Key}`);
    else if (copy.Size !== o.Size) problems.push(`${o.Key}: ${copy.Size} bytes, expected ${o.Size}`);
    else if (plainMd5(o.ETag) && plainMd5(copy.ETag)) {
      etagsCompared++;
      if (copy.ETag !== o.ETag) problems.push(`${o.Key}: content differs (ETag ${copy.ETag} ≠ ${o.ETag})`);
    }
    bytes += o.Size ?? 0;
    byKey.delete(o.Key!);
  }
  for (const extra of byKey.keys()) problems.push(`unexpected ${extra}`);
  if (problems.length > 0) {
    throw new Error(
      `${what}: the destination does not match the source (${problems.length} problems): ${problems.slice(0, 5).join('; ')}`,
    );
  }
  return { objects: want.length, bytes, etagsCompared };
}
