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
import { constants as fsConstants } from 'node:fs';
import { lstat, open, rmdir, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { FilesystemStoreConfig } from './config.ts';
import { listFiles } from './filesystemListing.ts';
import { FilesystemMultipart } from './filesystemMultipart.ts';
import { errnoCode, FilesystemRoot } from './filesystemRoot.ts';
import { commit, writeTemp } from './filesystemStaging.ts';
import { checkRange, checkUpload, mapStreamErrors, VerifyingStream } from './integrity.ts';
import {
  ObjectNotFoundError,
  StorageError,
  type ByteRange,
  type ObjectInfo,
  type ObjectStore,
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
    const file = this.files.pathOf(key, 'stat');
    try {
      const info = await lstat(file);
      return info.isFile() ? { key, size: info.size, lastModified: info.mtime } : undefined;
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw this.files.fail(err, 'stat', key);
    }
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    const file = this.files.pathOf(key, 'read');
    checkRange(this.files.context('read', key), range);
    let handle: FileHandle;
    try {
      handle = await open(file, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP')
        throw new ObjectNotFoundError(this.description, 'read', key, err);
      throw this.files.fail(err, 'read', key);
    }
    let size: number;
    try {
      const info = await handle.stat();
      if (!info.isFile()) throw new ObjectNotFoundError(this.description, 'read', key);
      size = info.size;
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
    return mapStreamErrors(stream, (err) => this.files.fail(err, 'read', key));
  }

  async write(key: string, body: Readable, options: WriteOptions): Promise<WriteResult> {
    const context = this.files.context('write', key);
    const { target, sha256 } = checkUpload(context, body, () => this.files.pathOf(key, 'write'), options);
    const verifier = new VerifyingStream(context, options.size, sha256 ?? options.trailingSha256);
    const written = await writeTemp(this.files, path.dirname(target), body, verifier, 'write', key);
    await commit(this.files, written.tempPath, target, 'write', key);
    return { sha256: written.sha256, size: written.size };
  }

  async delete(key: string): Promise<void> {
    const file = this.files.pathOf(key, 'delete');
    try {
      await unlink(file);
    } catch (err) {
      const code = errnoCode(err);
      // Absent, or not an object (a directory): nothing to delete.
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return;
      throw this.files.fail(err, 'delete', key);
    }
    await this.pruneEmptyParents(path.dirname(file));
  }

  /** Removes directories left empty, up to (not including) the root. */
  private async pruneEmptyParents(dir: string): Promise<void> {
    while (dir.startsWith(this.root + path.sep)) {
      try {
        await rmdir(dir);
      } catch {
        return; // not empty, already gone, or not ours to remove
      }
      dir = path.dirname(dir);
    }
  }

  async close(): Promise<void> {}
}
