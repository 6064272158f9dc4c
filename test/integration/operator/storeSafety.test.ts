// What a Sync may touch, end to end through the operator against the bed's
// kube-apiserver, versitygw and pod runner (docs/adr/0034): a prefix names a
// directory, so its string neighbours are outside the store; stores that
// overlap are refused before anything is listed, also when only the operator
// can tell (two spellings of one endpoint, two spellings of one directory);
// and a started job's plan inputs cannot change under it.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import * as k8s from '@kubernetes/client-node';
import type { ReplicationJob, ReplicationJobSpec } from '../../../api/v1alpha1/index.ts';
import { group, plural, version } from '../../../api/v1alpha1/index.ts';
import { bedEndpoints } from '../../support/bed.ts';
import { bucketHashes, bucketWith, hashes, putObjects } from '../../support/bucketContents.ts';
import { fill, walk } from '../../support/treeContents.ts';
import {
  finished,
  s3CredentialsSecret,
  startReplicationBed,
  type ReplicationBed,
} from '../../support/replicationBed.ts';
import { waitFor } from '../../support/wait.ts';

const namespace = `store-safety-it-${Date.now()}`;
const logDir = mkdtempSync(path.join(os.tmpdir(), 'ferry-store-safety-it-'));
const overlapping = 'overlap';

