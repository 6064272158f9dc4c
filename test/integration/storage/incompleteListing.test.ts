// A listing the server cuts short must fail, never end as if complete: a Sync
// deletes at the destination what the source listing does not show (issue 15).
// The real S3 server never sends a truncated page without its continuation
// token, so a relay in front of it drops the token from the listing pages.
import {
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { bedEndpoints } from '../../support/bed.ts';
import { tokenDroppingRelay } from '../../support/tokenDroppingRelay.ts';
import { S3Store, StorageError } from '../../../storage/index.ts';
import { collect } from './contract.ts';

describe('a listing the S3 server cuts short', () => {
  const { endpoint, region, credentials } = bedEndpoints().s3;
  const bucket = `ferry-truncated-${Date.now()}`;
  let relay: Awaited<ReturnType<typeof tokenDroppingRelay>>;
  /** An upload of `big.bin` with five parts: two pages and a bit at the test's page size. */
  let uploadId: string;

  beforeAll(async () => {
    const admin = new S3Client({ endpoint, region, credentials, forcePathStyle: true });
    try {
      await admin.send(new CreateBucketCommand({ Bucket: bucket }));
      for (const key of ['a', 'b', 'c', 'd', 'e'])
        await admin.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: key }));
      uploadId = (await admin.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'big.bin' })))
        .UploadId!;
      for (let part = 1; part <= 5; part++)
        await admin.send(
          new UploadPartCommand({
            Bucket: bucket,
            Key: 'big.bin',
            UploadId: uploadId,
            PartNumber: part,
            Body: `part ${part}`,
          }),
        );
    } finally {
      admin.destroy();
    }
    relay = await tokenDroppingRelay(new URL(endpoint));
  });
  afterAll(async () => relay.close());

  function store(through: string): S3Store {
    return new S3Store(
      { endpoint: through, region, bucket, forcePathStyle: true },
      { credentials, listPageSize: 2, maxAttempts: 1 },
    );
  }

  it('fails, permanently and by name, when a truncated page has no continuation token', async () => {
    const cut = store(relay.url);
    try {
      const error = await collect(cut.list('')).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(StorageError);
      expect((error as StorageError).kind).toBe('permanent');
      expect((error as StorageError).code).toBe('IncompleteListing');
      expect((error as StorageError).message).toContain('truncated');
    } finally {
      await cut.close();
    }
  });

  it('lists every object when the server gives its tokens', async () => {
    const whole = store(endpoint);
    try {
      expect((await collect(whole.list(''))).map((o) => o.key)).toEqual(['a', 'b', 'c', 'd', 'e']);
    } finally {
      await whole.close();
    }
  });

  it('fails a part listing, permanently and by name, when a truncated page has no marker', async () => {
    // Completing an upload from part of its parts would commit an object with a piece missing.
    const cut = store(relay.url);
    try {
      const error = await cut.listParts('big.bin', uploadId).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(StorageError);
      expect((error as StorageError).code).toBe('IncompleteListing');
      expect((error as StorageError).message).toMatch(/part listing is truncated/);
    } finally {
      await cut.close();
    }
  });

  it('lists every part, page by page, when the server gives its markers', async () => {
    const whole = store(endpoint);
    try {
      expect((await whole.listParts('big.bin', uploadId)).map((p) => p.partNumber)).toEqual([1, 2, 3, 4, 5]);
    } finally {
      await whole.close();
    }
  });
});
