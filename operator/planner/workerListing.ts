// The operator's side of the listing contract (api/listing.ts): a store listed
// page by page through a worker pod of its side, with ObjectStore.list()'s
// contract, and the checksums the planner asks for (checksumsOnDemand.ts).
// A listing ends only on a page that says it is complete: a failed, torn or
// out-of-order page is never taken for the end (Sync deletes depend on it).
// Unreachable workers are passed over; the listing waits for another. ADRs 0005, 0024.
import type { NatsConnection } from '@nats-io/transport-node';
import {
  checksumsPath,
  listingEndpointsBucket,
  listingPath,
  nameFoldingPath,
  type NameFoldingAnswer,
  maxChecksumKeys,
  maxListingPageHashBytes,
  maxListingPageObjects,
  type ChecksumsRequest,
  type ChecksumsResponse,
  type ListedObject,
  type ListingPage,
} from '../../api/listing.ts';
import type { WorkerRole } from '../../api/names.ts';
import { announcedUrls } from '../../api/announcements.ts';
import type { ListOptions, ObjectInfo } from '../../storage/objectStore.ts';
import { parseErrorBody } from '../../api/errorBody.ts';
import { backoffDelay } from '../../common/backoff.ts';
import type { Logger } from '../../common/logging.ts';

export type ListingErrorKind = 'retryable' | 'permanent';

/** A listing that could not be completed; permanent ones fail the job (reason ListingFailed). */
export class ListingError extends Error {
  readonly kind: ListingErrorKind;
  constructor(kind: ListingErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ListingError';
    this.kind = kind;
  }
}

export interface WorkerListingOptions {
  nats: () => Promise<NatsConnection>;
  jobUid: string;
  role: WorkerRole;
  /** The job's worker token. */
  token: string;
  /** Names the store in messages, e.g. "filesystem store data:/photos". */
  description: string;
  /** Stops waiting and paging (the engine stopped). */
  signal?: AbortSignal;
  log?: Logger;
  /** How often to look for an announced worker while none is (1 s). */
  discoveryIntervalMs?: number;
  /** Time allowed for one request (a page, or a batch of checksums), hashing included (5 min). */
  pageTimeoutMs?: number;
  /** Consecutive failed attempts at one page before giving up (8). */
  maxAttempts?: number;
  /** First back-off between attempts, doubling up to 10 s (500 ms). */
  retryDelayMs?: number;
  /** Objects per page (at most maxListingPageObjects). */
  pageSize?: number;
}

export class WorkerListing {
  readonly description: string;
  private readonly options: WorkerListingOptions;
  private endpoint: string | undefined;
  /** Workers that could not be reached, passed over until the time given (their announcement's TTL). */
  private readonly unreachable = new Map<string, number>();

  constructor(options: WorkerListingOptions) {
    this.options = options;
    this.description = `${options.description} (listed by a ${options.role} worker)`;
  }

  async *list(prefix: string, startAfter?: string, options: ListOptions = {}): AsyncGenerator<ObjectInfo> {
    let after = startAfter;
    for (;;) {
      const url = (endpoint: string) => {
        const u = new URL(listingPath, endpoint);
        u.searchParams.set('prefix', prefix);
        if (after !== undefined) u.searchParams.set('startAfter', after);
        u.searchParams.set('limit', String(this.options.pageSize ?? maxListingPageObjects));
        if (options.checksums === true) u.searchParams.set('checksums', '1');
        return u;
      };
      const page = await this.call<ListingPage>(
        `the page after ${JSON.stringify(after ?? '')}`,
        (endpoint) => ({ url: url(endpoint) }),
      );
      checkPage(page, prefix, after, this.description);
      for (const object of page.objects) {
        yield toObjectInfo(object);
        after = object.key;
      }
      if (page.complete) return;
    }
  }

