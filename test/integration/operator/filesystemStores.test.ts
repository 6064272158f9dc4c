// ReplicationJobs with a filesystem store on one side, end to end: the
// operator (its own process) has the filesystem side listed by that side's
// worker pod (run by the pod runner, its PersistentVolumeClaim a host
// directory), plans, and the workers copy and delete. Real kube-apiserver,
// etcd, NATS and S3; the outcome is checked by an independent walk and hash.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import type { ReplicationJob, ReplicationJobSpec } from '../../../api/v1alpha1/index.ts';
import { group, version } from '../../../api/v1alpha1/index.ts';
import { bedEndpoints } from '../../support/bed.ts';
import { waitFor } from '../../support/wait.ts';
import {
  bucketHashes as readBucketHashes,
  bucketWith as bucketWithContents,
  hashes,
  sha,
} from '../../support/bucketContents.ts';
import { fill, walk } from '../../support/treeContents.ts';
import {
  s3CredentialsSecret,
  startReplicationBed,
  type ReplicationBed,
} from '../../support/replicationBed.ts';

const namespace = `fs-it-${Date.now()}`;
const logDir = mkdtempSync(path.join(os.tmpdir(), 'ferry-fs-it-'));
const MiB = 1024 * 1024;

/** Mixed sizes and awkward keys: empty, small, a few MiB; unicode, spaces, %, +, nested directories. */
function mixedContents(): Map<string, Buffer> {
  return new Map<string, Buffer>([
    ['empty', Buffer.alloc(0)],
    ['small.txt', randomBytes(100)],
    ['photos/été/a+b %20.jpg', randomBytes(3000)],
    ['photos/été/日本語 ファイル.bin', randomBytes(2 * MiB + 17)],
    ['deep/a/b/c/d/100%.dat', randomBytes(4096)],
    ['big.bin', randomBytes(6 * MiB)],
    ['z-last/space name.txt', Buffer.from('spaces are fine')],
    ...Array.from(
      { length: 25 },
      (_, i) => [`docs/${String(i).padStart(2, '0')}.txt`, randomBytes(1000 + i)] as [string, Buffer],
    ),
  ]);
}

const totalBytes = (contents: Map<string, Buffer>) =>
  [...contents.values()].reduce((n, b) => n + b.length, 0);

