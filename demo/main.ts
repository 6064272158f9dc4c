// The README's first command: runs Ferry's main job locally on the embedded bed.
//
// It starts the real local control plane, the pod runner (the bed's kubelet)
// and two operator replicas, puts a few thousand objects (about 430 MiB) in a
// source bucket, then does what a user does on a cluster — kubectl apply the
// CRDs and an example ReplicationJob, and kubectl wait for it to be Complete.
// While it waits it prints the job's status every 1.5 s and, part-way, kills a
// busy source worker pod and then the leading operator (faultScript.ts), so the
// job has to resume. Then it verifies the destination against the source
// object by object, prints a summary, deletes the job and checks nothing is
// left.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Etcd3 } from 'etcd3';
import type { ReplicationJob } from '../api/v1alpha1/index.ts';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { consumerPrefix, labels, ledgerPrefix, streams } from '../api/names.ts';
import { statusSubject, tasksSubject } from '../api/tasks.ts';
import { LocalControlPlane } from '../test/bed/controlPlane.ts';
import { repoRoot, toolPath } from '../test/bed/tools.ts';
import { PodRunner } from '../test/podrunner/podRunner.ts';
import { OperatorProcess, type OperatorOptions } from '../test/support/operatorProcess.ts';
import { FaultScript } from './faultScript.ts';
import { readResends } from './ledgerReport.ts';
import { sampleLayout, uploadSample, verifyReplica } from './sampleData.ts';

const MiB = 1024 * 1024;
/** The example copies everything under this prefix from bucket site-a to site-b. */
const prefix = 'photos/';
const jobName = 'photos-copy';
/** Above the job's part size (64 MiB by default): copied in two parts, as one multipart upload. */
const largestVideo = 112 * MiB;

const began = Date.now();
const step = (line: string) =>
  console.log(`\ndemo [${((Date.now() - began) / 1000).toFixed(0).padStart(3)} s]: ${line}`);
const say = (line: string) => console.log(`  >> ${line}`);
const count = (n: number) => n.toLocaleString('en-US');
const mib = (n: number) => (n / MiB).toFixed(1);

step('starting the local control plane (etcd, kube-apiserver, nats-server, S3)...');
const plane = await LocalControlPlane.start({ log: (line) => console.log(`  ${line}`) });
const bed = plane.endpoints();
const logs = mkdtempSync(path.join(os.tmpdir(), 'ferry-demo-'));
// Asynchronous on purpose: the pod runner shares this process's event loop.
const kubectl = async (...args: string[]) =>
  (
    await promisify(execFile)(toolPath('kubectl'), ['--kubeconfig', plane.kubeconfigPath, ...args], {
      cwd: repoRoot,
      maxBuffer: 64 * MiB,
    })
  ).stdout;
const show = async (...args: string[]) => process.stdout.write(await kubectl(...args));
const readJob = async () => JSON.parse(await kubectl('get', `rj/${jobName}`, '-o', 'json')) as ReplicationJob;
const etcd = new Etcd3({ hosts: bed.ledgerEtcdUrl });
const operators: OperatorProcess[] = [];
let runner: PodRunner | undefined;
let s3: S3Client | undefined;
let faults: FaultScript | undefined;

/** One line of the job's status, as `kubectl get rj` and the counters show it. */
function progressLine(job: ReplicationJob, since: number): string {
  const s = job.status ?? {};
  const t = s.tasks ?? {};
  const queued = (t.pending ?? 0) + (t.dispatched ?? 0);
  return (
    `  ${((Date.now() - since) / 1000).toFixed(1).padStart(5)} s  ${(s.phase ?? 'Pending').padEnd(9)} ` +
    `${String(s.progressPercent ?? 0).padStart(3)}%  ` +
    `objects ${count(s.objects?.copied ?? 0)}/${count(s.objects?.planned ?? 0)}  ` +
    `${mib(s.bytes?.copied ?? 0)}/${mib(s.bytes?.planned ?? 0)} MiB  ` +
    `tasks ${t.succeeded ?? 0} done, ${t.running ?? 0} running, ${queued} queued  ` +
    `pods ready ${s.workers?.sourceReady ?? 0}+${s.workers?.destinationReady ?? 0}  resumes ${s.resumes ?? 0}`
  );
}

/** The job's durable consumers on Ferry's streams, and the messages its subjects still hold. */
async function jobQueues(
  natsUrl: string,
  jobUid: string,
): Promise<{ consumers: string[]; messages: number }> {
  const nc = await connect({ servers: natsUrl });
  try {
    const jsm = await jetstreamManager(nc);
    const consumers: string[] = [];
    let messages = 0;
    for (const [stream, subject] of [
      [streams.tasks, tasksSubject(jobUid)],
      [streams.status, statusSubject(jobUid)],
    ] as const) {
      for (const c of await jsm.consumers.list(stream).next())
        if (c.name.startsWith(consumerPrefix(jobUid))) consumers.push(`${stream}/${c.name}`);
      const info = await jsm.streams.info(stream, { subjects_filter: subject });
      messages += Object.values(info.state.subjects ?? {}).reduce((n, v) => n + v, 0);
    }
    return { consumers, messages };
  } finally {
    await nc.close();
  }
}