  /**
   * The objects with the SHA-256 of their content, hashed by the worker,
   * by key; an object that no longer exists is absent. Asked in batches of at
   * most maxChecksumKeys keys and about maxListingPageHashBytes bytes.
   */
  async checksumsOf(objects: readonly ObjectInfo[]): Promise<Map<string, ObjectInfo>> {
    const found = new Map<string, ObjectInfo>();
    let start = 0;
    while (start < objects.length) {
      let end = start;
      let bytes = 0;
      while (
        end < objects.length &&
        end - start < maxChecksumKeys &&
        (end === start || bytes + objects[end]!.size <= maxListingPageHashBytes)
      )
        bytes += objects[end++]!.size;
      const keys = objects.slice(start, end).map((o) => o.key);
      const body = JSON.stringify({ keys } satisfies ChecksumsRequest);
      const answer = await this.call<ChecksumsResponse>(
        `the checksums of ${keys.length} objects`,
        (endpoint) => ({
          url: new URL(checksumsPath, endpoint),
          init: { method: 'POST', body, headers: { 'content-type': 'application/json' } },
        }),
      );
      const asked = new Set(keys);
      for (const object of Array.isArray(answer?.objects) ? answer.objects : []) {
        if (
          !asked.has(object?.key) ||
          typeof object.sha256 !== 'string' ||
          !/^[0-9a-f]{64}$/.test(object.sha256)
        )
          throw new ListingError(
            'permanent',
            `${this.description}: the worker sent an invalid checksum answer`,
          );
        found.set(object.key, toObjectInfo(object));
      }
      start = end;
    }
    return found;
  }

  /** Whether the side's volume folds names (a destination filesystem store's worker answers). */
  async nameFolding(): Promise<NameFoldingAnswer> {
    const answer = await this.call<NameFoldingAnswer>('the name folding probe', (endpoint) => ({
      url: new URL(nameFoldingPath, endpoint),
    }));
    if (typeof answer?.foldsCase !== 'boolean' || typeof answer.foldsNormalisation !== 'boolean')
      throw new ListingError(
        'permanent',
        `${this.description}: the worker sent an invalid name folding answer`,
      );
    return answer;
  }

  async close(): Promise<void> {}

  /**
   * One request to a worker of the side, with the listing's patience: waits
   * for a worker to be announced, passes over unreachable ones, retries
   * retryable error answers (a few times, with back-off), and throws a
   * ListingError otherwise.
   */
  private async call<T>(
    what: string,
    request: (endpoint: string) => { url: URL; init?: RequestInit },
  ): Promise<T> {
    const maxAttempts = this.options.maxAttempts ?? 8;
    let failures = 0;
    for (;;) {
      const endpoint = await this.discover();
      try {
        const { url, init } = request(endpoint);
        return (await this.fetchJson(endpoint, url, init)) as T;
      } catch (err) {
        const error = asListingError(err, this.description);
        if (error.kind === 'permanent' || this.options.signal?.aborted) throw error;
        this.endpoint = undefined;
        if (isUnreachable(err)) {
          this.options.log?.info('listing worker unreachable; waiting for a worker of the side', {
            endpoint,
            error: error.message,
          });
          this.unreachable.set(endpoint, Date.now() + unreachableForMs);
          continue;
        }
        failures++;
        if (failures >= maxAttempts)
          throw new ListingError(
            'retryable',
            `${error.message} (gave up after ${failures} attempts at ${what})`,
            { cause: err },
          );
        this.options.log?.info('listing request failed; asking again', {
          error: error.message,
          attempt: failures,
        });
        await this.sleep(
          backoffDelay({ initialMs: this.options.retryDelayMs ?? 500, maxMs: 10_000 }, failures),
        );
      }
    }
  }

  /** A worker's URL: the last one that answered, or an announced one (waiting for one to be). */
  private async discover(): Promise<string> {
    let waited = false;
    for (;;) {
      if (this.endpoint !== undefined) return this.endpoint;
      this.throwIfStopped();
      const nc = await this.options.nats();
      const urls = await announcedUrls(
        nc,
        listingEndpointsBucket,
        `${this.options.jobUid}.${this.options.role}.>`,
      );
      const now = Date.now();
      const live = urls.filter((url) => (this.unreachable.get(url) ?? 0) <= now);
      if (live.length > 0) {
        this.endpoint = live[Math.floor(Math.random() * live.length)];
        continue;
      }
      if (!waited)
        this.options.log?.info(`waiting for a ${this.options.role} worker to list ${this.description}`);
      waited = true;
      await this.sleep(this.options.discoveryIntervalMs ?? 1_000);
    }
  }

