// Which copies keep planning waiting: those sent and neither succeeded nor given up.
import { PlanningWindow } from '../../../operator/engine/planningWindow.ts';
import type { PlannedTask } from '../../../api/tasks.ts';

const copy = (id: string): PlannedTask => ({ kind: 'copy', id, objects: [{ key: id, size: 1 }], bytes: 1 });
const round = (r: Partial<Parameters<PlanningWindow['retried']>[0]>) => ({
  sent: [],
  waiting: [],
  givenUp: [],
  settled: [],
  inFlight: [],
  ...r,
});

describe('the planning window', () => {
  it('fills with the copies sent, never with deletes, and empties as they succeed', () => {
    const window = new PlanningWindow(1);
    window.sent([copy('t1'), copy('t2'), { kind: 'delete', id: 't3', keys: ['x'] }]);
    expect(window.inFlight).toBe(2);
    expect(window.full).toBe(true);

    window.recorded([
      { taskId: 't1', state: 'RUNNING', apply: true }, // under way
      { taskId: 't2', state: 'SUCCEEDED', apply: false, why: 'stale' }, // another epoch's worker
    ]);
    expect(window.inFlight).toBe(2);

    window.recorded([{ taskId: 't1', state: 'SUCCEEDED', apply: true }]);
    expect(window.full).toBe(false);
    // Already recorded by an earlier pull: settled all the same.
    window.recorded([{ taskId: 't2', state: 'SUCCEEDED', apply: false, why: 'duplicate' }]);
    expect(window.inFlight).toBe(0);
  });

  it('keeps a failed copy open until it is sent again and succeeds, or is given up', () => {
    const window = new PlanningWindow(0);
    window.sent([copy('t1'), copy('t2')]);
    window.recorded([
      { taskId: 't1', state: 'FAILED', apply: true },
      { taskId: 't2', state: 'FAILED', apply: true },
    ]);
    // A failure frees no room: planning would otherwise run away from a destination that refuses everything.
    expect(window.inFlight).toBe(2);
    expect([...window.failed]).toEqual(['t1', 't2']);

    window.retried(round({ sent: ['t1'], waiting: ['t2'] }));
    expect([...window.failed]).toEqual(['t2']);
    expect(window.inFlight).toBe(2);

    window.recorded([{ taskId: 't1', state: 'SUCCEEDED', apply: true }]);
    window.retried(round({ givenUp: ['t2'] }));
    expect(window.inFlight).toBe(0);
    expect(window.givenUp).toBe(1);
  });
});
