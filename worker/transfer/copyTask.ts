// Runs a copy task on the source worker: each planned object is read from the
// source store as a stream, checked against its planned size, hashed on the
// way through, and sent to the destination worker (destinationClient.ts),
// several objects at a time.
import { createHash, type Hash } from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import type { TransferErrorKind } from '../../api/errorBody.ts';
import type { PlannedObject, PlannedTask, StatusError } from '../../api/tasks.ts';
import type { Permits } from '../permits.ts';
import type { ObjectStore } from '../../storage/objectStore.ts';
import { asTransferError, sendObject, type DestinationTarget } from './destinationClient.ts';
import { TransferError } from './protocol.ts';
import { statusErrorOf } from './taskFailures.ts';

export type CopyTask = Extract<PlannedTask, { kind: 'copy' }>;

export interface CopyFailure {
  key: string;
  kind: TransferErrorKind;
  /** TransferError/StorageError code (SourceChanged, ChecksumMismatch, NetworkError, NoSuchKey…). */
  code: string;
  message: string;
}

export interface CopyOutcome {
  /** SUCCEEDED only when every object was copied. */
  state: 'SUCCEEDED' | 'FAILED';
  objectsDone: number;
  bytesDone: number;
  failed: CopyFailure[];
  /** For the status message: permanent when any failure is, each failed key with its reason (taskFailures.ts). */
  error?: StatusError;
}

export interface CopyProgress {
  key: string;
  objectsDone: number;
  bytesDone: number;
}

export interface CopyOptions {
  /** Objects sent at the same time (≥ 1). */
  concurrency: number;
  /** Called after each object copied. */
  onProgress?: (progress: CopyProgress) => void;
  /** A limiter shared by the worker's transfers, throttling the bytes sent. */
  bandwidth?: BandwidthLimiter;
  /** The worker's object streams, shared with its other tasks: each object copy holds one. */
  permits?: Permits;
}

/**
 * A Transform over a source object's bytes that fails with a retryable
 * `SourceChanged` TransferError unless the source yields exactly `size`
 * bytes, and computes their SHA-256. It holds back the latest chunk until
 * the next arrives (or the source ends and its length is verified), so the
 * receiver never gets the full `size` bytes from a source that then goes on:
 * a changed object fails the request instead of being committed truncated.
 */
export class SourceCheck extends Transform {
  readonly key: string;
  readonly size: number;
  private readonly hash: Hash = createHash('sha256');
  private count = 0;
  private pending: Buffer | undefined;
  private digest: string | undefined;

  constructor(key: string, size: number) {
    super();
    this.key = key;
    this.size = size;
  }

  /** The SHA-256 (hex) of what the source yielded; set once the source has ended with the right size. */
  get sha256(): string | undefined {
    return this.digest;
  }

  private changed(actual: string): TransferError {
    return new TransferError(
      'retryable',
      'SourceChanged',
      `source object ${JSON.stringify(this.key)} changed since planning: planned ${this.size} bytes, read ${actual}`,
    );
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.count += chunk.length;
    if (this.count > this.size) return callback(this.changed(`more`));
    this.hash.update(chunk);
    const previous = this.pending;
    this.pending = chunk;
    if (previous) this.push(previous);
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.count !== this.size) return callback(this.changed(String(this.count)));
    this.digest = this.hash.digest('hex');
    if (this.pending) this.push(this.pending);
    this.pending = undefined;
    callback();
  }
}

/**
 * A token bucket shared by a worker's transfers: `take(n)` waits until n bytes
 * may go. Burst is one second's worth.
 */
export class BandwidthLimiter {
  readonly bytesPerSecond: number;
  private tokens: number;
  private last = Date.now();
  private queue: Promise<void> = Promise.resolve();

  constructor(bytesPerSecond: number) {
    if (!(bytesPerSecond > 0)) throw new RangeError('bytesPerSecond must be positive');
    this.bytesPerSecond = bytesPerSecond;
    this.tokens = bytesPerSecond;
  }

