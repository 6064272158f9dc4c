// Benchmark: planning N synthetic objects (default 1,000,000) through the
// streamed listing merge and task planner. Reports wall time, tasks and peak
// RSS. Half the keys exist at the destination (a third of those changed), and
// the destination has extra keys, in Sync mode — every path of the merge runs.
//   node bench/planning.ts [N]
import type { ObjectInfo } from '../storage/objectStore.ts';
import { mergeListings } from '../operator/planner/listingMerge.ts';
import { emptyTotals, planTasks } from '../operator/planner/taskPlanner.ts';

const total = Number(process.argv[2] ?? 1_000_000);
const when = new Date();
const key = (i: number) => `data/${String(i).padStart(9, '0')}.bin`;

async function* sourceListing(): AsyncGenerator<ObjectInfo> {
  for (let i = 0; i < total; i++)
    yield { key: key(i), size: 4096, lastModified: when, checksum: { algorithm: 'SHA256', value: `s${i}` } };
}
async function* destinationListing(): AsyncGenerator<ObjectInfo> {
  for (let i = 0; i < total; i += 2) {
    yield {
      key: key(i),
      size: 4096,
      lastModified: when,
      checksum: { algorithm: 'SHA256', value: i % 3 === 0 ? 'changed' : `s${i}` },
    };
    yield { key: `${key(i)}.extra`, size: 1, lastModified: when };
  }
}

let peakRss = 0;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 20);
const began = process.hrtime.bigint();
const totals = emptyTotals();
let tasks = 0;
for await (const _task of planTasks(
  mergeListings(sourceListing(), destinationListing()),
  {
    mode: 'Sync',
    maxObjects: 1000,
    maxBytes: 64 * 1024 * 1024,
    partSize: 64 * 1024 * 1024,
    inScope: () => true,
  },
  totals,
)) {
  tasks++;
}
const seconds = Number(process.hrtime.bigint() - began) / 1e9;
clearInterval(sampler);
peakRss = Math.max(peakRss, process.memoryUsage.rss());
console.log(
  JSON.stringify({
    objects: total,
    seconds: Number(seconds.toFixed(2)),
    objectsPerSecond: Math.round(total / seconds),
    tasks,
    toCopy: totals.objectsToCopy,
    skipped: totals.objectsSkipped,
    toDelete: totals.objectsToDelete,
    peakRssMB: Math.round(peakRss / 1024 / 1024),
  }),
);
