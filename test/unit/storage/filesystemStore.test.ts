import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import {
  ChecksumMismatchError,
  FilesystemStore,
  filesystemKeyProblem,
  InvalidKeyError,
  keyToPath,
  ObjectNotFoundError,
  StorageError,
  UploadNotFoundError,
} from '../../../storage/index.ts';

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');
const byteOrder = (keys: string[]) =>
  [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
const bodyOf = (data: Buffer | string) => Readable.from([Buffer.from(data)], { objectMode: false });

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Every path under `dir`, hidden ones included, relative and sorted. */
async function tree(dir: string): Promise<string[]> {
  return ((await readdir(dir, { recursive: true })) as string[]).sort();
}

function failingBody(bytes: number, error: Error): Readable {
  return Readable.from(
    (async function* () {
      yield randomBytes(bytes);
      throw error;
    })(),
    { objectMode: false },
  );
}

let dir: string;
let store: FilesystemStore;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ferry-fs-unit-'));
  store = new FilesystemStore({ claimName: 'pvc', mountPath: dir });
});
afterEach(() => rm(dir, { recursive: true, force: true }));

async function put(key: string, data: Buffer | string = key): Promise<void> {
  await store.write(key, bodyOf(data), { size: Buffer.byteLength(data) });
}

describe('filesystem keys', () => {
  it.each([
    ['../escape', '".." segment'],
    ['a/../../escape', '".." segment'],
    ['a/..', '".." segment'],
    ['./a', '"." segment'],
    ['/etc/passwd', 'absolute'],
    ['a\0b', 'NUL'],
    ['a//b', 'empty segment'],
    ['dir/', 'ends with "/"'],
    ['', 'empty'],
    ['.ferry-staging/x', 'reserved'],
    ['a/.ferry-tmp-123', 'reserved'],
    ['x'.repeat(256), 'longer than 255 bytes'],
  ])('refuses %j (%s), naming the key', (key, reason) => {
    expect(filesystemKeyProblem(key)).toContain(reason);
    let error: unknown;
    try {
      keyToPath('/data', key, 'filesystem store pvc:/', 'write');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(InvalidKeyError);
    expect(error).toMatchObject({ kind: 'permanent', key });
    expect((error as Error).message).toContain(JSON.stringify(key));
    expect((error as Error).message).toContain('filesystem store pvc:/');
  });

  it.each([
    'é ü/日本語 file.txt',
    'a b/c%20d+e',
    '100%',
    'a+b',
    '..a',
    'a..',
    '...',
    'a\\b',
    'x'.repeat(255),
  ])('keeps %j intact', (key) => {
    expect(filesystemKeyProblem(key)).toBeUndefined();
    expect(keyToPath('/data', key)).toBe(`/data/${key}`);
  });

  it('refuses unsafe keys in every operation, before touching the disk', async () => {
    for (const attempt of [
      () => store.stat('../x'),
      () => store.read('../x'),
      () => store.write('../x', bodyOf('x'), { size: 1 }),
      () => store.delete('../x'),
      () => store.createMultipart('../x'),
      () => collect(store.list('../')),
    ])
      await expect(attempt()).rejects.toBeInstanceOf(InvalidKeyError);
    expect(await tree(dir)).toEqual([]);
  });

  it('refuses a configured path with ".."', () => {
    expect(() => new FilesystemStore({ claimName: 'pvc', mountPath: dir, path: '/a/../..' })).toThrow(
      StorageError,
    );
  });
});

describe('filesystem listing', () => {
  it('yields keys in UTF-8 byte order, whatever the directory layout', async () => {
    const keys = [
      'a/b',
      'a-b',
      'a.b',
      'a0',
      'é',
      'z',
      'Z',
      'a/c/d',
      'a b',
      '\u{1F600}',
      '\uFF01',
      'b/a-a',
      'b/a/a',
    ];
    for (const key of keys) await put(key);
    expect((await collect(store.list(''))).map((o) => o.key)).toEqual(byteOrder(keys));
  });

  it('matches a Buffer.compare sort, with prefixes and startAfter, on random trees', async () => {
    const alphabet = ['a', 'b', '-', '.', '0', 'é', ' ', '+', '%', '\u{1F600}', '\uFF01', '/'];
    const pick = () => alphabet[Math.floor(Math.random() * alphabet.length)]!;
    const keys = new Set<string>();
    while (keys.size < 150) {
      let key = '';
      const length = 1 + Math.floor(Math.random() * 6);
      for (let i = 0; i < length; i++) key += pick();
      if (filesystemKeyProblem(key) !== undefined) continue;
      // A file and a directory cannot share a name: skip keys that would clash.
      const clash = [...keys].some((k) => k.startsWith(`${key}/`) || key.startsWith(`${k}/`));
      if (!clash) keys.add(key);
    }
    for (const key of keys) await put(key);
    const sorted = byteOrder([...keys]);
    expect((await collect(store.list(''))).map((o) => o.key)).toEqual(sorted);
    const gt = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b)) > 0;
    for (const probe of [...sorted.slice(0, 20), 'a', 'a/', 'b/-', 'é/', '\uFF01', '', 'zzz']) {
      expect((await collect(store.list('', probe))).map((o) => o.key)).toEqual(
        sorted.filter((k) => gt(k, probe)),
      );
      expect((await collect(store.list(probe))).map((o) => o.key)).toEqual(
        sorted.filter((k) => k.startsWith(probe)),
      );
    }
  });

  it('reports sizes and modification times', async () => {
    await put('dir/file', 'hello');
    const [info] = await collect(store.list(''));
    expect(info).toMatchObject({ key: 'dir/file', size: 5 });
    expect(info!.checksum).toBeUndefined();
    expect(Math.abs(info!.lastModified.getTime() - Date.now())).toBeLessThan(60_000);
  });

  it('skips temporary files, staging, symbolic links and names reserved for Ferry', async () => {
    await put('visible');
    await writeFile(path.join(dir, '.ferry-tmp-leftover'), 'x');
    await mkdir(path.join(dir, 'sub'));
    await writeFile(path.join(dir, 'sub', '.ferry-tmp-leftover'), 'x');
    await symlink(path.join(dir, 'visible'), path.join(dir, 'link'));
    await symlink('/etc', path.join(dir, 'etc-link'));
    const uploadId = await store.createMultipart('big');
    await store.writePart('big', uploadId, 1, bodyOf('part'), 4);
    expect((await tree(dir)).some((p) => p.startsWith('.ferry-staging'))).toBe(true);
    expect((await collect(store.list(''))).map((o) => o.key)).toEqual(['visible']);
    expect(await store.stat('link')).toBeUndefined();
    await expect(store.read('link')).rejects.toBeInstanceOf(ObjectNotFoundError);
  });

  it('is empty while the root directory does not exist yet, and fails when the mount is missing', async () => {
    const nested = new FilesystemStore({ claimName: 'pvc', mountPath: dir, path: '/not/yet' });
    expect(await collect(nested.list(''))).toEqual([]);
    await nested.write('k', bodyOf('v'), { size: 1 });
    expect(await readFile(path.join(dir, 'not/yet/k'), 'utf8')).toBe('v');

    const unmounted = new FilesystemStore({ claimName: 'pvc', mountPath: path.join(dir, 'no-mount') });
    const error = await collect(unmounted.list('')).catch((err: unknown) => err);
    expect(error).toMatchObject({ kind: 'permanent', code: 'NoSuchMount' });
    expect((error as Error).message).toContain(path.join(dir, 'no-mount'));
    await expect(unmounted.write('k', bodyOf('v'), { size: 1 })).rejects.toMatchObject({
      code: 'NoSuchMount',
    });
  });
});

