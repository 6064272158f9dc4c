// The S3 requests that carry object bytes — GET, PUT and UploadPart — made
// directly over node:http(s) and signed with SigV4 (s3Signing.ts): for a
// small object the SDK's per-request machinery costs more CPU than its bytes
// (docs/adr/0010). A known SHA-256 goes as `x-amz-checksum-sha256`, one
// computed on the way as an aws-chunked trailer (docs/adr/0012).
import http, { type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelay, type Backoff } from '../common/backoff.ts';
import {
  emptyPayloadSha256,
  SigV4Signer,
  streamingUnsignedPayloadTrailer,
  unsignedPayload,
  uriEncode,
  type SigningCredentials,
} from './s3Signing.ts';

/** An S3 error answer (or a status without one): `name` is S3's error code, as the SDK's errors have it. */
export class S3ResponseError extends Error {
  readonly $metadata: { httpStatusCode: number };

  constructor(code: string, message: string, status: number) {
    super(message);
    this.name = code;
    this.$metadata = { httpStatusCode: status };
  }
}

export interface S3ObjectRequestsConfig {
  endpoint: string;
  region: string;
  bucket: string;
  forcePathStyle: boolean;
  agents: { http: http.Agent; https: https.Agent };
  /** The current credentials (the SDK client's provider: static, or its default chain, refreshed). */
  credentials: () => Promise<SigningCredentials>;
  connectionTimeoutMs: number;
  socketTimeoutMs: number;
  /** Attempts of requests that can be repeated (GET, a PUT of a buffer). */
  maxAttempts: number;
  /** Whether an error is worth another attempt (s3Errors.ts classifies). */
  retryable: (err: unknown) => boolean;
}

export interface PutRequest {
  /** The full S3 key (prefix included). */
  key: string;
  size: number;
  /** A buffer, or a stream of exactly `size` bytes (sent once, never retried). */
  body: Buffer | Readable;
  /** Hex SHA-256 known before sending: the server verifies it. */
  sha256?: string;
  /** Hex SHA-256 known once `body` has ended: sent as the aws-chunked trailer. */
  trailingSha256?: () => string | undefined;
  metadata?: Record<string, string>;
  /** UploadPart: the upload and the part's number. */
  part?: { uploadId: string; partNumber: number };
  abortSignal?: AbortSignal;
}

export interface PutAnswer {
  etag: string | undefined;
  /** The SHA-256 (hex) the server answered with (x-amz-checksum-sha256): the one it checked and stored. */
  sha256: string | undefined;
}

/** Body bytes per aws-chunked chunk (S3 wants at least 8 KiB in all but the last). */
export const awsChunkBytes = 256 * 1024;
const trailerName = 'x-amz-checksum-sha256';
const maxErrorBodyBytes = 64 * 1024;
/** 100 ms doubling, jittered; the cap only matters past a dozen attempts. */
const retryBackoff: Backoff = { initialMs: 100, maxMs: 60_000, jitter: true };

/** The length on the wire of `size` bytes sent aws-chunked in awsChunkBytes chunks with the SHA-256 trailer. */
export function awsChunkedLength(size: number): number {
  const frame = (n: number) => n.toString(16).length + 2 + n + 2;
  const full = Math.floor(size / awsChunkBytes);
  const rest = size % awsChunkBytes;
  // "0\r\n", the trailer line (44 base64 characters), and the closing "\r\n".
  const end = 3 + trailerName.length + 1 + 44 + 2 + 2;
  return full * frame(awsChunkBytes) + (rest ? frame(rest) : 0) + end;
}

/**
 * Frames a body for `content-encoding: aws-chunked`: chunks of exactly
 * awsChunkBytes (the last shorter), then the zero chunk and the trailer with
 * the SHA-256 `digest()` gives once the body has ended.
 */
export class AwsChunkedFramer extends Transform {
  /** Pieces of the frame being gathered (views of the input: nothing is copied). */
  private held: Buffer[] = [];
  private heldBytes = 0;
  private readonly digest: () => string | undefined;

  constructor(digest: () => string | undefined) {
    super();
    this.digest = digest;
  }