describe('ReplicationJobs with a filesystem store', () => {
  let bed: ReplicationBed;

  beforeAll(async () => {
    bed = await startReplicationBed({
      namespace,
      name: 'fs-it',
      logDir,
      runner: { volumeDir: path.join(logDir, 'volumes') },
    });
    for (const name of ['exports', 'mirror']) await createClaim(name);
  });

  const createClaim = (name: string) =>
    bed.core.createNamespacedPersistentVolumeClaim({
      namespace,
      body: {
        metadata: { name },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
      },
    });

  afterAll(async () => {
    await bed?.stop();
  });

  const bucketWith = (name: string, contents: Map<string, Buffer>, ferryChecksums: boolean) =>
    bucketWithContents(bed.s3, name, contents, ferryChecksums);
  const bucketHashes = (bucket: string) => readBucketHashes(bed.s3, bucket);

  const runJob = (name: string, spec: ReplicationJobSpec) =>
    bed.runJob({
      apiVersion: `${group}/${version}`,
      kind: 'ReplicationJob',
      metadata: { name, namespace },
      spec,
    });

  /** A Copy job's status: every object planned was copied, nothing else happened. */
  function expectAllCopied(job: ReplicationJob, contents: Map<string, Buffer>): void {
    expect(job.status).toMatchObject({
      phase: 'Succeeded',
      progressPercent: 100,
      objects: { planned: contents.size, copied: contents.size, skipped: 0, deleted: 0, failed: 0 },
      bytes: { planned: totalBytes(contents), copied: totalBytes(contents) },
      tasks: { failed: 0, pending: 0, dispatched: 0, running: 0 },
    });
  }

  const s3Store = (bucket: string) => ({
    s3: { endpoint: bedEndpoints().s3.endpoint, bucket, credentialsSecretRef: { name: s3CredentialsSecret } },
  });

  it('copies a filesystem tree to S3, a large file in parts: Complete, exact counters, byte-identical objects', async () => {
    const contents = mixedContents();
    fill(path.join(bed.runner.claimDir(namespace, 'exports'), 'export', 'v1'), contents);
    // Beside the store's path on the same volume: not part of the job.
    fill(bed.runner.claimDir(namespace, 'exports'), new Map([['elsewhere/not-mine.txt', randomBytes(10)]]));
    const bucket = `fs-to-s3-${Date.now()}`;
    await bed.s3.send(new CreateBucketCommand({ Bucket: bucket }));

    const job = await runJob('fs-to-s3', {
      source: { filesystem: { claimName: 'exports', path: '/export/v1' } },
      destination: s3Store(bucket),
      tasks: { maxObjects: 8, partSize: 5 * MiB }, // big.bin goes in parts
    });

    expectAllCopied(job, contents);
    expect(await bucketHashes(bucket)).toEqual(hashes(contents));
  });

  it('copies an S3 bucket into a filesystem tree, a large object in parts: Complete, exact counters, byte-identical files', async () => {
    const contents = mixedContents();
    const bucket = `s3-to-fs-${Date.now()}`;
    await bucketWith(bucket, contents, false);

    const job = await runJob('s3-to-fs', {
      source: s3Store(bucket),
      destination: { filesystem: { claimName: 'mirror', path: '/copy' } },
      tasks: { maxObjects: 8, partSize: 5 * MiB }, // big.bin goes in parts
      // One task at a time: two parts of one object stored at the same moment on a
      // filesystem destination can both try to complete it, and the loser fails with
      // ENOENT instead of UploadNotFound (FilesystemStore.completeMultipart; reported).
      workers: { source: { concurrency: 1 }, destination: {} },
    });

    expectAllCopied(job, contents);
    expect(walk(path.join(bed.runner.claimDir(namespace, 'mirror'), 'copy'))).toEqual(hashes(contents));
  });

  it('syncs an S3 bucket into a filesystem tree: deletes the extra files and nothing else, skips identical ones', async () => {
    const contents = mixedContents();
    const bucket = `s3-sync-fs-${Date.now()}`;
    await bucketWith(bucket, contents, true); // as Ferry writes them: with their SHA-256 recorded
    const volume = bed.runner.claimDir(namespace, 'mirror');
    const root = path.join(volume, 'sync');
    const identical = new Map([...contents].filter(([k]) => k.startsWith('docs/0')));
    fill(root, identical); // already there: skipped, by checksum
    fill(root, new Map([['small.txt', Buffer.from('an older version')]])); // same key, other content
    const extra = new Map<string, Buffer>([
      ['stale.txt', Buffer.from('old')],
      ['photos/été/removed + gone%.jpg', randomBytes(50)],
      ['gone/entirely/deep.bin', randomBytes(10)],
    ]);
    fill(root, extra);
    const outside = new Map([['sync-not/keep.txt', Buffer.from('outside the store path')]]);
    fill(volume, outside);

    const job = await runJob('s3-sync-fs', {
      mode: 'Sync',
      source: s3Store(bucket),
      destination: { filesystem: { claimName: 'mirror', path: '/sync' } },
      tasks: { maxObjects: 8 },
      deletion: { maxDeletes: 5 },
    });

    const copied = new Map([...contents].filter(([k]) => !identical.has(k)));
    expect(job.status).toMatchObject({
      phase: 'Succeeded',
      progressPercent: 100,
      objects: {
        planned: copied.size + extra.size,
        copied: copied.size,
        skipped: identical.size,
        deleted: extra.size,
        failed: 0,
      },
      bytes: { planned: totalBytes(copied), copied: totalBytes(copied), skipped: totalBytes(identical) },
      tasks: { failed: 0, pending: 0, dispatched: 0, running: 0 },
    });
    expect(walk(root)).toEqual(hashes(contents));
    expect(walk(path.join(volume, 'sync-not'))).toEqual(
      new Map([['keep.txt', sha(outside.get('sync-not/keep.txt')!)]]),
    );
  });

  it('copies between two filesystem stores, both listed by their workers: skips the files already identical', async () => {
    const contents = mixedContents();
    fill(path.join(bed.runner.claimDir(namespace, 'exports'), 'tree'), contents);
    const identical = new Map([...contents].filter(([k]) => k.startsWith('photos/')));
    const root = path.join(bed.runner.claimDir(namespace, 'mirror'), 'from-fs');
    fill(root, identical);

    const job = await runJob('fs-to-fs', {
      source: { filesystem: { claimName: 'exports', path: '/tree' } },
      destination: { filesystem: { claimName: 'mirror', path: '/from-fs' } },
      tasks: { maxObjects: 8 },
    });

    const copied = new Map([...contents].filter(([k]) => !identical.has(k)));
    expect(job.status).toMatchObject({
      phase: 'Succeeded',
      objects: { planned: copied.size, copied: copied.size, skipped: identical.size, failed: 0 },
      bytes: { planned: totalBytes(copied), copied: totalBytes(copied), skipped: totalBytes(identical) },
    });
    expect(walk(root)).toEqual(hashes(contents));
  });

  it('waits, Pending and not failed, while its claim does not exist, and completes once it does', async () => {
    const contents = new Map([...mixedContents()].filter(([k]) => k.startsWith('docs/1')));
    fill(path.join(bed.runner.claimDir(namespace, 'arriving'), 'data'), contents);
    const bucket = `late-claim-${Date.now()}`;
    await bed.s3.send(new CreateBucketCommand({ Bucket: bucket }));

    const finished = runJob('late-claim', {
      source: { filesystem: { claimName: 'arriving', path: '/data' } },
      destination: s3Store(bucket),
    });
    await waitFor('the source worker to wait for its claim', async () => {
      const pods = (await bed.core.listNamespacedPod({ namespace })).items;
      const source = pods.find((p) => p.metadata!.name!.startsWith('late-claim-source-'));
      return (
        source?.status?.containerStatuses?.[0]?.state?.waiting?.message?.includes(
          'persistentvolumeclaim "arriving" not found',
        ) ?? false
      );
    });
    await new Promise((r) => setTimeout(r, 2_000));
    const waiting = await bed.readJob('late-claim');
    expect(waiting.status?.phase).toBe('Pending');
    expect(waiting.status?.conditions?.find((c) => c.type === 'Failed')?.status).not.toBe('True');

    await createClaim('arriving');
    expectAllCopied(await finished, contents);
    expect(await bucketHashes(bucket)).toEqual(hashes(contents));
  });

  it('fails, naming the problem, when the source path does not exist on the volume', async () => {
    const bucket = `fs-missing-${Date.now()}`;
    await bed.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const job = await runJob('fs-missing', {
      mode: 'Sync',
      source: { filesystem: { claimName: 'exports', path: '/no/such/dir' } },
      destination: s3Store(bucket),
    });
    const failed = job.status!.conditions!.find((c) => c.type === 'Failed');
    expect(failed).toMatchObject({ status: 'True', reason: 'ListingFailed' });
    expect(failed!.message).toMatch(/NoSuchPath: .*exports:\/no\/such\/dir.*does not exist on the volume/);
  });
});
