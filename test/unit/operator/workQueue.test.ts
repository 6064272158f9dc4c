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

  it('retries a failing key with growing back-off until it succeeds', async () => {
    const attempts: number[] = [];
    const retryDelays: number[] = [];
    const done = deferred();
    const q = new WorkQueue(
      { concurrency: 1, baseBackoffMs: 5, maxBackoffMs: 1_000 },
      async () => {
        attempts.push(Date.now());
        if (attempts.length < 4) throw new Error('API server unavailable');
        done.resolve();
        return {};
      },
      (_key, _err, retryInMs) => retryDelays.push(retryInMs),
    );
    q.add('job');
    await done.promise;
    expect(attempts).toHaveLength(4);
    expect(retryDelays).toEqual([5, 10, 20]);
    await q.shutdown();
  });

  it('requeues a key after the delay its processing asked for', async () => {
    const times: number[] = [];
    const done = deferred();
    const q = new WorkQueue(
      { concurrency: 1, baseBackoffMs: 5, maxBackoffMs: 1_000 },
      async () => {
        times.push(Date.now());
        if (times.length === 2) done.resolve();
        return times.length === 1 ? { requeueAfterMs: 50 } : {};
      },
      () => {},
    );
    q.add('job');
    await done.promise;
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(45);
    await q.shutdown();
  });
});
