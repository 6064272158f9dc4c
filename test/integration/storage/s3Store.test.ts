import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
// The S3 driver against the bed's real S3 server (versitygw), and the same
// contract suite run for the filesystem driver, so both behave alike.
import {
  CreateBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bedEndpoints } from '../../support/bed.ts';
import {
  ChecksumMismatchError,
  FilesystemStore,
  InvalidKeyError,
  openObjectStore,
  S3Store,
  StorageError,
  type ObjectStore,
} from '../../../storage/index.ts';
import {
  body,
  byteOrder,
  collect,
  describeObjectStoreContract,
  orderingKeys,
  readAll,
  sha256,
} from './contract.ts';

let counter = 0;

async function createBucket(): Promise<string> {
  const { endpoint, region, credentials } = bedEndpoints().s3;
  const bucket = `ferry-storage-${Date.now()}-${++counter}`;
  const admin = new S3Client({ endpoint, region, credentials, forcePathStyle: true });
  try {
    await admin.send(new CreateBucketCommand({ Bucket: bucket }));
  } finally {
    admin.destroy();
  }
  return bucket;
}

async function s3Store(options: { listPageSize?: number; prefix?: string } = {}): Promise<S3Store> {
  const { endpoint, region, credentials } = bedEndpoints().s3;
  const bucket = await createBucket();
  return new S3Store(
    { endpoint, region, bucket, forcePathStyle: true, ...(options.prefix ? { prefix: options.prefix } : {}) },
    { credentials, ...(options.listPageSize ? { listPageSize: options.listPageSize } : {}) },
  );
}

describeObjectStoreContract('s3 (versitygw)', async ({ listPageSize }) => ({
  store: await s3Store({ listPageSize, prefix: 'under/a prefix/' }),
  cleanup: async () => {},
}));

