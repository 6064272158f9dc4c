// Multipart uploads on a filesystem store (docs/adr/0006): each upload is a
// staging directory "<root>/.ferry-staging/<uploadId>/" holding upload.json
// (the key and the expected SHA-256) and one file per part, named by its
// number and SHA-256. Completing concatenates the parts through a verifier
// into the target, atomically (filesystemStaging.ts); unlike S3, the whole
// object is checked against the upload's SHA-256. Every step runs in
// directories held open without following links (filesystemDirectories.ts).
import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { lstat, open, readdir, readFile, rm, unlink } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { errnoCode, type FilesystemRoot, type HeldDirectory } from './filesystemRoot.ts';
import { commit, writeTemp } from './filesystemStaging.ts';
import { checkUpload, checkWriteArguments, VerifyingStream } from './integrity.ts';
import { ChecksumMismatchError, StorageError, UploadNotFoundError } from './objectStore.ts';
import type { CompletedPart, MultipartOptions, ObjectStore, PartInfo, WriteResult } from './objectStore.ts';
import type { MultipartUploads } from './multipartUploads.ts';

export const stagingDirName = '.ferry-staging';
const uploadIdPattern = /^[0-9a-f]{32}$/;
const partFilePattern = /^part-(\d{5})-([0-9a-f]{64})$/;
/** Opens a file of the store for reading, refusing a link in its place. */
const noFollow = fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW;

/** upload.json. */
interface Upload {
  key: string;
  sha256?: string;
}

type StoredPart = PartInfo & { file: string };

/** The multipart half of the filesystem driver; its methods are ObjectStore's of the same names. */
export class FilesystemMultipart implements MultipartUploads {
  private readonly root: FilesystemRoot;

  constructor(root: FilesystemRoot) {
    this.root = root;
  }

  /**
   * Runs `use` on the upload's staging directory, held open without
   * following links (filesystemRoot.ts); created when `create`. A missing
   * directory is ENOENT, as a missing file in it would be.
   */
  private async inStaging<T>(
    uploadId: string,
    operation: string,
    key: string,
    use: (dir: HeldDirectory) => Promise<T>,
    create = false,
  ): Promise<T> {
    const dir = await this.root.directory(`${stagingDirName}/${uploadId}`, operation, key, create);
    if (dir === undefined)
      throw Object.assign(new Error(`no staging directory ${uploadId}`), { code: 'ENOENT' });
    try {
      return await use(dir);
    } finally {
      await dir.close();
    }
  }

