import { jest } from '@jest/globals';
import { WorkQueue } from '../../../operator/workQueue.ts';

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('the work queue', () => {
  it('processes a key added many times while queued only once', async () => {
    const processed: string[] = [];
    const gate = deferred();
    const q = new WorkQueue(
      { concurrency: 1, baseBackoffMs: 10, maxBackoffMs: 100 },
      async (k) => {
        if (k === 'busy') await gate.promise; // holds the only worker while the others queue up
        processed.push(k);
        return {};
      },
      () => {},
    );
    q.add('busy');
    q.add('a');
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.length).toBe(2);
    gate.resolve();
    await q.idle();
    expect(processed).toEqual(['busy', 'a', 'b']);
  });

  it('never processes one key twice at once, and runs it again if it changed meanwhile', async () => {
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    const first = deferred();
    const q = new WorkQueue(
      { concurrency: 4, baseBackoffMs: 10, maxBackoffMs: 100 },
      async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        runs++;
        if (runs === 1) await first.promise;
        running--;
        return {};
      },
      () => {},
    );
    q.add('job');
    await new Promise((r) => setTimeout(r, 10));
    q.add('job'); // arrives while the first run is in progress
    q.add('job');
    first.resolve();
    await new Promise((r) => setTimeout(r, 20));
    await q.idle();
    expect(maxRunning).toBe(1);
    expect(runs).toBe(2);
  });

  it('bounds how many keys are processed at the same time', async () => {
    let running = 0;
    let maxRunning = 0;
    const q = new WorkQueue(
      { concurrency: 2, baseBackoffMs: 10, maxBackoffMs: 100 },
      async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await new Promise((r) => setTimeout(r, 5));
        running--;
        return {};
      },
      () => {},
    );
    for (let i = 0; i < 10; i++) q.add(`k${i}`);
    await q.idle();
    expect(maxRunning).toBe(2);
  });

  describe('with a fake clock', () => {
    beforeEach(() => jest.useFakeTimers());
    afterEach(() => jest.useRealTimers());

    /** Runs the clock `ms` forward, letting the queue's promises settle. */
    const advance = (ms: number) => jest.advanceTimersByTimeAsync(ms);

    it('retries a failing key with back-off that doubles up to its cap, then succeeds', async () => {
      const attempts: number[] = [];
      const reported: number[] = [];
      const q = new WorkQueue(
        { concurrency: 1, baseBackoffMs: 100, maxBackoffMs: 500 },
        async () => {
          attempts.push(Date.now());
          if (attempts.length <= 5) throw new Error('API server unavailable');
          return {};
        },
        (_key, _err, retryInMs) => reported.push(retryInMs),
      );
      q.add('job');
      await advance(0);
      for (const delay of [100, 200, 400, 500, 500]) {
        const before = attempts.length;
        await advance(delay - 1);
        expect(attempts).toHaveLength(before); // not a moment early
        await advance(1);
        expect(attempts).toHaveLength(before + 1);
      }
      const waits = attempts.slice(1).map((t, i) => t - attempts[i]!);
      expect(waits).toEqual([100, 200, 400, 500, 500]);
      expect(reported).toEqual(waits);
      await advance(10_000);
      expect(attempts).toHaveLength(6); // succeeded: no more retries
      await q.shutdown();
    });

    it('starts the back-off over after a success', async () => {
      let calls = 0;
      const reported: number[] = [];
      const q = new WorkQueue(
        { concurrency: 1, baseBackoffMs: 100, maxBackoffMs: 1_000 },
        async () => {
          calls++;
          if (calls === 3) return {}; // fails twice, succeeds, then fails again
          throw new Error('conflict');
        },
        (_key, _err, retryInMs) => reported.push(retryInMs),
      );
      q.add('job');
      await advance(300); // attempts at 0, 100, 300
      q.add('job');
      await advance(0);
      expect(reported).toEqual([100, 200, 100]);
      await q.shutdown();
    });

    it('requeues a key after the delay its processing asked for', async () => {
      const times: number[] = [];
      const q = new WorkQueue(
        { concurrency: 1, baseBackoffMs: 5, maxBackoffMs: 1_000 },
        async () => {
          times.push(Date.now());
          return times.length === 1 ? { requeueAfterMs: 50 } : {};
        },
        () => {},
      );
      q.add('job');
      await advance(49);
      expect(times).toHaveLength(1);
      await advance(1);
      expect(times).toHaveLength(2);
      expect(times[1]! - times[0]!).toBe(50);
      await q.shutdown();
    });
  });
});
