// What identifies one version of a file, and the check that a read saw only
// that one (docs/adr/0033). A file rewritten in place keeps its inode but
// moves its mtime and ctime; one replaced by a rename (as Ferry's own writes,
// and most editors and rsync, do) gets a new inode; so inode, size, mtime and
// ctime, in nanoseconds, change with every write the kernel's clock can tell
// apart. Not the device number: the pods of a job may mount one shared volume
// (NFS, say) on different nodes, where it has different device numbers, and
// their versions of one file must agree. (Two writes of the same size within one timestamp tick of
// the filesystem — a few ms on ext4 — are not told apart: no filesystem
// offers more without reading the bytes.)
import type { BigIntStats } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';
import { ObjectChangedError } from './objectStore.ts';

/** ObjectInfo.version of a file: `ino:size:mtimeNs:ctimeNs`. */
export function fileVersion(stats: BigIntStats): string {
  return `${stats.ino}:${stats.size}:${stats.mtimeNs}:${stats.ctimeNs}`;
}

/** The version of the file at `file` (no symlink followed), or undefined when it is gone or not a file. */
export async function currentFileVersion(file: string): Promise<string | undefined> {
  const stats = await lstat(file, { bigint: true }).catch(() => undefined);
  return stats?.isFile() ? fileVersion(stats) : undefined;
}

/**
 * Passes a file's bytes through and, once they have all come, looks at the
 * file again: when it is no longer the version it was when opened, the
 * stream fails with ObjectChangedError instead of ending. It holds back the
 * last chunk until then, so a consumer never receives the whole length of a
 * file that changed under the read.
 */
export class VersionRecheck extends Transform {
  private readonly file: string;
  private readonly opened: string;
  private readonly where: { store: string; key: string };
  private held: Buffer | undefined;

  constructor(file: string, opened: string, where: { store: string; key: string }) {
    super();
    this.file = file;
    this.opened = opened;
    this.where = where;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const previous = this.held;
    this.held = chunk;
    callback(null, previous);
  }

  override _flush(callback: TransformCallback): void {
    currentFileVersion(this.file).then(
      (now) => {
        if (now !== this.opened) {
          const { store, key } = this.where;
          const problem = now === undefined ? 'it was removed' : 'it was written to';
          return callback(new ObjectChangedError(store, 'read', key, `${problem} while it was read`));
        }
        callback(null, this.held);
      },
      (err: unknown) => callback(err as Error),
    );
  }
}
