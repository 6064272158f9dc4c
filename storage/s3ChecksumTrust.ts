// Whether the S3 server checks the SHA-256 it is sent (as a header or an
// aws-chunked trailer) before committing. Once it has shown it does, a
// streamed body's expected SHA-256 is left to it and the bytes are not hashed
// here a second time (docs/adr/0012, 0027, 0029). An echo of the SHA-256 only proves the
// server stores it; trust takes a refusal of a deliberately wrong one.
import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ObjectStore } from './objectStore.ts';
import type { S3BucketClient } from './s3Client.ts';
import { isDigestRefusal } from './s3Errors.ts';

/** The requests whose SHA-256 the server may be trusted with: a PUT, an UploadPart. */
export type ChecksummedOperation = 'write' | 'writePart';

/**
 * Per operation: trusted once the server has answered with the very SHA-256
 * it was sent and has refused a wrong one. The refusal is asked once per
 * operation (concurrent askers share it); a probe that fails counts as no
 * refusal.
 */
export class S3ChecksumTrust {
  private readonly trusted = new Set<ChecksummedOperation>();
  private readonly probes = new Map<ChecksummedOperation, Promise<boolean>>();
  private readonly probe: (operation: ChecksummedOperation) => Promise<boolean>;

  /** `probe` tells whether the server refuses a wrong SHA-256 for `operation` (see probeChecksumRefusal). */
  constructor(probe: (operation: ChecksummedOperation) => Promise<boolean>) {
    this.probe = probe;
  }

  /** Whether `operation`'s SHA-256 is left to the server alone. */
  leftToServer(operation: ChecksummedOperation): boolean {
    return this.trusted.has(operation);
  }

  /** The server answered with the SHA-256 it was sent: trusts it when it also refuses a wrong one. */
  async echoed(operation: ChecksummedOperation): Promise<void> {
    if (this.trusted.has(operation)) return;
    if (await this.refusesWrongChecksum(operation)) this.trusted.add(operation);
  }

  /** The trusted server did not answer with the SHA-256 it was to check: hash here from now on. */
  withdraw(operation: ChecksummedOperation): void {
    this.trusted.delete(operation);
  }

  private refusesWrongChecksum(operation: ChecksummedOperation): Promise<boolean> {
    let probe = this.probes.get(operation);
    if (!probe) {
      probe = this.probe(operation).catch(() => false);
      this.probes.set(operation, probe);
    }
    return probe;
  }
}

/**
 * Sends one byte under the store's prefix with a trailing SHA-256 that is not
 * its own (as a PUT, or as the part of an upload made for it) and tells
 * whether the server refused it. What the probe stored is removed either way.
 */
export async function probeChecksumRefusal(
  bucket: S3BucketClient,
  store: Pick<ObjectStore, 'createMultipart' | 'abortMultipart' | 'delete'>,
  operation: ChecksummedOperation,
): Promise<boolean> {
  const key = `.ferry-checksum-probe/${randomUUID()}`;
  const Key = bucket.fullKey(key, operation);
  const notItsSha256 = createHash('sha256').update('not the probe').digest('hex');
  const part =
    operation === 'writePart' ? { uploadId: await store.createMultipart(key), partNumber: 1 } : undefined;
  try {
    // Streamed with the SHA-256 as its trailer: the very check left to the server.
    await bucket.objects.put({
      key: Key,
      size: 1,
      body: Readable.from([Buffer.from('x')]),
      trailingSha256: () => notItsSha256,
      ...(part ? { part } : {}),
    });
  } catch (err) {
    return isDigestRefusal(err);
  } finally {
    if (part) await store.abortMultipart(key, part.uploadId).catch(() => undefined);
  }
  if (!part) await store.delete(key).catch(() => undefined);
  return false;
}
