// AWS Signature Version 4 for the requests of s3ObjectRequests.ts, which go
// around the SDK (docs/adr/0010). The canonical request follows S3's rules:
// each path segment encoded once (S3 does not normalise or double-encode), the
// query sorted by name, every signed header lowercase with its value trimmed.
import { createHash, createHmac, createSecretKey, type KeyObject } from 'node:crypto';

export interface SigningCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** The payload hash of a body the signature does not cover (the server checks its own checksum instead). */
export const unsignedPayload = 'UNSIGNED-PAYLOAD';
/** The payload hash of an aws-chunked body whose checksum comes in a trailer. */
export const streamingUnsignedPayloadTrailer = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';
/** SHA-256 of nothing: the payload hash of a request without a body. */
export const emptyPayloadSha256 = createHash('sha256').update('').digest('hex');

/**
 * RFC 3986 percent-encoding as SigV4 wants it: every byte but the unreserved
 * A–Z a–z 0–9 - _ . ~ is encoded (UTF-8, uppercase hex); `/` is kept when
 * encoding a path.
 */
export function uriEncode(text: string, keepSlash: boolean): string {
  const encoded = encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return keepSlash ? encoded.replaceAll('%2F', '/') : encoded;
}

export interface RequestToSign {
  method: string;
  /** The request path, already encoded (what goes on the request line before `?`). */
  path: string;
  /** Query parameters, not encoded. */
  query?: [string, string][];
  /** Lowercase names; must hold `host` and `x-amz-content-sha256`. Every header given is signed. */
  headers: Record<string, string>;
}

/** `20261124T193000Z` and `20261124`. */
function timestamps(now: Date): { amzDate: string; day: string } {
  const amzDate = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  return { amzDate, day: amzDate.slice(0, 8) };
}

export function canonicalQuery(query: [string, string][] = []): string {
  return query
    .map(([name, value]) => [uriEncode(name, false), uriEncode(value, false)] as const)
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
}

/** Signs requests for one region and service, caching the day's signing key. */
export class SigV4Signer {
  readonly region: string;
  readonly service: string;
  private cachedKey: { day: string; secret: string; key: KeyObject } | undefined;

  constructor(region: string, service = 's3') {
    this.region = region;
    this.service = service;
  }

  /** As a KeyObject: an HMAC keyed by one is set up several times faster than by a Buffer. */
  private signingKey(secret: string, day: string): KeyObject {
    const cached = this.cachedKey;
    if (cached && cached.day === day && cached.secret === secret) return cached.key;
    const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
    const key = createSecretKey(
      hmac(hmac(hmac(hmac(`AWS4${secret}`, day), this.region), this.service), 'aws4_request'),
    );
    this.cachedKey = { day, secret, key };
    return key;
  }

  /**
   * The headers to add to `request` (x-amz-date, authorization, and the
   * session token when there is one); `request.headers` is not changed.
   */
  sign(request: RequestToSign, credentials: SigningCredentials, now = new Date()): Record<string, string> {
    const { amzDate, day } = timestamps(now);
    const added: Record<string, string> = { 'x-amz-date': amzDate };
    if (credentials.sessionToken) added['x-amz-security-token'] = credentials.sessionToken;
    const headers = { ...request.headers, ...added };
    const names = Object.keys(headers).sort();
    const canonicalHeaders = names
      .map((name) => `${name}:${headers[name]!.trim().replace(/\s+/g, ' ')}\n`)
      .join('');
    const signedHeaders = names.join(';');
    const canonicalRequest = [
      request.method,
      request.path,
      canonicalQuery(request.query),
      canonicalHeaders,
      signedHeaders,
      headers['x-amz-content-sha256']!,
    ].join('\n');
    const scope = `${day}/${this.region}/${this.service}/aws4_request`;
    const stringToSign = [
      'AWS4-HMAC-SHA256',
      amzDate,
      scope,
      createHash('sha256').update(canonicalRequest).digest('hex'),
    ].join('\n');
    const signature = createHmac('sha256', this.signingKey(credentials.secretAccessKey, day))
      .update(stringToSign)
      .digest('hex');
    added.authorization = `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
    return added;
  }
}
