// The transfer pieces that need no server: error mapping, the token check,
// the source-side size check, and which bodies carry their SHA-256 as a trailer.
import { Readable } from 'node:stream';
import {
  ChecksumMismatchError,
  InvalidKeyError,
  SizeMismatchError,
  StorageError,
} from '../../../../storage/objectStore.ts';
import { SourceCheck } from '../../../../worker/transfer/copyTask.ts';
import { asTransferError } from '../../../../worker/transfer/destinationClient.ts';
import { tokenMatches } from '../../../../worker/http/routes.ts';
import { storageErrorResponse } from '../../../../worker/transfer/receiving.ts';
import { TransferError, trailerMinBytes } from '../../../../worker/transfer/protocol.ts';
import { bufferedWriteMaxBytes } from '../../../../storage/s3Store.ts';

async function drain(stream: Readable): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return chunks;
}

describe('storageErrorResponse', () => {
  const store = 'test store';
  it.each([
    [new ChecksumMismatchError(store, 'write', 'k', 'a'.repeat(64)), 409, 'retryable', 'ChecksumMismatch'],
    [new SizeMismatchError(store, 'write', 'k', 10, 5), 409, 'retryable', 'SizeMismatch'],
    [new InvalidKeyError(store, 'write', '../k', 'traversal'), 400, 'permanent', 'InvalidKey'],
    [
      new StorageError('bad sha', { kind: 'permanent', store, operation: 'write', code: 'InvalidArgument' }),
      400,
      'permanent',
      'InvalidArgument',
    ],
    [
      new StorageError('slow down', { kind: 'retryable', store, operation: 'write', code: 'SlowDown' }),
      503,
      'retryable',
      'SlowDown',
    ],
    [
      new StorageError('denied', { kind: 'permanent', store, operation: 'write', code: 'AccessDenied' }),
      500,
      'permanent',
      'AccessDenied',
    ],
    [new Error('boom'), 500, 'permanent', 'InternalError'],
  ])('maps case %#', (error, status, kind, code) => {
    const response = storageErrorResponse(error);
    expect(response.status).toBe(status);
    expect(response.body.error).toMatchObject({ kind, code });
    expect(response.body.error.message).toEqual(expect.any(String));
  });
});

describe('tokenMatches', () => {
  it('accepts only the exact bearer token', () => {
    expect(tokenMatches('Bearer s3cret', 's3cret')).toBe(true);
    expect(tokenMatches('Bearer s3cret2', 's3cret')).toBe(false);
    expect(tokenMatches('Bearer s3cre', 's3cret')).toBe(false);
    expect(tokenMatches('bearer s3cret', 's3cret')).toBe(false);
    expect(tokenMatches('s3cret', 's3cret')).toBe(false);
    expect(tokenMatches(undefined, 's3cret')).toBe(false);
    expect(tokenMatches('Bearer ', '')).toBe(false);
  });
});

describe('SourceCheck', () => {
  it('passes exactly the planned bytes and knows their SHA-256', async () => {
    const check = new SourceCheck('k', 6);
    const out = await drain(Readable.from([Buffer.from('abc'), Buffer.from('def')]).pipe(check));
    expect(Buffer.concat(out).toString()).toBe('abcdef');
    expect(check.sha256).toBe('bef57ec7f53a6d40beb640a780a639c83bc29ac8a9816f1fc6c5c6dcd93c4721');
  });

  it.each([
    ['more', [Buffer.from('abc'), Buffer.from('defg')]],
    ['fewer', [Buffer.from('abc')]],
  ])(
    'fails retryable SourceChanged when the source yields %s bytes, before the last planned byte goes',
    async (_, chunks) => {
      const check = new SourceCheck('k', 6);
      const seen: Buffer[] = [];
      check.on('data', (chunk: Buffer) => seen.push(chunk));
      Readable.from(chunks).pipe(check);
      const error = await new Promise((resolve) => check.on('error', resolve));
      expect(error).toMatchObject({ kind: 'retryable', code: 'SourceChanged' });
      expect(Buffer.concat(seen).length).toBeLessThan(6);
      expect(check.sha256).toBeUndefined();
    },
  );
});

describe('asTransferError', () => {
  it('keeps a StorageError kind and code, and makes unknown errors retryable', () => {
    const storage = new StorageError('gone', {
      kind: 'permanent',
      store: 's',
      operation: 'read',
      code: 'NoSuchKey',
    });
    expect(asTransferError(storage)).toMatchObject({ kind: 'permanent', code: 'NoSuchKey' });
    expect(asTransferError(new Error('reset'))).toMatchObject({ kind: 'retryable', code: 'SourceError' });
    const transfer = new TransferError('permanent', 'X', 'x');
    expect(asTransferError(transfer)).toBe(transfer);
  });
});

describe('trailerMinBytes', () => {
  it('sends a trailer with every body an S3 destination streams, and with none it buffers (and hashes anyway)', () => {
    expect(trailerMinBytes).toBe(bufferedWriteMaxBytes + 1);
  });
});
