// Benchmark: Ferry side by side with rclone, on the same data and the same two
// S3 endpoints (two versitygw servers of a private local bed), with the
// operator as its own process and worker pods run by the pod runner.
//
//   transfer  (a) 1 GiB in 64 MiB objects, (b) 20,000 objects of 4 KiB:
//             Ferry's wall time (job created → Complete), rclone's (`rclone
//             copy` into a fresh empty bucket), the ratio, and `cp -r` of the
//             source server's backing files as the physical limit. Every run's
//             destination is verified (keys, sizes, MD5 ETags) against the source.
//   economy   for (b): ledger etcd writes and NATS messages per object.
//   resume    (b) stopped half way: Ferry's time from operator start to the
//             first re-sent task; rclone re-run on the same half-copied
//             destination: its time to the first object copied.
//
//   node bench/transfer.ts [--only=large,small,resume] [--runs=N] [--keep-logs]
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Etcd3 } from 'etcd3';
import { connect } from '@nats-io/transport-node';
import type { ReplicationJobSpec } from '../api/v1alpha1/index.ts';
import { ledgerPrefix } from '../api/names.ts';
import { tasksSubject } from '../api/tasks.ts';
import {
  createBucket,
  listAll,
  seed,
  verifyCopy,
  type DataSet,
  type Verification,
} from './harness/buckets.ts';
import { economyBetween, economySnapshot, type EconomyReport } from './harness/economy.ts';
import { benchNamespace, FerryBed, type JobTimeline } from './harness/ferryBed.ts';
import { UsageSampler, type Usage } from './harness/processUsage.ts';
import { printTable } from './harness/table.ts';
import { rcloneCopy, rcloneVersion, type RcloneRun } from './harness/rclone.ts';
import { benchArgs } from './harness/args.ts';

interface Scenario {
  key: 'large' | 'small';
  data: DataSet;
  /** Objects in flight at once, the same for both tools. */
  parallel: number;
  /** The job's tuning, stated in the report. */
  tuning: Partial<ReplicationJobSpec>;
  rcloneFlags: string[];
}

const MiB = 1024 * 1024;
const scenarios: Scenario[] = [
  {
    key: 'large',
    data: { label: '1 GiB in 64 MiB objects', count: 16, objectSize: 64 * MiB },
    parallel: 4,
    // The default task caps (one 64 MiB object per task); the source worker holds four at a time.
    tuning: { workers: { source: { concurrency: 4 }, destination: {} } },
    rcloneFlags: ['--transfers', '4', '--checkers', '8'],
  },
  {
    key: 'small',
    data: { label: '20,000 objects of 4 KiB', count: 20_000, objectSize: 4096 },
    parallel: 16,
    tuning: { tasks: { maxObjects: 1000 }, workers: { source: { concurrency: 16 }, destination: {} } },
    rcloneFlags: ['--transfers', '16', '--checkers', '16'],
  },
];

const args = benchArgs();
const only = new Set((args.get('only') ?? 'large,small,resume').split(','));
const runs = Number(args.get('runs') ?? 1);
if (!Number.isInteger(runs) || runs < 1)
  throw new Error(`--runs must be a positive integer, got ${args.get('runs')}`);