  private async loadUpload(key: string, uploadId: string, operation: string): Promise<Upload> {
    const notFound = (cause?: unknown) =>
      new UploadNotFoundError(this.root.description, operation, key, uploadId, cause);
    if (!uploadIdPattern.test(uploadId)) throw notFound();
    let upload: Upload;
    try {
      const text = await this.inStaging(uploadId, operation, key, (dir) =>
        readFile(dir.entry('upload.json'), { encoding: 'utf8', flag: noFollow }),
      );
      upload = JSON.parse(text) as Upload;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || err instanceof SyntaxError) throw notFound(err);
      throw this.root.fail(err, operation, key);
    }
    if (upload.key !== key) throw notFound();
    return upload;
  }

  async createMultipart(key: string, options: MultipartOptions = {}): Promise<string> {
    const { root } = this;
    root.pathOf(key, 'createMultipart');
    // Refused now rather than at completion: the key's directory is not to be reached through a link.
    await (await root.parentOf(key, 'createMultipart', false))?.dir.close();
    const sha256 = checkWriteArguments(root.context('createMultipart', key), 0, options.sha256);
    const uploadId = randomBytes(16).toString('hex');
    const record = Buffer.from(JSON.stringify({ key, ...(sha256 ? { sha256 } : {}) } satisfies Upload));
    const verifier = new VerifyingStream(root.context('createMultipart', key), record.length);
    const operation = 'createMultipart';
    const store = async (dir: HeldDirectory) => {
      const written = await writeTemp(root, dir, Readable.from([record]), verifier, operation, key);
      await commit(root, dir, written.tempName, 'upload.json', operation, key);
    };
    await this.inStaging(uploadId, operation, key, store, true);
    return uploadId;
  }

  async writePart(
    ...[key, uploadId, partNumber, body, size, options = {}]: Parameters<ObjectStore['writePart']>
  ): Promise<PartInfo> {
    const { root } = this;
    const context = root.context('writePart', key);
    const { sha256 } = checkUpload(context, body, () => root.pathOf(key, 'writePart'), {
      size,
      sha256: options.sha256,
      partNumber,
    });
    await this.loadUpload(key, uploadId, 'writePart').catch((err: unknown) => {
      body.destroy();
      throw err;
    });
    const verifier = new VerifyingStream(context, size, sha256 ?? options.trailingSha256);
    const store = async (dir: HeldDirectory): Promise<PartInfo> => {
      const written = await writeTemp(root, dir, body, verifier, 'writePart', key);
      try {
        // A re-sent part replaces the old one (whose name carries its old digest).
        for (const old of await this.partFiles(dir))
          if (old.partNumber === partNumber) await rm(dir.entry(old.file), { force: true });
      } catch (err) {
        await unlink(dir.entry(written.tempName)).catch(() => undefined);
        throw root.fail(err, 'writePart', key);
      }
      const file = `part-${String(partNumber).padStart(5, '0')}-${written.sha256}`;
      await commit(root, dir, written.tempName, file, 'writePart', key);
      return { partNumber, etag: written.sha256, size: written.size, sha256: written.sha256 };
    };
    return this.inStaging(uploadId, 'writePart', key, store).catch((err: unknown) => {
      body.destroy();
      throw root.fail(err, 'writePart', key);
    });
  }

  /** The part files of the held staging directory `dir`, by part number. */
  private async partFiles(dir: HeldDirectory): Promise<StoredPart[]> {
    const parts: StoredPart[] = [];
    for (const file of await readdir(dir.path)) {
      const match = partFilePattern.exec(file);
      if (!match) continue;
      const info = await lstat(dir.entry(file));
      if (!info.isFile()) continue;
      const digest = match[2]!;
      parts.push({ partNumber: Number(match[1]), etag: digest, size: info.size, sha256: digest, file });
    }
    return parts.sort((a, b) => a.partNumber - b.partNumber);
  }

  async listParts(key: string, uploadId: string): Promise<PartInfo[]> {
    this.root.pathOf(key, 'listParts');
    await this.loadUpload(key, uploadId, 'listParts');
    try {
      const parts = await this.inStaging(uploadId, 'listParts', key, (dir) => this.partFiles(dir));
      return parts.map(({ file: _file, ...part }) => part);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT')
        throw new UploadNotFoundError(this.root.description, 'listParts', key, uploadId);
      throw this.root.fail(err, 'listParts', key);
    }
  }

  /**
   * An error while completing: when the staging directory is gone meanwhile,
   * another completion of the same upload won (it removes the directory after
   * committing), so the upload no longer exists — UploadNotFoundError, as S3
   * answers, rather than a bare ENOENT.
   */
  private async completionError(err: unknown, key: string, uploadId: string): Promise<StorageError> {
    const gone = await this.inStaging(uploadId, 'completeMultipart', key, (dir) =>
      lstat(dir.entry('upload.json')),
    ).then(
      () => false,
      (e: unknown) => errnoCode(e) === 'ENOENT',
    );
    if (gone) return new UploadNotFoundError(this.root.description, 'completeMultipart', key, uploadId, err);
    return this.root.fail(err, 'completeMultipart', key);
  }

  async completeMultipart(key: string, uploadId: string, parts: CompletedPart[]): Promise<WriteResult> {
    const operation = 'completeMultipart';
    this.root.pathOf(key, operation);
    const upload = await this.loadUpload(key, uploadId, operation);
    const written = await this.inStaging(uploadId, operation, key, (staging) =>
      this.assemble(key, uploadId, upload, parts, staging),
    ).catch(async (err: unknown) => {
      throw err instanceof StorageError ? err : await this.completionError(err, key, uploadId);
    });
    await this.removeStaging(key, uploadId).catch(() => undefined);
    return written;
  }

  /** Concatenates the parts held in `staging` into the object, committed atomically. */
  private async assemble(
    key: string,
    uploadId: string,
    upload: Upload,
    parts: CompletedPart[],
    staging: HeldDirectory,
  ): Promise<WriteResult> {
    const { root } = this;
    const operation = 'completeMultipart';
    const { files, size } = await this.storedFiles(key, uploadId, parts, staging);
    const verifier = new VerifyingStream(root.context(operation, key), size, upload.sha256);
    const { dir, name } = (await root.parentOf(key, operation, true))!;
    try {
      let written;
      try {
        written = await writeTemp(root, dir, concatenation(files), verifier, operation, key);
      } catch (err) {
        // Each part was verified when stored: a whole-object mismatch means the
        // wrong parts were uploaded, so the upload is of no further use.
        if (err instanceof ChecksumMismatchError) {
          await this.abortMultipart(key, uploadId);
          throw root.fail(err, operation, key);
        }
        throw await this.completionError(err, key, uploadId);
      }
      await commit(root, dir, written.tempName, name, operation, key);
      return { sha256: written.sha256, size: written.size };
    } finally {
      await dir.close();
    }
  }

  /** The files of `parts` (ascending, each as stored) and their total size; InvalidPart when they are not. */
  private async storedFiles(
    key: string,
    uploadId: string,
    parts: CompletedPart[],
    staging: HeldDirectory,
  ): Promise<{ files: string[]; size: number }> {
    const invalid = (problem: string) =>
      new StorageError(problem, {
        kind: 'permanent',
        store: this.root.description,
        operation: 'completeMultipart',
        key,
        code: 'InvalidPart',
      });
    if (parts.length === 0) throw invalid('no parts given');
    let stored: Map<number, StoredPart>;
    try {
      stored = new Map((await this.partFiles(staging)).map((p) => [p.partNumber, p]));
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
      files.push(staging.entry(found.file));
      size += found.size;
    }
    return { files, size };
  }

  /**
   * Ends an upload: upload.json first, then the rest. A concurrent completion
   * that finds a part file gone then also finds upload.json gone, and answers
   * UploadNotFoundError (completionError). Removed in one recursive pass, the
   * parts could go before upload.json, and that completion failed with a bare,
   * permanent ENOENT (seen in CI: a 200 MiB object's job failed).
   */
  private async removeStaging(key: string, uploadId: string): Promise<void> {
    const operation = 'abortMultipart';
    await this.inStaging(uploadId, operation, key, (dir) =>
      rm(dir.entry('upload.json'), { force: true }),
    ).catch((err: unknown) => {
      if (errnoCode(err) !== 'ENOENT') throw err;
    });
    // rm removes links inside the directory; it never follows them.
    const staging = await this.root.directory(stagingDirName, operation, key, false);
    if (staging === undefined) return;
    try {
      await rm(staging.entry(uploadId), { recursive: true, force: true });
    } finally {
      await staging.close();
    }
  }

  async abortMultipart(key: string, uploadId: string): Promise<void> {
    this.root.pathOf(key, 'abortMultipart');
    try {
      await this.loadUpload(key, uploadId, 'abortMultipart');
    } catch (err) {
      if (err instanceof UploadNotFoundError) return;
      throw err;
    }
    try {
      await this.removeStaging(key, uploadId);
    } catch (err) {
      throw this.root.fail(err, 'abortMultipart', key);
    }
  }
}

/** The files' bytes, one after the other. */
function concatenation(files: string[]): Readable {
  return Readable.from(
    (async function* () {
      for (const file of files) {
        const handle = await open(file, noFollow);
        try {
          for await (const chunk of handle.createReadStream({ autoClose: false })) yield chunk as Buffer;
        } finally {
          await handle.close();
        }
      }
    })(),
    { objectMode: false },
  );
}
