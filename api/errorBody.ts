// The JSON error body every worker endpoint answers with (the transfer
// protocol, worker/transfer/protocol.ts, and the listing endpoint the operator
// reads, api/listing.ts): `{ "error": { "kind", "code", "message" } }`.

export type TransferErrorKind = 'retryable' | 'permanent';

export interface ErrorBody {
  error: { kind: TransferErrorKind; code: string; message: string };
}

/** The error `value` carries, when it parses as an ErrorBody. */
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