const say = (line: string) => console.log(`bench: ${line}`);
const secs = (s: number | undefined) => (s === undefined ? '–' : `${s.toFixed(2)} s`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

interface TransferResult {
  scenario: Scenario;
  rawSeconds: number;
  ferry: JobTimeline[];
  rclone: RcloneRun[];
  verified: Verification;
  /** CPU and peak memory per process during the last run of each tool. */
  ferryUsage: Map<string, Usage>;
  rcloneUsage: Map<string, Usage>;
  economy?: EconomyReport;
}

/**
 * Flushes dirty pages to disk before a timed run, so neither tool pays for
 * writing back what the one before it (or the seeding) left in the page cache
 * — the disk is shared with etcd's fsyncs, which the ledger waits on.
 */
async function settleDisk(): Promise<void> {
  await promisify(execFile)('sync');
}

/** `cp -r` of the source server's files for the bucket: the same bytes read and written locally. */
async function rawCopySeconds(bed: FerryBed, bucket: string): Promise<number> {
  const from = path.join(bed.plane.dir, 's3', bucket);
  const to = mkdtempSync(path.join(bed.plane.dir, 'raw-copy-'));
  await settleDisk();
  const began = performance.now();
  await promisify(execFile)('cp', ['-r', from, to]);
  const seconds = (performance.now() - began) / 1000;
  rmSync(to, { recursive: true, force: true });
  return seconds;
}

function economyEndpoints(bed: FerryBed) {
  return {
    ledgerEtcdUrl: bed.plane.ledgerEtcd.clientUrl,
    natsUrl: bed.plane.nats.url,
    natsMonitorUrl: bed.plane.nats.monitorUrl,
  };
}

const servers = (bed: FerryBed) => [
  { label: 'S3 source server', pid: bed.plane.s3.pid! },
  { label: 'S3 destination server', pid: bed.destinationServer.pid! },
];

/** The S3 servers, and with `ferry` the operator and the job's worker pods (charged from their start). */
function sampleUsage(bed: FerryBed, ferry: boolean): UsageSampler {
  return new UsageSampler(async () => {
    const found: { label: string; pid: number; since?: 'start' }[] = servers(bed);
    if (!ferry) return found;
    if (bed.operator?.pid) found.push({ label: 'operator', pid: bed.operator.pid });
    for (const pod of await bed.workerPods()) {
      const pid = bed.runner?.pidOf(benchNamespace, pod.name);
      if (pid) found.push({ label: `${pod.role} worker`, pid, since: 'start' });
    }
    return found;
  });
}

async function transfer(bed: FerryBed, scenario: Scenario): Promise<TransferResult> {
  const { data } = scenario;
  const sourceBucket = `source-${scenario.key}`;
  const src = bed.sourceClient();
  const dst = bed.destinationClient();
  say(`${data.label}: seeding the source bucket ${sourceBucket}...`);
  const seedBegan = performance.now();
  await seed(src, sourceBucket, data);
  say(`${data.label}: seeded in ${((performance.now() - seedBegan) / 1000).toFixed(1)} s`);
  const rawSeconds = await rawCopySeconds(bed, sourceBucket);
  say(`${data.label}: cp -r of the backing files: ${secs(rawSeconds)}`);

  const result: TransferResult = {
    scenario,
    rawSeconds,
    ferry: [],
    rclone: [],
    verified: { objects: 0, bytes: 0, etagsCompared: 0 },
    ferryUsage: new Map(),
    rcloneUsage: new Map(),
  };
  for (let run = 1; run <= runs; run++) {
    const rcloneBucket = `rclone-${scenario.key}-${run}`;
    await createBucket(dst, rcloneBucket);
    await settleDisk();
    const rcloneServers = sampleUsage(bed, false);
    const r = await rcloneCopy(bed.source, bed.destination, sourceBucket, rcloneBucket, scenario.rcloneFlags);
    result.rcloneUsage = await rcloneServers.stop();
    result.rcloneUsage.set('rclone', { cpuSeconds: r.cpuSeconds, peakRssMB: r.peakRssMB });
    result.verified = await verifyCopy(
      { client: src, bucket: sourceBucket },
      { client: dst, bucket: rcloneBucket },
      `rclone run ${run}`,
    );
    result.rclone.push(r);
    say(`${data.label}: rclone run ${run}: ${secs(r.seconds)} (verified), peak RSS ${r.peakRssMB} MB`);

    const ferryBucket = `ferry-${scenario.key}-${run}`;
    await createBucket(dst, ferryBucket);
    const name = `${scenario.key}-${run}`;
    await settleDisk();
    const before = scenario.key === 'small' ? await economySnapshot(economyEndpoints(bed)) : undefined;
    const usage = sampleUsage(bed, true);
    const timeline = await bed.runJob(name, bed.jobSpec(sourceBucket, ferryBucket, scenario.tuning));
    result.ferryUsage = await usage.stop();
    if (before)
      result.economy = economyBetween(before, await economySnapshot(economyEndpoints(bed)), data.count);
    result.verified = await verifyCopy(
      { client: src, bucket: sourceBucket },
      { client: dst, bucket: ferryBucket },
      `Ferry run ${run}`,
    );
    result.ferry.push(timeline);
    say(
      `${data.label}: Ferry run ${run}: ${secs(timeline.seconds)} (verified) — workers ready ${secs(timeline.workersReadyAt)}, ` +
        `first task dispatched (planning done) ${secs(timeline.firstDispatchAt)}, first status ${secs(timeline.firstStatusAt)}, ` +
        `last status ${secs(timeline.lastStatusAt)}, Complete ${secs(timeline.seconds)}`,
    );
    await bed.deleteJob(name);
  }
  src.destroy();
  dst.destroy();
  return result;
}

function printTransferTable(results: TransferResult[]): void {
  const rows = results.map((r) => {
    const { data } = r.scenario;
    const bytes = data.count * data.objectSize;
    const ferry = median(r.ferry.map((t) => t.seconds));
    const rclone = median(r.rclone.map((t) => t.seconds));
    const rate = (s: number) => `${(bytes / MiB / s).toFixed(1)} MiB/s`;
    return {
      scenario: data.label,
      'objects in flight': r.scenario.parallel,
      Ferry: `${secs(ferry)} (${rate(ferry)})`,
      rclone: `${secs(rclone)} (${rate(rclone)})`,
      'Ferry/rclone': (ferry / rclone).toFixed(2),
      'cp -r (limit)': `${secs(r.rawSeconds)} (${rate(r.rawSeconds)})`,
      verified: `${r.verified.objects} objects, ${r.verified.bytes} B, ${r.verified.etagsCompared} ETags`,
    };
  });
  printTable(
    `Transfer (median of ${runs} run${runs > 1 ? 's' : ''} each; source and destination are two S3 servers)`,
    rows,
  );
  for (const r of results) {
    console.log(
      `  ${r.scenario.data.label}: Ferry job tuning ${JSON.stringify(r.scenario.tuning)}; ` +
        `rclone copy -v ${r.scenario.rcloneFlags.join(' ')}`,
    );
  }
  printTable(
    "Where Ferry's wall time goes (last run; seconds after the job was created)",
    results.map((r) => {
      const t = r.ferry[r.ferry.length - 1]!;
      return {
        scenario: r.scenario.data.label,
        'workers ready': secs(t.workersReadyAt),
        'first task dispatched (planned)': secs(t.firstDispatchAt),
        'first status': secs(t.firstStatusAt),
        'last status': secs(t.lastStatusAt),
        Complete: secs(t.seconds),
        'copying (first dispatch → last status)': secs(
          t.lastStatusAt !== undefined && t.firstDispatchAt !== undefined
            ? t.lastStatusAt - t.firstDispatchAt
            : undefined,
        ),
      };
    }),
  );
  for (const r of results) {
    // Where the CPU went: on two cores, CPU seconds bound the wall time.
    const labels = new Set([...r.ferryUsage.keys(), ...r.rcloneUsage.keys()]);
    const cell = (u: Usage | undefined) => (u ? `${u.cpuSeconds.toFixed(2)} s / ${u.peakRssMB} MB` : '–');
    const total = (m: Map<string, Usage>) => [...m.values()].reduce((n, u) => n + u.cpuSeconds, 0).toFixed(2);
    printTable(`CPU seconds / peak RSS per process, ${r.scenario.data.label} (last run of each tool)`, [
      ...[...labels].map((label) => ({
        process: label,
        'Ferry run': cell(r.ferryUsage.get(label)),
        'rclone run': cell(r.rcloneUsage.get(label)),
      })),
      {
        process: 'total CPU',
        'Ferry run': `${total(r.ferryUsage)} s`,
        'rclone run': `${total(r.rcloneUsage)} s`,
      },
    ]);
  }
}

function printEconomy(e: EconomyReport): void {
  const per = (n: number) => (n / e.objects).toFixed(4);
  printTable(
    `Ledger and message economy (${e.objects} objects of 4 KiB, one Ferry job; target ≤ 0.05 each)`,
    [
      {
        counter: 'etcd revisions (committed write txns)',
        total: e.etcdRevisions,
        'per object': per(e.etcdRevisions),
      },
      { counter: 'etcd put operations', total: e.etcdPuts, 'per object': per(e.etcdPuts) },
      { counter: 'etcd delete operations', total: e.etcdDeletes, 'per object': per(e.etcdDeletes) },
      { counter: 'etcd txn requests', total: e.etcdTxns, 'per object': per(e.etcdTxns) },
      ...Object.entries(e.streamMessages).map(([name, n]) => ({
        counter: `JetStream messages stored in ${name}`,
        total: n,
        'per object': per(n),
      })),
      {
        counter: 'JetStream messages, all streams',
        total: e.jetStreamMessages,
        'per object': per(e.jetStreamMessages),
      },
      {
        counter: 'NATS messages in (every publish, ack, pull)',
        total: e.natsInMsgs,
        'per object': per(e.natsInMsgs),
      },
    ],
  );
}

/** Counts the job's task records by state, straight from the ledger. */
async function ledgerStates(etcd: Etcd3, uid: string): Promise<Record<string, number>> {
  const records = await etcd
    .getAll()
    .prefix(`${ledgerPrefix(uid)}tasks/`)
    .strings();
  const counts: Record<string, number> = {};
  for (const value of Object.values(records)) {
    const state = (JSON.parse(value) as { state: string }).state;
    counts[state] = (counts[state] ?? 0) + 1;
  }
  return counts;
}

async function resumeSideBySide(bed: FerryBed, scenario: Scenario): Promise<void> {
  const sourceBucket = `source-${scenario.key}`;
  const src = bed.sourceClient();
  const dst = bed.destinationClient();
  if ((await listAll(src, sourceBucket).catch(() => [])).length !== scenario.data.count) {
    say(`resume: seeding ${sourceBucket}...`);
    await seed(src, sourceBucket, scenario.data);
  }
  const etcd = new Etcd3({ hosts: bed.plane.ledgerEtcd.clientUrl });
  const nc = await connect({ servers: bed.plane.nats.url });
  try {
    // 1. Ferry's job, stopped half way: its source workers frozen, the operator stopped.
    const name = 'resume';
    const ferryBucket = 'ferry-resume';
    await createBucket(dst, ferryBucket);
    // Tasks of 100 objects: a source worker holds 16 tasks at once, so with the default 1,000 a
    // whole wave would finish together and the stop would land far past half way.
    const tuning = { ...scenario.tuning, tasks: { maxObjects: 100 } };
    await bed.createJob(name, bed.jobSpec(sourceBucket, ferryBucket, tuning));
    const uid = (await bed.readJob(name)).metadata!.uid!;
    let states: Record<string, number> = {};
    for (;;) {
      states = await ledgerStates(etcd, uid);
      const total = Object.values(states).reduce((a, b) => a + b, 0);
      if (total > 0 && (states.SUCCEEDED ?? 0) * 2 >= total) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const sources = (await bed.workerPods()).filter((p) => p.role === 'source');
    for (const pod of sources) bed.runner!.killProcess(benchNamespace, pod.name, 'SIGSTOP');
    await bed.operator!.stop();
    states = await ledgerStates(etcd, uid);
    const halfKeys = (await listAll(dst, ferryBucket)).map((o) => o.Key!);
    say(
      `resume: Ferry stopped with tasks ${JSON.stringify(states)}, ${halfKeys.length} objects at the destination`,
    );

    // 2. rclone on the same half-copied destination: the same keys put in a fresh bucket first.
    const rcloneBucket = 'rclone-resume';
    await createBucket(dst, rcloneBucket);
    const keysFile = path.join(bed.logDir, 'half-copied-keys.txt');
    writeFileSync(keysFile, halfKeys.join('\n') + '\n');
    await rcloneCopy(bed.source, bed.destination, sourceBucket, rcloneBucket, [
      '--files-from-raw',
      keysFile,
      '--no-traverse',
      ...scenario.rcloneFlags,
    ]);
    const rclone = await rcloneCopy(
      bed.source,
      bed.destination,
      sourceBucket,
      rcloneBucket,
      scenario.rcloneFlags,
    );
    await verifyCopy(
      { client: src, bucket: sourceBucket },
      { client: dst, bucket: rcloneBucket },
      'rclone resume',
    );

    // 3. Ferry resumed: a new operator process; the first re-sent task seen on NATS.
    let firstTaskAt = 0;
    const sub = nc.subscribe(tasksSubject(uid), {
      callback: () => {
        firstTaskAt ||= performance.now();
      },
    });
    await nc.flush();
    const began = performance.now();
    await bed.startOperator();
    const healthyAt = performance.now();
    for (const pod of sources) bed.runner!.killProcess(benchNamespace, pod.name, 'SIGCONT');
    while (!firstTaskAt && performance.now() - began < 120_000) await new Promise((r) => setTimeout(r, 5));
    sub.unsubscribe();
    if (!firstTaskAt) throw new Error('the resumed operator sent no task within 120 s');
    const ferryFirst = (firstTaskAt - began) / 1000;
    let completeAt = 0;
    for (;;) {
      const s = (await bed.readJob(name)).status;
      if (s?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True')) {
        completeAt = performance.now();
        break;
      }
      if (s?.conditions?.some((c) => c.type === 'Failed' && c.status === 'True'))
        throw new Error(`the resumed job failed: ${JSON.stringify(s.lastFailure)}`);
      if (performance.now() - began > 600_000) throw new Error('the resumed job did not complete in 600 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    await verifyCopy(
      { client: src, bucket: sourceBucket },
      { client: dst, bucket: ferryBucket },
      'Ferry resume',
    );
    await bed.deleteJob(name);

    printTable(
      `Resume of the half-done job (${scenario.data.label}; ${halfKeys.length} objects already at the destination, ` +
        `ledger ${JSON.stringify(states)})`,
      [
        {
          tool: 'Ferry',
          'to first re-sent task / first object copied': secs(ferryFirst),
          'to completion': secs((completeAt - began) / 1000),
          note: `operator process start → first task on NATS (healthy after ${secs((healthyAt - began) / 1000)}); job tuning ${JSON.stringify(tuning)}`,
        },
        {
          tool: 'rclone',
          'to first re-sent task / first object copied': secs(rclone.firstCopiedSeconds),
          'to completion': secs(rclone.seconds),
          note: `rclone copy -v ${scenario.rcloneFlags.join(' ')}: lists both sides, then copies the rest`,
        },
      ],
    );
  } finally {
    etcd.close();
    await nc.close();
    src.destroy();
    dst.destroy();
  }
}

// Other work on the machine slows both tools, Ferry's several processes more: say how busy it was.
const load = () => os.loadavg()[0]!.toFixed(1);
say(`${await rcloneVersion()}; node ${process.version}; ${os.cpus().length} cores; load average ${load()}`);
const bed = await FerryBed.start((line) => say(line));
try {
  const results: TransferResult[] = [];
  for (const scenario of scenarios.filter((s) => only.has(s.key)))
    results.push(await transfer(bed, scenario));
  if (results.length > 0) printTransferTable(results);
  const economy = results.find((r) => r.economy)?.economy;
  if (economy) printEconomy(economy);
  if (only.has('resume'))
    await resumeSideBySide(
      bed,
      scenarios.find((s) => s.key === 'small')!,
    );
  say(`load average at the end: ${load()}`);
} catch (err) {
  console.error(`bench: FAILED: ${(err as Error).stack ?? String(err)}\n(logs in ${bed.logDir})`);
  process.exitCode = 1;
} finally {
  await bed.stop();
  if (!process.exitCode && !args.has('keep-logs')) rmSync(bed.logDir, { recursive: true, force: true });
  else say(`operator and worker logs kept in ${bed.logDir}`);
}
