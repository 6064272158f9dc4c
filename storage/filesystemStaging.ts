// How a filesystem store makes a write atomic: the bytes go to a hidden
// temporary file (".ferry-tmp-*") in the target's directory through a
// verifier, are fsynced, and the file is renamed over the target (then the
// directory is fsynced). On any failure the temporary file is removed, so an
// object is never visible partly written or with content that failed its check.
import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { errnoCode, type FilesystemRoot } from './filesystemRoot.ts';
import type { VerifyingStream } from './integrity.ts';

const tempPrefix = '.ferry-tmp-';

/** A verified, fsynced temporary file, not yet visible. */
export interface StagedFile {
  tempPath: string;
  sha256: string;
  size: number;
}

/**
 * Streams `body` through `verifier` into a new temporary file in `dir`
 * (created with its parents), fsyncs it and returns it. On failure the temp
 * file is gone; an error of `body` itself is re-thrown unchanged.
 */
export async function writeTemp(
  root: FilesystemRoot,
  dir: string,
  body: Readable,
  verifier: VerifyingStream,
  operation: string,
  key: string,
): Promise<StagedFile> {
  let bodyError: unknown;
  const onBodyError = (err: unknown) => (bodyError ??= err);
  body.once('error', onBodyError);
  const [tempPath, handle] = await createTemp(root, dir, operation, key).catch((err: unknown) => {
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
    throw root.fail(err, operation, key);
  } finally {
    body.off('error', onBodyError);
  }
}

/** Makes the temporary file `tempPath` visible as `target` (removing it when that fails). */
export async function commit(
  root: FilesystemRoot,
  tempPath: string,
  target: string,
  operation: string,
  key: string,
): Promise<void> {
  try {
    await rename(tempPath, target);
    await syncDir(path.dirname(target));
  } catch (err) {
    await unlink(tempPath).catch(() => undefined);
    throw root.fail(err, operation, key);
  }
}

/** Creates `dir` (and its parents) and a new hidden temporary file in it. */
async function createTemp(
  root: FilesystemRoot,
  dir: string,
  operation: string,
  key: string,
): Promise<[string, FileHandle]> {
  await root.checkMount(operation);
  for (let attempt = 0; ; attempt++) {
    const tempPath = path.join(dir, `${tempPrefix}${randomBytes(8).toString('hex')}`);
    try {
      await mkdir(dir, { recursive: true });
      return [tempPath, await open(tempPath, 'wx', 0o666)];
    } catch (err) {
      // A concurrent delete may have pruned the directory we just made.
      if (errnoCode(err) === 'ENOENT' && attempt < 3) continue;
      throw root.fail(err, operation, key);
    }
  }
}

async function syncDir(dir: string): Promise<void> {
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

async function writeAll(handle: FileHandle, chunk: Buffer): Promise<void> {
  let offset = 0;
  while (offset < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
    offset += bytesWritten;
  }
}
