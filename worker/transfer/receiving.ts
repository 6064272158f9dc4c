// What every destination route does with a request: read its declared length
// and checksum, take its body as a stream without ever buffering it, and
// answer with the protocol's JSON errors (protocol.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough } from 'node:stream';
import {
  ChecksumMismatchError,
  InvalidKeyError,
  isSha256Hex,
  MissingChecksumError,
  SizeMismatchError,
  StorageError,
  type PartWriteOptions,
} from '../../storage/objectStore.ts';
import type { ErrorBody, TransferErrorKind } from '../../api/errorBody.ts';
import type { Logger } from '../../common/logging.ts';
import type { WorkerMetrics } from '../metrics.ts';
import { sha256Header, sizeHeader } from './protocol.ts';

/** The log message of each object a destination commits (tests count writes by it). */
export const committedMessage = 'object committed';

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
  if (err instanceof MissingChecksumError)
    return errorResponse(400, 'permanent', 'MissingChecksum', err.message);
  if (err instanceof StorageError) {
    if (err.code === 'InvalidArgument') return errorResponse(400, 'permanent', err.code, err.message);
    return err.kind === 'retryable'
      ? errorResponse(503, 'retryable', err.code ?? 'StorageError', err.message)
      : errorResponse(500, 'permanent', err.code ?? 'StorageError', err.message);
  }
  const message = err instanceof Error ? err.message : String(err);
  return errorResponse(500, 'permanent', 'InternalError', `unexpected error: ${message}`);
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

/** A response answering `err`, whatever threw it. */
export function fail(res: ServerResponse, err: ErrorResponse): void {
  send(res, err.status, err.body);
}

/** 401: the request does not carry the job's bearer token. */
export function unauthorized(): ErrorResponse {
  return errorResponse(401, 'permanent', 'Unauthorized', 'missing or wrong bearer token');
}

/** 405: `method` is not one the route at `path` serves. */
export function methodNotAllowed(method: string | undefined, path: string): ErrorResponse {
  return errorResponse(405, 'permanent', 'MethodNotAllowed', `${method} is not allowed on ${path}`);
}

/** Answers a failed request with `response`, logged as `message` (with `meta`) and counted in `metrics`. */
export function answerFailure(
  res: ServerResponse,
  response: ErrorResponse,
  report: { log: Logger; message: string; meta?: Record<string, unknown>; metrics?: WorkerMetrics },
): void {
  const { kind, code, message } = response.body.error;
  report.metrics?.failed(kind, code);
  report.log.warn(report.message, { ...report.meta, status: response.status, code, error: message });
  fail(res, response);
}

/**
 * The body's size: its Content-Length, or a chunked body's x-ferry-size; or
 * the error to answer (a body of unknown size is refused).
 */
export function declaredLength(req: IncomingMessage): number | ErrorResponse {
  const chunked = req.headers['transfer-encoding'] !== undefined;
  const length = chunked ? req.headers[sizeHeader] : req.headers['content-length'];
  if (typeof length !== 'string' || !/^\d+$/.test(length))
    return errorResponse(
      400,
      'permanent',
      'BadRequest',
      `a Content-Length body, or a chunked body with ${sizeHeader}, is required`,
    );
  return Number(length);
}

/**
 * When the request announces an x-ferry-sha256 trailer: the getter of its
 * value, lowercased, for the store to ask once the body has ended (undefined
 * when it is missing or malformed, which fails the write).
 */
export function trailingSha256(req: IncomingMessage, header: string): (() => string | undefined) | undefined {
  const announced = req.headers.trailer;
  if (
    announced === undefined ||
    !announced
      .toLowerCase()
      .split(/\s*,\s*/)
      .includes(header)
  )
    return undefined;
  return () => {
    const value = req.trailers[header]?.toLowerCase();
    return value !== undefined && isSha256Hex(value) ? value : undefined;
  };
}

/** An optional SHA-256 header, lowercased; or the error to answer when it is malformed. */
export function declaredSha256(
  req: IncomingMessage,
  header: string,
): { sha256: string | undefined } | ErrorResponse {
  const value = req.headers[header];
  if (value === undefined) return { sha256: undefined };
  if (typeof value !== 'string' || !isSha256Hex(value.toLowerCase()))
    return errorResponse(400, 'permanent', 'InvalidArgument', `${header} must be 64 hex digits`);
  return { sha256: value.toLowerCase() };
}

/** What a body says of itself: its size, and the SHA-256 (header or trailer) the store checks it against. */
export interface DeclaredBody {
  size: number;
  checks: PartWriteOptions;
}

/** The body's declaration; or the error to answer when its size or x-ferry-sha256 is missing or malformed. */
export function declaredBody(req: IncomingMessage): DeclaredBody | ErrorResponse {
  const size = declaredLength(req);
  if (isErrorResponse(size)) return size;
  const declared = declaredSha256(req, sha256Header);
  if (isErrorResponse(declared)) return declared;
  const trailing = trailingSha256(req, sha256Header);
  return {
    size,
    checks: {
      ...(declared.sha256 ? { sha256: declared.sha256 } : {}),
      ...(trailing ? { trailingSha256: trailing } : {}),
    },
  };
}

export function isErrorResponse(value: unknown): value is ErrorResponse {
  return typeof value === 'object' && value !== null && 'status' in value && 'body' in value;
}

/** A request body on its way into a store. */
export interface IncomingBody {
  /** What to hand to the store. */
  body: PassThrough;
  /** Whether the client went away before sending it all (then nobody is left to answer). */
  aborted(): boolean;
  /** Detaches the request once the store is done with the body. */
  release(): void;
}

/**
 * The store gets a PassThrough rather than `req`: when the store gives up
 * early it destroys its body, which must not destroy the socket we still
 * answer on. An aborted request errors the PassThrough (never ends it), so a
 * store commits nothing from a body cut short. (The chunks stay as the socket
 * delivered them: the S3 driver frames its uploads itself.)
 */
export function receiveBody(req: IncomingMessage, key: string): IncomingBody {
  const body = new PassThrough();
  // The store listens for the body's errors while it reads it; one that comes
  // after the store gave up (the client went away late) has nobody left to tell
  // and must not crash the worker: aborted() still says so.
  body.on('error', () => {});
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
  return { body, aborted: () => aborted, release: () => req.unpipe(body) };
}
