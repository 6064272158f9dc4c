// The behaviour every ObjectStore driver must share (storage/objectStore.ts),
// as one suite run against each driver.
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  ChecksumMismatchError,
  MissingChecksumError,
  ObjectNotFoundError,
  SizeMismatchError,
  UploadNotFoundError,
  type ObjectInfo,
  type ObjectStore,
} from '../../../storage/index.ts';

export interface ContractStore {
  store: ObjectStore;
  cleanup(): Promise<void>;
}

/** Makes a fresh, empty store; `listPageSize` is a hint (drivers without pages ignore it). */
export type MakeStore = (options: { listPageSize: number }) => Promise<ContractStore>;

export const MiB = 1024 * 1024;

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function body(data: Buffer): Readable {
  // Several chunks, as a network source would deliver them.
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < data.length; offset += 64 * 1024)
    chunks.push(data.subarray(offset, offset + 64 * 1024));
  return Readable.from(chunks.length ? chunks : [Buffer.alloc(0)], { objectMode: false });
}

/** A body that yields `before` bytes, then fails. */
export function failingBody(before: number, error = new Error('the source broke')): Readable {
  return Readable.from(
    (async function* () {
      yield randomBytes(before);
      await new Promise((resolve) => setTimeout(resolve, 20));
      throw error;
    })(),
    { objectMode: false },
  );
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

export function byteOrder(keys: string[]): string[] {
  return [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

/** Keys whose byte order differs from directory-walk order and from JS string order. */
export const orderingKeys = [
  'a/b',
  'a-b',
  'a.b',
  'a0',
  'é',
  'z',
  'Z',
  'a/c/d',
  'a b',
  'a+b',
  'a%b',
  '~',
  '日本/x',
  '\u{1F600}', // UTF-16 sorts it before U+FF01, UTF-8 after
  '\uFF01',
  'b/a/a',
  'b/a-a',
  'b/a.a',
  'b/aa',
];

/** A key of exactly `bytes` UTF-8 bytes, in segments short enough for any filesystem. */
export function longKey(bytes: number): string {
  const segments: string[] = [];
  let remaining = bytes;
  while (remaining > 0) {
    const length = Math.min(200, remaining - (remaining > 200 ? 1 : 0));
    segments.push('k'.repeat(length));
    remaining -= length + (remaining > length ? 1 : 0);
  }
  const key = segments.join('/');
  if (Buffer.byteLength(key) !== bytes) throw new Error(`longKey: ${Buffer.byteLength(key)} != ${bytes}`);
  return key;
}

export function describeObjectStoreContract(name: string, makeStore: MakeStore): void {
  describe(`ObjectStore contract: ${name}`, () => {
    let made: ContractStore;
    let store: ObjectStore;
    let n = 0;
    /** A fresh key namespace per test, so tests never see each other's objects. */
    let ns: string;

    beforeAll(async () => {
      made = await makeStore({ listPageSize: 7 });
      store = made.store;
    });
    afterAll(async () => {
      await made?.store.close();
      await made?.cleanup();
    });
    beforeEach(() => {
      ns = `t${++n}/`;
    });

    async function put(key: string, data: Buffer, expected?: string) {
      return store.write(key, body(data), { size: data.length, ...(expected ? { sha256: expected } : {}) });
    }

    it.each([0, 1, 5 * MiB])('round-trips a %i-byte object with its SHA-256', async (size) => {
      const data = randomBytes(size);
      const key = `${ns}obj-${size}`;
      const result = await put(key, data, sha256(data));
      expect(result).toMatchObject({ sha256: sha256(data), size });
      expect(sha256(await readAll(await store.read(key)))).toBe(sha256(data));

      const info = await store.stat(key);
      expect(info).toMatchObject({ key, size });
      expect(Number.isFinite(info!.lastModified.getTime())).toBe(true); // (a Date from another realm)
      const listed = await collect(store.list(ns, undefined, { checksums: true }));
      expect(listed.map((o) => [o.key, o.size])).toEqual([[key, size]]);
      if (store.recordsChecksums) {
        expect(info!.checksum).toEqual({ algorithm: 'SHA256', value: sha256(data) });
        expect(listed[0]!.checksum).toEqual({ algorithm: 'SHA256', value: sha256(data) });
      } else {
        expect(info!.checksum).toBeUndefined();
      }
    });

    it('computes the SHA-256 when none is expected', async () => {
      const data = randomBytes(3000);
      const result = await put(`${ns}unverified`, data);
      expect(result.sha256).toBe(sha256(data));
      if (store.recordsChecksums)
        expect((await store.stat(`${ns}unverified`))!.checksum?.value).toBe(sha256(data));
    });

    it('keeps unicode, spaces, %, + and a 900-byte key intact', async () => {
      const keys = [
        `${ns}é ü/日本語 file.txt`,
        `${ns}100% sure+plus`,
        `${ns}a+b=c&d?e#f`,
        `${ns}emoji \u{1F600}`,
        ns + longKey(900 - Buffer.byteLength(ns)),
      ];
      expect(Buffer.byteLength(keys[4]!)).toBe(900);
      for (const key of keys) await put(key, Buffer.from(key));
      for (const key of keys) {
        expect((await readAll(await store.read(key))).toString()).toBe(key);
        expect((await store.stat(key))?.key).toBe(key);
      }
      expect((await collect(store.list(ns))).map((o) => o.key)).toEqual(byteOrder(keys));
    });

    it('lists in UTF-8 byte order, across pages, after startAfter and under a prefix', async () => {
      const keys = [...orderingKeys.map((k) => ns + k)];
      for (const key of keys) await put(key, Buffer.from('x'));
      const sorted = byteOrder(keys);
      expect((await collect(store.list(ns))).map((o) => o.key)).toEqual(sorted); // 19 keys, pages of 7

      const after = `${ns}a.b`;
      expect((await collect(store.list(ns, after))).map((o) => o.key)).toEqual(
        sorted.filter((k) => Buffer.compare(Buffer.from(k), Buffer.from(after)) > 0),
      );
      expect((await collect(store.list(`${ns}a`))).map((o) => o.key)).toEqual(
        sorted.filter((k) => k.startsWith(`${ns}a`)),
      );
      expect((await collect(store.list(`${ns}b/a`))).map((o) => o.key)).toEqual([
        `${ns}b/a-a`,
        `${ns}b/a.a`,
        `${ns}b/a/a`,
        `${ns}b/aa`,
      ]);
      expect(await collect(store.list(`${ns}nothing-here/`))).toEqual([]);
    });

    it('pages through more keys than one page holds', async () => {
      const keys = Array.from({ length: 23 }, (_, i) => `${ns}p/${String(i).padStart(3, '0')}`);
      for (const key of keys) await put(key, Buffer.from(key));
      const listed: ObjectInfo[] = await collect(store.list(`${ns}p/`));
      expect(listed.map((o) => o.key)).toEqual(keys);
      expect(listed.every((o) => o.size === Buffer.byteLength(o.key))).toBe(true);
    });

    it('reads a byte range', async () => {
      const data = randomBytes(1000);
      await put(`${ns}ranged`, data);
      expect(await readAll(await store.read(`${ns}ranged`, { start: 10, end: 19 }))).toEqual(
        data.subarray(10, 20),
      );
      expect(await readAll(await store.read(`${ns}ranged`, { start: 990, end: 5000 }))).toEqual(
        data.subarray(990),
      );
    });

    it('uploads in parts, resumes from listParts, and completes byte-identical', async () => {
      const key = `${ns}multi/part.bin`;
      const parts = [randomBytes(5 * MiB), randomBytes(5 * MiB), randomBytes(1234)];
      const whole = Buffer.concat(parts);
      const uploadId = await store.createMultipart(key, { sha256: sha256(whole) });

      const first = await store.writePart(key, uploadId, 1, body(parts[0]!), parts[0]!.length, {
        sha256: sha256(parts[0]!),
      });
      expect(first).toMatchObject({ partNumber: 1, size: parts[0]!.length, sha256: sha256(parts[0]!) });
      await store.writePart(key, uploadId, 2, body(parts[1]!), parts[1]!.length);
      // A resumed copy asks what is there and sends only the rest.
      const stored = await store.listParts(key, uploadId);
      expect(stored.map((p) => [p.partNumber, p.size, p.sha256])).toEqual([
        [1, parts[0]!.length, sha256(parts[0]!)],
        [2, parts[1]!.length, sha256(parts[1]!)],
      ]);
      expect(await store.stat(key)).toBeUndefined();
      expect(await collect(store.list(''))).not.toContainEqual(expect.objectContaining({ key }));

      const third = await store.writePart(key, uploadId, 3, body(parts[2]!), parts[2]!.length);
      await store.completeMultipart(key, uploadId, [...stored, third]);

      expect(sha256(await readAll(await store.read(key)))).toBe(sha256(whole));
      const info = await store.stat(key);
      expect(info?.size).toBe(whole.length);
      if (store.recordsChecksums) expect(info?.checksum?.value).toBe(sha256(whole));
      // Nothing of the upload is left in listings.
      expect((await collect(store.list(''))).filter((o) => o.key.startsWith(ns)).map((o) => o.key)).toEqual([
        key,
      ]);
      await expect(store.listParts(key, uploadId)).rejects.toBeInstanceOf(UploadNotFoundError);
    });

    it('completes an upload once when two completions race: the other one finds it gone, or done', async () => {
      const key = `${ns}multi/raced.bin`;
      const parts = [randomBytes(5 * MiB), randomBytes(3 * MiB)];
      const uploadId = await store.createMultipart(key);
      const stored = [
        await store.writePart(key, uploadId, 1, body(parts[0]!), parts[0]!.length),
        await store.writePart(key, uploadId, 2, body(parts[1]!), parts[1]!.length),
      ];
      const outcomes = await Promise.allSettled([
        store.completeMultipart(key, uploadId, stored),
        store.completeMultipart(key, uploadId, stored),
      ]);
      expect(outcomes.some((o) => o.status === 'fulfilled')).toBe(true);
      for (const o of outcomes)
        if (o.status === 'rejected') expect(o.reason).toBeInstanceOf(UploadNotFoundError);
      expect(sha256(await readAll(await store.read(key)))).toBe(sha256(Buffer.concat(parts)));
    });

    it('refuses a part whose bytes differ from its SHA-256, and aborts idempotently', async () => {
      const key = `${ns}multi/aborted`;
      const uploadId = await store.createMultipart(key);
      const data = randomBytes(1000);
      await expect(
        store.writePart(key, uploadId, 1, body(data), data.length, { sha256: sha256(Buffer.from('other')) }),
      ).rejects.toBeInstanceOf(ChecksumMismatchError);
      expect(await store.listParts(key, uploadId)).toEqual([]);
      await store.abortMultipart(key, uploadId);
      await store.abortMultipart(key, uploadId);
      await expect(store.listParts(key, uploadId)).rejects.toBeInstanceOf(UploadNotFoundError);
      expect(await store.stat(key)).toBeUndefined();
    });

    it('discards a write whose bytes do not match the expected SHA-256', async () => {
      const key = `${ns}mismatch`;
      const data = randomBytes(100_000);
      const wrong = sha256(Buffer.from('something else'));
      const error = await put(key, data, wrong).catch((err: unknown) => err);
      expect(error).toBeInstanceOf(ChecksumMismatchError);
      expect(error).toMatchObject({ kind: 'retryable', expected: wrong });
      expect(await store.stat(key)).toBeUndefined();
      expect(await collect(store.list(ns))).toEqual([]);

      // An existing object keeps its content.
      const old = Buffer.from('old content');
      await put(key, old);
      await expect(put(key, data, wrong)).rejects.toBeInstanceOf(ChecksumMismatchError);
      expect(await readAll(await store.read(key))).toEqual(old);
    });

    it.each([100_000, 3 * MiB])(
      'checks an expected SHA-256 that comes after the body (%i bytes): right, wrong, missing, right again',
      async (size) => {
        // In this order on purpose: an S3 store that has seen its server check
        // one trailer leaves the next ones to the server, which must refuse too.
        const key = `${ns}trailing`;
        const data = randomBytes(size);
        const write = (expected: string | undefined) =>
          store.write(key, body(data), { size, trailingSha256: () => expected });
        expect(await write(sha256(data))).toMatchObject({ sha256: sha256(data), size });

        await store.delete(key);
        const wrong = sha256(Buffer.from('something else'));
        const error = await write(wrong).catch((err: unknown) => err);
        expect(error).toBeInstanceOf(ChecksumMismatchError);
        expect(error).toMatchObject({ kind: 'retryable', expected: wrong });
        expect(await store.stat(key)).toBeUndefined();

        const missing = await write(undefined).catch((err: unknown) => err);
        expect(missing).toBeInstanceOf(MissingChecksumError);
        expect(missing).toMatchObject({ kind: 'permanent', code: 'MissingChecksum' });
        expect(await store.stat(key)).toBeUndefined();

        expect(await write(sha256(data))).toMatchObject({ sha256: sha256(data), size });
        expect(sha256(await readAll(await store.read(key)))).toBe(sha256(data));
        if (store.recordsChecksums)
          expect((await store.stat(key))!.checksum).toEqual({ algorithm: 'SHA256', value: sha256(data) });
      },
    );

    it("checks a part's SHA-256 that comes after its body: right, wrong, missing; the right one stays", async () => {
      const key = `${ns}multi/trailing.bin`;
      const data = randomBytes(1 * MiB + 17);
      const uploadId = await store.createMultipart(key);
      const part = (expected: string | undefined) =>
        store.writePart(key, uploadId, 1, body(data), data.length, { trailingSha256: () => expected });
      expect(await part(sha256(data))).toMatchObject({
        partNumber: 1,
        size: data.length,
        sha256: sha256(data),
      });
      const wrong = sha256(Buffer.from('something else'));
      const error = await part(wrong).catch((err: unknown) => err);
      expect(error).toBeInstanceOf(ChecksumMismatchError);
      expect(error).toMatchObject({ kind: 'retryable', expected: wrong });
      await expect(part(undefined)).rejects.toBeInstanceOf(MissingChecksumError);

      const stored = await store.listParts(key, uploadId);
      expect(stored.map((p) => [p.partNumber, p.size, p.sha256])).toEqual([[1, data.length, sha256(data)]]);
      await store.completeMultipart(key, uploadId, stored);
      expect(sha256(await readAll(await store.read(key)))).toBe(sha256(data));
    });

    it('leaves nothing visible when the body fails or has the wrong size', async () => {
      const sourceError = new Error('the source broke');
      await expect(
        store.write(`${ns}broken`, failingBody(300_000, sourceError), { size: 1_000_000 }),
      ).rejects.toBe(sourceError);
      await expect(store.write(`${ns}short`, body(randomBytes(10)), { size: 11 })).rejects.toBeInstanceOf(
        SizeMismatchError,
      );
      await expect(store.write(`${ns}long`, body(randomBytes(12)), { size: 11 })).rejects.toBeInstanceOf(
        SizeMismatchError,
      );
      expect(await collect(store.list(ns))).toEqual([]);
      for (const key of ['broken', 'short', 'long']) expect(await store.stat(`${ns}${key}`)).toBeUndefined();
    });

    it('deletes idempotently, and reports missing objects', async () => {
      await put(`${ns}gone`, Buffer.from('x'));
      await store.delete(`${ns}gone`);
      await store.delete(`${ns}gone`);
      await store.delete(`${ns}never/existed`);
      expect(await store.stat(`${ns}gone`)).toBeUndefined();
      await expect(store.read(`${ns}gone`)).rejects.toBeInstanceOf(ObjectNotFoundError);
    });

    it('overwrites an object atomically', async () => {
      await put(`${ns}over`, Buffer.from('first'));
      const second = randomBytes(2000);
      await put(`${ns}over`, second, sha256(second));
      expect(await readAll(await store.read(`${ns}over`))).toEqual(second);
    });
  });
}
