// A filesystem store on a real directory tree never follows a symbolic link
// inside it, whatever the operation (docs/adr/0037), and holds S3 directory
// markers as directories; keys a filesystem cannot hold fail by name.
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { FilesystemStore } from '../../../storage/filesystemStore.ts';
import { InvalidKeyError, StorageError } from '../../../storage/objectStore.ts';

const body = (data: string) => Readable.from([Buffer.from(data)], { objectMode: false });
const sha = (data: string) => createHash('sha256').update(data).digest('hex');

/** A volume holding the store at /store, with "store/escape" linking to a directory outside the store. */
function volumeWithLink(): { store: FilesystemStore; root: string; outside: string } {
  const volume = mkdtempSync(path.join(os.tmpdir(), 'ferry-links-'));
  const outside = path.join(volume, 'outside');
  mkdirSync(path.join(outside, 'sub'), { recursive: true });
  writeFileSync(path.join(outside, 'victim.txt'), 'precious');
  writeFileSync(path.join(outside, 'sub', 'victim.txt'), 'precious too');
  const root = path.join(volume, 'store');
  mkdirSync(root);
  symlinkSync(outside, path.join(root, 'escape'));
  return {
    store: new FilesystemStore({ claimName: 'vol', path: '/store', mountPath: volume }),
    root,
    outside,
  };
}

/** The outside directory as it was planted: nothing added, nothing removed, nothing changed. */
function expectOutsideUntouched(outside: string): void {
  expect(readdirSync(outside).sort()).toEqual(['sub', 'victim.txt']);
  expect(readdirSync(path.join(outside, 'sub'))).toEqual(['victim.txt']);
  expect(readFileSync(path.join(outside, 'victim.txt'), 'utf8')).toBe('precious');
  expect(readFileSync(path.join(outside, 'sub', 'victim.txt'), 'utf8')).toBe('precious too');
}

const refusedLink = (key: string) =>
  expect.objectContaining({
    code: 'SymlinkInStore',
    key,
    message: expect.stringContaining('"escape" is a symbolic link'),
  });

describe('a filesystem store with a symbolic link planted inside it', () => {
  it('refuses to write, overwrite or create directories through it', async () => {
    const { store, outside } = volumeWithLink();
    for (const key of ['escape/new.txt', 'escape/victim.txt', 'escape/sub/victim.txt', 'escape/deeper/x.txt'])
      await expect(store.write(key, body('evil'), { size: 4 })).rejects.toEqual(refusedLink(key));
    expectOutsideUntouched(outside);
  });

  it('refuses to delete through it, and leaves the link itself alone when pruning', async () => {
    const { store, root, outside } = volumeWithLink();
    for (const key of ['escape/victim.txt', 'escape/sub/victim.txt'])
      await expect(store.delete(key)).rejects.toEqual(refusedLink(key));
    expectOutsideUntouched(outside);
    expect(existsSync(path.join(root, 'escape'))).toBe(true);
  });

  it('refuses to read through it, and neither stats nor lists what lies behind it', async () => {
    const { store } = volumeWithLink();
    await expect(store.read('escape/victim.txt')).rejects.toEqual(refusedLink('escape/victim.txt'));
    await expect(store.stat('escape/victim.txt')).rejects.toEqual(refusedLink('escape/victim.txt'));
    const listed = [];
    for await (const info of store.list('')) listed.push(info.key);
    expect(listed).toEqual([]);
    await expect(
      (async () => {
        for await (const info of store.list('escape/')) listed.push(info.key);
      })(),
    ).rejects.toEqual(refusedLink('escape/'));
  });

  it('refuses multipart uploads through it, and a staging directory that is a link', async () => {
    const { store, root, outside } = volumeWithLink();
    await expect(store.createMultipart('escape/big.bin')).rejects.toEqual(refusedLink('escape/big.bin'));
    // A directory swapped for a link between the parts and the completion.
    const uploadId = await store.createMultipart('later/big.bin');
    const part = await store.writePart('later/big.bin', uploadId, 1, body('part'), 4);
    symlinkSync(outside, path.join(root, 'later'));
    await expect(store.completeMultipart('later/big.bin', uploadId, [part])).rejects.toMatchObject({
      code: 'SymlinkInStore',
      message: expect.stringContaining('"later" is a symbolic link'),
    });
    await store.abortMultipart('later/big.bin', uploadId);
    const staging = path.join(root, '.ferry-staging');
    rmSync(staging, { recursive: true, force: true });
    symlinkSync(outside, staging);
    await expect(store.createMultipart('inside.bin')).rejects.toMatchObject({ code: 'SymlinkInStore' });
    expectOutsideUntouched(outside);
  });

  it('refuses a store whose own path runs through a link', async () => {
    const { outside } = volumeWithLink();
    const volume = path.dirname(outside);
    symlinkSync(outside, path.join(volume, 'aliased'));
    const store = new FilesystemStore({ claimName: 'vol', path: '/aliased', mountPath: volume });
    await expect(store.write('x.txt', body('evil'), { size: 4 })).rejects.toMatchObject({
      code: 'SymlinkInStore',
      message: expect.stringContaining('the store path component "/aliased"'),
    });
    expectOutsideUntouched(outside);
  });

  it('still writes, reads and deletes beside the link, a file replacing a link of its own name', async () => {
    const { store, root, outside } = volumeWithLink();
    await store.write('ok/a.txt', body('fine'), { size: 4 });
    expect(readFileSync(path.join(root, 'ok', 'a.txt'), 'utf8')).toBe('fine');
    symlinkSync(path.join(outside, 'victim.txt'), path.join(root, 'ok', 'link.txt'));
    await store.write('ok/link.txt', body('mine'), { size: 4 });
    expect(readFileSync(path.join(root, 'ok', 'link.txt'), 'utf8')).toBe('mine');
    await store.delete('ok/a.txt');
    await store.delete('ok/link.txt');
    expect(existsSync(path.join(root, 'ok'))).toBe(false);
    expectOutsideUntouched(outside);
  });
});

