// A filesystem store's listing, in the same UTF-8 byte order of keys as S3's
// (so the two can be merged, docs/adr/0004). The tree is walked lazily; each
// directory's entries are read and sorted at once. Symbolic links, anything
// that is neither a regular file nor a directory, names that are not valid
// UTF-8 and the store's own ".ferry-" files are skipped. Each object carries
// its file's version (filesystemVersion.ts), so a copy can be pinned to it.
import type { Dirent } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import {
  errnoCode,
  filesystemKeyProblem,
  isKeyConflict,
  reservedPrefix,
  type FilesystemRoot,
  type HeldDirectory,
} from './filesystemRoot.ts';
import { fileVersion } from './filesystemVersion.ts';
import { InvalidKeyError, type ObjectInfo } from './objectStore.ts';

interface ListedEntry {
  name: string;
  sortBytes: Buffer;
  kind: 'file' | 'directory';
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** ObjectStore.list of the store at `root`. */
export async function* listFiles(
  root: FilesystemRoot,
  prefix: string,
  startAfter?: string,
): AsyncIterable<ObjectInfo> {
  const slash = prefix.lastIndexOf('/');
  const startDir = prefix.slice(0, slash + 1);
  if (startDir !== '') {
    const problem = filesystemKeyProblem(startDir.slice(0, -1));
    if (problem !== undefined) throw new InvalidKeyError(root.description, 'list', prefix, problem);
  }
  const top = await root.directory('', 'list', prefix, false);
  if (top === undefined) {
    await root.checkMount('list');
    return;
  }
  await top.close();
  const after = startAfter === undefined || startAfter === '' ? undefined : Buffer.from(startAfter, 'utf8');
  yield* walk(root, startDir, Buffer.from(prefix, 'utf8'), after);
}

async function* walk(
  root: FilesystemRoot,
  dirKey: string,
  prefix: Buffer,
  after: Buffer | undefined,
): AsyncGenerator<ObjectInfo> {
  for (const entry of await readDirectory(root, dirKey)) {
    if (entry.kind === 'directory') {
      const sub = Buffer.from(`${dirKey}${entry.name}/`, 'utf8');
      // Relevant when it lies under the prefix or the prefix lies under it.
      const relevant = startsWith(sub, prefix) || startsWith(prefix, sub);
      // Every key under `sub` starts with `sub`: all are <= after unless after lies under sub.
      const skipped = after !== undefined && Buffer.compare(sub, after) <= 0 && !startsWith(after, sub);
      if (relevant && !skipped) yield* walk(root, `${dirKey}${entry.name}/`, prefix, after);
      continue;
    }
    const key = `${dirKey}${entry.name}`;
    const keyBytes = Buffer.from(key, 'utf8');
    if (!startsWith(keyBytes, prefix)) continue;
    if (after !== undefined && Buffer.compare(keyBytes, after) <= 0) continue;
    let info;
    try {
      info = await lstat(path.join(root.root, ...key.split('/')), { bigint: true });
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') continue; // deleted meanwhile
      throw root.fail(err, 'list', key);
    }
    if (!info.isFile()) continue;
    yield { key, size: Number(info.size), lastModified: info.mtime, version: fileVersion(info) };
  }
}

/** The listable entries of the directory `dirKey` ('' or ending in "/"), in key order. */
async function readDirectory(root: FilesystemRoot, dirKey: string): Promise<ListedEntry[]> {
  // Held open while read, so a directory swapped for a link is never listed through.
  const dir = await root.directory(dirKey.slice(0, -1), 'list', dirKey, false).catch((err: unknown) => {
    if (isKeyConflict(err)) return undefined; // the prefix names a file: nothing under it
    throw err;
  });
  if (dir === undefined) return [];
  try {
    return await readHeldDirectory(root, dir, dirKey);
  } finally {
    await dir.close();
  }
}

async function readHeldDirectory(
  root: FilesystemRoot,
  dir: HeldDirectory,
  dirKey: string,
): Promise<ListedEntry[]> {
  let dirents: Dirent<Buffer>[];
  try {
    dirents = await readdir(dir.path, { withFileTypes: true, encoding: 'buffer' });
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw root.fail(err, 'list', dirKey);
  }
  const entries: ListedEntry[] = [];
  for (const dirent of dirents) {
    let name: string;
    try {
      name = utf8.decode(dirent.name);
    } catch {
      continue; // not valid UTF-8: cannot be a key
    }
    if (name.startsWith(reservedPrefix)) continue;
    const kind = await entryKind(dirent, dir.entry(name));
    if (kind === undefined) continue;
    const nameBytes = Buffer.from(dirent.name);
    const sortBytes = kind === 'directory' ? Buffer.concat([nameBytes, Buffer.from('/')]) : nameBytes;
    entries.push({ name, sortBytes, kind });
  }
  // Every key under directory "d" starts with "d/", so sorting a directory's
  // entries as "name" (files) and "name/" (directories) makes a depth-first
  // walk yield keys in global UTF-8 byte order.
  entries.sort((a, b) => Buffer.compare(a.sortBytes, b.sortBytes));
  return entries;
}

/** A regular file, a directory, or (undefined) anything else. */
async function entryKind(dirent: Dirent<Buffer>, file: string): Promise<ListedEntry['kind'] | undefined> {
  if (dirent.isFile()) return 'file';
  if (dirent.isDirectory()) return 'directory';
  if (
    dirent.isSymbolicLink() ||
    dirent.isFIFO() ||
    dirent.isSocket() ||
    dirent.isBlockDevice() ||
    dirent.isCharacterDevice()
  )
    return undefined;
  // The filesystem did not report the type (DT_UNKNOWN).
  const info = await lstat(file).catch(() => undefined);
  return info?.isFile() ? 'file' : info?.isDirectory() ? 'directory' : undefined;
}

function startsWith(value: Buffer, prefix: Buffer): boolean {
  return value.length >= prefix.length && value.subarray(0, prefix.length).equals(prefix);
}
