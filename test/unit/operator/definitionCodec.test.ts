// Task definitions are stored deflated; one in an unknown format is refused by name.
import { decodeDefinition, encodeDefinition } from '../../../operator/ledger/definitionCodec.ts';
import type { PlannedTask } from '../../../api/tasks.ts';

describe('a stored task definition', () => {
  const task: PlannedTask = {
    kind: 'delete',
    id: 't0000000007',
    keys: ['a', 'b/c d%20+', 'ünïcode/\u{1F600}'],
  };

  it('round-trips through its stored form', () => {
    expect(decodeDefinition(encodeDefinition(task))).toEqual(task);
  });

  it('in an unknown format is refused, naming the format', () => {
    expect(() => decodeDefinition(Buffer.from([0x02, 0x00]))).toThrow(
      'a task definition in an unknown format (first byte 0x02); written by a newer operator?',
    );
  });
});
