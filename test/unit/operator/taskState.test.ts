import { judgeTransition, type TaskProgress, type TaskState } from '../../../operator/ledger/taskState.ts';

const at = (state: TaskState, epoch = 1, attempt = 1): TaskProgress => ({ state, epoch, attempt });

describe('which status updates the ledger applies', () => {
  const cases: Record<string, [TaskProgress, TaskProgress, boolean | string]> = {
    'a dispatched task starts running': [at('DISPATCHED'), at('RUNNING'), true],
    'a running task succeeds': [at('RUNNING'), at('SUCCEEDED'), true],
    'a dispatched task succeeds before its RUNNING arrives': [at('DISPATCHED'), at('SUCCEEDED'), true],
    'a late RUNNING after SUCCEEDED is ignored': [at('SUCCEEDED'), at('RUNNING'), 'terminal'],
    'SUCCEEDED never goes back, even for a newer attempt': [
      at('SUCCEEDED', 1, 1),
      at('PENDING', 2, 1),
      'terminal',
    ],
    'a redelivered SUCCEEDED is a duplicate': [at('SUCCEEDED'), at('SUCCEEDED'), 'duplicate'],
    'an update from an older epoch is fenced off': [at('DISPATCHED', 2, 1), at('SUCCEEDED', 1, 1), 'stale'],
    'an update from an older attempt is fenced off': [at('DISPATCHED', 1, 3), at('FAILED', 1, 2), 'stale'],
    'a new attempt re-opens a failed task': [at('FAILED', 1, 1), at('DISPATCHED', 1, 2), true],
    'a resume (new epoch) re-dispatches a running task': [at('RUNNING', 1, 1), at('DISPATCHED', 2, 2), true],
    'the same attempt cannot go back from RUNNING to DISPATCHED': [
      at('RUNNING'),
      at('DISPATCHED'),
      'backwards',
    ],
    'a success of the same attempt after its failure is kept': [at('FAILED'), at('SUCCEEDED'), true],
    'a failure does not overwrite a success': [at('SUCCEEDED'), at('FAILED'), 'terminal'],
  };
  for (const [name, [current, update, expected]] of Object.entries(cases)) {
    it(name, () => {
      const verdict = judgeTransition(current, update);
      if (expected === true) expect(verdict).toEqual({ apply: true });
      else expect(verdict).toEqual({ apply: false, why: expected });
    });
  }
});
