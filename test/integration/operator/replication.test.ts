// A ReplicationJob carried out end to end: the operator (its own process)
// plans it, worker pods (run by the pod runner) copy and delete, and the job
// reports Complete with exact counters. Real kube-apiserver, etcd, NATS, S3.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import type { ReplicationJob } from '../../../api/v1alpha1/index.ts';
import { group, plural, version } from '../../../api/v1alpha1/index.ts';
import { bedEndpoints } from '../../support/bed.ts';
import { bucketHashes, bucketWith } from '../../support/bucketContents.ts';
import { countDestinationWrites } from '../../support/destinationWrites.ts';
import { OperatorProcess } from '../../support/operatorProcess.ts';
import { finished, startReplicationBed, type ReplicationBed } from '../../support/replicationBed.ts';
import { waitFor } from '../../support/wait.ts';

const namespace = `replication-it-${Date.now()}`;
const logDir = mkdtempSync(path.join(os.tmpdir(), 'ferry-replication-it-'));
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('a Sync ReplicationJob from one S3 bucket to another', () => {
  let bed: ReplicationBed;
  let restarted: OperatorProcess | undefined;

  beforeAll(async () => {
    bed = await startReplicationBed({
      namespace,
      name: 'replication-it',
      logDir,
      operatorEnv: { FERRY_WORKER_LOG_LEVEL: 'debug' },
    });
  });

  afterAll(async () => {
    await restarted?.stop();
    await bed?.stop();
  });

  async function listAll(bucket: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const out = await bed.s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
      keys.push(...(out.Contents ?? []).map((o) => o.Key!));
      token = out.NextContinuationToken;
    } while (token);
    return keys;
  }

  const readJob = (name: string) => bed.readJob(name);

  it('copies every object byte-identical, deletes only the extra one, and reports Complete with exact counters', async () => {
    const source = `rj-src-${Date.now()}`;
    const destination = `rj-dst-${Date.now()}`;
    await bed.s3.send(new CreateBucketCommand({ Bucket: source }));
    await bed.s3.send(new CreateBucketCommand({ Bucket: destination }));
    const contents = new Map<string, Buffer>([
      ['empty', Buffer.alloc(0)],
      ['photos/été/a+b %.jpg', randomBytes(10)],
      ['big.bin', randomBytes(5 * 1024 * 1024)],
      ...Array.from(
        { length: 30 },
        (_, i) => [`docs/${String(i).padStart(2, '0')}.txt`, randomBytes(4096)] as [string, Buffer],
      ),
    ]);
    for (const [Key, Body] of contents)
      await bed.s3.send(new PutObjectCommand({ Bucket: source, Key, Body }));
    await bed.s3.send(new PutObjectCommand({ Bucket: destination, Key: 'stale.txt', Body: 'old' }));
    const endpoint = bedEndpoints().s3.endpoint;
    const job: ReplicationJob = {
      apiVersion: `${group}/${version}`,
      kind: 'ReplicationJob',
      metadata: { name: 'sync', namespace },
      spec: {
        mode: 'Sync',
        source: { s3: { endpoint, bucket: source, credentialsSecretRef: { name: 's3-creds' } } },
        destination: { s3: { endpoint, bucket: destination, credentialsSecretRef: { name: 's3-creds' } } },
        tasks: { maxObjects: 8 },
        deletion: { maxDeletes: 5 },
      },
    };
    await bed.objects.createNamespacedCustomObject({ group, version, namespace, plural, body: job });

    let current: ReplicationJob | undefined;
    await waitFor(
      'the job to be Complete',
      async () => {
        current = await readJob('sync');
        if (finished(current, 'Failed')) {
          throw new Error(`the job failed: ${JSON.stringify(current.status)}`);
        }
        return finished(current);
      },
      90_000,
    );
    expect(current!.status).toMatchObject({
      phase: 'Succeeded',
      progressPercent: 100,
      objects: { planned: contents.size + 1, copied: contents.size, deleted: 1, failed: 0 }, // + the delete
      tasks: { failed: 0, pending: 0, dispatched: 0, running: 0 },
    });
    expect(current!.status!.bytes!.copied).toBe([...contents.values()].reduce((n, b) => n + b.length, 0));

    expect((await listAll(destination)).sort()).toEqual([...contents.keys()].sort());
    for (const [Key, body] of contents) {
      const got = await bed.s3.send(new GetObjectCommand({ Bucket: destination, Key }));
      expect(sha(await got.Body!.transformToByteArray())).toBe(sha(body));
    }
    // Without a fault, each object is written exactly once.
    const writes = countDestinationWrites(bed.runner.logDir);
    expect(writes.total).toBe(contents.size);
    expect([...writes.perKey.keys()].sort()).toEqual([...contents.keys()].sort());
  });

  it('reports the plan of a Sync dry run in status, and changes nothing', async () => {
    const source = `rj-dry-src-${Date.now()}`;
    const destination = `rj-dry-dst-${Date.now()}`;
    const same = randomBytes(300);
    await bucketWith(
      bed.s3,
      source,
      new Map([
        ['same.txt', same],
        ['new-1', randomBytes(1000)],
        ['new-2', randomBytes(24)],
      ]),
    );
    await bucketWith(
      bed.s3,
      destination,
      new Map([
        ['same.txt', same],
        ['extra-1', randomBytes(5)],
        ['extra-2', randomBytes(5)],
        ['extra-3', randomBytes(5)],
      ]),
    );
    const before = await bucketHashes(bed.s3, destination);
    const writesBefore = countDestinationWrites(bed.runner.logDir).total;
    const endpoint = bedEndpoints().s3.endpoint;
    const job = await bed.runJob({
      apiVersion: `${group}/${version}`,
      kind: 'ReplicationJob',
      metadata: { name: 'dry-run', namespace },
      spec: {
        mode: 'Sync',
        source: { s3: { endpoint, bucket: source, credentialsSecretRef: { name: 's3-creds' } } },
        destination: { s3: { endpoint, bucket: destination, credentialsSecretRef: { name: 's3-creds' } } },
        deletion: { dryRun: true, maxDeletes: 10 },
      },
    });
    expect(finished(job)).toBe(true);
    expect(job.status).toMatchObject({
      phase: 'Succeeded',
      objects: { planned: 2 + 3, copied: 0, skipped: 1, deleted: 0, failed: 0 },
      bytes: { planned: 1024, copied: 0 },
    });
    expect(job.status!.conditions!.find((c) => c.type === 'Complete')?.message).toBe(
      'dry run, nothing changed: the plan would copy 2 objects (1024 bytes), delete 3 and skip 1 already identical',
    );
    expect(await bucketHashes(bed.s3, destination)).toEqual(before);
    expect(countDestinationWrites(bed.runner.logDir).total).toBe(writesBefore);
  });

  it('survives the operator being killed mid-job: the new leader resumes, and counters stay exact', async () => {
    const source = `rj-kill-src-${Date.now()}`;
    const destination = `rj-kill-dst-${Date.now()}`;
    const contents = new Map<string, Buffer>(
      Array.from(
        { length: 400 },
        (_, i) => [`data/${String(i).padStart(4, '0')}.bin`, randomBytes(2048)] as [string, Buffer],
      ),
    );
    await bucketWith(bed.s3, source, contents);
    await bed.s3.send(new CreateBucketCommand({ Bucket: destination }));
    const endpoint = bedEndpoints().s3.endpoint;
    await bed.objects.createNamespacedCustomObject({
      group,
      version,
      namespace,
      plural,
      body: {
        apiVersion: `${group}/${version}`,
        kind: 'ReplicationJob',
        metadata: { name: 'killed', namespace },
        spec: {
          source: { s3: { endpoint, bucket: source, credentialsSecretRef: { name: 's3-creds' } } },
          destination: { s3: { endpoint, bucket: destination, credentialsSecretRef: { name: 's3-creds' } } },
          tasks: { maxObjects: 2 },
          workers: { source: { concurrency: 1 }, destination: {} },
        },
      } satisfies ReplicationJob,
    });

    await waitFor(
      'some tasks to succeed',
      async () => ((await readJob('killed')).status?.tasks?.succeeded ?? 0) >= 5,
      60_000,
    );
    await bed.operator.kill(); // SIGKILL: no shutdown, the lease is not released
    const atKill = await readJob('killed');
    if (finished(atKill)) {
      throw new Error('the job finished before the operator could be killed: the test proves nothing');
    }

    restarted = await OperatorProcess.start(bedEndpoints(), {
      identity: 'replication-operator-2',
      watchNamespace: namespace,
      leaseNamespace: namespace,
      leaseName: 'ferry-replication-it',
      logFile: path.join(logDir, 'operator-2.log'),
      extraEnv: { FERRY_WORKER_LOG_LEVEL: 'debug' },
    });
    let done: ReplicationJob | undefined;
    await waitFor(
      'the job to be Complete after the restart',
      async () => {
        done = await readJob('killed');
        return finished(done);
      },
      120_000,
    );
    expect(done!.status).toMatchObject({
      objects: { planned: 400, copied: 400, failed: 0 },
      bytes: { planned: 400 * 2048, copied: 400 * 2048 },
      tasks: { succeeded: 200, failed: 0 },
      progressPercent: 100,
    });
    // One resume: the new leader's; the engine's own retry rounds are not resumes.
    expect(done!.status!.resumes).toBe(1);
    expect((await listAll(destination)).sort()).toEqual([...contents.keys()].sort());
    for (const [Key, body] of contents) {
      const got = await bed.s3.send(new GetObjectCommand({ Bucket: destination, Key }));
      expect(sha(await got.Body!.transformToByteArray())).toBe(sha(body));
    }
    // The resume re-sends only what was incomplete, and the queued messages of the old epoch are
    // purged: at most the tasks in the workers' hands at the fault run twice — one task per source
    // worker (one replica here), of 2 objects.
    const writes = countDestinationWrites(bed.runner.logDir);
    expect([...writes.perKey.keys()].filter((k) => k.startsWith('data/'))).toHaveLength(400);
    const killedWrites = [...writes.perKey]
      .filter(([k]) => k.startsWith('data/'))
      .reduce((n, [, c]) => n + c, 0);
    expect(killedWrites).toBeLessThanOrEqual(400 + 1 * 2);
  });
});
