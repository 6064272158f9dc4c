// The filesystem driver: objects are regular files under a root directory
// (the volume's mount path joined with the store's `path`); a key is the
// file's path relative to the root, "/"-separated.
//
// - Keys are kept byte for byte (unicode, spaces, "%", "+" and "\" are plain
//   name characters; no normalisation). Keys that could escape the root or have
//   no file equivalent are refused with InvalidKeyError: empty, absolute,
//   containing NUL, a "." or ".." segment, an empty segment ("a//b"), a segment
//   over 255 bytes, or a trailing "/". S3 "directory marker" objects (keys
//   ending in "/", usually empty) therefore do not round-trip: copying one to a
//   filesystem store fails permanently with InvalidKeyError, and the caller is
//   expected to skip (and report) such keys.
// - Names starting with ".ferry-" are reserved: temporary files
//   (".ferry-tmp-*", next to their target) and the multipart staging directory
//   ("<root>/.ferry-staging/<uploadId>/"). They never appear in listings, and
//   keys with such a segment are refused.
// - Writes are atomic: a hidden temporary file in the target's directory is
//   written, fsynced and renamed over the target (then the directory is
//   fsynced); on any failure the temporary file is removed.
// - Checksums are verified while writing but NOT recorded: Node has no
//   extended-attribute API, and a sidecar file would either show in the
//   visible tree or drift from the data when anything else touches the files.
//   So `recordsChecksums` is false and `checksum` is always absent; a copy
//   from a filesystem store is verified against the SHA-256 computed while
//   reading it.
// - Metadata passed to write/createMultipart is ignored (files have none).
// - Listing does not follow symbolic links and skips anything that is not a
//   regular file or a directory, and names that are not valid UTF-8. Each
//   directory's entries are read and sorted at once (so one huge directory is
//   held in memory), the tree is walked lazily.
// - A file and a directory cannot share a name, so the keys "a" and "a/b"
//   cannot both exist: writing one while the other exists fails permanently.
//   Deleting an object removes the directories it leaves empty.
import { randomBytes } from 'node:crypto';
import { constants as fsConstants, type Dirent } from 'node:fs';
import { lstat, mkdir, open, readdir, readFile, rename, rm, rmdir, stat, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  checkPartNumber,
  checkRange,
  checkWriteArguments,
  mapStreamErrors,
  VerifyingStream,
  type VerifierContext,
} from './integrity.ts';
import {
  ChecksumMismatchError,
  InvalidKeyError,
  ObjectNotFoundError,
  StorageError,
  UploadNotFoundError,
  type ByteRange,
  type CompletedPart,
  type MultipartOptions,
  type ObjectInfo,
  type ObjectStore,
  type PartInfo,
  type PartWriteOptions,
  type StorageErrorKind,
  type WriteOptions,
  type WriteResult,
} from './objectStore.ts';

export interface FilesystemStoreConfig {
  claimName: string;
  /** The directory inside the volume, "/" (the default) for its root. */
  path?: string;
  mountPath: string;
}

/** Reserved name prefix: temporary files and the staging directory. */
export const reservedPrefix = '.ferry-';
export const stagingDirName = '.ferry-staging';
const tempPrefix = '.ferry-tmp-';
const uploadIdPattern = /^[0-9a-f]{32}$/;
const partFilePattern = /^part-(\d{5})-([0-9a-f]{64})$/;
const maxSegmentBytes = 255;

/** Why `key` cannot be a filesystem store key, or undefined when it can. */
export function filesystemKeyProblem(key: string): string | undefined {
  if (key === '') return 'it is empty';
  if (key.includes('\0')) return 'it contains a NUL character';
  if (key.startsWith('/')) return 'it is absolute (starts with "/")';
  if (key.endsWith('/')) return 'it ends with "/" (an S3 directory marker, which has no file equivalent)';
  for (const segment of key.split('/')) {
    if (segment === '') return 'it has an empty segment ("//")';
    if (segment === '.' || segment === '..') return `it has a "${segment}" segment`;
    if (segment.startsWith(reservedPrefix))
      return `a segment starts with "${reservedPrefix}", which is reserved for Ferry's own files`;
    if (Buffer.byteLength(segment, 'utf8') > maxSegmentBytes)
      return `a segment is longer than ${maxSegmentBytes} bytes`;
  }
  return undefined;
}

