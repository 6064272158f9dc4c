// Counts the objects destination workers committed, from the pods' logs that
// the pod runner keeps (they survive a killed pod). Needs the operator's
// FERRY_WORKER_LOG_LEVEL=debug, which makes destinations log every commit.
// Fault tests bound the writes a fault may cost with it.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { committedMessage } from '../../worker/transfer/receiving.ts';

export interface DestinationWrites {
  /** Every commit, re-writes included. */
  total: number;
  /** Commits per key. */
  perKey: Map<string, number>;
}

export function countDestinationWrites(podLogDir: string): DestinationWrites {
  const perKey = new Map<string, number>();
  let total = 0;
  for (const file of readdirSync(podLogDir).filter((f) => f.endsWith('.log'))) {
    for (const line of readFileSync(path.join(podLogDir, file), 'utf8').split('\n')) {
      if (!line.includes(committedMessage)) continue;
      let entry: { message?: string; key?: string };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        continue; // a line cut short by a SIGKILL
      }
      if (entry.message !== committedMessage || entry.key === undefined) continue;
      total++;
      perKey.set(entry.key, (perKey.get(entry.key) ?? 0) + 1);
    }
  }
  return { total, perKey };
}
