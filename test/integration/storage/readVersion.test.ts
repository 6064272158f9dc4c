// A read is of one version of an object (docs/adr/0033), against the bed's S3
// and a real directory: a read pinned to a version the store no longer holds
// fails retryably before any byte, and a file written to while it is read
// fails the stream instead of ending it.
import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { FilesystemStore, ObjectChangedError, type ObjectStore } from '../../../storage/index.ts';
import { chunked, fsStore, s3Store } from '../worker/transfer/harness.ts';

async function drain(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const drivers: [string, () => Promise<{ store: ObjectStore; cleanup: () => Promise<void> }>][] = [
  [
    'S3',
    async () => {
      const store = await s3Store();
      return { store, cleanup: () => store.close() };
    },
  ],
  ['filesystem', fsStore],
];

describe.each(drivers)('a read pinned to a version, %s', (_name, open_) => {
  let store: ObjectStore;
  let cleanup: () => Promise<void>;
  beforeAll(async () => ({ store, cleanup } = await open_()));
  afterAll(() => cleanup?.());

  it('reads that version, and fails retryably once the object was rewritten with the same size', async () => {
    const first = randomBytes(64 * 1024);
    await store.write('pinned.bin', chunked(first), { size: first.length });
    const version = (await store.stat('pinned.bin'))?.version;
    expect(version).toEqual(expect.any(String));
    const listed = [];
    for await (const info of store.list('pinned')) listed.push(info.version);
    expect(listed).toEqual([version]);
    expect(await drain(await store.read('pinned.bin', { start: 10, end: 99 }, { version }))).toEqual(
      first.subarray(10, 100),
    );

    const second = randomBytes(first.length);
    await store.write('pinned.bin', chunked(second), { size: second.length });
    const refused = store.read('pinned.bin', { start: 10, end: 99 }, { version });
    await expect(refused).rejects.toBeInstanceOf(ObjectChangedError);
    await expect(refused).rejects.toMatchObject({ kind: 'retryable', code: 'SourceChanged' });
  });
});

describe('a file written to while it is read', () => {
  it('fails the read instead of ending it with bytes of two versions', async () => {
    const { store, cleanup } = await fsStore();
    try {
      const data = randomBytes(4 * 1024 * 1024);
      await store.write('torn.bin', chunked(data), { size: data.length });
      const stream = await store.read('torn.bin');
      const first = await new Promise<Buffer>((resolve) => stream.once('data', resolve));
      stream.pause();
      await new Promise((resolve) => setTimeout(resolve, 20));
      const file = await open(path.join((store as FilesystemStore).root, 'torn.bin'), 'r+');
      await file.write(randomBytes(16), 0, 16, data.length - 16);
      await file.close();
      stream.resume();
      await expect(drain(stream)).rejects.toMatchObject({ code: 'SourceChanged', kind: 'retryable' });
      expect(first.length).toBeGreaterThan(0);
    } finally {
      await cleanup();
    }
  });
});