describe('directory markers and unrepresentable keys on a filesystem store', () => {
  const fresh = () => {
    const volume = mkdtempSync(path.join(os.tmpdir(), 'ferry-markers-'));
    return { store: new FilesystemStore({ claimName: 'vol', mountPath: volume }), root: volume };
  };

  it('holds an empty marker as its directory, and deletes it only when empty', async () => {
    const { store, root } = fresh();
    await expect(store.write('photos/2024/', body(''), { size: 0, sha256: sha('') })).resolves.toEqual({
      sha256: sha(''),
      size: 0,
    });
    expect(statSync(path.join(root, 'photos', '2024')).isDirectory()).toBe(true);
    await store.write('photos/2024/a.jpg', body('jpeg'), { size: 4 });
    await store.delete('photos/2024/'); // objects under it keep it
    expect(readFileSync(path.join(root, 'photos', '2024', 'a.jpg'), 'utf8')).toBe('jpeg');
    await store.delete('photos/2024/a.jpg');
    await store.write('photos/2024/', body(''), { size: 0 });
    await store.delete('photos/2024/');
    expect(readdirSync(root)).toEqual([]);
  });

  it('fails a marker with bytes, a long segment and an object-and-prefix clash by name, with the reason', async () => {
    const { store } = fresh();
    await expect(store.write('dir/', body('data'), { size: 4 })).rejects.toThrow(
      expect.objectContaining({ key: 'dir/', message: expect.stringContaining('holds 4 bytes') }),
    );
    const long = `${'x'.repeat(256)}/a.txt`;
    await expect(store.write(long, body('a'), { size: 1 })).rejects.toBeInstanceOf(InvalidKeyError);
    await store.write('a', body('a'), { size: 1 });
    await expect(store.write('a/b', body('b'), { size: 1 })).rejects.toEqual(
      expect.objectContaining({
        code: 'KeyConflict',
        key: 'a/b',
        message: expect.stringContaining('"a" is an object'),
      }),
    );
    await store.write('c/d', body('d'), { size: 1 });
    const clash = store.write('c', body('c'), { size: 1 });
    await expect(clash).rejects.toBeInstanceOf(StorageError);
    await expect(clash).rejects.toMatchObject({
      key: 'c',
      message: expect.stringContaining('also a prefix'),
    });
  });
});
