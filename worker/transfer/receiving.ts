// What every destination route does with a request: read its declared length
// and checksum, take its body as a stream without ever buffering it, and
// answer with the protocol's JSON errors (protocol.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import {
  ChecksumMismatchError,
  InvalidKeyError,
  isSha256Hex,
  SizeMismatchError,
  StorageError,
} from '../storage/objectStore.ts';
import type { ErrorBody, TransferErrorKind } from './protocol.ts';

/** The log message of each object a destination commits (tests count writes by it). */
export const committedMessage = 'object committed';

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

/** The request's Content-Length, or the error to answer (chunked bodies are refused). */
export function declaredLength(req: IncomingMessage): number | ErrorResponse {
  const length = req.headers['content-length'];
  if (req.headers['transfer-encoding'] !== undefined || length === undefined || !/^\d+$/.test(length))
    return errorResponse(400, 'permanent', 'BadRequest', 'a Content-Length body is required');
  return Number(length);
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

export function isErrorResponse(value: unknown): value is ErrorResponse {
  return typeof value === 'object' && value !== null && 'status' in value && 'body' in value;
}

/** A request body on its way into a store. */
export interface IncomingBody {
  /** What to hand to the store. */
  body: Transform;
  /** Whether the client went away before sending it all (then nobody is left to answer). */
  aborted(): boolean;
  /** Detaches the request once the store is done with the body. */
  release(): void;
}

/**
 * The store gets a Rechunker rather than `req`: when the store gives up early
 * it destroys its body, which must not destroy the socket we still answer on.
 * An aborted request errors the Rechunker (never ends it), so a store commits
 * nothing from a body cut short.
 */
export function receiveBody(req: IncomingMessage, key: string): IncomingBody {
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
  return { body, aborted: () => aborted, release: () => req.unpipe(body) };
}
