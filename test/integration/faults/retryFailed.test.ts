// A task that fails permanently, and the user's retry once the cause is fixed.
//
// The cause is a real one: the destination is a filesystem-backed S3 gateway
// (versitygw's posix backend, as the bed runs it; MinIO's old fs mode and NAS
// gateways behave alike) that holds an object `reports`, while the source has
// `reports/q1.csv` and `reports/q2.csv`. A file cannot also be a directory, so
// the gateway refuses those writes (409 ObjectParentIsFile): a permanent
// failure. The job must end Failed naming exactly those objects; after the
// user removes the blocking object and sets spec.retryRequest, only those
// tasks run again and the job completes.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { group, plural, version, type ReplicationJob } from '../../../api/v1alpha1/index.ts';
import { bedEndpoints } from '../../support/bed.ts';
import { bucketHashes, bucketWith, hashes } from '../../support/bucketContents.ts';
import { countDestinationWrites } from '../../support/destinationWrites.ts';
import {
  finished,
  s3CredentialsSecret,
  startReplicationBed,
  type ReplicationBed,
} from '../../support/replicationBed.ts';
import { waitFor } from '../../support/wait.ts';

const namespace = `retry-failed-${Date.now()}`;
const logDir = mkdtempSync(path.join(os.tmpdir(), 'ferry-retry-failed-'));
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const blocked = ['reports/q1.csv', 'reports/q2.csv'];