describeObjectStoreContract('filesystem', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-fs-contract-'));
  return {
    store: new FilesystemStore({ claimName: 'test', mountPath: dir, path: '/sub dir' }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

describe('the S3 and filesystem drivers together', () => {
  let s3: ObjectStore;
  let fs: ObjectStore;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ferry-fs-order-'));
    s3 = await s3Store({ listPageSize: 3 });
    fs = new FilesystemStore({ claimName: 'test', mountPath: dir });
  });
  afterAll(async () => {
    await s3?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('list the same keys in the same order', async () => {
    const keys = [
      ...orderingKeys,
      ...orderingKeys.map((k) => `nested/${k}`),
      'nested-',
      'nested.x',
      'nested0',
    ];
    for (const store of [s3, fs])
      for (const key of keys)
        await store.write(key, body(Buffer.from(key)), { size: Buffer.byteLength(key) });
    const fromS3 = (await collect(s3.list(''))).map((o) => [o.key, o.size]);
    const fromFs = (await collect(fs.list(''))).map((o) => [o.key, o.size]);
    expect(fromS3.map(([key]) => key)).toEqual(byteOrder(keys));
    expect(fromFs).toEqual(fromS3);
    for (const after of ['a', 'a/b', 'nested/', 'nested/a.b', '\uFF01'])
      expect((await collect(fs.list('', after))).map((o) => o.key)).toEqual(
        (await collect(s3.list('', after))).map((o) => o.key),
      );
    for (const prefix of ['a', 'a/', 'nested/a', 'nested/b/', 'n'])
      expect((await collect(fs.list(prefix))).map((o) => o.key)).toEqual(
        (await collect(s3.list(prefix))).map((o) => o.key),
      );
  });

  it('copy an object from one to the other, verified', async () => {
    const data = randomBytes(200_000);
    await s3.write('copy/src.bin', body(data), { size: data.length, sha256: sha256(data) });
    const info = await s3.stat('copy/src.bin');
    const result = await fs.write('copy/src.bin', await s3.read('copy/src.bin'), {
      size: info!.size,
      sha256: info!.checksum!.value,
    });
    expect(result.sha256).toBe(sha256(data));
    expect(await readAll(await fs.read('copy/src.bin'))).toEqual(data);
  });
});

describe('the S3 driver and network-sized chunks', () => {
  it('writes a body that arrives in small pieces, as a request body from another pod does', async () => {
    const store = await s3Store();
    try {
      const pieces = Array.from({ length: 300 }, (_, i) => Buffer.alloc(1000, i % 251));
      const expected = createHash('sha256').update(Buffer.concat(pieces)).digest('hex');
      const written = await store.write('small-pieces.bin', Readable.from(pieces), { size: 300_000 });
      expect(written.sha256).toBe(expected);
      expect((await store.stat('small-pieces.bin'))?.size).toBe(300_000);
    } finally {
      await store.close();
    }
  });

  it('records the SHA-256 of a small object written without one, so a later plan can prove it equal', async () => {
    const store = await s3Store();
    try {
      const data = Buffer.alloc(4096, 7);
      const written = await store.write('small-unplanned.bin', Readable.from([data]), { size: data.length });
      expect((await store.stat('small-unplanned.bin'))?.checksum).toEqual({
        algorithm: 'SHA256',
        value: written.sha256,
      });
      expect(written.sha256).toBe(sha256(data));
    } finally {
      await store.close();
    }
  });

  it('streams a large object written without a SHA-256 with it as a trailer: the server checks and records it', async () => {
    const store = await s3Store();
    try {
      const data = randomBytes(3 * 1024 * 1024 + 17);
      const pieces = Array.from({ length: Math.ceil(data.length / 10_000) }, (_, i) =>
        data.subarray(i * 10_000, (i + 1) * 10_000),
      );
      const written = await store.write('streamed-unplanned.bin', Readable.from(pieces), {
        size: data.length,
      });
      expect(written.sha256).toBe(sha256(data));
      // The server's own full-object SHA-256, from the trailer, is what stat reports.
      expect((await store.stat('streamed-unplanned.bin'))?.checksum).toEqual({
        algorithm: 'SHA256',
        value: sha256(data),
      });
      expect(sha256(await readAll(await store.read('streamed-unplanned.bin')))).toBe(sha256(data));
    } finally {
      await store.close();
    }
  });

  it('refuses a wrong trailing SHA-256 of an object and of a part once the server is trusted with them, and leaves no probe behind', async () => {
    const store = await s3Store();
    const { endpoint, region, credentials } = bedEndpoints().s3;
    const admin = new S3Client({ endpoint, region, credentials, forcePathStyle: true });
    try {
      const data = randomBytes(300 * 1024);
      const right = () => sha256(data);
      const wrong = () => sha256(Buffer.from('other bytes'));
      // The first upload of each kind asks the server whether it refuses a wrong SHA-256;
      // from then on the check is the server's alone.
      await store.write('checked.bin', body(data), { size: data.length, trailingSha256: right });
      await expect(
        store.write('wrong.bin', body(data), { size: data.length, trailingSha256: wrong }),
      ).rejects.toBeInstanceOf(ChecksumMismatchError);
      expect(await store.stat('wrong.bin')).toBeUndefined();

      const uploadId = await store.createMultipart('parts.bin');
      const part = await store.writePart('parts.bin', uploadId, 1, body(data), data.length, {
        trailingSha256: right,
      });
      expect(part.sha256).toBe(sha256(data));
      await expect(
        store.writePart('parts.bin', uploadId, 2, body(data), data.length, { trailingSha256: wrong }),
      ).rejects.toBeInstanceOf(ChecksumMismatchError);
      expect((await store.listParts('parts.bin', uploadId)).map((p) => p.partNumber)).toEqual([1]);
      await store.abortMultipart('parts.bin', uploadId);

      // The probes (a refused PUT; a refused part of an upload then aborted) left nothing.
      expect((await collect(store.list(''))).map((o) => o.key)).toEqual(['checked.bin']);
      const uploads = await admin.send(new ListMultipartUploadsCommand({ Bucket: store.bucket }));
      expect(uploads.Uploads ?? []).toEqual([]);
    } finally {
      admin.destroy();
      await store.close();
    }
  });

  it('keeps requests on a few kept-alive connections instead of one per object', async () => {
    const store = await s3Store();
    const { endpoint } = bedEndpoints().s3;
    const port = Number(new URL(endpoint).port);
    let connections = 0;
    const counting = (socket: import('node:net').Socket) => {
      if (socket.remotePort === port) connections++;
    };
    const { Agent } = await import('node:http');
    const originalCreate = Agent.prototype.createConnection;
    Agent.prototype.createConnection = function (this: InstanceType<typeof Agent>, ...args: unknown[]) {
      const socket = (originalCreate as (...a: unknown[]) => import('node:net').Socket).apply(this, args);
      socket.once('connect', () => counting(socket));
      return socket;
    };
    try {
      for (let i = 0; i < 20; i++) {
        await store.write(`kept/${i}`, Readable.from([Buffer.alloc(300_000, i)]), { size: 300_000 });
        expect((await readAll(await store.read(`kept/${i}`))).length).toBe(300_000);
      }
      expect(connections).toBeLessThanOrEqual(2);
    } finally {
      Agent.prototype.createConnection = originalCreate;
      await store.close();
    }
  });
});

describe('the S3 server', () => {
  // The driver's "never visible with wrong content" rests on this (besides its
  // own verifier aborting the request): the server checks x-amz-checksum-sha256.
  it('refuses a PUT whose body does not match its x-amz-checksum-sha256', async () => {
    const { endpoint, region, credentials } = bedEndpoints().s3;
    const bucket = await createBucket();
    const client = new S3Client({ endpoint, region, credentials, forcePathStyle: true, maxAttempts: 1 });
    try {
      const data = Buffer.from('the real content');
      const wrong = Buffer.from(sha256(Buffer.from('other')), 'hex').toString('base64');
      await expect(
        client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: 'k',
            Body: data,
            ContentLength: data.length,
            ChecksumSHA256: wrong,
          }),
        ),
      ).rejects.toMatchObject({ name: 'BadDigest' });
      await expect(client.send(new HeadObjectCommand({ Bucket: bucket, Key: 'k' }))).rejects.toMatchObject({
        name: 'NotFound',
      });
    } finally {
      client.destroy();
    }
  });
});

