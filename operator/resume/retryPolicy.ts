// What becomes of a task that is not SUCCEEDED, when the engine sends tasks:
// on a resume (a new epoch, after a restart, leader change, recovery or a
// user's retry) or in a retry round of the running engine (same epoch).
//
// A retryable failure is re-sent after an exponential back-off (common/backoff.ts),
// measured from when the failure was recorded. The engine holds the
// re-dispatch (rather than a delayed nak) because the worker has already
// acknowledged the task by the time its failure is known; holding it in the
// operator also keeps the delay across an operator restart (ADR 0007).
import { backoffDelay } from '../../common/backoff.ts';
import type { TaskRecord } from '../ledger/taskLedger.ts';

export interface RetryPolicy {
  /** Attempts per task (since the last user retry) before it is given up. */
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
}

export function retryPolicyOf(
  spec: {
    maxAttempts?: number;
    initialBackoffSeconds?: number;
    maxBackoffSeconds?: number;
  } = {},
): RetryPolicy {
  return {
    maxAttempts: spec.maxAttempts ?? 5,
    initialBackoffMs: (spec.initialBackoffSeconds ?? 5) * 1000,
    maxBackoffMs: (spec.maxBackoffSeconds ?? 300) * 1000,
  };
}

/** The wait before the next attempt, after `failedAttempts` (≥ 1) attempts failed: initial · 2^(failed − 1), capped. */
export function retryDelayMs(failedAttempts: number, policy: RetryPolicy): number {
  return backoffDelay({ initialMs: policy.initialBackoffMs, maxMs: policy.maxBackoffMs }, failedAttempts);
}

/** Attempts that count against maxAttempts: those since the user's last retry. */
export function attemptsUsed(record: Pick<TaskRecord, 'attempt' | 'attemptsBase'>): number {
  return record.attempt - (record.attemptsBase ?? 0);
}

export type Disposition =
  | { kind: 'done' }
  /** In a worker's hands (or queued for one): left alone by a retry round. */
  | { kind: 'inFlight' }
  /** Send now; `newBase` starts a fresh attempt budget (a user's retry). */
  | { kind: 'send'; newBase?: number }
  /** A retryable failure still backing off. */
  | { kind: 'wait'; dueAt: number }
  /** Failed permanently or out of attempts: the job reports it. */
  | { kind: 'givenUp' };

export interface SendContext {
  /** A resume re-sends what was in flight (its messages were purged) and skips the back-off. */
  resume: boolean;
  /** A user's retry request: tasks given up are sent again, with a fresh attempt budget. */
  retryFailed: boolean;
  policy: RetryPolicy;
  now: number;
  /**
   * The sending engine's epoch: a task it dispatched itself (while planning)
   * is in flight even on a resume — only older epochs' messages were purged.
   */
  epoch?: number;
}

export function dispose(record: TaskRecord, ctx: SendContext): Disposition {
  switch (record.state) {
    case 'SUCCEEDED':
      return { kind: 'done' };
    case 'PENDING':
      return { kind: 'send' };
    case 'DISPATCHED':
    case 'RUNNING':
      return ctx.resume && record.epoch !== ctx.epoch ? { kind: 'send' } : { kind: 'inFlight' };
    case 'FAILED': {
      const givenUp = record.error?.kind === 'permanent' || attemptsUsed(record) >= ctx.policy.maxAttempts;
      if (givenUp) return ctx.retryFailed ? { kind: 'send', newBase: record.attempt } : { kind: 'givenUp' };
      if (ctx.resume) return { kind: 'send' };
      const dueAt = Date.parse(record.updatedAt) + retryDelayMs(attemptsUsed(record), ctx.policy);
      return ctx.now >= dueAt ? { kind: 'send' } : { kind: 'wait', dueAt };
    }
  }
}
