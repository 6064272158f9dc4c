// A copy task end to end over real HTTP: the destination handler on a
// node:http server over a real store (the bed's S3, and a filesystem
// directory), fed by runCopyTask from another real store.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { Readable } from 'node:stream';
import type { ObjectStore } from '../../../../storage/index.ts';
import { runCopyTask, type CopyTask } from '../../../../worker/transfer/copyTask.ts';
import { deleteObject, sendObject } from '../../../../worker/transfer/destinationClient.ts';
import { objectPath, TransferError } from '../../../../worker/transfer/protocol.ts';
import {
  chunked,
  MiB,
  readSha256,
  setups,
  sha256,
  startDestination,
  token,
  type Destination,
  type Pair,
} from './harness.ts';

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function rejection(promise: Promise<unknown>): Promise<TransferError> {
  const error = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(TransferError);
  return error as TransferError;
}

describe.each(setups)('a copy task, %s', (_name, setup) => {
  let pair: Pair;
  let destination: Destination;

  beforeAll(async () => {
    pair = await setup();
    destination = await startDestination(pair.destination);
  });
  afterAll(async () => {
    await destination?.close();
    await pair?.cleanup();
  });

  it('copies mixed objects byte-identical', async () => {
    const objects: [string, Buffer][] = [
      ['empty', Buffer.alloc(0)],
      ['one byte', Buffer.from('x')],
      ['dir/300 KiB ü €.bin', randomBytes(300 * 1024)],
      ['big/8 MiB 100% +plus+.bin', randomBytes(8 * MiB)],
      ['big/2 MiB, its SHA-256 a trailer.bin', randomBytes(2 * MiB)],
      ['日本語/スペース と %2F+%20.txt', Buffer.from('unicode ✓')],
    ];
    for (const [key, data] of objects)
      await pair.source.write(key, chunked(data), { size: data.length, sha256: sha256(data) });
    const task: CopyTask = {
      kind: 'copy',
      id: 'mixed',
      // Some objects with their checksum known up front, some without.
      objects: objects.map(([key, data], i) => ({
        key,
        size: data.length,
        ...(i % 2 ? { sha256: sha256(data) } : {}),
      })),
      bytes: objects.reduce((n, [, data]) => n + data.length, 0),
    };
    const progress: string[] = [];
    destination.committed.length = 0;
    const outcome = await runCopyTask(task, pair.source, destination.target, {
      concurrency: 3,
      onProgress: (p) => progress.push(p.key),
    });
    expect(outcome).toEqual({
      state: 'SUCCEEDED',
      objectsDone: objects.length,
      bytesDone: task.bytes,
      failed: [],
    });
    expect(progress.sort()).toEqual(objects.map(([key]) => key).sort());
    // The audit trail names each committed object once.
    expect([...destination.committed].sort()).toEqual(objects.map(([key]) => key).sort());
    for (const [key, data] of objects) {
      expect((await pair.destination.stat(key))?.size).toBe(data.length);
      expect(await readSha256(pair.destination, key)).toBe(sha256(data));
    }
  });

  it('refuses a wrong token (401, permanent) and writes nothing', async () => {
    const data = Buffer.from('secret stuff');
    const error = await rejection(
      sendObject({ ...destination.target, token: 'not-the-token' }, 'token/k', chunked(data), data.length),
    );
    expect(error).toMatchObject({ kind: 'permanent', code: 'Unauthorized', status: 401 });
    await expect(deleteObject({ ...destination.target, token: '' }, 'token/k')).rejects.toMatchObject({
      kind: 'permanent',
      status: 401,
    });
    expect(await pair.destination.stat('token/k')).toBeUndefined();
  });

  it('refuses a body that does not match x-ferry-sha256 (409, retryable), and writes nothing', async () => {
    const data = randomBytes(100_000);
    const error = await rejection(
      sendObject(destination.target, 'mismatch/k', chunked(data), data.length, sha256(Buffer.from('other'))),
    );
    expect(error).toMatchObject({ kind: 'retryable', code: 'ChecksumMismatch', status: 409 });
    expect(await pair.destination.stat('mismatch/k')).toBeUndefined();
    // The keep-alive connection is still usable after an error response.
    await expect(
      sendObject(destination.target, 'mismatch/k', chunked(data), data.length, sha256(data)),
    ).resolves.toEqual({
      sha256: sha256(data),
      size: data.length,
    });
  });

  it('checks a large body against the SHA-256 trailer its sender computed (409 when it differs, 400 when it is missing), writing nothing', async () => {
    const data = randomBytes(3 * MiB);
    const send = (trailer: string | undefined) =>
      sendObject(destination.target, 'trailer/k', chunked(data), data.length, undefined, () => trailer);
    // Right first: an S3 store that saw its server check a trailer leaves the next ones to it.
    await expect(send(sha256(data))).resolves.toEqual({ sha256: sha256(data), size: data.length });
    await pair.destination.delete('trailer/k');
    const wrong = await rejection(send(sha256(Buffer.from('other'))));
    expect(wrong).toMatchObject({ kind: 'retryable', code: 'ChecksumMismatch', status: 409 });
    expect(await pair.destination.stat('trailer/k')).toBeUndefined();
    const missing = await rejection(send(undefined));
    expect(missing).toMatchObject({ kind: 'permanent', code: 'MissingChecksum', status: 400 });
    expect(await pair.destination.stat('trailer/k')).toBeUndefined();
  });

  it('refuses a chunked body without x-ferry-size (400, permanent)', async () => {
    const url = new URL(objectPath('chunked/k'), destination.target.baseUrl);
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(url, {
        method: 'PUT',
        headers: { authorization: `Bearer ${token}`, 'transfer-encoding': 'chunked' },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end('some bytes');
    });
    expect(status).toBe(400);
    expect(await pair.destination.stat('chunked/k')).toBeUndefined();
  });

  it('refuses an invalid key (400, permanent)', async () => {
    const error = await rejection(
      sendObject(destination.target, 'x'.repeat(1100), chunked(Buffer.from('x')), 1),
    );
    expect(error).toMatchObject({ kind: 'permanent', code: 'InvalidKey', status: 400 });
  });

  it('leaves nothing when the client disconnects mid-body', async () => {
    const before = destination.warnings.length;
    const { baseUrl } = destination.target;
    const url = new URL(objectPath('aborted/k'), baseUrl);
    const req = http.request({
      method: 'PUT',
      hostname: url.hostname,
      port: url.port,
      path: url.pathname + url.search,
      headers: { authorization: `Bearer ${token}`, 'content-length': 4 * MiB },
    });
    req.on('error', () => undefined);
    req.write(randomBytes(MiB));
    await new Promise((resolve) => setTimeout(resolve, 200));
    req.destroy();
    await until(() => destination.warnings.slice(before).some((w) => w.message.includes('aborted')));
    expect(await pair.destination.stat('aborted/k')).toBeUndefined();
  });

  it('deletes, also an object that does not exist', async () => {
    await expect(deleteObject(destination.target, 'never/there')).resolves.toBeUndefined();
    await sendObject(destination.target, 'delete/me', chunked(Buffer.from('bye')), 3);
    expect(await pair.destination.stat('delete/me')).toBeDefined();
    await deleteObject(destination.target, 'delete/me');
    expect(await pair.destination.stat('delete/me')).toBeUndefined();
  });

  it('fails an object whose size changed since planning (SourceChanged, retryable), committing nothing', async () => {
    const data = randomBytes(1000);
    await pair.source.write('changed/stat', chunked(data), { size: data.length });
    const good = Buffer.from('fine');
    await pair.source.write('changed/ok', chunked(good), { size: good.length });
    const outcome = await runCopyTask(
      {
        kind: 'copy',
        id: 'changed',
        objects: [
          { key: 'changed/stat', size: 2000 },
          { key: 'changed/ok', size: good.length },
        ],
        bytes: 2000 + good.length,
      },
      pair.source,
      destination.target,
      { concurrency: 2 },
    );
    expect(outcome.state).toBe('FAILED');
    expect(outcome.objectsDone).toBe(1);
    expect(outcome.failed).toEqual([
      {
        key: 'changed/stat',
        kind: 'retryable',
        code: 'SourceChanged',
        message: expect.stringContaining('2000'),
      },
    ]);
    expect(outcome.error).toMatchObject({ kind: 'retryable', keys: ['changed/stat'] });
    expect(await pair.destination.stat('changed/stat')).toBeUndefined();
    expect(await readSha256(pair.destination, 'changed/ok')).toBe(sha256(good));
  });

  it('fails an object that grows or shrinks between stat and read, committing nothing', async () => {
    // A source whose stat still reports the planned size while the read yields other content.
    for (const [key, actual] of [
      ['race/grew', 300_000],
      ['race/shrank', 100_000],
      ['race/grew-at-chunk-end', 64 * 1024 * 3],
    ] as const) {
      const planned = key === 'race/grew-at-chunk-end' ? 64 * 1024 * 2 : 200_000;
      const data = randomBytes(actual);
      await pair.source.write(key, chunked(data), { size: data.length });
      const lying: ObjectStore = Object.create(pair.source) as ObjectStore;
      lying.stat = async (k: string) => {
        const info = await pair.source.stat(k);
        return info && { ...info, size: planned, checksum: undefined };
      };
      const outcome = await runCopyTask(
        { kind: 'copy', id: key, objects: [{ key, size: planned }], bytes: planned },
        lying,
        destination.target,
        { concurrency: 1 },
      );
      expect(outcome.failed).toEqual([
        {
          key,
          kind: 'retryable',
          code: 'SourceChanged',
          message: expect.stringContaining('changed since planning'),
        },
      ]);
      // The destination sees an aborted body; give it a moment, then nothing is there.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await pair.destination.stat(key)).toBeUndefined();
    }
  });

  it('streams a 128 MiB object without holding it in memory', async () => {
    // RSS also moves with garbage collection, so the bound is half the object:
    // holding the object (on either side) would exceed it by far.
    const size = 128 * MiB;
    const block = randomBytes(MiB);
    const generated = Readable.from(
      (function* () {
        for (let i = 0; i < size / MiB; i++) {
          const chunk = Buffer.from(block);
          chunk.writeUInt32BE(i, 0);
          yield chunk;
        }
      })(),
      { objectMode: false },
    );
    const written = await pair.source.write('big/64', generated, { size });
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 10);
    try {
      const outcome = await runCopyTask(
        { kind: 'copy', id: 'big', objects: [{ key: 'big/64', size }], bytes: size },
        pair.source,
        destination.target,
        { concurrency: 1 },
      );
      expect(outcome.state).toBe('SUCCEEDED');
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, process.memoryUsage().rss);
    expect(peak - before).toBeLessThan(size / 2);
    expect(await readSha256(pair.destination, 'big/64')).toBe(written.sha256);
  });
});
