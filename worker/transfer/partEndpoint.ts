// The destination side of a large object's copy: the object travels as parts
// (one copyPart task each, see api/tasks.ts), possibly through several
// destination workers. Each part is written into the object's one multipart
// upload (found or started through the UploadRegistry), and nothing is visible
// under the key until every part is stored and the upload is completed: a
// failure re-sends only the missing parts, and a half-copied object is never
// seen.
//
// Completion is a separate request the source worker makes after checking its
// part's SHA-256: it completes the object when every part is stored. Since
// each source asks only after its own part is stored, the one that stores the
// last part always finds them all.
//
// Every part of an upload is of one source version (docs/adr/0033): a part
// says which version it was read from, and one of another version than the
// upload's starts the upload over for that version, its task then sending
// every part. So an object is never assembled from two versions.
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../common/logging.ts';
import type { WorkerMetrics } from '../metrics.ts';
import { ChecksumMismatchError, UploadNotFoundError, type ObjectStore } from '../../storage/objectStore.ts';
import {
  objectSha256Header,
  objectSizeHeader,
  partsPath,
  sourceVersionHeader,
  type CompleteResult,
  type PartPutResult,
} from './protocol.ts';
import {
  answerFailure,
  committedMessage,
  declaredBody,
  declaredSha256,
  errorResponse,
  fail,
  isErrorResponse,
  methodNotAllowed,
  receiveBody,
  send,
  storageErrorResponse,
  type ErrorResponse,
} from './receiving.ts';
import type { UploadRecord } from '../../api/uploads.ts';
import type { UploadRegistry } from './uploadRegistry.ts';
import { completionProof, notMadeOfItsParts } from './partsProof.ts';

/** How long a completion waits for another worker to record the object it has just completed. */
const settleWaitSteps = 20;
const settleWaitStepMs = 250;

/** S3's bound on the parts of one upload. */
export const maxParts = 10_000;

export type PartRoutes = (req: IncomingMessage, res: ServerResponse, url: URL, key: string) => void;

interface PartQuery {
  partNumber: number;
  partCount: number;
  objectSize: number;
}

function positiveInt(value: string | null | undefined, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === null || value === undefined || !/^\d+$/.test(value)) return undefined;
  const n = Number(value);
  return n >= 1 && n <= max ? n : undefined;
}

function parseQuery(req: IncomingMessage, url: URL): PartQuery | ErrorResponse {
  const bad = (message: string) => errorResponse(400, 'permanent', 'BadRequest', message);
  const partCount = positiveInt(url.searchParams.get('parts'), maxParts);
  if (partCount === undefined) return bad(`"parts" must be an integer from 1 to ${maxParts}`);
  const partNumber = positiveInt(url.searchParams.get('part'), partCount);
  if (partNumber === undefined) return bad(`"part" must be an integer from 1 to "parts" (${partCount})`);
  const sizeHeader = req.headers[objectSizeHeader];
  const objectSize = typeof sizeHeader === 'string' && /^\d+$/.test(sizeHeader) ? Number(sizeHeader) : NaN;
  if (!Number.isSafeInteger(objectSize)) return bad(`${objectSizeHeader} must be the whole object's size`);
  return { partNumber, partCount, objectSize };
}

async function digestOf(body: AsyncIterable<unknown>): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of body) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), size };
}

/** The source version a part was read from (x-ferry-source-version), when the source says. */
function declaredVersion(req: IncomingMessage): string | undefined | ErrorResponse {
  const value = req.headers[sourceVersionHeader];
  if (value === undefined) return undefined;
  try {
    if (typeof value === 'string' && value !== '') return decodeURIComponent(value);
  } catch {
    // fall through: malformed
  }
  return errorResponse(
    400,
    'permanent',
    'BadRequest',
    `${sourceVersionHeader} must be a URL-encoded version`,
  );
}

function restartedResponse(key: string): ErrorResponse {
  return errorResponse(
    409,
    'retryable',
    'SourceChanged',
    `the multipart upload of ${JSON.stringify(key)} was started over for another version of the source while this part was sent; send it again`,
  );
}

function discardedResponse(key: string, record: UploadRecord): ErrorResponse {
  return errorResponse(
    409,
    'permanent',
    'UploadDiscarded',
    `the multipart copy of ${JSON.stringify(key)} was discarded (${record.reason ?? 'no reason recorded'}); the object needs a new plan`,
  );
}

/** The part routes of a destination worker: parts stored into one multipart upload per object, completed once all are in. */
class PartEndpoint {
  private readonly store: ObjectStore;
  private readonly uploads: UploadRegistry;
  private readonly log: Logger;
  private readonly metrics: WorkerMetrics | undefined;