describe('S3 driver errors', () => {
  const stores: ObjectStore[] = [];
  afterAll(async () => {
    for (const store of stores) await store.close();
  });
  function open(overrides: {
    bucket?: string;
    endpoint?: string;
    credentials?: { accessKeyId: string; secretAccessKey: string };
  }): ObjectStore {
    const bed = bedEndpoints().s3;
    const store = openObjectStore(
      {
        s3: {
          endpoint: overrides.endpoint ?? bed.endpoint,
          region: bed.region,
          bucket: overrides.bucket ?? 'unused',
          forcePathStyle: true,
        },
      },
      overrides.credentials ?? bed.credentials,
      { maxAttempts: 1, connectionTimeoutMs: 2_000 },
    );
    stores.push(store);
    return store;
  }

  async function failure(promise: Promise<unknown>): Promise<StorageError> {
    const error = await promise.then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(StorageError);
    return error as StorageError;
  }

  it('a wrong secret is permanent, and says the credentials were refused', async () => {
    const bucket = await createBucket();
    const { accessKeyId } = bedEndpoints().s3.credentials;
    const store = open({ bucket, credentials: { accessKeyId, secretAccessKey: 'not-the-secret' } });
    for (const attempt of [
      () => collect(store.list('')),
      () => store.stat('some/key'),
      () => store.write('k', body(Buffer.from('x')), { size: 1 }),
    ]) {
      const error = await failure(attempt());
      expect(error.kind).toBe('permanent');
      expect(error.code).toBe('SignatureDoesNotMatch');
      expect(error.message).toMatch(/credentials were refused/);
      expect(error.message).toContain(bucket);
    }
  });

  it('an unknown access key is permanent, and says the credentials were refused', async () => {
    const bucket = await createBucket();
    const store = open({ bucket, credentials: { accessKeyId: 'nobody', secretAccessKey: 'nothing' } });
    for (const attempt of [() => collect(store.list('')), () => store.stat('some/key')]) {
      const error = await failure(attempt());
      expect(error.kind).toBe('permanent');
      expect(error.message).toMatch(/credentials were refused/);
    }
  });

  it('a missing bucket is permanent, and named', async () => {
    const store = open({ bucket: 'no-such-bucket-here' });
    for (const attempt of [
      () => collect(store.list('')),
      () => store.stat('k'),
      () => store.read('k'),
      () => store.write('k', body(Buffer.from('x')), { size: 1 }),
      () => store.delete('k'),
      () => store.createMultipart('k'),
    ]) {
      const error = await failure(attempt());
      expect(error.kind).toBe('permanent');
      expect(error.code).toBe('NoSuchBucket');
      expect(error.message).toContain('bucket "no-such-bucket-here" does not exist');
    }
  });

  it('an unreachable endpoint is retryable', async () => {
    const store = open({ endpoint: 'http://127.0.0.1:1' });
    const error = await failure(collect(store.list('')));
    expect(error.kind).toBe('retryable');
    expect(error.message).toContain('http://127.0.0.1:1');
  });

  it('refuses a key longer than S3 allows', async () => {
    const store = open({});
    await expect(store.stat('x'.repeat(1025))).rejects.toBeInstanceOf(InvalidKeyError);
    await expect(store.stat('')).rejects.toBeInstanceOf(InvalidKeyError);
  });
});