describe('a permanently failing task, then a retry', () => {
  let bed: ReplicationBed;

  beforeAll(async () => {
    bed = await startReplicationBed({
      namespace,
      name: 'retry-failed',
      logDir,
      operatorEnv: { FERRY_WORKER_LOG_LEVEL: 'debug' },
    });
  });
  afterAll(async () => {
    await bed?.stop();
  });

  const writesOf = (keys: string[]) => {
    const perKey = countDestinationWrites(bed.runner.logDir).perKey;
    return new Map(keys.map((k) => [k, perKey.get(k) ?? 0]));
  };
  const setRetryRequest = (name: string, value: string) =>
    bed.objects.patchNamespacedCustomObject(
      { group, version, namespace, plural, name, body: { spec: { retryRequest: value } } },
      mergePatch,
    );
  const eventsOf = async (name: string) =>
    (await bed.core.listNamespacedEvent({ namespace })).items.filter((e) => e.involvedObject.name === name);

  it('fails naming the refused objects, and after the fix a retry re-runs only those tasks', async () => {
    const source = `retry-src-${Date.now()}`;
    const destination = `retry-dst-${Date.now()}`;
    const contents = new Map<string, Buffer>([
      ...blocked.map((k) => [k, randomBytes(3000)] as [string, Buffer]),
      ...Array.from({ length: 20 }, (_, i) => [`data/${i}.bin`, randomBytes(2000)] as [string, Buffer]),
    ]);
    await bucketWith(bed.s3, source, contents);
    await bucketWith(bed.s3, destination, new Map([['reports', Buffer.from('a file, not a folder')]]));
    const endpoint = bedEndpoints().s3.endpoint;
    const credentialsSecretRef = { name: s3CredentialsSecret };
    const failedJob = await bed.runJob({
      apiVersion: `${group}/${version}`,
      kind: 'ReplicationJob',
      metadata: { name: 'refused', namespace },
      spec: {
        source: { s3: { endpoint, bucket: source, credentialsSecretRef } },
        destination: { s3: { endpoint, bucket: destination, credentialsSecretRef } },
        tasks: { maxObjects: 1 },
      },
    });

    expect(finished(failedJob, 'Failed')).toBe(true);
    expect(failedJob.status).toMatchObject({
      phase: 'Failed',
      objects: { planned: 22, copied: 20, failed: 2 },
      tasks: { succeeded: 20, failed: 2 },
    });
    expect([...(failedJob.status!.failedObjects ?? [])].map((f) => f.key).sort()).toEqual(blocked);
    for (const f of failedJob.status!.failedObjects!) expect(f.reason).toMatch(/ObjectParentIsFile|409/);
    expect(failedJob.status!.failedObjectsTotal).toBe(2);
    const failedCondition = failedJob.status!.conditions!.find((c) => c.type === 'Failed')!;
    for (const key of blocked) expect(failedCondition.message).toContain(key);
    expect(failedCondition.message).toMatch(/ObjectParentIsFile|409/);
    await waitFor('a Warning event naming the failed objects', async () =>
      (await eventsOf('refused')).some(
        (e) => e.type === 'Warning' && e.reason === 'Failed' && blocked.every((k) => e.message?.includes(k)),
      ),
    );
    const before = writesOf([...contents.keys()]);
    for (const key of blocked) expect(before.get(key)).toBe(0);
    for (const [key, n] of before) if (!blocked.includes(key)) expect(n).toBe(1);

    // The fix: the blocking object goes; then the user asks for a retry.
    await bed.s3.send(new DeleteObjectCommand({ Bucket: destination, Key: 'reports' }));
    await setRetryRequest('refused', 'after-removing-reports');
    let done: ReplicationJob | undefined;
    // What a user watching the job sees while the retry runs: no completion time of the failed run.
    const whileRetrying: (string | undefined)[] = [];
    await waitFor(
      'the retried job to be Complete',
      async () => {
        done = await bed.readJob('refused');
        if (done.status?.lastRetryRequest === 'after-removing-reports' && !finished(done))
          whileRetrying.push(done.status.completionTime);
        return finished(done);
      },
      120_000,
    );
    expect(whileRetrying.length).toBeGreaterThan(0);
    expect(whileRetrying.filter((t) => t !== undefined)).toEqual([]);
    expect(done!.status!.completionTime).toBeDefined();
    expect(done!.status).toMatchObject({
      phase: 'Succeeded',
      lastRetryRequest: 'after-removing-reports',
      progressPercent: 100,
      objects: { planned: 22, copied: 22, failed: 0 },
      tasks: { succeeded: 22, failed: 0 },
      failedObjects: [],
      resumes: 1,
    });
    expect(await bucketHashes(bed.s3, destination)).toEqual(hashes(contents));
    // Only the two failed tasks ran again: each object written exactly once in all.
    const after = writesOf([...contents.keys()]);
    for (const [key, n] of after) expect([key, n]).toEqual([key, 1]);
    expect((await eventsOf('refused')).some((e) => e.reason === 'RetryRequested')).toBe(true);

    // A retry request on a job that is not Failed: recorded, said to be ignored, nothing re-run.
    await setRetryRequest('refused', 'needless');
    await waitFor('the ignored retry request to be recorded', async () => {
      const j = await bed.readJob('refused');
      return j.status?.lastRetryRequest === 'needless';
    });
    await waitFor('a RetryIgnored event', async () =>
      (await eventsOf('refused')).some((e) => e.reason === 'RetryIgnored'),
    );
    await new Promise((r) => setTimeout(r, 3_000));
    const still = await bed.readJob('refused');
    expect(still.status?.phase).toBe('Succeeded');
    expect(
      (await bed.core.listNamespacedPod({ namespace })).items.filter(
        (p) => p.metadata?.labels?.['ferry.dev/job-name'] === 'refused' && !p.metadata?.deletionTimestamp,
      ),
    ).toEqual([]);
    expect(writesOf([...contents.keys()])).toEqual(after);
  }, 300_000);

  it('a retry request while the job runs changes nothing: the job completes, each object written once', async () => {
    const source = `retry-run-src-${Date.now()}`;
    const destination = `retry-run-dst-${Date.now()}`;
    const contents = new Map<string, Buffer>(
      Array.from({ length: 200 }, (_, i) => [`running/${i}.bin`, randomBytes(1000)] as [string, Buffer]),
    );
    await bucketWith(bed.s3, source, contents);
    await bucketWith(bed.s3, destination, new Map());
    const endpoint = bedEndpoints().s3.endpoint;
    const credentialsSecretRef = { name: s3CredentialsSecret };
    await bed.objects.createNamespacedCustomObject({
      group,
      version,
      namespace,
      plural,
      body: {
        apiVersion: `${group}/${version}`,
        kind: 'ReplicationJob',
        metadata: { name: 'running', namespace },
        spec: {
          source: { s3: { endpoint, bucket: source, credentialsSecretRef } },
          destination: { s3: { endpoint, bucket: destination, credentialsSecretRef } },
          tasks: { maxObjects: 1 },
          workers: { source: { concurrency: 1 }, destination: {} },
        },
      } satisfies ReplicationJob,
    });
    await waitFor('the job to run', async () => (await bed.readJob('running')).status?.phase === 'Running');
    await setRetryRequest('running', 'while-running');
    if (finished(await bed.readJob('running')))
      throw new Error('the job finished before the retry request: the test proves nothing');
    let done: ReplicationJob | undefined;
    await waitFor(
      'the job to be Complete',
      async () => {
        done = await bed.readJob('running');
        return finished(done) || finished(done, 'Failed');
      },
      120_000,
    );
    expect(done!.status).toMatchObject({
      phase: 'Succeeded',
      lastRetryRequest: 'while-running',
      objects: { planned: 200, copied: 200, failed: 0 },
      resumes: 0,
    });
    expect(await bucketHashes(bed.s3, destination)).toEqual(hashes(contents));
    for (const [key, n] of writesOf([...contents.keys()])) expect([key, n]).toEqual([key, 1]);
  }, 300_000);
});
