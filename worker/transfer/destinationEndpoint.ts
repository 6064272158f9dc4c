// The destination worker's side of a copy (see protocol.ts for the contract):
// HTTP routes that stream each PUT body into the destination store, delete on
// DELETE, and receive large objects part by part (partEndpoint.ts). Mounted
// next to the worker's probes.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { WorkerMetrics } from '../metrics.ts';
import type { ObjectStore } from '../storage/objectStore.ts';
import { createPartRoutes } from './partEndpoint.ts';
import { completePath, objectsPath, partsPath, sha256Header, type PutResult } from './protocol.ts';
import {
  committedMessage,
  declaredLength,
  declaredSha256,
  errorResponse,
  fail,
  isErrorResponse,
  receiveBody,
  send,
  storageErrorResponse,
  trailingSha256,
} from './receiving.ts';
import type { UploadRegistry } from './uploadRegistry.ts';

/** The part of a logger the endpoint uses (a winston Logger fits). */
export interface TransferLog {
  debug(message: string, meta?: Record<string, unknown>): unknown;
  info(message: string, meta?: Record<string, unknown>): unknown;
  warn(message: string, meta?: Record<string, unknown>): unknown;
}

export { committedMessage } from './receiving.ts';

/** Handles `req` when it is for the transfer routes (returns true), else returns false and leaves it alone. */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

/** Whether `header` is `Bearer <token>`, compared in constant time (no early exit, no length leak). */
export function tokenMatches(header: string | undefined, token: string): boolean {
  if (header === undefined || !header.startsWith('Bearer ')) return false;
  // Equal-length digests, so timingSafeEqual compares them whatever the presented length.
  const presented = createHash('sha256').update(header.slice('Bearer '.length), 'utf8').digest();
  const expected = createHash('sha256').update(token, 'utf8').digest();
  return timingSafeEqual(presented, expected) && token.length > 0;
}

/**
 * The handler of the transfer routes over `store`, accepting only requests
 * that carry `token`. Never buffers a body: it is piped into the store
 * (back-pressure included); a request cut short makes the body stream error,
 * so the store commits nothing. Without `uploads` (the registry of multipart
 * uploads), the part routes answer 404.
 */
export function createDestinationHandler(
  store: ObjectStore,
  token: string,
  log: TransferLog,
  uploads?: UploadRegistry,
  metrics?: WorkerMetrics,
): RouteHandler {
  const parts = uploads ? createPartRoutes(store, uploads, log, metrics) : undefined;
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://destination');
    const isPart = url.pathname === partsPath || url.pathname === completePath;
    if (url.pathname !== objectsPath && !(isPart && parts)) return false;

    if (!tokenMatches(req.headers.authorization, token)) {
      fail(res, errorResponse(401, 'permanent', 'Unauthorized', 'missing or wrong bearer token'));
      return true;
    }
    const key = url.searchParams.get('key');
    if (key === null || key === '') {
      fail(
        res,
        errorResponse(400, 'permanent', 'InvalidKey', 'the "key" query parameter is missing or empty'),
      );
      return true;
    }
    if (isPart) {
      parts!(req, res, url, key);
      return true;
    }
    if (req.method === 'PUT') void put(req, res, key);
    else if (req.method === 'DELETE') void remove(res, key);
    else
      fail(
        res,
        errorResponse(405, 'permanent', 'MethodNotAllowed', `${req.method} is not allowed on ${objectsPath}`),
      );
    return true;
  };

  async function put(req: IncomingMessage, res: ServerResponse, key: string): Promise<void> {
    const size = declaredLength(req);
    if (isErrorResponse(size)) return fail(res, size);
    const declared = declaredSha256(req, sha256Header);
    if (isErrorResponse(declared)) return fail(res, declared);
    const trailing = trailingSha256(req, sha256Header);
    const incoming = receiveBody(req, key);
    try {
      const written = await store.write(key, incoming.body, {
        size,
        ...(declared.sha256 ? { sha256: declared.sha256 } : {}),
        ...(trailing ? { trailingSha256: trailing } : {}),
      });
      const result: PutResult = { sha256: written.sha256, size: written.size };
      // One line per committed object at debug level: the audit trail of what this job wrote.
      log.debug(committedMessage, { key, bytes: written.size, sha256: written.sha256 });
      metrics?.bytes.inc({ direction: 'received' }, written.size);
      metrics?.objects.inc({ operation: 'committed' });
      send(res, 201, result);
    } catch (err) {
      if (incoming.aborted()) {
        // The client is gone (or going): there is nobody to answer.
        log.warn('transfer aborted by the client; nothing written', { key });
        res.destroy();
        return;
      }
      const response = storageErrorResponse(err);
      metrics?.failed(response.body.error.kind, response.body.error.code);
      log.warn('transfer failed', {
        key,
        status: response.status,
        code: response.body.error.code,
        error: response.body.error.message,
      });
      fail(res, response);
    } finally {
      incoming.release();
    }
  }

  async function remove(res: ServerResponse, key: string): Promise<void> {
    try {
      await store.delete(key);
      metrics?.objects.inc({ operation: 'deleted' });
      send(res, 204);
    } catch (err) {
      const response = storageErrorResponse(err);
      metrics?.failed(response.body.error.kind, response.body.error.code);
      log.warn('delete failed', { key, status: response.status, code: response.body.error.code });
      fail(res, response);
    }
  }
}
