// How a task's definition is stored in etcd: JSON, deflated (ADR 0018).
//
// The definitions are most of the ledger: every planned object's key and size,
// and its SHA-256 when the source records one. As plain JSON, a hundred
// million objects would need 4–11 GB (`node bench/resume.ts`), beyond the
// 4 GiB quota the chart gives etcd. Keys in a task share long prefixes and
// sort together, which deflate takes out: 2.3–7 times smaller. Level 1: nearly
// the ratio of level 6 at half the CPU. The zlib wrapper carries an Adler-32
// of the JSON, so a damaged value fails to decode rather than yielding
// another task. The first byte names the format, so a later one can be told apart.
import { deflateSync, inflateSync } from 'node:zlib';
import type { ObjectFailure, PlannedTask } from '../../api/tasks.ts';

const deflated = 0x01;

export function encodeDefinition(task: PlannedTask): Buffer {
  const body = deflateSync(JSON.stringify(task), { level: 1 });
  return Buffer.concat([Buffer.of(deflated), body]);
}

/** The definition `value` holds; throws on a damaged value or one in an unknown format. */
export function decodeDefinition(value: Buffer): PlannedTask {
  if (value[0] !== deflated)
    throw new Error(
      `a task definition in an unknown format (first byte 0x${(value[0] ?? 0).toString(16).padStart(2, '0')}); written by a newer operator?`,
    );
  return JSON.parse(inflateSync(value.subarray(1)).toString('utf8')) as PlannedTask;
}

/** A task's reported failures as the ledger stores them for the job's failure report: deflated like definitions. */
export function encodeFailures(failures: readonly ObjectFailure[]): Buffer {
  return Buffer.concat([Buffer.of(deflated), deflateSync(JSON.stringify(failures), { level: 1 })]);
}

export function decodeFailures(value: Buffer): ObjectFailure[] {
  if (value[0] !== deflated) throw new Error('a failure list in an unknown format');
  return JSON.parse(inflateSync(value.subarray(1)).toString('utf8')) as ObjectFailure[];
}
