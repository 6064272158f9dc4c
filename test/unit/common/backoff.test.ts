// The one back-off every retry in Ferry waits by.
import { backoffDelay } from '../../../common/backoff.ts';

describe('backoffDelay', () => {
  const backoff = { initialMs: 250, maxMs: 30_000 };

  it.each([
    [1, 250],
    [2, 500],
    [3, 1_000],
    [7, 16_000],
    [8, 30_000],
    [1_000, 30_000],
  ])('waits the initial delay doubled per earlier retry, capped: retry %i waits %i ms', (retry, ms) => {
    expect(backoffDelay(backoff, retry)).toBe(ms);
  });

  it('spreads a jittered wait over half to one and a half times its capped value', () => {
    const jittered = { ...backoff, jitter: true };
    expect(backoffDelay(jittered, 2, () => 0)).toBe(250);
    expect(backoffDelay(jittered, 2, () => 0.999)).toBeCloseTo(749.5);
    expect(backoffDelay(jittered, 100, () => 0)).toBe(15_000);
  });
});
