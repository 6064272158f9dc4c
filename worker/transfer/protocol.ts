// The HTTP contract between a source worker (the client, destinationClient.ts)
// and a destination worker (the server, destinationEndpoint.ts) of a copy task.
//
//   PUT /v1/objects?key=<urlencoded key>
//     Authorization: Bearer <job token>
//     Content-Length: <size>                (required; chunked bodies are refused)
//     x-ferry-sha256: <hex>                 (optional: the source's SHA-256, when known up front)
//     body: the object's bytes
//   → 201 { "sha256": "<hex of the bytes stored>", "size": <n> }
//
//   DELETE /v1/objects?key=<urlencoded key>
//     Authorization: Bearer <job token>
//   → 204 (also when the object does not exist)
//
// The destination writes through ObjectStore.write: atomically, verifying the
// size (Content-Length) and, when given, the SHA-256. A body cut short (the
// client disconnected) leaves nothing visible.
//
// Errors are JSON `{ "error": { "kind", "code", "message" } }`:
//   401 permanent  Unauthorized      missing or wrong token
//   400 permanent  InvalidKey / BadRequest / InvalidArgument
//                                   bad key, missing Content-Length, malformed x-ferry-sha256
//   409 retryable  ChecksumMismatch / SizeMismatch
//                                   the body did not match its checksum or length; nothing written
//   503 retryable  <store code>     a retryable storage error (network, throttling, 5xx…)
//   500 permanent  <store code>     a permanent storage error (denied, missing bucket…)
//   404 permanent  NotFound         any other path (so a mis-addressed client fails loudly)
//   405 permanent  MethodNotAllowed any other method on /v1/objects

export const objectsPath = '/v1/objects';
export const sha256Header = 'x-ferry-sha256';

export type TransferErrorKind = 'retryable' | 'permanent';

export interface ErrorBody {
  error: { kind: TransferErrorKind; code: string; message: string };
}

export interface PutResult {
  sha256: string;
  size: number;
}

/** A failed transfer (from an error response, the network, or the source side). */
export class TransferError extends Error {
  readonly kind: TransferErrorKind;
  readonly code: string;
  /** The HTTP status of the response, when there was one. */
  readonly status: number | undefined;

  constructor(
    kind: TransferErrorKind,
    code: string,
    message: string,
    options?: { status?: number; cause?: unknown },
  ) {
    super(message, { cause: options?.cause });
    this.name = 'TransferError';
    this.kind = kind;
    this.code = code;
    this.status = options?.status;
  }
}

/** The path (with query) addressing `key`. */
export function objectPath(key: string): string {
  return `${objectsPath}?key=${encodeURIComponent(key)}`;
}

/** Whether `value` parses as a TransferError body. */
export function parseErrorBody(value: unknown): ErrorBody['error'] | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const error = (value as { error?: unknown }).error;
  if (typeof error !== 'object' || error === null) return undefined;
  const { kind, code, message } = error as Record<string, unknown>;
  if (
    (kind !== 'retryable' && kind !== 'permanent') ||
    typeof code !== 'string' ||
    typeof message !== 'string'
  )
    return undefined;
  return { kind, code, message };
}