describe('filesystem writes', () => {
  it('leave nothing behind when the body fails, and keep the previous content', async () => {
    const error = new Error('source failed');
    await expect(store.write('a/new', failingBody(100_000, error), { size: 200_000 })).rejects.toBe(error);
    await put('a/old', 'previous');
    await expect(store.write('a/old', failingBody(100_000, error), { size: 200_000 })).rejects.toBe(error);
    expect(await tree(dir)).toEqual(['a', 'a/old']);
    expect(await readFile(path.join(dir, 'a/old'), 'utf8')).toBe('previous');
  });

  it('discard a body whose checksum does not match', async () => {
    await put('k', 'previous');
    const data = randomBytes(50_000);
    const error = await store
      .write('k', bodyOf(data), { size: data.length, sha256: sha256('other') })
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ChecksumMismatchError);
    expect(error).toMatchObject({ expected: sha256('other'), actual: sha256(data), kind: 'retryable' });
    expect(await tree(dir)).toEqual(['k']);
    expect(await readFile(path.join(dir, 'k'), 'utf8')).toBe('previous');
  });

  it('accept a matching checksum given in upper case', async () => {
    const result = await store.write('k', bodyOf('data'), { size: 4, sha256: sha256('data').toUpperCase() });
    expect(result).toEqual({ sha256: sha256('data'), size: 4 });
  });

  it('refuse to put an object where a directory of objects is, and vice versa', async () => {
    await put('a/b');
    await expect(put('a')).rejects.toMatchObject({ kind: 'permanent', code: 'EISDIR' });
    await expect(put('a/b/c')).rejects.toMatchObject({ kind: 'permanent' });
    expect(await tree(dir)).toEqual(['a', 'a/b']);
  });

  it('read ranges, and refuse a range beyond the end', async () => {
    await put('r', '0123456789');
    expect((await readAll(await store.read('r', { start: 2, end: 4 }))).toString()).toBe('234');
    expect((await readAll(await store.read('r', { start: 8, end: 100 }))).toString()).toBe('89');
    await expect(store.read('r', { start: 10, end: 12 })).rejects.toMatchObject({ code: 'InvalidRange' });
    await expect(store.read('r', { start: 5, end: 2 })).rejects.toMatchObject({ code: 'InvalidRange' });
  });
});

