// The destination worker's side of a copy (see protocol.ts for the contract):
// an HTTP route that streams each PUT body into the destination store, and
// deletes on DELETE. Mounted next to the worker's probes.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import {
  ChecksumMismatchError,
  InvalidKeyError,
  isSha256Hex,
  SizeMismatchError,
  StorageError,
  type ObjectStore,
} from '../storage/objectStore.ts';
import {
  objectsPath,
  sha256Header,
  type ErrorBody,
  type PutResult,
  type TransferErrorKind,
} from './protocol.ts';

/** Body chunks handed to the store are at least this big (except the last). */
const minChunkBytes = 64 * 1024;

/**
 * Regroups a network body's small, irregular chunks into chunks of at least
 * `minChunkBytes` (the last may be smaller). The S3 driver's streaming upload
 * refuses non-final chunks under 8 KiB (the SDK's InvalidChunkSizeError), and
 * socket reads are often smaller. Holds at most one chunk's worth.
 */
export class Rechunker extends Transform {
  private parts: Buffer[] = [];
  private held = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.parts.push(chunk);
    this.held += chunk.length;
    if (this.held >= minChunkBytes) this.release();
    callback();
  }

  override _flush(callback: TransformCallback): void {
    this.release();
    callback();
  }

  private release(): void {
    if (this.held === 0) return;
    this.push(this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.held));
    this.parts = [];
    this.held = 0;
  }
}

/** The part of a logger the endpoint uses (a winston Logger fits). */
export interface TransferLog {
  debug(message: string, meta?: Record<string, unknown>): unknown;
  info(message: string, meta?: Record<string, unknown>): unknown;
  warn(message: string, meta?: Record<string, unknown>): unknown;
}

/** The log message of each object a destination commits (tests count writes by it). */
export const committedMessage = 'object committed';

/** Handles `req` when it is for the transfer routes (returns true), else returns false and leaves it alone. */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

export interface ErrorResponse {
  status: number;
  body: ErrorBody;
}

export function errorResponse(
  status: number,
  kind: TransferErrorKind,
  code: string,
  message: string,
): ErrorResponse {
  return { status, body: { error: { kind, code, message } } };
}

/** The response for an error thrown by the store's write or delete. */
export function storageErrorResponse(err: unknown): ErrorResponse {
  if (err instanceof ChecksumMismatchError || err instanceof SizeMismatchError)
    return errorResponse(409, 'retryable', err.code ?? 'Mismatch', err.message);
  if (err instanceof InvalidKeyError) return errorResponse(400, 'permanent', 'InvalidKey', err.message);
  if (err instanceof StorageError) {
    if (err.code === 'InvalidArgument') return errorResponse(400, 'permanent', err.code, err.message);
    return err.kind === 'retryable'
      ? errorResponse(503, 'retryable', err.code ?? 'StorageError', err.message)
      : errorResponse(500, 'permanent', err.code ?? 'StorageError', err.message);
  }
  const message = err instanceof Error ? err.message : String(err);
  return errorResponse(500, 'permanent', 'InternalError', `unexpected error: ${message}`);
}

/** Whether `header` is `Bearer <token>`, compared in constant time (no early exit, no length leak). */
export function tokenMatches(header: string | undefined, token: string): boolean {
  if (header === undefined || !header.startsWith('Bearer ')) return false;
  // Equal-length digests, so timingSafeEqual compares them whatever the presented length.
  const presented = createHash('sha256').update(header.slice('Bearer '.length), 'utf8').digest();
  const expected = createHash('sha256').update(token, 'utf8').digest();
  return timingSafeEqual(presented, expected) && token.length > 0;
}

export function send(res: ServerResponse, status: number, body?: unknown): void {
  if (res.headersSent || res.destroyed) return;
  if (body === undefined) {
    res.writeHead(status);
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * The handler of the transfer routes over `store`, accepting only requests
 * that carry `token`. Never buffers a body: it is piped into `store.write`
 * (back-pressure included); a request cut short makes the body stream error,
 * so the store commits nothing.
 */
export function createDestinationHandler(store: ObjectStore, token: string, log: TransferLog): RouteHandler {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://destination');
    if (url.pathname !== objectsPath) return false;
    const fail = (e: ErrorResponse) => send(res, e.status, e.body);

    if (!tokenMatches(req.headers.authorization, token)) {
      fail(errorResponse(401, 'permanent', 'Unauthorized', 'missing or wrong bearer token'));
      return true;
    }
    const key = url.searchParams.get('key');
    if (key === null || key === '') {
      fail(errorResponse(400, 'permanent', 'InvalidKey', 'the "key" query parameter is missing or empty'));
      return true;
    }
    if (req.method === 'PUT') void put(req, res, key);
    else if (req.method === 'DELETE') void remove(res, key);
    else
      fail(
        errorResponse(405, 'permanent', 'MethodNotAllowed', `${req.method} is not allowed on ${objectsPath}`),
      );
    return true;
  };

  async function put(req: IncomingMessage, res: ServerResponse, key: string): Promise<void> {
    const length = req.headers['content-length'];
    if (req.headers['transfer-encoding'] !== undefined || length === undefined || !/^\d+$/.test(length)) {
      send(res, 400, errorResponse(400, 'permanent', 'BadRequest', 'a Content-Length body is required').body);
      return;
    }
    const size = Number(length);
    const sha256 = req.headers[sha256Header];
    if (sha256 !== undefined && (typeof sha256 !== 'string' || !isSha256Hex(sha256.toLowerCase()))) {
      send(
        res,
        400,
        errorResponse(400, 'permanent', 'InvalidArgument', `${sha256Header} must be 64 hex digits`).body,
      );
      return;
    }
    // The store gets a Rechunker rather than `req`: when the store gives up
    // early it destroys its body, which must not destroy the socket we still
    // answer on. An aborted request errors the Rechunker (never ends it).
    const body = new Rechunker();
    let aborted = false;
    const abort = () => {
      if (req.complete) return;
      aborted = true;
      body.destroy(new Error(`the client disconnected after part of the body of ${JSON.stringify(key)}`));
    };
    req.once('aborted', abort);
    req.once('close', abort);
    req.once('error', (err) => {
      aborted = true;
      body.destroy(err);
    });
    req.pipe(body);
    try {
      const written = await store.write(key, body, {
        size,
        ...(sha256 ? { sha256: sha256.toLowerCase() } : {}),
      });
      const result: PutResult = { sha256: written.sha256, size: written.size };
      // One line per committed object at debug level: the audit trail of what this job wrote.
      log.debug(committedMessage, { key, bytes: written.size, sha256: written.sha256 });
      send(res, 201, result);
    } catch (err) {
      if (aborted) {
        // The client is gone (or going): there is nobody to answer.
        log.warn('transfer aborted by the client; nothing written', { key });
        res.destroy();
        return;
      }
      const response = storageErrorResponse(err);
      log.warn('transfer failed', {
        key,
        status: response.status,
        code: response.body.error.code,
        error: response.body.error.message,
      });
      send(res, response.status, response.body);
    } finally {
      req.unpipe(body);
    }
  }

  async function remove(res: ServerResponse, key: string): Promise<void> {
    try {
      await store.delete(key);
      send(res, 204);
    } catch (err) {
      const response = storageErrorResponse(err);
      log.warn('delete failed', { key, status: response.status, code: response.body.error.code });
      send(res, response.status, response.body);
    }
  }
}
