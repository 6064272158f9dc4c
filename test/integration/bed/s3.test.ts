import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { bedEndpoints } from '../../support/bed.ts';

describe('the local S3 server', () => {
  let s3: S3Client;
  const bucket = `smoke-${Date.now()}`;

  beforeAll(async () => {
    const { endpoint, region, credentials } = bedEndpoints().s3;
    s3 = new S3Client({ endpoint, region, credentials, forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  });

  afterAll(() => s3?.destroy());

  it('stores an object and returns the same bytes', async () => {
    const body = randomBytes(256 * 1024);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'dir/blob.bin', Body: body }));
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'dir/blob.bin' }));
    const bytes = Buffer.from(await got.Body!.transformToByteArray());
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(
      createHash('sha256').update(body).digest('hex'),
    );
  });

  it('lists keys in lexicographic order, with unicode and spaces intact', async () => {
    const keys = ['b/2', 'a/1', 'c d/é ü.txt'];
    for (const Key of keys) await s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body: Key }));
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    expect(listed.Contents?.map((o) => o.Key)).toEqual(['a/1', 'b/2', 'c d/é ü.txt', 'dir/blob.bin']);
  });
});
