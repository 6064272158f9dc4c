import type { Condition } from '../../../../api/v1alpha1/index.ts';
import type { Phase } from '../../../../operator/reconcile/decision.ts';
import { derivePhase, phaseEvent } from '../../../../operator/reconcile/phase.ts';
import { condition } from './fixtures.ts';

describe('derivePhase', () => {
  const cases: Record<string, { conditions: Condition[]; phase: Phase }> = {
    'no conditions yet: Pending': { conditions: [], phase: 'Pending' },
    'workers starting: Pending': {
      conditions: [condition('Ready', 'False', 'WorkersStarting')],
      phase: 'Pending',
    },
    'workers ready: Running': { conditions: [condition('Ready', 'True', 'WorkersReady')], phase: 'Running' },
    'a worker lost after start: still Running': {
      conditions: [condition('Ready', 'False', 'WorkersNotReady')],
      phase: 'Running',
    },
    'suspended: Suspended': { conditions: [condition('Suspended', 'True')], phase: 'Suspended' },
    'complete: Succeeded, even if suspended': {
      conditions: [condition('Complete', 'True'), condition('Suspended', 'True')],
      phase: 'Succeeded',
    },
    'failed: Failed, whatever else holds': {
      conditions: [condition('Failed', 'True'), condition('Complete', 'True')],
      phase: 'Failed',
    },
  };
  it.each(Object.entries(cases))('%s', (_, { conditions, phase }) => {
    expect(derivePhase(conditions)).toBe(phase);
  });
});

describe('phaseEvent', () => {
  const failed = [condition('Failed', 'True', 'TasksFailed', '1 objects failed: a')];
  const cases: Record<
    string,
    { from?: Phase; to: Phase; conditions?: Condition[]; event?: string; message?: string }
  > = {
    'no change: no event': { from: 'Running', to: 'Running' },
    'a new job: Accepted': { to: 'Pending', event: 'Accepted' },
    'back to Pending (a worker lost): no event': { from: 'Running', to: 'Pending' },
    'workers ready: Started': { from: 'Pending', to: 'Running', event: 'Started' },
    'running again after a suspension: Resumed': { from: 'Suspended', to: 'Running', event: 'Resumed' },
    'suspended: Suspended': { from: 'Running', to: 'Suspended', event: 'Suspended' },
    'complete: Succeeded': { from: 'Running', to: 'Succeeded', event: 'Succeeded' },
    'failed: a Failed Warning naming what failed': {
      from: 'Running',
      to: 'Failed',
      conditions: failed,
      event: 'Failed',
      message: '1 objects failed: a',
    },
  };
  it.each(Object.entries(cases))('%s', (_, c) => {
    const event = phaseEvent(c.from, c.to, c.conditions ?? []);
    expect(event?.reason).toBe(c.event);
    if (c.message) expect(event).toEqual({ type: 'Warning', reason: 'Failed', message: c.message });
  });
});
