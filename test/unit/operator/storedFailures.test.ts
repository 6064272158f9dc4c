import { boundedReason, statusFailureBounds } from '../../../api/tasks.ts';
import { storedError, storedFailureBounds } from '../../../operator/ledger/storedFailures.ts';

describe('what a task record keeps of its failures', () => {
  it('keeps a bounded sample with the count of all, whatever the status carried', () => {
    const failures = Array.from({ length: 100 }, (_, i) => ({
      key: `${i}/${'k'.repeat(1000)}`,
      reason: 'r'.repeat(2000),
    }));
    const stored = storedError({ kind: 'permanent', message: 'm', failures, failedCount: 1000 });
    expect(stored.failedCount).toBe(1000);
    expect(stored.failures!.length).toBeLessThanOrEqual(storedFailureBounds.maxFailures);
    expect(Buffer.byteLength(JSON.stringify(stored))).toBeLessThan(storedFailureBounds.maxBytes + 2000);
  });

  it('gives bare keys of an older status the error message as their reason', () => {
    expect(storedError({ kind: 'permanent', message: 'AccessDenied', keys: ['a', 'b'] })).toEqual({
      kind: 'permanent',
      message: 'AccessDenied',
      failures: [
        { key: 'a', reason: 'AccessDenied' },
        { key: 'b', reason: 'AccessDenied' },
      ],
      failedCount: 2,
    });
  });

  it('cuts a long reason keeping its start and its end (the cause is often last)', () => {
    const reason = boundedReason(`write "${'k'.repeat(1000)}": 409 ObjectParentIsFile`);
    expect(reason.length).toBe(statusFailureBounds.maxReasonChars);
    expect(reason).toMatch(/^write "k+…k+": 409 ObjectParentIsFile$/);
  });
});
