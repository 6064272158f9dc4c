// The demo's sample data: a photo library — a few thousand small images, some
// raw files of a few MiB and a few videos. Names and sizes are the same on
// every run (a seeded generator), contents are random. Only each object's size
// and SHA-256 stay in memory: the bytes go straight to the bucket.
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { sha, streamSha } from '../test/support/bucketContents.ts';

export interface SampleObject {
  key: string;
  size: number;
  sha256: string;
}

const KiB = 1024;
const MiB = 1024 * KiB;

/** mulberry32: a tiny seeded generator, so every run lays out the same sizes. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Keys and sizes of the sample under `prefix`: per month, 250 images of 8 to
 * 64 KiB and a few raw files of 2 to 8 MiB; a video every four months (24 MiB,
 * 40 MiB, then `largestVideo`). Sizes mix along the key order, so the job's
 * tasks — cut in key order — and its progress move at an even pace.
 */
export function sampleLayout(prefix: string, largestVideo: number): { key: string; size: number }[] {
  const random = seeded(6);
  const videos = [24 * MiB, 40 * MiB, largestVideo];
  const layout: { key: string; size: number }[] = [];
  for (let m = 1; m <= 12; m++) {
    const month = `${prefix}2026/${String(m).padStart(2, '0')}/`;
    for (let i = 0; i < 250; i++)
      layout.push({
        key: `${month}img-${String(i).padStart(4, '0')}.jpg`,
        size: Math.round(8 * KiB + random() * 56 * KiB),
      });
    for (let i = 0; i < (m % 3 === 0 ? 4 : 3); i++)
      layout.push({
        key: `${month}raw-${String(i).padStart(2, '0')}.arw`,
        size: Math.round(2 * MiB + random() * 6 * MiB),
      });
    if (m % 4 === 0) layout.push({ key: `${month}clip.mp4`, size: videos[m / 4 - 1]! });
  }
  return layout;
}

async function inBatches<T>(items: T[], width: number, run: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await run(items[next++]!);
  };
  await Promise.all(Array.from({ length: width }, lane));
}

/** Writes random contents of the layout's sizes; returns what was written, by key. */
export async function uploadSample(
  s3: S3Client,
  bucket: string,
  layout: { key: string; size: number }[],
): Promise<Map<string, SampleObject>> {
  const written = new Map<string, SampleObject>();
  await inBatches(layout, 16, async ({ key, size }) => {
    const body = randomBytes(size);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    written.set(key, { key, size, sha256: sha(body) });
  });
  return written;
}

/** Every object under `prefix`, with its size, from the bucket's own listing. */
export async function listBucket(s3: S3Client, bucket: string, prefix: string): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const o of page.Contents ?? []) sizes.set(o.Key!, o.Size ?? 0);
    token = page.NextContinuationToken;
  } while (token);
  return sizes;
}

/**
 * Checks the destination against the source: both buckets list exactly the
 * sample's keys under `prefix` with their sizes, and every destination
 * object's SHA-256 is the one computed when its source was written. Throws
 * naming the first differences.
 */
export async function verifyReplica(
  s3: S3Client,
  sample: Map<string, SampleObject>,
  prefix: string,
  sourceBucket: string,
  destinationBucket: string,
): Promise<void> {
  const differences: string[] = [];
  for (const bucket of [sourceBucket, destinationBucket]) {
    const listed = await listBucket(s3, bucket, prefix);
    for (const [key, size] of listed) {
      const expected = sample.get(key);
      if (!expected) differences.push(`${bucket}: unexpected object ${key}`);
      else if (expected.size !== size)
        differences.push(`${bucket}: ${key} is ${size} bytes, expected ${expected.size}`);
    }
    for (const key of sample.keys()) if (!listed.has(key)) differences.push(`${bucket}: missing ${key}`);
  }
  if (differences.length === 0) {
    await inBatches([...sample.values()], 16, async ({ key, sha256 }) => {
      const { Body } = await s3.send(new GetObjectCommand({ Bucket: destinationBucket, Key: key }));
      if ((await streamSha(Body as Readable)) !== sha256)
        differences.push(`${destinationBucket}: ${key} differs from its source (SHA-256)`);
    });
  }
  if (differences.length > 0) {
    throw new Error(
      `the destination does not match the source (${differences.length} differences):\n  ` +
        differences.slice(0, 10).join('\n  '),
    );
  }
}
