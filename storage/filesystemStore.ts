// The filesystem driver: objects are regular files under a root directory
// (filesystemRoot.ts: keys, reserved names), written atomically
// (filesystemStaging.ts), listed in S3's key order (filesystemListing.ts),
// uploaded in parts through a staging directory (filesystemMultipart.ts).
//
// Checksums are verified while writing but not recorded: Node has no
// extended-attribute API, and a sidecar file would either show in the tree or
// drift from the data when anything else touches the files. So
// `recordsChecksums` is false, and a copy from a filesystem store is verified
// against the SHA-256 computed while reading it (docs/adr/0005). Metadata is
// ignored. A file and a directory cannot share a name, so the keys "a" and
// "a/b" cannot both exist: writing one while the other exists fails
// permanently. Deleting an object removes the directories it leaves empty.
// An empty S3 directory marker ("photos/") is held as its directory, and no
// operation follows a symbolic link inside the store (docs/adr/0037).
import { constants as fsConstants } from 'node:fs';
import { lstat, open, rmdir, unlink, type FileHandle } from 'node:fs/promises';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FilesystemStoreConfig } from './config.ts';
import { listFiles } from './filesystemListing.ts';
import { FilesystemMultipart } from './filesystemMultipart.ts';
import {
  checkMarkerSize,
  errnoCode,
  FilesystemRoot,
  isDirectoryMarker,
  isKeyConflict,
  type HeldDirectory,
} from './filesystemRoot.ts';
import { commit, writeTemp } from './filesystemStaging.ts';
import { fileVersion, VersionRecheck } from './filesystemVersion.ts';
import { checkRange, checkUpload, mapStreamErrors, VerifyingStream } from './integrity.ts';
import {
  ObjectChangedError,
  ObjectNotFoundError,
  StorageError,
  type ByteRange,
  type ObjectInfo,
  type ObjectStore,
  type ReadOptions,
  type WriteOptions,
  type WriteResult,
} from './objectStore.ts';
import { MultipartForwarding } from './multipartUploads.ts';

export class FilesystemStore extends MultipartForwarding implements ObjectStore {
  readonly description: string;
  readonly recordsChecksums = false;
  /** The directory holding the objects. */
  readonly root: string;
  private readonly files: FilesystemRoot;
  protected readonly uploads: FilesystemMultipart;

  /** Throws a permanent StorageError for a `path` with ".." or NUL. */
  constructor(config: FilesystemStoreConfig) {
    super();
    this.files = new FilesystemRoot(config);
    this.description = this.files.description;
    this.root = this.files.root;
    this.uploads = new FilesystemMultipart(this.files);
  }

  list(prefix: string, startAfter?: string): AsyncIterable<ObjectInfo> {
    return listFiles(this.files, prefix, startAfter);
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    this.files.pathOf(key, 'stat');
    try {
      const info = await this.inParent(key, 'stat', (dir, name) => lstat(dir.entry(name), { bigint: true }));
      if (!info?.isFile()) return undefined;
      return { key, size: Number(info.size), lastModified: info.mtime, version: fileVersion(info) };
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw this.files.fail(err, 'stat', key);
    }
  }

  /**
   * The file's identity (filesystemVersion.ts) is taken when it is opened —
   * checked against `options.version` when given — and again after its last
   * byte: a read never yields bytes from two versions of a file.
   */
  async read(key: string, range?: ByteRange, options: ReadOptions = {}): Promise<Readable> {
    const file = this.files.pathOf(key, 'read');
    checkRange(this.files.context('read', key), range);
    let handle: FileHandle;
    try {
      handle = await this.openObject(key);
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP')
        throw new ObjectNotFoundError(this.description, 'read', key, err);
      throw this.files.fail(err, 'read', key);
    }
    let size: number;
    let opened: string;
    try {
      const info = await handle.stat({ bigint: true });
      if (!info.isFile()) throw new ObjectNotFoundError(this.description, 'read', key);
      size = Number(info.size);
      opened = fileVersion(info);
      if (options.version !== undefined && opened !== options.version)
        throw new ObjectChangedError(this.description, 'read', key, 'it is not the version planned');
      if (range !== undefined && range.start >= size)
        throw new StorageError(`range ${range.start}-${range.end} starts beyond the object's ${size} bytes`, {
          kind: 'permanent',
          store: this.description,
          operation: 'read',
          key,
          code: 'InvalidRange',
        });
    } catch (err) {
      await handle.close();
      throw this.files.fail(err, 'read', key);
    }
    const stream = handle.createReadStream(
      range === undefined ? {} : { start: range.start, end: Math.min(range.end, size - 1) },
    );
    const recheck = new VersionRecheck(file, opened, { store: this.description, key });
    stream.on('error', (err) => recheck.destroy(err));
    recheck.once('close', () => stream.destroy());
    return mapStreamErrors(stream.pipe(recheck), (err) => this.files.fail(err, 'read', key));
  }