  constructor(store: ObjectStore, uploads: UploadRegistry, log: Logger, metrics: WorkerMetrics | undefined) {
    this.store = store;
    this.uploads = uploads;
    this.log = log;
    this.metrics = metrics;
  }

  handle(req: IncomingMessage, res: ServerResponse, url: URL, key: string): void {
    const isPut = url.pathname === partsPath;
    if (req.method !== (isPut ? 'PUT' : 'POST')) return fail(res, methodNotAllowed(req.method, url.pathname));
    const query = parseQuery(req, url);
    if (isErrorResponse(query)) return fail(res, query);
    void (isPut ? this.putPart(req, res, key, query) : this.complete(res, key, query)).catch((err: unknown) =>
      this.answerError(res, key, err),
    );
  }

  private answerError(res: ServerResponse, key: string, err: unknown): void {
    answerFailure(res, storageErrorResponse(err), {
      log: this.log,
      message: 'part transfer failed',
      meta: { key },
      metrics: this.metrics,
    });
  }

  /** Discards the upload for good (its parts cannot make the planned object). */
  private async discard(key: string, record: UploadRecord, reason: string): Promise<ErrorResponse> {
    await this.store.abortMultipart(key, record.uploadId);
    await this.uploads.settle(key, record.uploadId, 'discarded', { reason });
    return discardedResponse(key, { ...record, reason });
  }

  private async putPart(req: IncomingMessage, res: ServerResponse, key: string, q: PartQuery): Promise<void> {
    const part = declaredBody(req);
    if (isErrorResponse(part)) return fail(res, part);
    const objectSha = declaredSha256(req, objectSha256Header);
    if (isErrorResponse(objectSha)) return fail(res, objectSha);
    const version = declaredVersion(req);
    if (isErrorResponse(version)) return fail(res, version);
    const incoming = receiveBody(req, key);
    let record: UploadRecord | undefined;
    try {
      record = await this.uploadFor(key, q, objectSha.sha256, version);
      if (record.state === 'open' && version !== undefined && record.sourceVersion !== version) {
        incoming.body.destroy();
        return fail(res, restartedResponse(key));
      }
      if (record.state === 'discarded') {
        incoming.body.destroy();
        return fail(res, discardedResponse(key, record));
      }
      if (record.size !== q.objectSize) {
        incoming.body.destroy();
        return fail(
          res,
          await this.discard(
            key,
            record,
            `a part came for a ${q.objectSize}-byte object, the upload is for ${record.size} bytes: the source changed`,
          ),
        );
      }
      let result: PartPutResult;
      if (record.state === 'completed') {
        // A part delivered again after the object was completed: store nothing, answer its digest.
        result = { ...(await digestOf(incoming.body)), completed: true };
      } else {
        const stored = await this.store.writePart(
          key,
          record.uploadId,
          q.partNumber,
          incoming.body,
          part.size,
          part.checks,
        );
        result = { sha256: stored.sha256!, size: stored.size, completed: false };
        if (record.restartedBy === q.partNumber) result.copiesAll = true;
        this.metrics?.bytes.inc({ direction: 'received' }, stored.size);
      }
      send(res, 201, result);
    } catch (err) {
      if (incoming.aborted()) {
        this.log.warn('part transfer aborted by the client; nothing stored', { key, part: q.partNumber });
        res.destroy();
        return;
      }
      if (err instanceof UploadNotFoundError && record && (await this.restartedSince(key, record)))
        return fail(res, restartedResponse(key));
      this.answerError(res, key, err);
    } finally {
      incoming.release();
    }
  }

  /**
   * The object's upload for the part's source version: found, started, or —
   * when the open upload is of another version (the source changed between
   * parts) — started over for this one, this part's task then sending every
   * part (ADR 0033).
   */
  private async uploadFor(
    key: string,
    q: PartQuery,
    objectSha256: string | undefined,
    version: string | undefined,
  ): Promise<UploadRecord> {
    const start = () => this.store.createMultipart(key, objectSha256 ? { sha256: objectSha256 } : {});
    const abort = (uploadId: string) => this.store.abortMultipart(key, uploadId);
    const record = await this.uploads.findOrStart(key, q.objectSize, start, abort, version);
    if (record.state !== 'open' || version === undefined || record.sourceVersion === version) return record;
    this.log.info('the source changed between parts: the upload starts over with its new version', {
      key,
      part: q.partNumber,
    });
    return this.uploads.restart(key, record, version, q.partNumber, start, abort);
  }