describe('a Sync touches only its own stores', () => {
  let bed: ReplicationBed;

  beforeAll(async () => {
    bed = await startReplicationBed({
      namespace,
      name: 'store-safety-it',
      logDir,
      runner: { volumeDir: path.join(logDir, 'volumes') },
    });
  });
  afterAll(async () => {
    await bed?.stop();
  });

  const s3 = (bucket: string, prefix?: string, endpoint = bedEndpoints().s3.endpoint) => ({
    s3: {
      endpoint,
      bucket,
      ...(prefix === undefined ? {} : { prefix }),
      credentialsSecretRef: { name: s3CredentialsSecret },
    },
  });
  const jobOf = (name: string, spec: ReplicationJobSpec): ReplicationJob => ({
    apiVersion: `${group}/${version}`,
    kind: 'ReplicationJob',
    metadata: { name, namespace },
    spec,
  });
  const failedCondition = (job: ReplicationJob) => job.status?.conditions?.find((c) => c.type === 'Failed');
  const objects = (n: number, under: string) =>
    Array.from(
      { length: n },
      (_, i) => [`${under}${String(i).padStart(3, '0')}.bin`, randomBytes(2048)] as const,
    );

  it('treats the destination prefix "backup" as the directory backup/, leaving its neighbours alone', async () => {
    const source = `safety-src-${Date.now()}`;
    const destination = `safety-dst-${Date.now()}`;
    const a = randomBytes(300);
    const b = randomBytes(400);
    await bucketWith(
      bed.s3,
      source,
      new Map([
        ['data/a.txt', a],
        ['data/b.txt', b],
      ]),
    );
    const neighbours = new Map([
      ['backup-old/keep.txt', randomBytes(50)],
      ['backupx.txt', randomBytes(60)],
    ]);
    await bucketWith(bed.s3, destination, new Map([...neighbours, ['backup/stale.txt', randomBytes(70)]]));

    const job = await bed.runJob(
      jobOf('prefix-is-a-directory', {
        source: s3(source, 'data/'),
        destination: s3(destination, 'backup'),
        mode: 'Sync',
      }),
    );

    expect(finished(job)).toBe(true);
    // Written under backup/, never as "backupa.txt"; the neighbours untouched; only backup/'s extra deleted.
    expect(await bucketHashes(bed.s3, destination)).toEqual(
      hashes(new Map([...neighbours, ['backup/a.txt', a], ['backup/b.txt', b]])),
    );
    expect(job.status?.objects).toMatchObject({ copied: 2, deleted: 1 });
  });

  it('refuses, before listing, a Sync whose destination is inside its source under another spelling of the endpoint', async () => {
    const bucket = `safety-nested-${Date.now()}`;
    const contents = new Map([...objects(5, 'data/in/'), ['data/other.txt', randomBytes(100)]]);
    await bucketWith(bed.s3, bucket, contents);
    const endpoint = bedEndpoints().s3.endpoint;
    // "…:port/" and "…:port" are one service; CEL compares the strings and lets this through.
    const job = await bed.runJob(
      jobOf(overlapping, {
        source: s3(bucket, 'data', `${endpoint}/`),
        destination: s3(bucket, 'data/in/', endpoint),
        mode: 'Sync',
        deletion: { allowEmptySource: true },
      }),
    );

    const failed = failedCondition(job);
    expect(failed).toMatchObject({ status: 'True', reason: 'StoresOverlap' });
    expect(failed?.message).toContain(`source s3 ${endpoint}/ bucket "${bucket}" prefix "data"`);
    expect(failed?.message).toContain(`destination s3 ${endpoint} bucket "${bucket}" prefix "data/in/"`);
    expect(failed?.message).toContain('the destination data/in/ lies inside the source data/');
    expect(job.status?.objects?.copied ?? 0).toBe(0);
    expect(await bucketHashes(bed.s3, bucket)).toEqual(hashes(contents));
    const events = await bed.core.listNamespacedEvent({
      namespace,
      fieldSelector: `involvedObject.name=${overlapping}`,
    });
    expect(events.items.some((e) => e.reason === 'Failed' && e.message?.includes('overlap'))).toBe(true);
  });

  it('refuses a filesystem source whose directory, spelled "//", is the root its destination "/in" lies in', async () => {
    await bed.core.createNamespacedPersistentVolumeClaim({
      namespace,
      body: {
        metadata: { name: 'shared' },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
      },
    });
    const root = bed.runner.claimDir(namespace, 'shared');
    const contents = new Map([
      ['in/a.txt', randomBytes(100)],
      ['b.txt', randomBytes(100)],
    ]);
    fill(root, contents);

    const job = await bed.runJob(
      jobOf('overlap-fs', {
        source: { filesystem: { claimName: 'shared', path: '//' } },
        destination: { filesystem: { claimName: 'shared', path: '/in' } },
        mode: 'Sync',
      }),
    );

    const failed = failedCondition(job);
    expect(failed).toMatchObject({ status: 'True', reason: 'StoresOverlap' });
    expect(failed?.message).toContain('source filesystem shared:// and destination filesystem shared:/in');
    expect(failed?.message).toContain('the destination /in/ lies inside the source /');
    expect(walk(root)).toEqual(hashes(contents));
  });

  it('refuses a filter narrowed while a Sync runs, and finishes the job with the filters it started with', async () => {
    const source = `safety-mid-src-${Date.now()}`;
    const destination = `safety-mid-dst-${Date.now()}`;
    const contents = new Map([...objects(60, 'keep/'), ...objects(60, 'drop/')]);
    await bucketWith(bed.s3, source, contents);
    await bed.s3.send(new CreateBucketCommand({ Bucket: destination }));
    // An object the source lacks: Sync deletes it, whatever the filters said at the start.
    await putObjects(bed.s3, destination, new Map([['drop/extra.bin', randomBytes(10)]]));
    const name = 'filter-mid-sync';
    // 240 KiB under 48 KiB/s: the job runs for seconds, long enough to try the change.
    await bed.createJob(name, {
      source: s3(source),
      destination: s3(destination),
      mode: 'Sync',
      bandwidthLimit: '48Ki',
    });
    await waitFor(
      `job ${name} to start`,
      async () => (await bed.readJob(name)).status?.startTime !== undefined,
    );
    const before = await bed.readJob(name);

    const refusal = await bed.objects
      .patchNamespacedCustomObject(
        {
          group,
          version,
          namespace,
          plural,
          name,
          body: { spec: { filters: { include: ['keep/**'] } } },
        },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      )
      .then(
        () => undefined,
        (err: { code?: number; body?: unknown }) => ({ code: err.code, body: String(err.body) }),
      );

    expect(finished(before) || finished(before, 'Failed')).toBe(false);
    expect(refusal?.code).toBe(422);
    expect(refusal?.body).toContain('spec.mode, spec.filters, spec.deletion and spec.tasks are immutable');
    expect(refusal?.body).toContain('create a new job');
    let job = before;
    await waitFor(
      `job ${name} to finish`,
      async () => {
        job = await bed.readJob(name);
        return finished(job) || finished(job, 'Failed');
      },
      50_000,
    );
    expect(finished(job)).toBe(true);
    expect(job.metadata.generation).toBe(before.metadata.generation);
    expect(job.spec.filters).toBeUndefined();
    // Every object, drop/ too, and the extra deleted: the plan ran on the spec it started with.
    expect(await bucketHashes(bed.s3, destination)).toEqual(hashes(contents));
  }, 70_000);
});