/** The file path of `key` under `root`; throws InvalidKeyError for an unsafe key. */
export function keyToPath(root: string, key: string, store = 'filesystem store', operation = 'map'): string {
  const problem = filesystemKeyProblem(key);
  if (problem !== undefined) throw new InvalidKeyError(store, operation, key, problem);
  const full = path.join(root, ...key.split('/'));
  // Belt and braces: the checks above already make this impossible.
  if (!full.startsWith(root.endsWith(path.sep) ? root : root + path.sep))
    throw new InvalidKeyError(store, operation, key, 'it resolves outside the store');
  return full;
}

const retryableCodes = new Set([
  'EIO',
  'EAGAIN',
  'EBUSY',
  'EMFILE',
  'ENFILE',
  'ENOSPC',
  'EDQUOT',
  'ESTALE',
  'ETIMEDOUT',
  'EINTR',
  'ENOMEM',
]);

const problems: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only filesystem',
  ENOSPC: 'no space left on the volume',
  EDQUOT: 'disk quota exceeded',
  EIO: 'I/O error',
  ENOTDIR: 'a parent of the key is an object (file), not a directory',
  EEXIST: 'a parent of the key is an object (file), not a directory',
  EISDIR: 'the key is a directory holding other objects',
  ENAMETOOLONG: 'the path is too long',
  ENOENT: 'no such file or directory',
};

