// How a task's definition is stored in etcd: JSON, deflated.
//
// The definitions are most of the ledger: every planned object's key and size,
// and its SHA-256 when the source records one. `node bench/resume.ts` measured
// 38 bytes of etcd per object as plain JSON with 18-byte keys, 112 with a
// SHA-256 each: a hundred million objects would need 4–11 GB, beyond the 4 GiB
// quota the chart gives etcd (and near the 8 GiB etcd recommends at most).
// Keys in a task share long prefixes and sort together, which deflate takes
// out: 2.3–7 times smaller on sample key sets (a hex SHA-256 keeps about 32
// bytes; it is random). Level 1: nearly the ratio of level 6 at half the CPU.
// The zlib wrapper (6 bytes) carries an Adler-32 of the JSON, so a damaged
// value fails to decode rather than yielding another task.
//
// The first byte tells the format: 0x01 for zlib-deflated JSON; a definition
// written as plain JSON (by an operator before this format) starts with "{".
// An operator from before this format cannot read 0x01: a rollback past it
// must wait for the running jobs to finish.
import { deflateSync, inflateSync } from 'node:zlib';
import type { PlannedTask } from '../../api/tasks.ts';

const deflated = 0x01;
const plainJson = 0x7b; // "{"

export function encodeDefinition(task: PlannedTask): Buffer {
  const body = deflateSync(JSON.stringify(task), { level: 1 });
  return Buffer.concat([Buffer.of(deflated), body]);
}

export function decodeDefinition(value: Buffer): PlannedTask {
  switch (value[0]) {
    case deflated:
      return JSON.parse(inflateSync(value.subarray(1)).toString('utf8')) as PlannedTask;
    case plainJson:
      return JSON.parse(value.toString('utf8')) as PlannedTask;
    default:
      throw new Error(
        `a task definition in an unknown format (first byte 0x${(value[0] ?? 0).toString(16).padStart(2, '0')}); written by a newer operator?`,
      );
  }
}