describe('filesystem deletes', () => {
  it('succeed when the object is absent, and prune directories left empty', async () => {
    await store.delete('never/was');
    await put('a/b/c');
    await put('a/d');
    await store.delete('a/b/c');
    expect(await tree(dir)).toEqual(['a', 'a/d']);
    await store.delete('a/b/c');
    await store.delete('a'); // a directory is not an object
    expect(await tree(dir)).toEqual(['a', 'a/d']);
  });
});

describe('filesystem multipart', () => {
  it('stages parts out of sight and concatenates them on complete', async () => {
    const parts = [randomBytes(70_000), randomBytes(70_000), randomBytes(10)];
    const whole = Buffer.concat(parts);
    const uploadId = await store.createMultipart('dir/big', { sha256: sha256(whole) });
    await store.writePart('dir/big', uploadId, 2, bodyOf(parts[1]!), parts[1]!.length);
    await store.writePart('dir/big', uploadId, 1, bodyOf(randomBytes(5)), 5);
    await store.writePart('dir/big', uploadId, 1, bodyOf(parts[0]!), parts[0]!.length); // replaces
    expect((await store.listParts('dir/big', uploadId)).map((p) => [p.partNumber, p.size])).toEqual([
      [1, parts[0]!.length],
      [2, parts[1]!.length],
    ]);
    expect(await collect(store.list(''))).toEqual([]);
    const third = await store.writePart('dir/big', uploadId, 3, bodyOf(parts[2]!), parts[2]!.length);
    const done = await store.completeMultipart('dir/big', uploadId, [
      ...(await store.listParts('dir/big', uploadId)).slice(0, 2),
      third,
    ]);
    expect(done).toEqual({ sha256: sha256(whole), size: whole.length });
    expect(await readFile(path.join(dir, 'dir/big'))).toEqual(whole);
    expect(await tree(dir)).toEqual(['.ferry-staging', 'dir', 'dir/big']);
  });

  it('answers UploadNotFoundError when another completion removes the staging mid-way (not a bare ENOENT)', async () => {
    const parts = [randomBytes(8 * 1024 * 1024), randomBytes(1000)];
    const uploadId = await store.createMultipart('raced', {});
    const stored = [
      await store.writePart('raced', uploadId, 1, bodyOf(parts[0]!), parts[0]!.length),
      await store.writePart('raced', uploadId, 2, bodyOf(parts[1]!), parts[1]!.length),
    ];
    // The outcome is taken at once: the completion may fail while the staging is being removed,
    // and a rejection nobody has handled yet fails the run as unhandled.
    const completing = store.completeMultipart('raced', uploadId, stored).then(
      () => 'completed',
      (err: unknown) => err,
    );
    // What the winning completion does once it has committed: the staging goes.
    await new Promise((resolve) => setTimeout(resolve, 5));
    await rm(path.join(dir, '.ferry-staging', uploadId), { recursive: true, force: true });
    const outcome = await completing;
    if (outcome !== 'completed') expect(outcome).toBeInstanceOf(UploadNotFoundError);
  });

  it('discards the object and the upload when the whole checksum does not match', async () => {
    const uploadId = await store.createMultipart('k', { sha256: sha256('expected') });
    const part = await store.writePart('k', uploadId, 1, bodyOf('actual'), 6);
    await expect(store.completeMultipart('k', uploadId, [part])).rejects.toBeInstanceOf(
      ChecksumMismatchError,
    );
    expect(await store.stat('k')).toBeUndefined();
    await expect(store.listParts('k', uploadId)).rejects.toBeInstanceOf(UploadNotFoundError);
  });

  it('refuses parts that were not stored, or out of order', async () => {
    const uploadId = await store.createMultipart('k');
    const one = await store.writePart('k', uploadId, 1, bodyOf('a'), 1);
    const two = await store.writePart('k', uploadId, 2, bodyOf('b'), 1);
    await expect(store.completeMultipart('k', uploadId, [two, one])).rejects.toMatchObject({
      code: 'InvalidPart',
    });
    await expect(
      store.completeMultipart('k', uploadId, [one, { partNumber: 3, etag: 'x' }]),
    ).rejects.toMatchObject({ code: 'InvalidPart' });
    await expect(store.completeMultipart('k', uploadId, [{ ...one, etag: 'stale' }])).rejects.toMatchObject({
      code: 'InvalidPart',
    });
    expect(await store.stat('k')).toBeUndefined();
  });

  it('treats unknown, foreign and malformed upload ids as absent', async () => {
    const uploadId = await store.createMultipart('k');
    for (const [key, id] of [
      ['other', uploadId],
      ['k', '../../etc'],
      ['k', 'f'.repeat(32)],
    ] as const) {
      await expect(store.listParts(key, id)).rejects.toBeInstanceOf(UploadNotFoundError);
      await expect(store.writePart(key, id, 1, bodyOf('x'), 1)).rejects.toBeInstanceOf(UploadNotFoundError);
      await store.abortMultipart(key, id);
    }
    expect(await store.listParts('k', uploadId)).toEqual([]);
    await store.abortMultipart('k', uploadId);
    await expect(store.listParts('k', uploadId)).rejects.toBeInstanceOf(UploadNotFoundError);
  });
});

describe('filesystem reads', () => {
  it('release the file when the consumer stops early', async () => {
    await put('big', randomBytes(1_000_000));
    const stream = await store.read('big');
    for await (const _chunk of stream) break;
    expect(stream.destroyed).toBe(true);
    await store.delete('big');
    expect(await tree(dir)).toEqual([]);
  });
});
