// The source worker's side of a copy: sends an object's bytes to the
// destination worker over the contract in protocol.ts.
import http from 'node:http';
import type { Readable } from 'node:stream';
import { parseErrorBody } from '../../api/errorBody.ts';
import {
  completionPath,
  objectPath,
  objectSha256Header,
  objectSizeHeader,
  partPath,
  sha256Header,
  sizeHeader,
  sourceVersionHeader,
  trailerMinBytes,
  TransferError,
  type CompleteResult,
  type PartAddress,
  type PartPutResult,
  type PutResult,
} from './protocol.ts';

/** Where the destination worker listens, and how to reach it. */
export interface DestinationTarget {
  /** `http://host:port` of the destination worker. */
  baseUrl: string;
  /** The job's bearer token. */
  token: string;
  /** A keep-alive agent shared by the worker's transfers (`new http.Agent({ keepAlive: true })`). */
  agent: http.Agent;
  /**
   * A request with no byte moving either way for this long (a destination
   * that stopped reading, or stopped answering) is cut with a retryable
   * IdleTimeout. No total limit: a slow body that keeps moving is never cut.
   * Unset: no timeout.
   */
  idleTimeoutMs?: number;
  /** Told whenever bytes move (a chunk sent or received): the task is alive. */
  onProgress?: () => void;
}

const maxResponseBytes = 64 * 1024;

/** An error from `body` (or anything else) as a TransferError; errors with a `kind` (StorageError…) keep it. */
export function asTransferError(err: unknown, fallbackCode = 'SourceError'): TransferError {
  if (err instanceof TransferError) return err;
  const e = err as { kind?: unknown; code?: unknown; message?: unknown };
  const kind = e?.kind === 'permanent' || e?.kind === 'retryable' ? e.kind : 'retryable';
  const code = typeof e?.code === 'string' ? e.code : fallbackCode;
  const message = err instanceof Error ? err.message : String(err);
  return new TransferError(kind, code, message, { cause: err });
}

function errorFromResponse(status: number, text: string): TransferError {
  let parsed: ReturnType<typeof parseErrorBody>;
  try {
    parsed = parseErrorBody(JSON.parse(text));
  } catch {
    parsed = undefined;
  }
  if (parsed) return new TransferError(parsed.kind, parsed.code, parsed.message, { status });
  // Not our server's answer (a proxy, a crash): 5xx and 429 may pass, the rest will not.
  const kind = status >= 500 || status === 429 ? 'retryable' : 'permanent';
  return new TransferError(kind, `HTTP${status}`, `unexpected HTTP ${status}: ${text.slice(0, 200)}`, {
    status,
  });
}

type Settle = (fn: () => void) => void;

/** Runs `fn` for the first outcome only: a request ends once, however many events follow. */
function once(): Settle {
  let settled = false;
  return (fn) => {
    if (settled) return;
    settled = true;
    fn();
  };
}

function networkError(what: string, err: Error): TransferError {
  return new TransferError('retryable', 'NetworkError', `${what}: ${err.message}`, { cause: err });
}

/** Fails the request when no byte moved either way for the target's idle timeout (the socket's inactivity timer). */
function armIdleTimeout(
  req: http.ClientRequest,
  target: DestinationTarget,
  what: string,
  body: Readable | undefined,
  fail: (err: TransferError) => void,
): void {
  if (!target.idleTimeoutMs) return;
  req.setTimeout(target.idleTimeoutMs, () => {
    const err = new TransferError(
      'retryable',
      'IdleTimeout',
      `${what}: no byte moved for ${target.idleTimeoutMs} ms`,
    );
    fail(err);
    body?.destroy();
    req.destroy(err);
  });
}