  take(bytes: number): Promise<void> {
    // Serialised, so concurrent transfers share the rate fairly in arrival order.
    const turn = this.queue.then(async () => {
      let wanted = bytes;
      while (wanted > 0) {
        const now = Date.now();
        this.tokens = Math.min(
          this.bytesPerSecond,
          this.tokens + ((now - this.last) / 1000) * this.bytesPerSecond,
        );
        this.last = now;
        const grant = Math.min(wanted, Math.floor(this.tokens));
        this.tokens -= grant;
        wanted -= grant;
        if (wanted > 0)
          await new Promise((resolve) =>
            setTimeout(
              resolve,
              Math.max(1, (Math.min(wanted, this.bytesPerSecond) / this.bytesPerSecond) * 1000),
            ),
          );
      }
    });
    this.queue = turn;
    return turn;
  }

  /** A Transform passing bytes through at this limiter's pace. */
  throttle(): Transform {
    return new Transform({
      transform: (chunk: Buffer, _encoding, callback) => {
        this.take(chunk.length).then(
          () => callback(null, chunk),
          (err: unknown) => callback(err as Error),
        );
      },
    });
  }
}

/** Links `from` into `to`: data piped, errors forwarded, and `from` released when `to` closes. */
export function feed(from: Readable, to: Transform): Transform {
  from.on('error', (err) => to.destroy(err));
  to.on('close', () => from.destroy());
  from.pipe(to);
  return to;
}

async function copyObject(
  object: PlannedObject,
  source: ObjectStore,
  target: DestinationTarget,
  bandwidth: BandwidthLimiter | undefined,
): Promise<void> {
  const { key, size } = object;
  // No HEAD first: a request per object is what small objects cost most. The
  // read itself fails for a vanished object (NoSuchKey, permanent), SourceCheck
  // fails one whose size changed, and a planned SHA-256 travels to the
  // destination, which refuses content that differs — all before anything is
  // committed.
  const stream = await source.read(key);
  const check = feed(stream, new SourceCheck(key, size)) as SourceCheck;
  const body = bandwidth ? feed(check, bandwidth.throttle()) : check;
  // The SHA-256 computed on the way goes as the request's trailer: the
  // destination checks the bytes it stores against the source's own hash.
  const result = await sendObject(target, key, body, size, object.sha256, () => check.sha256);
  const sent = check.sha256;
  if (sent === undefined)
    throw new TransferError(
      'retryable',
      'SourceChanged',
      `source object ${JSON.stringify(key)}: the read did not complete`,
    );
  if (result.sha256 !== sent || result.size !== size)
    throw new TransferError(
      'retryable',
      'ChecksumMismatch',
      `object ${JSON.stringify(key)}: the destination stored SHA-256 ${result.sha256} (${result.size} bytes), the source sent ${sent} (${size} bytes)`,
    );
}

/**
 * Copies every object of `task` from `source` to the destination worker at
 * `target`, `options.concurrency` at a time. Never throws for an object's
 * failure: each one is reported in the outcome (kind from its error), and
 * the other objects of the task go on (a key the destination cannot hold
 * fails alone).
 */
export async function runCopyTask(
  task: CopyTask,
  source: ObjectStore,
  target: DestinationTarget,
  options: CopyOptions,
): Promise<CopyOutcome> {
  const concurrency = Math.max(1, Math.floor(options.concurrency));
  let objectsDone = 0;
  let bytesDone = 0;
  const failed: CopyFailure[] = [];
  let next = 0;

  const worker = async () => {
    while (next < task.objects.length) {
      const object = task.objects[next++]!;
      try {
        const copy = () => copyObject(object, source, target, options.bandwidth);
        await (options.permits ? options.permits.run(copy) : copy());
        objectsDone += 1;
        bytesDone += object.size;
        options.onProgress?.({ key: object.key, objectsDone, bytesDone });
      } catch (err) {
        const e = asTransferError(err);
        failed.push({ key: object.key, kind: e.kind, code: e.code, message: e.message });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, task.objects.length) }, worker));

  const outcome: CopyOutcome = {
    state: failed.length ? 'FAILED' : 'SUCCEEDED',
    objectsDone,
    bytesDone,
    failed,
  };
  // The objects committed before or beside a failure stay counted: the
  // status reports them with the failures, each by name.
  if (failed.length) outcome.error = statusErrorOf(failed);
  return outcome;
}
