// A job that keeps losing workers still finishes. Worker pods (source and
// destination) are SIGKILLed every 10 s for a minute, and the
// operator is killed twice in that minute, as a flaky cluster would; once the
// kills stop, the job must finish soon — not an ack-wait per lost task
// later, and not behind a slot back-off grown by kills — with every object
// identical to its source. Real kube-apiserver, etcd, NATS and S3; the worker
// pods are local processes run by the pod runner.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { annotations, labels } from '../../../api/names.ts';
import type { ReplicationJob } from '../../../api/v1alpha1/index.ts';
import { bedEndpoints } from '../../support/bed.ts';
import { bucketHashes, bucketWith, hashes } from '../../support/bucketContents.ts';
import { OperatorProcess } from '../../support/operatorProcess.ts';
import {
  finished,
  s3CredentialsSecret,
  startReplicationBed,
  type ReplicationBed,
} from '../../support/replicationBed.ts';
import { waitFor } from '../../support/wait.ts';

const namespace = `worker-kills-${Date.now()}`;
const logDir = mkdtempSync(path.join(os.tmpdir(), 'ferry-worker-kills-'));
const objectCount = 600;
const objectSize = 2048;
const killEveryMs = 10_000;
/**
 * Whose pod each kill takes, 10 s apart; the operator is killed (and a new one
 * started) after the second and third. The last kill takes a source worker
 * with no operator restart after it: its tasks come back only as the
 * operator sees it die — today's code left them to the ack-wait (60 s).
 */
const killed: readonly ('source' | 'destination')[] = [
  'source',
  'destination',
  'source',
  'destination',
  'destination',
  'source',
];
const operatorKillsAfter = new Set([1, 2]);
/**
 * After the last kill: the rest of the copying (about 20 s at the bandwidth
 * limit) plus a lost pod's tasks back within seconds, not after the ack-wait.
 */
const finishWithinMs = 38_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a job that keeps losing workers', () => {
  let bed: ReplicationBed;
  let operator: OperatorProcess;
  let generation = 1;

  beforeAll(async () => {
    bed = await startReplicationBed({ namespace, name: 'worker-kills', logDir });
    operator = bed.operator;
  });

  afterAll(async () => {
    await operator?.stop();
    await bed?.stop();
  });

  async function restartOperator(): Promise<void> {
    await operator.kill();
    generation++;
    operator = await OperatorProcess.start(bedEndpoints(), {
      identity: `worker-kills-operator-${generation}`,
      watchNamespace: namespace,
      leaseNamespace: namespace,
      leaseName: 'ferry-worker-kills',
      logFile: path.join(logDir, `operator-${generation}.log`),
    });
  }

  /** SIGKILLs the live pod of `role`'s slot 0; its name, or undefined when the slot has none running. */
  async function killWorker(uid: string, role: 'source' | 'destination'): Promise<string | undefined> {
    const labelSelector = `${labels.jobUid}=${uid},${labels.role}=${role}`;
    const pods = (await bed.core.listNamespacedPod({ namespace, labelSelector })).items;
    const live = pods.find((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp);
    if (!live) return undefined;
    return bed.runner.killProcess(namespace, live.metadata!.name!, 'SIGKILL')
      ? live.metadata!.name
      : undefined;
  }

  it('keeps going through SIGKILLed workers and operators, and finishes soon after the kills stop', async () => {
    const name = 'flaky';
    const source = `${name}-src-${Date.now()}`;
    const destination = `${name}-dst-${Date.now()}`;
    const contents = new Map<string, Buffer>(
      Array.from({ length: objectCount }, (_, i) => [
        `k/${String(i).padStart(5, '0')}.bin`,
        randomBytes(objectSize),
      ]),
    );
    await bucketWith(bed.s3, source, contents);
    await bed.s3.send(new CreateBucketCommand({ Bucket: destination }));
    const endpoint = bedEndpoints().s3.endpoint;
    const credentialsSecretRef = { name: s3CredentialsSecret };
    await bed.createJob(name, {
      source: { s3: { endpoint, bucket: source, credentialsSecretRef } },
      destination: { s3: { endpoint, bucket: destination, credentialsSecretRef } },
      tasks: { maxObjects: 5 },
      // 1.2 MB at 24 KiB/s: about 50 s of copying at full speed, so the kills land mid-job.
      bandwidthLimit: '24Ki',
      workers: { source: { replicas: 1, concurrency: 4 }, destination: {} },
    });
    const uid = (await bed.readJob(name)).metadata!.uid!;
    await waitFor(
      'the first objects to be copied',
      async () => {
        const job = await bed.readJob(name);
        return (job.status?.objects?.copied ?? 0) > 0;
      },
      60_000,
    );

    const killedPods: string[] = [];
    const copiedAtKill: number[] = [];
    for (const [i, role] of killed.entries()) {
      const pod = await killWorker(uid, role);
      if (pod) killedPods.push(pod);
      copiedAtKill.push((await bed.readJob(name)).status?.objects?.copied ?? 0);
      if (operatorKillsAfter.has(i)) await restartOperator();
      await sleep(killEveryMs);
    }
    const killsOver = Date.now();
    console.log(`killed ${killedPods.join(', ')}; objects copied at each kill: ${copiedAtKill.join(', ')}`);
    expect(killedPods.length).toBe(killed.length);
    // It kept moving while it was being killed, and was not done before the kills stopped.
    expect(copiedAtKill[copiedAtKill.length - 1]!).toBeGreaterThan(copiedAtKill[0]!);
    expect(copiedAtKill[copiedAtKill.length - 1]!).toBeLessThan(objectCount);

    // A kill from outside is not a crash: no slot's back-off grew with the kills.
    const pods = (await bed.core.listNamespacedPod({ namespace, labelSelector: `${labels.jobUid}=${uid}` }))
      .items;
    const slotFailures = pods.map(
      (p) => `${p.metadata!.name}=${p.metadata!.annotations![annotations.slotFailures]}`,
    );
    console.log(`slot failures after the kills: ${slotFailures.join(', ')}`);
    expect(slotFailures.filter((f) => !f.endsWith('=0'))).toEqual([]);

    let done: ReplicationJob | undefined;
    await waitFor(
      `${name} to be Complete within ${finishWithinMs} ms of the last kill`,
      async () => {
        done = await bed.readJob(name);
        if (finished(done, 'Failed')) throw new Error(`${name} failed: ${JSON.stringify(done.status)}`);
        return finished(done);
      },
      finishWithinMs,
    );
    console.log(`finished ${Date.now() - killsOver} ms after the last kill`);
    expect(done!.status).toMatchObject({
      phase: 'Succeeded',
      objects: { planned: objectCount, copied: objectCount, failed: 0 },
    });
    expect(await bucketHashes(bed.s3, destination)).toEqual(hashes(contents));
  }, 240_000);
});
