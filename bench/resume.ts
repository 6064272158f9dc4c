// Benchmark: resume of a 1,000,000-object job stopped half way. The plan is
// 1,000 copy tasks of 1,000 objects (as the spec's defaults batch 4 KiB
// objects); half of them SUCCEEDED. Measures the time from calling resumeJob to
// the first re-sent task arriving on NATS, and the whole resume, against the
// local bed's real etcd and nats-server. Also reports what the plan takes in
// etcd (the ledger holds every task's definition): bytes in use per object.
//   node bench/resume.ts [objects] [--sha256]   (--sha256: every object planned
//   with its source SHA-256, as from a source that records checksums)
import { createHash, randomUUID } from 'node:crypto';
import { Etcd3 } from 'etcd3';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { tasksSubject, type PlannedTask } from '../api/tasks.ts';
import { ensureJobConsumers, ensureStreams } from '../operator/dispatch/streams.ts';
import { TaskLedger } from '../operator/ledger/taskLedger.ts';
import { taskId } from '../operator/planner/taskPlanner.ts';
import { resumeJob } from '../operator/resume/resumeJob.ts';
import { silentLogger } from '../common/logging.ts';
import { LocalControlPlane } from '../test/bed/controlPlane.ts';
import { benchArgs } from './harness/args.ts';

const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const objects = Number(positional[0] ?? 1_000_000);
const withSha256 = benchArgs().has('sha256');
const perTask = 1000;
const plane = await LocalControlPlane.start();
try {
  const etcd = new Etcd3({
    hosts: plane.ledgerEtcd.clientUrl,
    grpcOptions: { 'grpc.max_receive_message_length': 64 * 1024 * 1024 },
  });
  const nc = await connect({ servers: plane.nats.url });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  await ensureStreams(jsm);
  const uid = randomUUID();
  await ensureJobConsumers(jsm, uid);
  const ledger = new TaskLedger(etcd, uid);
  await ledger.ensureJob();

  const tasks: PlannedTask[] = [];
  for (let t = 0; t < objects / perTask; t++) {
    tasks.push({
      kind: 'copy',
      id: taskId(t),
      objects: Array.from({ length: perTask }, (_, i) => ({
        key: `data/${String(t * perTask + i).padStart(9, '0')}.bin`,
        size: 4096,
        ...(withSha256
          ? {
              sha256: createHash('sha256')
                .update(String(t * perTask + i))
                .digest('hex'),
            }
          : {}),
      })),
      bytes: perTask * 4096,
    });
  }
  const inUse = async () => Number((await etcd.maintenance.status()).dbSizeInUse);
  const inUseBefore = await inUse();
  const planBegan = Date.now();
  await ledger.recordPlan(tasks, {}, true);
  const planSeconds = (Date.now() - planBegan) / 1000;
  const planBytes = (await inUse()) - inUseBefore;
  await ledger.applyUpdates(
    tasks
      .slice(0, tasks.length / 2)
      .map((t) => ({ taskId: t.id, state: 'SUCCEEDED' as const, epoch: 1, attempt: 1 })),
  );

  let firstSeenAt = 0;
  const sub = nc.subscribe(tasksSubject(uid), {
    callback: () => {
      firstSeenAt ||= performance.now();
    },
  });
  const began = performance.now();
  // The start every task engine makes: take over the queues, drain status, open an epoch, re-send.
  const resumed = await resumeJob({ jobUid: uid, ledger, js }, jsm, { spec: {}, log: silentLogger });
  const done = performance.now();
  if (resumed.afterPlan?.kind !== 'sent') throw new Error('the resume sent nothing');
  const summary = resumed.afterPlan.sent;
  await nc.flush();
  sub.unsubscribe();
  console.log(
    JSON.stringify({
      objects,
      tasks: tasks.length,
      recordPlanSeconds: planSeconds,
      sha256: withSha256,
      ledgerBytesInUse: planBytes,
      ledgerBytesPerObject: Math.round(planBytes / objects),
      firstResentTaskMs: Math.round(firstSeenAt - began),
      wholeResumeMs: Math.round(done - began),
      resent: summary.resent,
      skippedSucceeded: summary.succeeded,
    }),
  );
  etcd.close();
  await nc.close();
} finally {
  await plane.stop();
}
