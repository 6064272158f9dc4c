import type { CopyPartTask } from '../../../../worker/transfer/copyPartTask.ts';
import { partRange } from '../../../../worker/transfer/copyPartTask.ts';

function task(partNumber: number, partCount: number, partSize: number, size: number): CopyPartTask {
  const start = (partNumber - 1) * partSize;
  return {
    kind: 'copyPart',
    id: `t${partNumber}`,
    object: { key: 'k', size },
    partNumber,
    partCount,
    start,
    end: Math.min(start + partSize, size) - 1,
  };
}

describe("the ranges of a large object's other parts, as the task that copies them all sees them", () => {
  it('are the planned ones, from any part, the last (shorter) one included', () => {
    const size = 10 * 5 + 3;
    const planned = Array.from({ length: 11 }, (_, i) => task(i + 1, 11, 5, size)).map(({ start, end }) => ({
      start,
      end,
    }));
    for (const from of [1, 6, 11])
      expect(Array.from({ length: 11 }, (_, i) => partRange(task(from, 11, 5, size), i + 1))).toEqual(
        planned,
      );
  });

  it('of a one-part object is the whole object', () => {
    expect(partRange(task(1, 1, 70, 70), 1)).toEqual({ start: 0, end: 69 });
  });
});