  private async fetchJson(endpoint: string, url: URL, init: RequestInit = {}): Promise<unknown> {
    const timeout = AbortSignal.timeout(this.options.pageTimeoutMs ?? 300_000);
    const signal = this.options.signal ? AbortSignal.any([this.options.signal, timeout]) : timeout;
    const response = await fetch(url, {
      ...init,
      headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${this.options.token}` },
      signal,
    });
    const text = await response.text(); // a torn body rejects here
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new ListingError(
        'retryable',
        `${this.description}: the worker at ${endpoint} answered ${response.status} with a body that is not JSON`,
      );
    }
    if (!response.ok) {
      const error = parseErrorBody(body);
      const kind = error?.kind ?? (response.status >= 500 ? 'retryable' : 'permanent');
      throw new ListingError(
        kind,
        `${this.description}: ${error ? `${error.code}: ${error.message}` : `HTTP ${response.status}`}`,
      );
    }
    return body;
  }

  private throwIfStopped(): void {
    if (this.options.signal?.aborted)
      throw new ListingError('retryable', `${this.description}: listing stopped`);
  }

  private async sleep(ms: number): Promise<void> {
    this.throwIfStopped();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      const signal = this.options.signal;
      function done() {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    });
    this.throwIfStopped();
  }
}

/** As long as a dead worker's announcement may outlive it (worker/endpoints.ts's TTL). */
const unreachableForMs = 30_000;

/** Whether fetch failed to reach the worker or lost it mid-answer (not a timeout, not an answer). */
function isUnreachable(err: unknown): boolean {
  // undici's TypeError: "fetch failed" (refused, reset…) or "terminated" (torn body). By name, not
  // instanceof: fetch's errors may come from another realm (a vm context, as under jest).
  const { name, message } = (err ?? {}) as Partial<Error>;
  return name === 'TypeError' && (message === 'fetch failed' || message === 'terminated');
}

function asListingError(err: unknown, description: string): ListingError {
  if (err instanceof ListingError) return err;
  // fetch's network errors (refused, reset, torn body) and timeouts: the worker may be gone.
  const cause = (err as { cause?: { code?: string } }).cause?.code;
  const message = err instanceof Error ? err.message : String(err);
  return new ListingError('retryable', `${description}: ${message}${cause ? ` (${cause})` : ''}`, {
    cause: err,
  });
}

/**
 * Refuses a page that is malformed or out of order: strictly increasing UTF-8
 * byte order, every key after `after` and under `prefix`; an incomplete page
 * must move forward.
 */
function checkPage(page: ListingPage, prefix: string, after: string | undefined, description: string): void {
  const malformed = (problem: string) =>
    new ListingError('permanent', `${description}: the worker sent an invalid listing page: ${problem}`);
  if (typeof page !== 'object' || page === null || !Array.isArray(page.objects))
    throw malformed('no "objects" array');
  if (typeof page.complete !== 'boolean') throw malformed('no "complete" flag');
  if (!page.complete && page.objects.length === 0) throw malformed('an empty page that is not the last');
  let previous = after === undefined ? undefined : Buffer.from(after, 'utf8');
  const prefixBytes = Buffer.from(prefix, 'utf8');
  for (const object of page.objects) {
    if (
      typeof object?.key !== 'string' ||
      !Number.isSafeInteger(object.size) ||
      object.size < 0 ||
      typeof object.lastModified !== 'string' ||
      (object.sha256 !== undefined && !/^[0-9a-f]{64}$/.test(object.sha256))
    )
      throw malformed(`object ${JSON.stringify(object)}`);
    const key = Buffer.from(object.key, 'utf8');
    if (previous !== undefined && Buffer.compare(previous, key) >= 0)
      throw malformed(`${JSON.stringify(object.key)} is not after ${JSON.stringify(previous.toString())}`);
    if (!key.subarray(0, prefixBytes.length).equals(prefixBytes))
      throw malformed(`${JSON.stringify(object.key)} does not start with ${JSON.stringify(prefix)}`);
    previous = key;
  }
}

function toObjectInfo(object: ListedObject): ObjectInfo {
  return {
    key: object.key,
    size: object.size,
    lastModified: new Date(object.lastModified),
    ...(object.etag ? { etag: object.etag } : {}),
    ...(typeof object.version === 'string' && object.version ? { version: object.version } : {}),
    ...(object.sha256 ? { checksum: { algorithm: 'SHA256', value: object.sha256 } } : {}),
  };
}
