import { statusFailureBounds } from '../../../../api/tasks.ts';
import { statusErrorOf, type FailedObject } from '../../../../worker/transfer/taskFailures.ts';

const failure = (
  i: number,
  kind: FailedObject['kind'] = 'permanent',
  message = `reason ${i}`,
): FailedObject => ({
  key: `k/${i}`,
  kind,
  message,
});

describe('the status of a task that failed in part', () => {
  it('names every failed key with its own reason, and counts them', () => {
    const error = statusErrorOf([failure(1), failure(2, 'retryable')]);
    expect(error).toEqual({
      kind: 'permanent',
      message: 'reason 1 (and 1 more)',
      keys: ['k/1', 'k/2'],
      failures: [
        { key: 'k/1', reason: 'reason 1' },
        { key: 'k/2', reason: 'reason 2' },
      ],
      failedCount: 2,
    });
  });

  it('is retryable only when every failure is', () => {
    expect(statusErrorOf([failure(1, 'retryable'), failure(2, 'retryable')]).kind).toBe('retryable');
  });

  it('keeps within the bounds of a status message, the full count beside the list', () => {
    const many = Array.from({ length: 5000 }, (_, i) => failure(i, 'permanent', 'x'.repeat(10_000)));
    const error = statusErrorOf(many);
    expect(error.failures).toHaveLength(statusFailureBounds.maxFailures);
    expect(error.keys).toHaveLength(statusFailureBounds.maxFailures);
    expect(error.failedCount).toBe(5000);
    for (const f of error.failures!)
      expect(f.reason.length).toBeLessThanOrEqual(statusFailureBounds.maxReasonChars);
    expect(Buffer.byteLength(JSON.stringify(error))).toBeLessThan(64 * 1024);
  });
});
