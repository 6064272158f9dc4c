import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';
import {
  classifyS3Error,
  InvalidKeyError,
  openObjectStore,
  S3Store,
  StorageError,
} from '../../../storage/index.ts';

function sdkError(name: string, status?: number, message = 'details'): Error {
  return Object.assign(new Error(message), {
    name,
    ...(status ? { $metadata: { httpStatusCode: status } } : {}),
  });
}

describe('classifyS3Error', () => {
  it.each([
    ['NoSuchBucket', 404, 'permanent', /bucket "b" does not exist/],
    ['AccessDenied', 403, 'permanent', /access denied/],
    ['InvalidAccessKeyId', 403, 'permanent', /credentials were refused/],
    ['SignatureDoesNotMatch', 403, 'permanent', /credentials were refused/],
    ['XAdminUserNotFound', 403, 'permanent', /credentials were refused/],
    ['SlowDown', 503, 'retryable', /throttled/],
    ['InternalError', 500, 'retryable', /server error/],
    ['ServiceUnavailable', 503, 'retryable', /server error/],
    ['RequestTimeout', 400, 'retryable', /timed out/],
    ['TimeoutError', undefined, 'retryable', /timed out/],
    ['SomethingNew', 502, 'retryable', /server error/],
    ['SomethingNew', 429, 'retryable', /server error/],
    ['SomethingNew', 400, 'permanent', /request refused/],
    ['Forbidden', 403, 'permanent', /access denied/],
  ] as const)('%s (HTTP %s) is %s', (name, status, kind, problem) => {
    const result = classifyS3Error(sdkError(name, status), 'b');
    expect(result.kind).toBe(kind);
    expect(result.problem).toMatch(problem);
    expect(result.problem).toContain(name);
  });

  it.each(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND'])(
    'network error %s is retryable',
    (code) => {
      const err = Object.assign(new Error(`connect ${code}`), { code });
      expect(classifyS3Error(err, 'b')).toMatchObject({ kind: 'retryable', code });
    },
  );

  it('an untrusted certificate is permanent', () => {
    const err = Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    expect(classifyS3Error(err, 'b')).toMatchObject({ kind: 'permanent' });
  });

  it('an untrusted certificate that arrives without its code (a wrapped string) is permanent too', () => {
    const err = new Error('AWS SDK error wrapper for Error: unable to verify the first certificate');
    expect(classifyS3Error(err, 'b')).toMatchObject({
      kind: 'permanent',
      problem: expect.stringContaining('TLS'),
    });
  });
});

describe('S3Store without a server', () => {
  const config = { endpoint: 'http://127.0.0.1:1', bucket: 'b', prefix: 'p/' };

  it('refuses keys S3 cannot hold, before any request', async () => {
    const store = new S3Store(config, { maxAttempts: 1 });
    try {
      const long = 'x'.repeat(1023); // 1025 bytes with the prefix
      await expect(store.stat(long)).rejects.toBeInstanceOf(InvalidKeyError);
      const body = Readable.from([Buffer.from('x')], { objectMode: false });
      const error = await store.write(long, body, { size: 1 }).catch((err: unknown) => err);
      expect(error).toBeInstanceOf(InvalidKeyError);
      expect((error as Error).message).toContain('bucket "b" prefix "p/"');
      expect(body.destroyed).toBe(true);
      await expect(store.read('')).rejects.toBeInstanceOf(InvalidKeyError);
    } finally {
      await store.close();
    }
  });

  it('refuses a malformed checksum', async () => {
    const store = new S3Store(config);
    try {
      const body = Readable.from([Buffer.from('x')], { objectMode: false });
      await expect(store.write('k', body, { size: 1, sha256: 'abc' })).rejects.toMatchObject({
        kind: 'permanent',
        code: 'InvalidArgument',
      });
    } finally {
      await store.close();
    }
  });

  it('loads a CA bundle, and fails permanently when it cannot', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ferry-ca-'));
    try {
      const bundle = path.join(dir, 'ca.pem');
      writeFileSync(bundle, rootCertificates[0]!);
      await openObjectStore({
        s3: { ...config, endpoint: 'https://127.0.0.1:1', caBundleFile: bundle },
      }).close();
      const error = (() => {
        try {
          openObjectStore({ s3: { ...config, caBundleFile: path.join(dir, 'missing.pem') } });
        } catch (err) {
          return err;
        }
      })();
      expect(error).toBeInstanceOf(StorageError);
      expect(error).toMatchObject({ kind: 'permanent', code: 'CaBundle' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('opens a filesystem store for a filesystem configuration', () => {
    const store = openObjectStore({
      filesystem: { claimName: 'pvc', mountPath: '/mnt/data', path: '/photos' },
    });
    expect(store.description).toBe('filesystem store pvc:/photos (/mnt/data/photos)');
    expect(store.recordsChecksums).toBe(false);
  });
});