  /** Whether the object's upload is no longer `record`'s (it was started over). */
  private async restartedSince(key: string, record: UploadRecord): Promise<boolean> {
    const now = await this.uploads.find(key);
    return now !== undefined && now.uploadId !== record.uploadId;
  }

  /**
   * The upload vanished under our feet: usually another worker has just
   * completed it and is about to record that (wait for the record), or it
   * completed it and died before recording (the object is there, whole:
   * its bytes must prove it, partsProof.ts — a same-size object is not
   * enough). Or it was started over for a new source version (its new
   * upload's parts are still to come). Anything else: the upload was removed
   * behind our back (a lifecycle rule, an operator), and the object needs a
   * new plan.
   */
  private async vanished(
    key: string,
    record: UploadRecord,
    q: PartQuery,
  ): Promise<CompleteResult | ErrorResponse> {
    let last = record;
    for (let i = 0; i < settleWaitSteps; i++) {
      const now = await this.uploads.find(key);
      if (now?.state === 'completed') return { completed: true, completedBy: now.completedBy, missing: [] };
      if (now?.state === 'discarded') return discardedResponse(key, now);
      if (now && now.uploadId !== record.uploadId)
        return { completed: false, missing: Array.from({ length: q.partCount }, (_, n) => n + 1) };
      if (now) last = now;
      await new Promise((resolve) => setTimeout(resolve, settleWaitStepMs));
    }
    const problem = await notMadeOfItsParts(this.store, last);
    if (problem === undefined) {
      await this.uploads.settle(key, record.uploadId, 'completed', { completedBy: q.partNumber });
      const now = await this.uploads.find(key);
      return { completed: true, completedBy: now?.completedBy, missing: [] };
    }
    return this.discard(key, record, `the multipart upload disappeared from the store, and ${problem}`);
  }

  private async complete(res: ServerResponse, key: string, q: PartQuery): Promise<void> {
    const all = Array.from({ length: q.partCount }, (_, i) => i + 1);
    const answer = (result: CompleteResult | ErrorResponse) =>
      isErrorResponse(result) ? fail(res, result) : send(res, 200, result);
    const record = await this.uploads.find(key);
    if (!record) return answer({ completed: false, missing: all });
    if (record.state === 'completed')
      return answer({ completed: true, completedBy: record.completedBy, missing: [] });
    if (record.state === 'discarded') return answer(discardedResponse(key, record));
    let stored;
    try {
      stored = (await this.store.listParts(key, record.uploadId)).filter((p) => p.partNumber <= q.partCount);
    } catch (err) {
      if (!(err instanceof UploadNotFoundError)) throw err;
      return answer(await this.vanished(key, record, q));
    }
    const have = new Set(stored.map((p) => p.partNumber));
    const missing = all.filter((n) => !have.has(n));
    if (missing.length > 0) return answer({ completed: false, missing });
    const total = stored.reduce((n, p) => n + p.size, 0);
    if (total !== record.size)
      return answer(
        await this.discard(key, record, `its parts add up to ${total} bytes, the object has ${record.size}`),
      );
    // What the parts prove, recorded first: a completion whose own record is lost can be verified (vanished).
    const proof = completionProof(stored);
    if (proof) await this.uploads.annotate(key, record.uploadId, { completing: proof });
    try {
      await this.store.completeMultipart(
        key,
        record.uploadId,
        stored.map((p) => ({
          partNumber: p.partNumber,
          etag: p.etag,
          ...(p.sha256 ? { sha256: p.sha256 } : {}),
        })),
      );
    } catch (err) {
      if (err instanceof UploadNotFoundError) return answer(await this.vanished(key, record, q));
      if (err instanceof ChecksumMismatchError)
        return answer(
          await this.discard(key, record, `the assembled object failed its SHA-256: ${err.message}`),
        );
      throw err;
    }
    if (await this.uploads.settle(key, record.uploadId, 'completed', { completedBy: q.partNumber })) {
      this.log.debug(committedMessage, { key, bytes: total, parts: q.partCount });
      this.metrics?.objects.inc({ operation: 'committed' });
    }
    const settled = await this.uploads.find(key);
    answer({ completed: true, completedBy: settled?.completedBy, missing: [] });
  }
}

export function createPartRoutes(
  store: ObjectStore,
  uploads: UploadRegistry,
  log: Logger,
  metrics?: WorkerMetrics,
): PartRoutes {
  const endpoint = new PartEndpoint(store, uploads, log, metrics);
  return (req, res, url, key) => endpoint.handle(req, res, url, key);
}
