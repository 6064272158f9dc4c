// Which copies keep planning waiting: those sent and not settled by a status of this epoch.
import { PlanningWindow } from '../../../operator/engine/planningWindow.ts';
import type { PlannedTask } from '../../../api/tasks.ts';

const copy = (id: string): PlannedTask => ({ kind: 'copy', id, objects: [{ key: id, size: 1 }], bytes: 1 });

describe('the planning window', () => {
  it('fills with the copies sent, never with deletes, and empties as their statuses settle them', () => {
    const window = new PlanningWindow(1);
    window.sent([copy('t1'), copy('t2'), { kind: 'delete', id: 't3', keys: ['x'] }]);
    expect(window.inFlight).toBe(2);
    expect(window.full).toBe(true);

    window.settled([
      { taskId: 't1', state: 'RUNNING', apply: true }, // not settled yet
      { taskId: 't2', state: 'FAILED', apply: false, why: 'stale' }, // another epoch's worker
    ]);
    expect(window.inFlight).toBe(2);

    window.settled([{ taskId: 't1', state: 'SUCCEEDED', apply: true }]);
    expect(window.full).toBe(false);
    // Already recorded by an earlier pull: settled all the same.
    window.settled([{ taskId: 't2', state: 'SUCCEEDED', apply: false, why: 'duplicate' }]);
    expect(window.inFlight).toBe(0);
  });
});