/** Reads the answer (its first maxResponseBytes), stopping a body the destination answered before it all went. */
function readResponse(
  req: http.ClientRequest,
  res: http.IncomingMessage,
  target: DestinationTarget,
  body: Readable | undefined,
  settle: Settle,
  resolve: (answer: { status: number; text: string }) => void,
  reject: (err: TransferError) => void,
): void {
  if (body && !body.readableEnded) {
    // Answered before the whole body went (an early refusal): stop sending.
    body.unpipe(req);
    body.destroy();
  }
  const chunks: Buffer[] = [];
  let length = 0;
  res.on('data', (chunk: Buffer) => {
    target.onProgress?.();
    length += chunk.length;
    if (length <= maxResponseBytes) chunks.push(chunk);
  });
  res.on('end', () =>
    settle(() => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') })),
  );
  res.on('error', (err) => settle(() => reject(networkError('reading the response', err))));
}

/** Pipes `body` into the request, trailers with its last chunk; a body that fails cuts the request short. */
function sendBody(
  req: http.ClientRequest,
  target: DestinationTarget,
  body: Readable,
  trailers: (() => Record<string, string>) | undefined,
  fail: (err: TransferError) => void,
): void {
  body.on('error', (err) => {
    // The destination sees an aborted body and commits nothing.
    fail(asTransferError(err));
    req.destroy(err);
  });
  // Before pipe's own 'end' listener (which ends the request): the trailers go with the last chunk.
  if (trailers) body.once('end', () => req.addTrailers(trailers()));
  if (target.onProgress) body.on('data', () => target.onProgress!());
  body.pipe(req);
}

function request(
  target: DestinationTarget,
  method: 'PUT' | 'POST' | 'DELETE',
  pathAndQuery: string,
  headers: Record<string, string | number>,
  body: Readable | undefined,
  trailers?: () => Record<string, string>,
): Promise<{ status: number; text: string }> {
  const url = new URL(pathAndQuery, target.baseUrl);
  const what = `${method} ${url.origin}`;
  return new Promise((resolve, reject) => {
    const settle = once();
    const fail = (err: TransferError) => settle(() => reject(err));
    const req = http.request({
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port,
      path: url.pathname + url.search,
      agent: target.agent,
      headers: { authorization: `Bearer ${target.token}`, ...headers },
    });
    armIdleTimeout(req, target, what, body, fail);
    req.on('response', (res) => readResponse(req, res, target, body, settle, resolve, fail));
    req.on('error', (err) => {
      body?.destroy();
      fail(networkError(what, err));
    });
    if (body) sendBody(req, target, body, trailers, fail);
    else req.end();
  });
}

/**
 * Sends `body` (exactly `size` bytes) as `key` to the destination, which
 * stores it atomically and verifies it against `sha256` when given, or
 * against `trailingSha256` — asked for once the body has ended, and sent as
 * the request's trailer (objects of trailerMinBytes or more). Resolves
 * with the SHA-256 and size the destination stored; rejects with a
 * TransferError (network failures and body errors without a kind are
 * retryable). The body is piped, so it is read only as fast as it is sent.
 */
export async function sendObject(
  target: DestinationTarget,
  key: string,
  body: Readable,
  size: number,
  sha256?: string,
  trailingSha256?: () => string | undefined,
): Promise<PutResult> {
  const { headers, trailers } = bodyFraming(size, trailingSha256);
  if (sha256 !== undefined) headers[sha256Header] = sha256;
  const { status, text } = await request(target, 'PUT', objectPath(key), headers, body, trailers);
  return parseResponse<PutResult>(
    status,
    text,
    201,
    (r) => typeof r.sha256 === 'string' && typeof r.size === 'number',
  );
}

/**
 * How a body of `size` bytes goes: with its Content-Length; or, from
 * trailerMinBytes on when `trailingSha256` is given, chunked with its size in
 * x-ferry-size and that SHA-256 as the trailer (asked for once the body has
 * ended — a body that did not end well errors instead of ending).
 */
function bodyFraming(
  size: number,
  trailingSha256: (() => string | undefined) | undefined,
): { headers: Record<string, string | number>; trailers?: () => Record<string, string> } {
  if (!trailingSha256 || size < trailerMinBytes) return { headers: { 'content-length': size } };
  return {
    headers: { 'transfer-encoding': 'chunked', [sizeHeader]: size, trailer: sha256Header },
    trailers: () => ({ [sha256Header]: trailingSha256() ?? '' }),
  };
}

/** The answer's JSON when `status` is the expected one and `valid` accepts it; else a TransferError. */
function parseResponse<T>(status: number, text: string, expected: number, valid: (value: T) => boolean): T {
  if (status !== expected) throw errorFromResponse(status, text);
  let result: T | undefined;
  try {
    result = JSON.parse(text) as T;
  } catch {
    result = undefined;
  }
  if (result === undefined || result === null || !valid(result))
    throw new TransferError('retryable', 'BadResponse', `unexpected response: ${text.slice(0, 200)}`);
  return result;
}

function partHeaders(part: PartAddress): Record<string, string | number> {
  return {
    [objectSizeHeader]: part.objectSize,
    ...(part.objectSha256 ? { [objectSha256Header]: part.objectSha256 } : {}),
    ...(part.sourceVersion ? { [sourceVersionHeader]: encodeURIComponent(part.sourceVersion) } : {}),
  };
}

/**
 * Sends one part of a large object (exactly `size` bytes of `body`); the
 * destination stores it in the object's multipart upload, checked against
 * `trailingSha256` when given (as in sendObject). Resolves with the
 * SHA-256 and size stored (`completed` when the object was complete already).
 */
export async function sendPart(
  target: DestinationTarget,
  part: PartAddress,
  body: Readable,
  size: number,
  trailingSha256?: () => string | undefined,
): Promise<PartPutResult> {
  const { headers, trailers } = bodyFraming(size, trailingSha256);
  Object.assign(headers, partHeaders(part));
  const { status, text } = await request(target, 'PUT', partPath(part), headers, body, trailers);
  return parseResponse<PartPutResult>(
    status,
    text,
    201,
    (r) => typeof r.sha256 === 'string' && typeof r.size === 'number' && typeof r.completed === 'boolean',
  );
}

/** Asks the destination to complete the object when all its parts are stored. */
export async function completeParts(target: DestinationTarget, part: PartAddress): Promise<CompleteResult> {
  const { status, text } = await request(
    target,
    'POST',
    completionPath(part),
    { 'content-length': 0, ...partHeaders(part) },
    undefined,
  );
  return parseResponse<CompleteResult>(
    status,
    text,
    200,
    (r) => typeof r.completed === 'boolean' && Array.isArray(r.missing),
  );
}

/** Deletes `key` at the destination (succeeds when it is absent). */
export async function deleteObject(target: DestinationTarget, key: string): Promise<void> {
  const { status, text } = await request(target, 'DELETE', objectPath(key), {}, undefined);
  if (status !== 204) throw errorFromResponse(status, text);
}