  /** Sends the held pieces as one chunk: its size line, the pieces themselves, CRLF. */
  private frame(): void {
    this.push(Buffer.from(`${this.heldBytes.toString(16)}\r\n`, 'latin1'));
    for (const piece of this.held) this.push(piece);
    this.push(crlf);
    this.held = [];
    this.heldBytes = 0;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let rest = chunk;
    while (this.heldBytes + rest.length >= awsChunkBytes) {
      const take = awsChunkBytes - this.heldBytes;
      this.held.push(rest.subarray(0, take));
      this.heldBytes += take;
      rest = rest.subarray(take);
      this.frame();
    }
    if (rest.length) {
      this.held.push(rest);
      this.heldBytes += rest.length;
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.heldBytes) this.frame();
    const hex = this.digest();
    if (hex === undefined) return callback(new Error('the body ended without its SHA-256'));
    this.push(`0\r\n${trailerName}:${Buffer.from(hex, 'hex').toString('base64')}\r\n\r\n`);
    callback();
  }
}

const crlf = Buffer.from('\r\n', 'latin1');

function xmlField(xml: string, name: string): string | undefined {
  return new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)?.[1];
}

async function errorFrom(res: IncomingMessage): Promise<S3ResponseError> {
  const status = res.statusCode ?? 0;
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of res) {
      length += (chunk as Buffer).length;
      if (length <= maxErrorBodyBytes) chunks.push(chunk as Buffer);
    }
  } catch {
    // The code and message are what we can get; a cut-short error body leaves the status.
  }
  const xml = Buffer.concat(chunks).toString('utf8');
  const code = xmlField(xml, 'Code') ?? (status === 404 ? 'NotFound' : `HTTP${status}`);
  return new S3ResponseError(code, xmlField(xml, 'Message') ?? `HTTP ${status}`, status);
}

export class S3ObjectRequests {
  private readonly config: S3ObjectRequestsConfig;
  private readonly signer: SigV4Signer;
  private readonly url: URL;
  private readonly host: string;
  private readonly basePath: string;

  constructor(config: S3ObjectRequestsConfig) {
    this.config = config;
    this.signer = new SigV4Signer(config.region);
    this.url = new URL(config.endpoint);
    const endpointPath = this.url.pathname.replace(/\/+$/, '');
    this.host = config.forcePathStyle ? this.url.host : `${config.bucket}.${this.url.host}`;
    this.basePath = config.forcePathStyle
      ? `${endpointPath}/${uriEncode(config.bucket, false)}`
      : endpointPath;
  }

  /**
   * GET of `key` (or a byte range of it): the response, whose body is the
   * object's bytes. Retried on retryable errors until a response comes. With
   * `ifMatch` (an ETag), only that version is read: another answers 412
   * PreconditionFailed.
   */
  get(key: string, range?: { start: number; end: number }, ifMatch?: string): Promise<IncomingMessage> {
    return this.repeat(async () => {
      const headers: Record<string, string> = { 'x-amz-content-sha256': emptyPayloadSha256 };
      if (range) headers.range = `bytes=${range.start}-${range.end}`;
      if (ifMatch !== undefined) headers['if-match'] = `"${ifMatch}"`;
      const res = await this.send('GET', key, undefined, headers, undefined);
      if (res.statusCode === 200 || res.statusCode === 206) return res;
      throw await errorFrom(res);
    });
  }