async function jobPods(jobUid: string) {
  const list = JSON.parse(await kubectl('get', 'pods', '-l', `${labels.jobUid}=${jobUid}`, '-o', 'json')) as {
    items: {
      metadata: { name: string; labels: Record<string, string> };
      status?: { conditions?: { type: string; status: string }[] };
    }[];
  };
  return list.items.map((p) => ({
    name: p.metadata.name,
    slot: p.metadata.labels[labels.slot] ?? '',
    ready: p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
  }));
}

try {
  step('kubectl apply -f crds/');
  await show('apply', '-f', path.join(repoRoot, 'crds'));
  await kubectl('wait', '--for=condition=Established', 'crd/replicationjobs.ferry.dev', '--timeout=30s');
  await kubectl('create', 'namespace', 'ferry-system');

  step('starting the pod runner and two operator replicas (one leads, one stands by)');
  runner = await PodRunner.start({
    kubeconfig: plane.kubeconfigPath,
    dir: path.join(logs, 'pods'),
    maxProbePeriodSeconds: 1,
    log: (line) => console.log(`  ${line}`),
  });
  // Two replicas, as the chart runs them. A task held by a killed worker is
  // redelivered after 15 s rather than the default 60 s (see faultScript.ts).
  const operatorOptions = (identity: string): OperatorOptions => ({
    identity,
    watchNamespace: 'default',
    leaseNamespace: 'ferry-system',
    leaseName: 'ferry-operator-leader',
    logFile: path.join(logs, `${identity}.log`),
    extraEnv: { FERRY_TASK_ACK_WAIT_MS: '15000' },
  });
  for (const identity of ['ferry-operator-0', 'ferry-operator-1'])
    operators.push(await OperatorProcess.start(bed, operatorOptions(identity)));

  const layout = sampleLayout(prefix, largestVideo);
  const layoutBytes = layout.reduce((n, o) => n + o.size, 0);
  step(
    `putting sample data in bucket site-a under ${prefix}: ${count(layout.length)} objects, ` +
      `${mib(layoutBytes)} MiB (images of 8-64 KiB, raw files of 2-8 MiB, videos of 24, 40 and ` +
      `${mib(largestVideo)} MiB, the last copied in parts)`,
  );
  const { endpoint, region, credentials } = bed.s3;
  s3 = new S3Client({ endpoint, region, credentials, forcePathStyle: true });
  await s3.send(new CreateBucketCommand({ Bucket: 'site-a' }));
  await s3.send(new CreateBucketCommand({ Bucket: 'site-b' }));
  const uploadBegan = Date.now();
  const sample = await uploadSample(s3, 'site-a', layout);
  await s3.send(
    new PutObjectCommand({ Bucket: 'site-a', Key: 'notes/outside-the-prefix.txt', Body: 'not copied' }),
  );
  console.log(`  written in ${((Date.now() - uploadBegan) / 1000).toFixed(1)} s`);

  step(`kubectl apply -f examples/s3-to-s3-copy.yaml (endpoint set to the local S3 server), with its Secret`);
  await kubectl(
    'create',
    'secret',
    'generic',
    's3-credentials',
    `--from-literal=AWS_ACCESS_KEY_ID=${credentials.accessKeyId}`,
    `--from-literal=AWS_SECRET_ACCESS_KEY=${credentials.secretAccessKey}`,
  );
  const manifest = path.join(logs, `${jobName}.yaml`);
  writeFileSync(
    manifest,
    readFileSync(path.join(repoRoot, 'examples', 's3-to-s3-copy.yaml'), 'utf8').replaceAll(
      'http://minio.minio.svc.cluster.local:9000',
      endpoint,
    ),
  );
  const copyBegan = Date.now();
  await show('apply', '-f', manifest);

  step(
    `kubectl wait --for=condition=Complete rj/${jobName}; meanwhile its status every 1.5 s, ` +
      'a source worker pod killed at 20 % of the tasks and the leading operator at 45 %',
  );
  faults = new FaultScript({ bed, runner, etcd, operators, operatorOptions, pods: jobPods, say });
  let complete = false;
  const waited = kubectl('wait', '--for=condition=Complete', `rj/${jobName}`, '--timeout=600s').finally(
    () => (complete = true),
  );
  let job = await readJob();
  while (!complete) {
    job = await readJob();
    console.log(progressLine(job, copyBegan));
    const failed = job.status?.conditions?.find((c) => c.type === 'Failed' && c.status === 'True');
    if (failed) throw new Error(`the job failed: ${failed.reason}: ${failed.message}`);
    // A probe that times out on a loaded machine only delays the next fault step.
    if (job.status?.phase === 'Running')
      await faults
        .advance(job)
        .catch((err: unknown) => say(`fault step postponed: ${(err as Error).message}`));
    await Promise.race([waited, new Promise((r) => setTimeout(r, 1_500))]);
  }
  process.stdout.write(await waited);
  await faults.settled();
  const seconds = (Date.now() - copyBegan) / 1000;
  job = await readJob();
  console.log(progressLine(job, copyBegan));
  await show('get', `rj/${jobName}`, '-o', 'wide');
  step('kubectl get events');
  await show('get', 'events', '--field-selector', 'involvedObject.kind=ReplicationJob');

  const uid = job.metadata!.uid!;
  const resends = await readResends(
    etcd,
    uid,
    (faults.record.killedWorker?.tasks ?? []).map((t) => t.taskId),
  );

  step(
    `verifying site-b/${prefix} against site-a/${prefix}: both listings, then the SHA-256 of every object`,
  );
  await verifyReplica(s3, sample, prefix, 'site-a', 'site-b');
  console.log(`  verified: ${count(sample.size)} objects identical; notes/ (outside the prefix) not copied`);

  const st = job.status!;
  const objects = st.objects?.copied ?? 0;
  const bytes = st.bytes?.copied ?? 0;
  const lines: [string, string][] = [
    [
      'replicated',
      `${count(objects)} objects, ${mib(bytes)} MiB (status.objects.copied / status.bytes.copied), ` +
        `${st.objects?.failed ?? 0} failed; destination verified by SHA-256`,
    ],
    [
      'time',
      `${seconds.toFixed(1)} s from kubectl apply to Complete, pod start-up and faults included: ` +
        `${(bytes / MiB / seconds).toFixed(1)} MiB/s, ${Math.round(objects / seconds)} objects/s`,
    ],
    [
      'tasks',
      `${resends.tasks} planned; ${resends.firstTime} done at their first dispatch, ${resends.resent} re-sent ` +
        `(${resends.dispatches} dispatches in all), ${resends.notSucceeded} not succeeded`,
    ],
  ];
  const worker = faults.record.killedWorker;
  if (worker) {
    const ends = [...resends.watched.values()].filter((e) => e.state === 'SUCCEEDED');
    const how = [
      [ends.filter((e) => e.attempt > 1).length, 're-sent by the resume'],
      [
        ends.filter((e) => e.attempt === 1 && e.worker !== worker.pod).length,
        'redelivered by JetStream after the task ack-wait',
      ],
      [ends.filter((e) => e.worker === worker.pod).length, 'finished just before it died'],
    ] as const;
    lines.push([
      'worker kill',
      `${worker.pod} SIGKILLed holding ${worker.tasks.length} task(s), replaced by ${worker.replacement ?? '?'} ` +
        `in ${worker.readyAfterS ?? '?'} s; its tasks succeeded: ` +
        how
          .filter(([n]) => n > 0)
          .map(([n, what]) => `${n} ${what}`)
          .join(', '),
    ]);
  }
  const leader = faults.record.killedOperator;
  if (leader) {
    lines.push([
      'operator kill',
      `${leader.identity} SIGKILLed; ${leader.successor ?? '?'} took the lease ` +
        `(seen ${leader.takeoverAfterS ?? '?'} s later) and resumed from the ledger`,
    ]);
  }
  lines.push(['resumes', `status.resumes ${st.resumes ?? 0}; the ledger is at epoch ${resends.epoch}`]);
  if (faults.pending) lines.push(['note', `the job completed before this fault step: ${faults.pending}`]);
  step('summary');
  for (const [what, text] of lines) console.log(`  ${what.padEnd(14)} ${text}`);

  step(`kubectl delete rj/${jobName}: the finalizer removes its pods, Secret, ledger and queues`);
  await show('delete', `rj/${jobName}`, '--timeout=60s');
  const left = (await kubectl('get', 'pods,secrets', '-l', `${labels.jobUid}=${uid}`, '-o', 'name')).trim();
  if (left) throw new Error(`left behind after deletion:\n${left}`);
  const ledgerKeys = await etcd.getAll().prefix(ledgerPrefix(uid)).count();
  if (ledgerKeys > 0) throw new Error(`${ledgerKeys} ledger keys left behind after deletion`);
  const queues = await jobQueues(bed.natsUrl, uid);
  if (queues.consumers.length > 0 || queues.messages > 0)
    throw new Error(
      `left behind on NATS after deletion: ${queues.messages} messages, consumers [${queues.consumers.join(', ')}]`,
    );
  console.log('  nothing left behind (pods, Secrets, ledger keys, NATS consumers and messages)');
} catch (err) {
  console.error(`\ndemo: FAILED: ${(err as Error).message}\n(logs in ${logs})`);
  process.exitCode = 1;
} finally {
  await faults?.settled().catch(() => {});
  s3?.destroy();
  etcd.close();
  await Promise.all(operators.map((op) => op.stop()));
  await runner?.stop();
  await plane.stop();
  if (!process.exitCode && !process.env.KEEP_LOGS) rmSync(logs, { recursive: true, force: true });
  else console.log(`\ndemo: logs of the operators and pods kept in ${logs}`);
  step('everything stopped and cleaned up');
}
