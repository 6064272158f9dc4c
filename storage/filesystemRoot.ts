// Where a filesystem store's objects are: a root directory (the volume's
// mount path joined with the store's `path`) in which a key is the file's
// "/"-separated relative path, kept byte for byte. Keys that could escape the
// root or have no file equivalent are refused (so S3 directory markers, keys
// ending in "/", do not round-trip), and names starting with ".ferry-" are
// reserved for the store's own files (docs/adr/0005).
import path from 'node:path';
import { stat } from 'node:fs/promises';
import type { FilesystemStoreConfig } from './config.ts';
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

/** The system error code (`ENOENT`, …) of a failed file operation. */
export function errnoCode(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The root of one filesystem store, and how its failures read. */
export class FilesystemRoot {
  readonly description: string;
  /** The directory holding the objects. */
  readonly root: string;
  private readonly mountPath: string;
  private mountChecked = false;

  /** Throws a permanent StorageError for a `path` with ".." or NUL. */
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