  async write(key: string, body: Readable, options: WriteOptions): Promise<WriteResult> {
    const context = this.files.context('write', key);
    const marker = isDirectoryMarker(key);
    const locate = () =>
      marker ? checkMarkerSize(this.files, key, options.size) : this.files.pathOf(key, 'write');
    const { sha256 } = checkUpload(context, body, locate, options);
    const verifier = new VerifyingStream(context, options.size, sha256 ?? options.trailingSha256);
    if (marker) return this.writeMarker(key, body, verifier);
    const parent = await this.files.parentOf(key, 'write', true).catch((err: unknown) => {
      body.destroy();
      throw err;
    });
    const { dir, name } = parent!;
    try {
      const written = await writeTemp(this.files, dir, body, verifier, 'write', key);
      await commit(this.files, dir, written.tempName, name, 'write', key);
      return { sha256: written.sha256, size: written.size };
    } finally {
      await dir.close();
    }
  }

  /** An empty directory marker ("photos/") is the directory itself: made (with its parents) once its empty body checks out. */
  private async writeMarker(key: string, body: Readable, verifier: VerifyingStream): Promise<WriteResult> {
    try {
      await pipeline(body, verifier, new Writable({ write: (_chunk, _encoding, done) => done() }));
    } catch (err) {
      throw this.files.fail(err, 'write', key);
    }
    const dir = await this.files.directory(key.slice(0, -1), 'write', key, true);
    await dir!.close();
    return { sha256: verifier.sha256!, size: 0 };
  }

  async delete(key: string): Promise<void> {
    const marker = isDirectoryMarker(key);
    const removed = await this.inParent(key, 'delete', async (dir, name) => {
      try {
        // A marker's directory goes only when empty: the objects under it keep it.
        await (marker ? rmdir(dir.entry(name)) : unlink(dir.entry(name)));
        return true;
      } catch (err) {
        const code = errnoCode(err);
        // Absent, not an object (a directory), or a directory still holding objects: nothing to delete.
        if (['ENOENT', 'ENOTDIR', 'EISDIR', 'ENOTEMPTY', 'EEXIST'].includes(code ?? '')) return false;
        throw this.files.fail(err, 'delete', key);
      }
    });
    if (removed) await this.pruneEmptyParents((marker ? key.slice(0, -1) : key).split('/').slice(0, -1));
  }

  /**
   * Runs `use` on the key's parent directory, held open without following
   * links (filesystemRoot.ts); undefined when the parent does not exist or
   * is an object (a file), so the key cannot exist either.
   */
  private async inParent<T>(
    key: string,
    operation: string,
    use: (dir: HeldDirectory, name: string) => Promise<T>,
  ): Promise<T | undefined> {
    let parent;
    try {
      parent = await this.files.parentOf(key, operation, false);
    } catch (err) {
      if (isKeyConflict(err)) return undefined;
      throw err;
    }
    if (parent === undefined) return undefined;
    try {
      return await use(parent.dir, parent.name);
    } catch (err) {
      if (['ENOENT', 'ENOTDIR'].includes(errnoCode(err) ?? '')) return undefined;
      throw err;
    } finally {
      await parent.dir.close();
    }
  }

  /** The object's file, opened without following a link (an absent one fails with ENOENT). */
  private async openObject(key: string): Promise<FileHandle> {
    const flags = fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW;
    const handle = await this.inParent(key, 'read', (dir, name) => open(dir.entry(name), flags));
    if (handle === undefined) throw Object.assign(new Error(`no such object: ${key}`), { code: 'ENOENT' });
    return handle;
  }

  /** Removes the directories of `segments` (a deleted key's parents) left empty, deepest first, never the root. */
  private async pruneEmptyParents(segments: string[]): Promise<void> {
    for (let depth = segments.length; depth > 0; depth--) {
      const removed = await this.inParent(segments.slice(0, depth).join('/'), 'delete', (dir, name) =>
        rmdir(dir.entry(name)).then(
          () => true,
          () => false, // not empty, already gone, or not ours to remove
        ),
      );
      if (!removed) return;
    }
  }

  async close(): Promise<void> {}
}