  /** PUT of an object, or of one part of a multipart upload. */
  async put(request: PutRequest): Promise<PutAnswer> {
    const { body, size } = request;
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.metadata ?? {}))
      headers[`x-amz-meta-${name.toLowerCase()}`] = value;
    let payload: Buffer | Readable = body;
    let length = size;
    if (request.sha256 !== undefined) {
      headers[trailerName] = Buffer.from(request.sha256, 'hex').toString('base64');
      // A buffer's SHA-256 is its payload hash: signing it costs nothing more.
      headers['x-amz-content-sha256'] = Buffer.isBuffer(body) ? request.sha256 : unsignedPayload;
    } else if (request.trailingSha256 && !Buffer.isBuffer(body)) {
      headers['x-amz-content-sha256'] = streamingUnsignedPayloadTrailer;
      headers['x-amz-trailer'] = trailerName;
      headers['x-amz-decoded-content-length'] = String(size);
      headers['content-encoding'] = 'aws-chunked';
      length = awsChunkedLength(size);
      payload = body.pipe(new AwsChunkedFramer(request.trailingSha256));
      body.on('error', (err) => (payload as Readable).destroy(err));
    } else {
      headers['x-amz-content-sha256'] = unsignedPayload;
    }
    const query: [string, string][] | undefined = request.part
      ? [
          ['partNumber', String(request.part.partNumber)],
          ['uploadId', request.part.uploadId],
        ]
      : undefined;
    const attempt = async (): Promise<PutAnswer> => {
      const res = await this.send('PUT', request.key, query, headers, payload, length, request.abortSignal);
      if (res.statusCode !== 200) throw await errorFrom(res);
      res.resume();
      const { etag, [trailerName]: checked } = res.headers;
      return {
        etag: typeof etag === 'string' ? etag.replaceAll('"', '') : undefined,
        sha256: typeof checked === 'string' ? Buffer.from(checked, 'base64').toString('hex') : undefined,
      };
    };
    return Buffer.isBuffer(body) ? this.repeat(attempt) : attempt();
  }

  /** Runs `attempt` until it succeeds, fails for good, or maxAttempts are used (waiting retryBackoff between). */
  private async repeat<T>(attempt: () => Promise<T>): Promise<T> {
    for (let n = 1; ; n++) {
      try {
        return await attempt();
      } catch (err) {
        if (n >= this.config.maxAttempts || !this.config.retryable(err)) throw err;
        await sleep(backoffDelay(retryBackoff, n));
      }
    }
  }

  /**
   * Sends one signed request; resolves with the response as soon as its
   * head arrives. A response that comes before the body is all sent (an
   * early refusal) stops the sending.
   */
  private async send(
    method: 'GET' | 'PUT',
    key: string,
    query: [string, string][] | undefined,
    extraHeaders: Record<string, string>,
    body: Buffer | Readable | undefined,
    contentLength = 0,
    abortSignal?: AbortSignal,
  ): Promise<IncomingMessage> {
    const path = `${this.basePath}/${uriEncode(key, true)}`;
    const toSign: Record<string, string> = { host: this.host };
    for (const [name, value] of Object.entries(extraHeaders))
      if (name.startsWith('x-amz-')) toSign[name] = value;
    const signature = this.signer.sign(
      { method, path, query, headers: toSign },
      await this.config.credentials(),
    );
    const headers: OutgoingHttpHeaders = { ...extraHeaders, ...toSign, ...signature };
    if (method === 'PUT') headers['content-length'] = contentLength;
    const search = query?.map(([n, v]) => `${uriEncode(n, false)}=${uriEncode(v, false)}`).join('&');
    const secure = this.url.protocol === 'https:';
    const { connectionTimeoutMs, socketTimeoutMs } = this.config;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = (secure ? https : http).request({
        method,
        host: this.host.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1'),
        port: this.url.port || (secure ? 443 : 80),
        path: search ? `${path}?${search}` : path,
        headers,
        agent: secure ? this.config.agents.https : this.config.agents.http,
        servername: secure ? this.host.replace(/:\d+$/, '') : undefined,
      });
      const fail = (err: Error) => {
        if (body && !Buffer.isBuffer(body)) body.unpipe(req);
        req.destroy(err);
        reject(err);
      };
      const timedOut = (what: string, ms: number) =>
        fail(Object.assign(new Error(`${what} for ${ms} ms`), { code: 'ETIMEDOUT' }));
      req.on('socket', (socket) => {
        if (!socket.connecting) return;
        const timer = setTimeout(() => timedOut('no connection', connectionTimeoutMs), connectionTimeoutMs);
        socket.once('connect', () => clearTimeout(timer));
        socket.once('close', () => clearTimeout(timer));
      });
      req.setTimeout(socketTimeoutMs, () => timedOut('the connection was idle', socketTimeoutMs));
      req.on('error', (err) => fail(err));
      if (abortSignal) {
        if (abortSignal.aborted) return fail(abortSignal.reason as Error);
        abortSignal.addEventListener('abort', () => fail(abortSignal.reason as Error), { once: true });
      }
      req.on('response', (res) => {
        if (body && !Buffer.isBuffer(body) && !body.readableEnded) {
          // Answered before the whole body went (an early refusal): stop sending it.
          body.unpipe(req);
          res.once('end', () => req.destroy());
        }
        resolve(res);
      });
      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else body.pipe(req);
    });
  }
}
