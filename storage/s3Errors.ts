// What an S3 failure means for the caller: permanent (a missing bucket,
// refused credentials, an untrusted certificate) or worth retrying (network,
// throttling, 5xx). Both the SDK's errors and our own requests' errors
// (s3ObjectRequests.ts) carry S3's code as `name` and the HTTP status in
// `$metadata`, so one classification serves both.
import { StorageError, type StorageErrorKind } from './objectStore.ts';

const authCodes = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'XAdminUserNotFound', // versitygw: unknown access key
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'AllAccessDisabled',
  'AccountProblem',
  'AuthorizationHeaderMalformed',
  'CredentialsProviderError',
]);
const retryableCodes = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'TooManyRequests',
  'RequestLimitExceeded',
  'BandwidthLimitExceeded',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'InternalError',
  'ServiceUnavailable',
  'OperationAborted',
  'XAmzContentSHA256Mismatch',
  'IncompleteBody',
  'NetworkingError',
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ERR_STREAM_PREMATURE_CLOSE',
]);
const tlsCodes = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * The same failures recognised by their message: an error raised outside the
 * SDK's realm (a test runner's VM context, say) reaches it as a plain string,
 * without its code.
 */
const tlsMessage =
  /unable to verify the first certificate|self[- ]signed certificate|unable to get local issuer certificate|certificate has expired|certificate is not yet valid|does not match certificate's altnames/i;

export interface S3ErrorClassification {
  kind: StorageErrorKind;
  code: string | undefined;
  status: number | undefined;
  problem: string;
}

/** Classifies an SDK or network error: what went wrong, and whether retrying can help. */
export function classifyS3Error(err: unknown, bucket: string): S3ErrorClassification {
  const e = err as {
    name?: string;
    code?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
  };
  const status = e?.$metadata?.httpStatusCode;
  const name = e?.name && e.name !== 'Error' && e.name !== 'UnknownError' ? e.name : undefined;
  const code = typeof e?.code === 'string' ? e.code : name;
  const detail = e?.message && e.message !== 'UnknownError' ? `: ${e.message}` : '';
  const suffix = `${code ? ` (${code}${status ? `, HTTP ${status}` : ''})` : status ? ` (HTTP ${status})` : ''}`;
  const as = (kind: StorageErrorKind, problem: string) => ({ kind, code, status, problem });
  if (code === 'NoSuchBucket') return as('permanent', `bucket "${bucket}" does not exist${suffix}`);
  if (code !== undefined && authCodes.has(code))
    return as(
      'permanent',
      `${code === 'AccessDenied' ? 'access denied' : 'the credentials were refused'}${suffix}${detail}`,
    );
  if ((code !== undefined && tlsCodes.has(code)) || (code === undefined && tlsMessage.test(detail)))
    return as('permanent', `TLS: the endpoint's certificate is not trusted${suffix}${detail}`);
  if (code !== undefined && retryableCodes.has(code))
    return as('retryable', `${retryableProblem(code)}${suffix}${detail}`);
  if (status !== undefined) {
    if (status >= 500 || status === 429 || status === 408)
      return as('retryable', `server error${suffix}${detail}`);
    if (status === 403) return as('permanent', `access denied${suffix}${detail}`);
    return as('permanent', `request refused${suffix}${detail}`);
  }
  // No HTTP response at all: a network failure, or the SDK's own timeout.
  return as('retryable', `request failed${suffix}${detail}`);
}

function retryableProblem(code: string): string {
  if (code === 'SlowDown' || code.includes('Throttl') || code.includes('Limit') || code === 'TooManyRequests')
    return 'throttled by the server';
  if (code.includes('Timeout') || code === 'ETIMEDOUT') return 'timed out';
  if (code.startsWith('E')) return 'network error';
  return 'server error';
}

/** S3's error code of an SDK error or of one of our own requests' (its `name`). */
export function s3ErrorCode(err: unknown): string | undefined {
  return (err as { name?: string } | undefined)?.name;
}

/** Whether the server refused a body because it did not match the SHA-256 it was sent. */
export function isDigestRefusal(err: unknown): boolean {
  const code = s3ErrorCode(err);
  return code === 'BadDigest' || code === 'InvalidDigest';
}

/** `err` as the StorageError of `operation` on `store` (a StorageError already is one). */
export function s3StorageError(
  err: unknown,
  bucket: string,
  store: string,
  operation: string,
  key?: string,
): StorageError {
  if (err instanceof StorageError) return err;
  const { kind, code, problem } = classifyS3Error(err, bucket);
  return new StorageError(problem, { kind, store, operation, key, code, cause: err });
}
