// A listing the server cuts short must fail, never end as if complete: a Sync
// deletes at the destination what the source listing does not show (issue 15).
// The real S3 server never sends a truncated page without its continuation
// token, so a relay in front of it drops the token from the listing pages.
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { bedEndpoints } from '../../support/bed.ts';
import { tokenDroppingRelay } from '../../support/tokenDroppingRelay.ts';
import { S3Store, StorageError } from '../../../storage/index.ts';
import { collect } from './contract.ts';

describe('a listing the S3 server cuts short', () => {
  const { endpoint, region, credentials } = bedEndpoints().s3;
  const bucket = `ferry-truncated-${Date.now()}`;
  let relay: Awaited<ReturnType<typeof tokenDroppingRelay>>;

  beforeAll(async () => {
    const admin = new S3Client({ endpoint, region, credentials, forcePathStyle: true });
    try {
      await admin.send(new CreateBucketCommand({ Bucket: bucket }));
      for (const key of ['a', 'b', 'c', 'd', 'e'])
        await admin.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: key }));
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
});
