// Exponential back-off, the one formula every retry in Ferry waits by: the
// retry policy of tasks, the work queue, the informer restarts, worker listing
// pages, worker pod slots, S3 requests and the worker's task loop.

export interface Backoff {
  /** The wait before the first retry. */
  initialMs: number;
  /** No wait is longer than this. */
  maxMs: number;
  /**
   * Spread each wait over [0.5, 1.5) of its nominal value, so that clients
   * that failed together do not retry together. The cap applies before it.
   */
  jitter?: boolean;
}

/**
 * How long to wait before retry number `retry` (1 = the first): `initialMs`,
 * doubled for every retry before it, at most `maxMs`. `random` is for tests.
 */
export function backoffDelay(backoff: Backoff, retry: number, random: () => number = Math.random): number {
  // 2 ** 52 is past any maxMs; capping the exponent keeps the product finite.
  const doublings = Math.min(Math.max(0, retry - 1), 52);
  const nominal = Math.min(backoff.initialMs * 2 ** doublings, backoff.maxMs);
  return backoff.jitter ? nominal * (0.5 + random()) : nominal;
}
