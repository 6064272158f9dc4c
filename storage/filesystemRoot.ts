// Where a filesystem store's objects are: a root directory (the volume's
// mount path joined with the store's `path`) in which a key is the file's
// "/"-separated relative path, kept byte for byte. Keys that could escape the
// root or have no file equivalent are refused, and names starting with
// ".ferry-" are reserved for the store's own files (docs/adr/0005). An empty
// S3 directory marker ("photos/") is written as the directory itself, and a
// store reaches its directories without following links (docs/adr/0037).
import path from 'node:path';
import { stat } from 'node:fs/promises';
import type { FilesystemStoreConfig } from './config.ts';
import {
  errnoCode,
  openBeneath,
  type BlockedComponent,
  type HeldDirectory,
} from './filesystemDirectories.ts';
import type { VerifierContext } from './integrity.ts';
import { InvalidKeyError, StorageError, type StorageErrorKind } from './objectStore.ts';

/** Reserved name prefix: temporary files and the staging directory. */
export const reservedPrefix = '.ferry-';
const maxSegmentBytes = 255;

/** Why `key` cannot be a filesystem store key, or undefined when it can. */
export function filesystemKeyProblem(key: string): string | undefined {
  if (key === '') return 'it is empty';
  if (key.includes('\0')) return 'it contains a NUL character';
  if (key.startsWith('/')) return 'it is absolute (starts with "/")';
  if (key.endsWith('/'))
    return 'it ends with "/" (an S3 directory marker: only an empty one has a file equivalent, a directory)';
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
  ENOTDIR: 'a parent of the key is an object (a file), so the key cannot be stored under it',
  EEXIST: 'a parent of the key is an object (a file), so the key cannot be stored under it',
  EISDIR:
    'the key is also a prefix: a directory of other objects has its name, and a filesystem cannot hold a key that is both',
  ENAMETOOLONG: 'the path is too long',
  ENOENT: 'no such file or directory',
};

export { errnoCode, type HeldDirectory } from './filesystemDirectories.ts';

/**
 * Whether `key` is an S3 directory marker a filesystem can represent: it ends
 * in one "/" and is a valid key without it. Its file equivalent is the
 * directory itself (docs/adr/0037).
 */
export function isDirectoryMarker(key: string): boolean {
  return key.endsWith('/') && filesystemKeyProblem(key.slice(0, -1)) === undefined;
}

/**
 * (Before writing the directory marker `key`.) Throws InvalidKeyError unless
 * its body is empty: a directory holds no bytes of its own.
 */
export function checkMarkerSize(root: FilesystemRoot, key: string, size: number): void {
  if (size !== 0)
    throw new InvalidKeyError(
      root.description,
      'write',
      key,
      `it ends with "/" but holds ${size} bytes: only an empty directory marker has a file equivalent (a directory)`,
    );
}

/** The key's "/"-separated components, a directory marker's trailing "/" dropped. */
function keySegments(key: string): string[] {
  return (isDirectoryMarker(key) ? key.slice(0, -1) : key).split('/');
}

/** The error codes under which a file operation failed because a key is both an object and a prefix. */
const conflictCodes = new Set(['ENOTDIR', 'EEXIST', 'EISDIR', 'KeyConflict']);

/** Whether `err` says a key is both an object and a prefix (an unrepresentable key, not a fault). */
export function isKeyConflict(err: unknown): boolean {
  return err instanceof StorageError && err.code !== undefined && conflictCodes.has(err.code);
}

/** The root of one filesystem store, and how its failures read. */
export class FilesystemRoot {
  readonly description: string;
  /** The directory holding the objects. */
  readonly root: string;
  private readonly mountPath: string;
  /** The components of the store's `path` below the mount path. */
  private readonly storeSegments: string[];
  private mountChecked = false;

  /** Throws a permanent StorageError for a `path` with ".." or NUL. */
  constructor(config: FilesystemStoreConfig) {
    const sub = config.path ?? '/';
    this.mountPath = path.resolve(config.mountPath);
    this.storeSegments = sub.split('/').filter((s) => s !== '');
    this.root = path.join(this.mountPath, ...this.storeSegments);
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

  /** `err` as the StorageError of `operation`: retryable for transient system errors. */
  fail(err: unknown, operation: string, key?: string): StorageError {
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

  /**
   * The directory `dirKey` (a key's parent, "/"-separated, '' for the root),
   * held open without following any link inside the store: created with its
   * parents when `create`, else undefined when missing. Throws a permanent
   * StorageError naming the component that is a link (SymlinkInStore) or a
   * file where a directory is needed (KeyConflict).
   */
  async directory(
    dirKey: string,
    operation: string,
    key: string,
    create: boolean,
  ): Promise<HeldDirectory | undefined> {
    if (create) await this.checkMount(operation);
    const below = dirKey === '' ? [] : dirKey.split('/');
    const segments = [...this.storeSegments, ...below];
    const refuse = (index: number, blocked: BlockedComponent) =>
      this.refusal(segments.slice(0, index + 1), index < this.storeSegments.length, blocked, operation, key);
    try {
      return await openBeneath(this.mountPath, segments, create, refuse);
    } catch (err) {
      if (!create && errnoCode(err) === 'ENOENT') return undefined; // no mount, no store: nothing there
      throw this.fail(err, operation, key);
    }
  }

  /** The held parent directory of `key` and the key's own name in it (undefined when the parent is missing). */
  async parentOf(
    key: string,
    operation: string,
    create: boolean,
  ): Promise<{ dir: HeldDirectory; name: string } | undefined> {
    if (!isDirectoryMarker(key)) this.pathOf(key, operation);
    const segments = keySegments(key);
    const dir = await this.directory(segments.slice(0, -1).join('/'), operation, key, create);
    return dir && { dir, name: segments.at(-1)! };
  }

  private refusal(
    walked: string[],
    inStorePath: boolean,
    blocked: BlockedComponent,
    operation: string,
    key: string,
  ): StorageError {
    const shown = inStorePath
      ? `the store path component ${JSON.stringify('/' + walked.join('/'))}`
      : JSON.stringify(walked.slice(this.storeSegments.length).join('/'));
    const message =
      blocked === 'symlink'
        ? `${shown} is a symbolic link: Ferry never follows a link inside a filesystem store`
        : `${shown} is an object (a file), so it cannot also be a prefix of ${JSON.stringify(key)}: a filesystem cannot hold a key that is both`;
    return new StorageError(message, {
      kind: 'permanent',
      store: this.description,
      operation,
      key,
      code: blocked === 'symlink' ? 'SymlinkInStore' : 'KeyConflict',
    });
  }

  /** The file of `key`; throws InvalidKeyError for an unsafe key. */
  pathOf(key: string, operation: string): string {
    return keyToPath(this.root, key, this.description, operation);
  }

  context(operation: string, key: string): VerifierContext {
    return { store: this.description, operation, key };
  }

  /** Refuses to create the mount point itself: a missing one means the volume is not mounted. */
  async checkMount(operation: string): Promise<void> {
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
}