function errnoCode(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

interface Upload {
  key: string;
  sha256?: string;
}

interface ListedEntry {
  name: string;
  sortBytes: Buffer;
  kind: 'file' | 'directory';
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export class FilesystemStore implements ObjectStore {
  readonly description: string;
  readonly recordsChecksums = false;
  /** The directory holding the objects. */
  readonly root: string;
  private readonly mountPath: string;
  private mountChecked = false;

  constructor(config: FilesystemStoreConfig) {
    const sub = config.path ?? '/';
    this.mountPath = path.resolve(config.mountPath);
    this.root = path.join(this.mountPath, ...sub.split('/').filter((s) => s !== ''));
    this.description = `filesystem store ${config.claimName}:${sub} (${this.root})`;
    const bad = sub.split('/').some((s) => s === '..') || sub.includes('\0');
    if (bad)
      throw new StorageError(`invalid path ${JSON.stringify(sub)}: it must not contain ".." or NUL`, {
        kind: 'permanent',
        store: this.description,
        operation: 'open',
        code: 'InvalidPath',
      });
  }

  // ---- errors and paths -------------------------------------------------------

  private fail(err: unknown, operation: string, key?: string): StorageError {
    if (err instanceof StorageError) return err;
    const code = errnoCode(err);
    const kind: StorageErrorKind = code !== undefined && retryableCodes.has(code) ? 'retryable' : 'permanent';
    const problem = (code && problems[code]) ?? (err instanceof Error ? err.message : String(err));
    return new StorageError(code ? `${problem} (${code})` : problem, {
      kind,
      store: this.description,
      operation,
      key,
      code,
      cause: err,
    });
  }

  private pathOf(key: string, operation: string): string {
    return keyToPath(this.root, key, this.description, operation);
  }

  private context(operation: string, key: string): VerifierContext {
    return { store: this.description, operation, key };
  }

  /** Refuses to create the mount point itself: a missing one means the volume is not mounted. */
  private async checkMount(operation: string): Promise<void> {
    if (this.mountChecked) return;
    try {
      const info = await stat(this.mountPath);
      if (!info.isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    } catch (err) {
      throw new StorageError(
        `the mount path ${this.mountPath} is not an accessible directory (${errnoCode(err) ?? String(err)}): is the volume mounted?`,
        { kind: 'permanent', store: this.description, operation, code: 'NoSuchMount', cause: err },
      );
    }
    this.mountChecked = true;
  }

  /** Creates `dir` (and its parents) and a new hidden temporary file in it. */
  private async createTemp(dir: string, operation: string, key: string): Promise<[string, FileHandle]> {
    await this.checkMount(operation);
    for (let attempt = 0; ; attempt++) {
      const tempPath = path.join(dir, `${tempPrefix}${randomBytes(8).toString('hex')}`);
      try {
        await mkdir(dir, { recursive: true });
        return [tempPath, await open(tempPath, 'wx', 0o666)];
      } catch (err) {
        // A concurrent delete may have pruned the directory we just made.
        if (errnoCode(err) === 'ENOENT' && attempt < 3) continue;
        throw this.fail(err, operation, key);
      }
    }
  }

  private async syncDir(dir: string): Promise<void> {
    let handle: FileHandle | undefined;
    try {
      handle = await open(dir, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
      await handle.sync();
    } catch (err) {
      // Some filesystems cannot fsync a directory; the rename itself is atomic.
      if (!['EINVAL', 'ENOTSUP', 'EOPNOTSUPP', 'EISDIR'].includes(errnoCode(err) ?? '')) throw err;
    } finally {
      await handle?.close();
    }
  }

  /**
   * Streams `body` through a verifier into a new temporary file in `dir`,
   * fsyncs it and returns its path and digest. On failure the temp file is
   * gone; an error of `body` itself is re-thrown unchanged.
   */
  private async writeTemp(
    dir: string,
    body: Readable,
    verifier: VerifyingStream,
    operation: string,
    key: string,
  ): Promise<{ tempPath: string; sha256: string; size: number }> {
    let bodyError: unknown;
    const onBodyError = (err: unknown) => (bodyError ??= err);
    body.once('error', onBodyError);
    const [tempPath, handle] = await this.createTemp(dir, operation, key).catch((err: unknown) => {
      body.off('error', onBodyError);
      body.destroy();
      throw err;
    });
    let closed = false;
    try {
      await pipeline(body, verifier, async (source: AsyncIterable<Buffer>) => {
        for await (const chunk of source) await writeAll(handle, chunk);
      });
      await handle.sync();
      closed = true;
      await handle.close();
      return { tempPath, sha256: verifier.sha256!, size: verifier.bytes };
    } catch (err) {
      if (!closed) await handle.close().catch(() => undefined);
      await unlink(tempPath).catch(() => undefined);
      if (bodyError !== undefined && err === bodyError) throw err;
      throw this.fail(err, operation, key);
    } finally {
      body.off('error', onBodyError);
    }
  }

  private async commit(tempPath: string, target: string, operation: string, key: string): Promise<void> {
    try {
      await rename(tempPath, target);
      await this.syncDir(path.dirname(target));
    } catch (err) {
      await unlink(tempPath).catch(() => undefined);
      throw this.fail(err, operation, key);
    }
  }

  // ---- listing ----------------------------------------------------------------

  async *list(prefix: string, startAfter?: string): AsyncIterable<ObjectInfo> {
    const slash = prefix.lastIndexOf('/');
    const startDir = prefix.slice(0, slash + 1);
    if (startDir !== '') {
      const problem = filesystemKeyProblem(startDir.slice(0, -1));
      if (problem !== undefined) throw new InvalidKeyError(this.description, 'list', prefix, problem);
    }
    let rootExists = true;
    try {
      await stat(this.root);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw this.fail(err, 'list', prefix);
      await this.checkMount('list');
      rootExists = false;
    }
    if (!rootExists) return;
    const after = startAfter === undefined || startAfter === '' ? undefined : Buffer.from(startAfter, 'utf8');
    yield* this.walk(startDir, Buffer.from(prefix, 'utf8'), after);
  }

  private async readDirectory(dirKey: string): Promise<ListedEntry[]> {
    const dir = dirKey === '' ? this.root : path.join(this.root, ...dirKey.slice(0, -1).split('/'));
    let dirents: Dirent<Buffer>[];
    try {
      dirents = await readdir(dir, { withFileTypes: true, encoding: 'buffer' });
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') return [];
      throw this.fail(err, 'list', dirKey);
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
      let kind: ListedEntry['kind'] | undefined;
      if (dirent.isFile()) kind = 'file';
      else if (dirent.isDirectory()) kind = 'directory';
      else if (
        !dirent.isSymbolicLink() &&
        !dirent.isFIFO() &&
        !dirent.isSocket() &&
        !dirent.isBlockDevice() &&
        !dirent.isCharacterDevice()
      ) {
        // The filesystem did not report the type (DT_UNKNOWN).
        const info = await lstat(path.join(dir, name)).catch(() => undefined);
        kind = info?.isFile() ? 'file' : info?.isDirectory() ? 'directory' : undefined;
      }
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

  private async *walk(dirKey: string, prefix: Buffer, after: Buffer | undefined): AsyncGenerator<ObjectInfo> {
    const entries = await this.readDirectory(dirKey);
    for (const entry of entries) {
      if (entry.kind === 'directory') {
        const sub = Buffer.from(`${dirKey}${entry.name}/`, 'utf8');
        // Relevant when it lies under the prefix or the prefix lies under it.
        const relevant = startsWith(sub, prefix) || startsWith(prefix, sub);
        // Every key under `sub` starts with `sub`: all are <= after unless after lies under sub.
        const skipped = after !== undefined && Buffer.compare(sub, after) <= 0 && !startsWith(after, sub);
        if (relevant && !skipped) yield* this.walk(`${dirKey}${entry.name}/`, prefix, after);
        continue;
      }
      const key = `${dirKey}${entry.name}`;
      const keyBytes = Buffer.from(key, 'utf8');
      if (!startsWith(keyBytes, prefix)) continue;
      if (after !== undefined && Buffer.compare(keyBytes, after) <= 0) continue;
      let info;
      try {
        info = await lstat(path.join(this.root, ...key.split('/')));
      } catch (err) {
        if (errnoCode(err) === 'ENOENT') continue; // deleted meanwhile
        throw this.fail(err, 'list', key);
      }
      if (!info.isFile()) continue;
      yield { key, size: info.size, lastModified: info.mtime };
    }
  }

  // ---- objects ----------------------------------------------------------------

  async stat(key: string): Promise<ObjectInfo | undefined> {
    const file = this.pathOf(key, 'stat');
    try {
      const info = await lstat(file);
      return info.isFile() ? { key, size: info.size, lastModified: info.mtime } : undefined;
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw this.fail(err, 'stat', key);
    }
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    const file = this.pathOf(key, 'read');
    checkRange(this.context('read', key), range);
    let handle: FileHandle;
    try {
      handle = await open(file, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP')
        throw new ObjectNotFoundError(this.description, 'read', key, err);
      throw this.fail(err, 'read', key);
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
      throw this.fail(err, 'read', key);
    }
    const stream = handle.createReadStream(
      range === undefined ? {} : { start: range.start, end: Math.min(range.end, size - 1) },
    );
    return mapStreamErrors(stream, (err) => this.fail(err, 'read', key));
  }

  async write(key: string, body: Readable, options: WriteOptions): Promise<WriteResult> {
    const context = this.context('write', key);
    let target: string;
    let sha256: string | undefined;
    try {
      target = this.pathOf(key, 'write');
      sha256 = checkWriteArguments(context, options.size, options.sha256);
    } catch (err) {
      body.destroy();
      throw err;
    }
    const verifier = new VerifyingStream(context, options.size, sha256 ?? options.trailingSha256);
    const written = await this.writeTemp(path.dirname(target), body, verifier, 'write', key);
    await this.commit(written.tempPath, target, 'write', key);
    return { sha256: written.sha256, size: written.size };
  }

  async delete(key: string): Promise<void> {
    const file = this.pathOf(key, 'delete');
    try {
      await unlink(file);
    } catch (err) {
      const code = errnoCode(err);
      // Absent, or not an object (a directory): nothing to delete.
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return;
      throw this.fail(err, 'delete', key);
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

  // ---- multipart --------------------------------------------------------------

  private stagingDir(uploadId: string): string {
    return path.join(this.root, stagingDirName, uploadId);
  }

  private async loadUpload(key: string, uploadId: string, operation: string): Promise<Upload> {
    const notFound = (cause?: unknown) =>
      new UploadNotFoundError(this.description, operation, key, uploadId, cause);
    if (!uploadIdPattern.test(uploadId)) throw notFound();
    let upload: Upload;
    try {
      upload = JSON.parse(
        await readFile(path.join(this.stagingDir(uploadId), 'upload.json'), 'utf8'),
      ) as Upload;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || err instanceof SyntaxError) throw notFound(err);
      throw this.fail(err, operation, key);
    }
    if (upload.key !== key) throw notFound();
    return upload;
  }

  async createMultipart(key: string, options: MultipartOptions = {}): Promise<string> {
    this.pathOf(key, 'createMultipart');
    const sha256 = checkWriteArguments(this.context('createMultipart', key), 0, options.sha256);
    const uploadId = randomBytes(16).toString('hex');
    const dir = this.stagingDir(uploadId);
    const record = Buffer.from(JSON.stringify({ key, ...(sha256 ? { sha256 } : {}) } satisfies Upload));
    const verifier = new VerifyingStream(this.context('createMultipart', key), record.length);
    const written = await this.writeTemp(dir, Readable.from([record]), verifier, 'createMultipart', key);
    await this.commit(written.tempPath, path.join(dir, 'upload.json'), 'createMultipart', key);
    return uploadId;
  }

  async writePart(
    key: string,
    uploadId: string,
    partNumber: number,
    body: Readable,
    size: number,
    options: PartWriteOptions = {},
  ): Promise<PartInfo> {
    const context = this.context('writePart', key);
    let sha256: string | undefined;
    try {
      this.pathOf(key, 'writePart');
      checkPartNumber(context, partNumber);
      sha256 = checkWriteArguments(context, size, options.sha256);
      await this.loadUpload(key, uploadId, 'writePart');
    } catch (err) {
      body.destroy();
      throw err;
    }
    const dir = this.stagingDir(uploadId);
    const verifier = new VerifyingStream(context, size, sha256 ?? options.trailingSha256);
    const written = await this.writeTemp(dir, body, verifier, 'writePart', key);
    try {
      // A re-sent part replaces the old one (whose name carries its old digest).
      for (const old of await this.partFiles(uploadId))
        if (old.partNumber === partNumber) await rm(path.join(dir, old.file), { force: true });
    } catch (err) {
      await unlink(written.tempPath).catch(() => undefined);
      throw this.fail(err, 'writePart', key);
    }
    const file = `part-${String(partNumber).padStart(5, '0')}-${written.sha256}`;
    await this.commit(written.tempPath, path.join(dir, file), 'writePart', key);
    return { partNumber, etag: written.sha256, size: written.size, sha256: written.sha256 };
  }

  private async partFiles(uploadId: string): Promise<Array<PartInfo & { file: string }>> {
    const dir = this.stagingDir(uploadId);
    const parts: Array<PartInfo & { file: string }> = [];
    for (const file of await readdir(dir)) {
      const match = partFilePattern.exec(file);
      if (!match) continue;
      const info = await stat(path.join(dir, file));
      const digest = match[2]!;
      parts.push({ partNumber: Number(match[1]), etag: digest, size: info.size, sha256: digest, file });
    }
    return parts.sort((a, b) => a.partNumber - b.partNumber);
  }

  async listParts(key: string, uploadId: string): Promise<PartInfo[]> {
    this.pathOf(key, 'listParts');
    await this.loadUpload(key, uploadId, 'listParts');
    try {
      return (await this.partFiles(uploadId)).map(({ file: _file, ...part }) => part);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT')
        throw new UploadNotFoundError(this.description, 'listParts', key, uploadId);
      throw this.fail(err, 'listParts', key);
    }
  }

  /**
   * An error while completing: when the staging directory is gone meanwhile,
   * another completion of the same upload won (it removes the directory after
   * committing), so the upload no longer exists — UploadNotFoundError, as S3
   * answers, rather than a bare ENOENT.
   */
  private async completionError(err: unknown, key: string, uploadId: string): Promise<StorageError> {
    const gone = await stat(path.join(this.stagingDir(uploadId), 'upload.json')).then(
      () => false,
      (e: unknown) => errnoCode(e) === 'ENOENT',
    );
    if (gone) return new UploadNotFoundError(this.description, 'completeMultipart', key, uploadId, err);
    return this.fail(err, 'completeMultipart', key);
  }

  async completeMultipart(key: string, uploadId: string, parts: CompletedPart[]): Promise<WriteResult> {
    const operation = 'completeMultipart';
    const target = this.pathOf(key, operation);
    const upload = await this.loadUpload(key, uploadId, operation);
    const invalid = (problem: string) =>
      new StorageError(problem, {
        kind: 'permanent',
        store: this.description,
        operation,
        key,
        code: 'InvalidPart',
      });
    if (parts.length === 0) throw invalid('no parts given');
    let stored: Map<number, PartInfo & { file: string }>;
    try {
      stored = new Map((await this.partFiles(uploadId)).map((p) => [p.partNumber, p]));
    } catch (err) {
      throw await this.completionError(err, key, uploadId);
    }
    const files: string[] = [];
    let size = 0;
    let previous = 0;
    for (const part of parts) {
      if (part.partNumber <= previous) throw invalid('parts must be given in ascending part number order');
      previous = part.partNumber;
      const found = stored.get(part.partNumber);
      if (!found) throw invalid(`part ${part.partNumber} was not uploaded`);
      if (found.etag !== part.etag.replaceAll('"', ''))
        throw invalid(`part ${part.partNumber} has etag ${found.etag}, not ${part.etag}`);
      files.push(path.join(this.stagingDir(uploadId), found.file));
      size += found.size;
    }
    const concatenated = Readable.from(
      (async function* () {
        for (const file of files) {
          const handle = await open(file, 'r');
          try {
            for await (const chunk of handle.createReadStream({ autoClose: false })) yield chunk as Buffer;
          } finally {
            await handle.close();
          }
        }
      })(),
      { objectMode: false },
    );
    const verifier = new VerifyingStream(this.context(operation, key), size, upload.sha256);
    let written;
    try {
      written = await this.writeTemp(path.dirname(target), concatenated, verifier, operation, key);
    } catch (err) {
      // Each part was verified when stored: a whole-object mismatch means the
      // wrong parts were uploaded, so the upload is of no further use.
      if (err instanceof ChecksumMismatchError) {
        await this.abortMultipart(key, uploadId);
        throw this.fail(err, operation, key);
      }
      throw await this.completionError(err, key, uploadId);
    }
    await this.commit(written.tempPath, target, operation, key);
    await this.removeStaging(uploadId).catch(() => undefined);
    return { sha256: written.sha256, size: written.size };
  }

  /**
   * Ends an upload: upload.json first, then the rest. A concurrent completion
   * that finds a part file gone then also finds upload.json gone, and answers
   * UploadNotFoundError (completionError). Removed in one recursive pass, the
   * parts could go before upload.json, and that completion failed with a bare,
   * permanent ENOENT (seen in CI: a 200 MiB object's job failed).
   */
  private async removeStaging(uploadId: string): Promise<void> {
    const dir = this.stagingDir(uploadId);
    await rm(path.join(dir, 'upload.json'), { force: true });
    await rm(dir, { recursive: true, force: true });
  }

  async abortMultipart(key: string, uploadId: string): Promise<void> {
    this.pathOf(key, 'abortMultipart');
    try {
      await this.loadUpload(key, uploadId, 'abortMultipart');
    } catch (err) {
      if (err instanceof UploadNotFoundError) return;
      throw err;
    }
    try {
      await this.removeStaging(uploadId);
    } catch (err) {
      throw this.fail(err, 'abortMultipart', key);
    }
  }

  async close(): Promise<void> {}
}

function startsWith(value: Buffer, prefix: Buffer): boolean {
  return value.length >= prefix.length && value.subarray(0, prefix.length).equals(prefix);
}

async function writeAll(handle: FileHandle, chunk: Buffer): Promise<void> {
  let offset = 0;
  while (offset < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
    offset += bytesWritten;
  }
}
