// Fields a component adds to every line it logs, whatever Logger it was given.
import { withFields, type Logger } from '../../../common/logging.ts';

describe('withFields', () => {
  it('adds its fields to every level, and a line’s own meta wins on a clash', () => {
    const lines: [string, string, Record<string, unknown> | undefined][] = [];
    const record = (level: string) => (message: string, meta?: Record<string, unknown>) =>
      lines.push([level, message, meta]);
    const log: Logger = {
      debug: record('debug'),
      info: record('info'),
      warn: record('warn'),
      error: record('error'),
    };
    const task = withFields(log, { task: 't1', attempt: 1 });
    task.debug('d');
    task.info('i', { bytes: 3 });
    task.warn('w', { attempt: 2 });
    task.error('e');
    expect(lines).toEqual([
      ['debug', 'd', { task: 't1', attempt: 1 }],
      ['info', 'i', { task: 't1', attempt: 1, bytes: 3 }],
      ['warn', 'w', { task: 't1', attempt: 2 }],
      ['error', 'e', { task: 't1', attempt: 1 }],
    ]);
  });
});
