// A job's task definitions in etcd stay bounded whatever its size (ADR 0017):
// planning runs at most a window of copies ahead of their statuses, and a
// task's definition is removed once the task succeeded. Real operator process,
// worker pods, kube-apiserver, etcd, NATS and S3; the window is made small so
// that a 600-task job would exceed it many times over.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, DeleteObjectsCommand } from '@aws-sdk/client-s3';
import * as k8s from '@kubernetes/client-node';
import { Etcd3 } from 'etcd3';
import { ledgerPrefix } from '../../../api/names.ts';
import { group, plural, version, type ReplicationJob } from '../../../api/v1alpha1/index.ts';
import { bedEndpoints } from '../../support/bed.ts';
import { bucketHashes, bucketWith, hashes, putObjects } from '../../support/bucketContents.ts';
import {
  s3CredentialsSecret,
  startReplicationBed,
  type ReplicationBed,
} from '../../support/replicationBed.ts';
import { waitFor } from '../../support/wait.ts';

const namespace = `plan-window-it-${Date.now()}`;
const logDir = mkdtempSync(path.join(os.tmpdir(), 'ferry-plan-window-it-'));
const window = 20;
/** One plan step holds at most twice its 100 tasks (taskPlanner.ts): the window is checked between steps. */
const largestStep = 200;

describe('the task ledger of a job larger than the planning window', () => {
  let bed: ReplicationBed;
  let etcd: Etcd3;

  beforeAll(async () => {
    bed = await startReplicationBed({
      namespace,
      name: 'plan-window-it',
      logDir,
      operatorEnv: { FERRY_PLAN_AHEAD_TASKS: String(window) },
    });
    etcd = new Etcd3({ hosts: bedEndpoints().ledgerEtcdUrl });
  });

  afterAll(async () => {
    etcd?.close();
    await bed?.stop();
  });

  const s3Store = (bucket: string) => ({
    s3: { endpoint: bedEndpoints().s3.endpoint, bucket, credentialsSecretRef: { name: s3CredentialsSecret } },
  });

  /** 600 source objects and a job copying them one per task (600 tasks); resolves with the job's UID. */
  async function startJob(name: string) {
    const contents = new Map<string, Buffer>(
      Array.from(
        { length: 600 },
        (_, i) => [`${name}/${String(i).padStart(4, '0')}`, randomBytes(64)] as const,
      ),
    );
    const source = `${name}-src-${Date.now()}`;
    const destination = `${name}-dst-${Date.now()}`;
    await bucketWith(bed.s3, source, contents);
    await bed.s3.send(new CreateBucketCommand({ Bucket: destination }));
    await bed.createJob(name, {
      source: s3Store(source),
      destination: s3Store(destination),
      tasks: { maxObjects: 1 },
    });
    let uid: string | undefined;
    await waitFor(`job ${name} to have a UID`, async () => {
      uid = (await bed.readJob(name)).metadata?.uid;
      return uid !== undefined;
    });
    return { contents, source, destination, uid: uid! };
  }

  it('holds at most the window and one plan step of definitions, and none once every task succeeded', async () => {
    const { contents, destination, uid } = await startJob('windowed');
    const prefix = ledgerPrefix(uid);
    const count = (what: 'defs' | 'tasks') => etcd.getAll().prefix(`${prefix}${what}/`).count();

    let peakDefinitions = 0;
    let job: ReplicationJob | undefined;
    let sawPlanningHeld = false;
    await waitFor(
      'the job to finish',
      async () => {
        const [definitions, records] = await Promise.all([
          count('defs'),
          etcd.getAll().prefix(`${prefix}tasks/`).strings(),
        ]);
        peakDefinitions = Math.max(peakDefinitions, definitions);
        const tasks = Object.keys(records).length;
        const succeeded = Object.values(records).filter(
          (r) => (JSON.parse(r) as { state: string }).state === 'SUCCEEDED',
        ).length;
        // Planning waited: copies succeeded while the plan was still short of the job's tasks.
        sawPlanningHeld ||= succeeded > 0 && tasks < contents.size;
        job = await bed.readJob('windowed');
        return job.status?.phase === 'Succeeded' || job.status?.phase === 'Failed';
      },
      180_000,
    );

    expect(job!.status).toMatchObject({
      phase: 'Succeeded',
      objects: { planned: contents.size, copied: contents.size, failed: 0 },
      tasks: { succeeded: contents.size, failed: 0 },
      progressPercent: 100,
    });
    expect(await bucketHashes(bed.s3, destination)).toEqual(hashes(contents));
    expect(sawPlanningHeld).toBe(true);
    expect(peakDefinitions).toBeGreaterThan(0);
    expect(peakDefinitions).toBeLessThanOrEqual(window + largestStep);
    // Every task's record stays (the job's exact progress); no definition does.
    expect(await count('tasks')).toBe(contents.size);
    expect(await count('defs')).toBe(0);
  }, 240_000);

  it('stops planning and fails the job when more copies are given up than the window holds, and goes on after a retry', async () => {
    const { contents, source, destination, uid } = await startJob('vanishing');
    await waitFor(
      'the job to have recorded its first planned tasks',
      async () =>
        (await etcd
          .getAll()
          .prefix(`${ledgerPrefix(uid)}tasks/`)
          .count()) > 0,
    );
    // Listed already (one page holds all 600 keys): every copy still to run now fails for good (NoSuchKey).
    const keys = [...contents.keys()];
    for (let i = 0; i < keys.length; i += 500)
      await bed.s3.send(
        new DeleteObjectsCommand({
          Bucket: source,
          Delete: { Objects: keys.slice(i, i + 500).map((Key) => ({ Key })) },
        }),
      );

    let job: ReplicationJob | undefined;
    await waitFor(
      'the job to fail',
      async () => {
        job = await bed.readJob('vanishing');
        return job.status?.phase === 'Failed' || job.status?.phase === 'Succeeded';
      },
      120_000,
    );
    const failed = job!.status?.conditions?.find((c) => c.type === 'Failed');
    expect(failed).toMatchObject({ status: 'True', reason: 'TasksFailed' });
    expect(failed?.message).toMatch(/planning stopped after \d+ copies were given up \(more than the 20/);
    expect(job!.status?.objects?.failed).toBeGreaterThan(window);
    // Planning stopped short: the rest of the job was never planned, nor copied.
    const recorded = await etcd
      .getAll()
      .prefix(`${ledgerPrefix(uid)}tasks/`)
      .count();
    expect(recorded).toBeLessThan(contents.size);

    // The objects are back; a retry request plans the rest and retries what failed.
    await putObjects(bed.s3, source, contents);
    await bed.objects.patchNamespacedCustomObject(
      {
        group,
        version,
        namespace,
        plural,
        name: 'vanishing',
        body: { spec: { retryRequest: 'objects-restored' } },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await waitFor(
      'the retried job to succeed',
      async () => {
        job = await bed.readJob('vanishing');
        return job.status?.phase === 'Succeeded';
      },
      120_000,
    );
    expect(job!.status).toMatchObject({
      objects: { planned: contents.size, copied: contents.size, failed: 0 },
    });
    expect(await bucketHashes(bed.s3, destination)).toEqual(hashes(contents));
  }, 300_000);
});
