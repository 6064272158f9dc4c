// How a filesystem store makes a write atomic: the bytes go to a hidden
// temporary file (".ferry-tmp-*") in the target's directory through a
// verifier, are fsynced, and the file is renamed over the target (then the
// directory is fsynced). Both happen inside a directory held open, so no link
// inside the store is followed (filesystemDirectories.ts). On any failure the temporary file is removed, so an
// object is never visible partly written or with content that failed its check.
import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { errnoCode, type FilesystemRoot, type HeldDirectory } from './filesystemRoot.ts';
import type { VerifyingStream } from './integrity.ts';

const tempPrefix = '.ferry-tmp-';

/** A verified, fsynced temporary file, not yet visible, in a held directory. */
export interface StagedFile {
  /** Its name in the directory it was written to. */
  tempName: string;
  sha256: string;
  size: number;
}

/**
 * Streams `body` through `verifier` into a new temporary file in `dir` (held
 * open: see filesystemDirectories.ts), fsyncs it and returns it. On failure
 * the temp file is gone; an error of `body` itself is re-thrown unchanged.
 */
export async function writeTemp(
  root: FilesystemRoot,
  dir: HeldDirectory,
  body: Readable,
  verifier: VerifyingStream,
  operation: string,
  key: string,
): Promise<StagedFile> {
  let bodyError: unknown;
  const onBodyError = (err: unknown) => (bodyError ??= err);
  body.once('error', onBodyError);
  const [tempName, handle] = await createTemp(root, dir, operation, key).catch((err: unknown) => {
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
    return { tempName, sha256: verifier.sha256!, size: verifier.bytes };
  } catch (err) {
    if (!closed) await handle.close().catch(() => undefined);
    await unlink(dir.entry(tempName)).catch(() => undefined);
    if (bodyError !== undefined && err === bodyError) throw err;
    throw root.fail(err, operation, key);
  } finally {
    body.off('error', onBodyError);
  }
}

/**
 * Makes the temporary file `tempName` of `dir` visible as `name` in the same
 * directory (removing it when that fails). The rename replaces a link of
 * that name rather than writing through it.
 */
export async function commit(
  root: FilesystemRoot,
  dir: HeldDirectory,
  tempName: string,
  name: string,
  operation: string,
  key: string,
): Promise<void> {
  try {
    await rename(dir.entry(tempName), dir.entry(name));
    await syncDir(dir);
  } catch (err) {
    await unlink(dir.entry(tempName)).catch(() => undefined);
    throw root.fail(err, operation, key);
  }
}

/** A new hidden temporary file in `dir`. */
async function createTemp(
  root: FilesystemRoot,
  dir: HeldDirectory,
  operation: string,
  key: string,
): Promise<[string, FileHandle]> {
  const tempName = `${tempPrefix}${randomBytes(8).toString('hex')}`;
  try {
    const flags = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW;
    return [tempName, await open(dir.entry(tempName), flags, 0o666)];
  } catch (err) {
    throw root.fail(err, operation, key);
  }
}

async function syncDir(dir: HeldDirectory): Promise<void> {
  try {
    await dir.sync();
  } catch (err) {
    // Some filesystems cannot fsync a directory; the rename itself is atomic.
    if (!['EINVAL', 'ENOTSUP', 'EOPNOTSUPP', 'EISDIR', 'EBADF'].includes(errnoCode(err) ?? '')) throw err;
  }
}

async function writeAll(handle: FileHandle, chunk: Buffer): Promise<void> {
  let offset = 0;
  while (offset < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
    offset += bytesWritten;
  }
}
