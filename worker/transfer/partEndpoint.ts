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
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../common/logging.ts';
import type { WorkerMetrics } from '../metrics.ts';
import { ChecksumMismatchError, UploadNotFoundError, type ObjectStore } from '../../storage/objectStore.ts';
import {
  objectSha256Header,
  objectSizeHeader,
  partsPath,
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
    const incoming = receiveBody(req, key);
    try {
      const record = await this.uploads.findOrStart(
        key,
        q.objectSize,
        () => this.store.createMultipart(key, objectSha.sha256 ? { sha256: objectSha.sha256 } : {}),
        (uploadId) => this.store.abortMultipart(key, uploadId),
      );
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
        const hash = createHash('sha256');
        let received = 0;
        for await (const chunk of incoming.body) {
          hash.update(chunk as Buffer);
          received += (chunk as Buffer).length;
        }
        result = { sha256: hash.digest('hex'), size: received, completed: true };
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
        this.metrics?.bytes.inc({ direction: 'received' }, stored.size);
      }
      send(res, 201, result);
    } catch (err) {
      if (incoming.aborted()) {
        this.log.warn('part transfer aborted by the client; nothing stored', { key, part: q.partNumber });
        res.destroy();
        return;
      }
      this.answerError(res, key, err);
    } finally {
      incoming.release();
    }
  }

  /**
   * The upload vanished under our feet: usually another worker has just
   * completed it and is about to record that (wait for the record), or it
   * completed it and died before recording (the object is there, whole).
   * Anything else: the upload was removed behind our back (a lifecycle rule,
   * an operator), and the object needs a new plan.
   */
  private async vanished(
    key: string,
    record: UploadRecord,
    partNumber: number,
  ): Promise<CompleteResult | ErrorResponse> {
    for (let i = 0; i < settleWaitSteps; i++) {
      const now = await this.uploads.find(key);
      if (now?.state === 'completed') return { completed: true, completedBy: now.completedBy, missing: [] };
      if (now?.state === 'discarded') return discardedResponse(key, now);
      await new Promise((resolve) => setTimeout(resolve, settleWaitStepMs));
    }
    if ((await this.store.stat(key))?.size === record.size) {
      await this.uploads.settle(key, record.uploadId, 'completed', { completedBy: partNumber });
      const now = await this.uploads.find(key);
      return { completed: true, completedBy: now?.completedBy, missing: [] };
    }
    return this.discard(key, record, 'the multipart upload disappeared from the store');
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
      return answer(await this.vanished(key, record, q.partNumber));
    }
    const have = new Set(stored.map((p) => p.partNumber));
    const missing = all.filter((n) => !have.has(n));
    if (missing.length > 0) return answer({ completed: false, missing });
    const total = stored.reduce((n, p) => n + p.size, 0);
    if (total !== record.size)
      return answer(
        await this.discard(key, record, `its parts add up to ${total} bytes, the object has ${record.size}`),
      );
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
      if (err instanceof UploadNotFoundError) return answer(await this.vanished(key, record, q.partNumber));
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
