// The task lifecycle, and which status updates the ledger accepts.
//
//   PENDING ──dispatch(epoch, attempt)──▶ DISPATCHED ──worker picks──▶ RUNNING ──▶ SUCCEEDED (terminal)
//      ▲                                                                  │
//      └──── retryable failure / lost worker / resume (new attempt) ◀─────┴──▶ FAILED
//
// Updates arrive over JetStream, possibly late, twice, or from a worker of an
// earlier epoch. An update is applied only if it is about the attempt the
// ledger holds (or a newer one: from the engine only, as workers report on the
// attempts it issued, ADR 0044) and moves the task forward.

export const taskStates = ['PENDING', 'DISPATCHED', 'RUNNING', 'SUCCEEDED', 'FAILED'] as const;
export type TaskState = (typeof taskStates)[number];

export interface TaskProgress {
  state: TaskState;
  /** The job epoch the attempt belongs to: bumped by every resume, fencing off older workers. */
  epoch: number;
  /** 1 for the first dispatch, +1 for every re-dispatch of this task. */
  attempt: number;
}

export type TransitionVerdict =
  { apply: true } | { apply: false; why: 'stale' | 'terminal' | 'backwards' | 'duplicate' };

const rank: Record<TaskState, number> = { PENDING: 0, DISPATCHED: 1, RUNNING: 2, SUCCEEDED: 3, FAILED: 3 };

/** Orders (epoch, attempt) pairs: a later epoch wins, then a later attempt. */
export function compareAttempts(
  a: Pick<TaskProgress, 'epoch' | 'attempt'>,
  b: Pick<TaskProgress, 'epoch' | 'attempt'>,
): number {
  return a.epoch - b.epoch || a.attempt - b.attempt;
}

export function judgeTransition(current: TaskProgress, update: TaskProgress): TransitionVerdict {
  if (current.state === 'SUCCEEDED') {
    return update.state === 'SUCCEEDED' && compareAttempts(update, current) === 0
      ? { apply: false, why: 'duplicate' }
      : { apply: false, why: 'terminal' };
  }
  const order = compareAttempts(update, current);
  if (order < 0) return { apply: false, why: 'stale' };
  // A newer attempt starts the lifecycle again: any state of it is news.
  if (order > 0) return { apply: true };
  if (update.state === current.state) return { apply: false, why: 'duplicate' };
  // The same attempt: only forward. A success reported after a FAILED of the
  // same attempt is kept (the work did complete); nothing leaves SUCCEEDED.
  if (current.state === 'FAILED')
    return update.state === 'SUCCEEDED' ? { apply: true } : { apply: false, why: 'backwards' };
  return rank[update.state] > rank[current.state] ? { apply: true } : { apply: false, why: 'backwards' };
}
