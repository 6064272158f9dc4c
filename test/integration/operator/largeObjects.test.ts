// Large objects end to end through the operator: objects above tasks.partSize
// are planned as one task per part, the parts travel through several source
// and destination worker pods, and each object appears at the destination
// once, whole and byte-identical — into S3 (multipart upload) and into a
// filesystem (staged part files). Real kube-apiserver, etcd, NATS and S3.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import type { ReplicationJob, ReplicationJobSpec } from '../../../api/v1alpha1/index.ts';
import { group, version } from '../../../api/v1alpha1/index.ts';
import { bedEndpoints } from '../../support/bed.ts';
import { bucketHashes, bucketWith, hashes } from '../../support/bucketContents.ts';
import { fill, walk } from '../../support/treeContents.ts';
import { waitFor } from '../../support/wait.ts';
import { countDestinationWrites } from '../../support/destinationWrites.ts';
import {
  s3CredentialsSecret,
  startReplicationBed,
  type ReplicationBed,
} from '../../support/replicationBed.ts';

const namespace = `large-it-${Date.now()}`;
const logDir = mkdtempSync(path.join(os.tmpdir(), 'ferry-large-it-'));
const MiB = 1024 * 1024;
describe('large objects through the operator', () => {
  let bed: ReplicationBed;

  beforeAll(async () => {
    bed = await startReplicationBed({
      namespace,
      name: 'large-it',
      logDir,
      runner: { volumeDir: path.join(logDir, 'volumes') },
      operatorEnv: { FERRY_WORKER_LOG_LEVEL: 'debug' },
    });
    await bed.core.createNamespacedPersistentVolumeClaim({
      namespace,
      body: {
        metadata: { name: 'archive' },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
      },
    });
  });

  afterAll(async () => {
    await bed?.stop();
  });

  const sourceBucket = (name: string, contents: Map<string, Buffer>) => bucketWith(bed.s3, name, contents);

  const runJob = (name: string, spec: ReplicationJobSpec) =>
    bed.runJob(
      { apiVersion: `${group}/${version}`, kind: 'ReplicationJob', metadata: { name, namespace }, spec },
      240_000,
    );

  const s3Store = (bucket: string) => ({
    s3: { endpoint: bedEndpoints().s3.endpoint, bucket, credentialsSecretRef: { name: s3CredentialsSecret } },
  });

  function expectAllCopied(job: ReplicationJob, contents: Map<string, Buffer>, tasks: number): void {
    const bytes = [...contents.values()].reduce((n, b) => n + b.length, 0);
    expect(job.status).toMatchObject({
      phase: 'Succeeded',
      progressPercent: 100,
      objects: { planned: contents.size, copied: contents.size, failed: 0 },
      bytes: { planned: bytes, copied: bytes },
      tasks: { succeeded: tasks, failed: 0, pending: 0, dispatched: 0, running: 0 },
    });
  }

  it('copies 0 B to 200 MiB from S3 to S3, large objects in 64 MiB parts over two workers per side, each written once', async () => {
    const contents = new Map<string, Buffer>([
      ['empty', Buffer.alloc(0)],
      ['small/1 KiB é.bin', randomBytes(1024)],
      ['medium/5 MiB.bin', randomBytes(5 * MiB)],
      ['large/70 MiB + 1.bin', randomBytes(70 * MiB + 1)], // 2 parts
      ['large/200 MiB.bin', randomBytes(200 * MiB)], // 4 parts (the last one 8 MiB)
    ]);
    const source = `large-src-${Date.now()}`;
    const destination = `large-dst-${Date.now()}`;
    await sourceBucket(source, contents);
    await bed.s3.send(new CreateBucketCommand({ Bucket: destination }));
    const writesBefore = countDestinationWrites(bed.runner.logDir).total;

    const job = await runJob('s3-large', {
      source: s3Store(source),
      destination: s3Store(destination),
      workers: { source: { replicas: 2, concurrency: 2 }, destination: { replicas: 2 } },
    });

    // One task for the three small objects, 2 + 4 part tasks.
    expectAllCopied(job, contents, 7);
    expect(await bucketHashes(bed.s3, destination)).toEqual(hashes(contents));
    const writes = countDestinationWrites(bed.runner.logDir);
    expect(writes.total - writesBefore).toBe(contents.size);
  });

  /** 0 B to 200 MiB, as the other direction. */
  const mixed = () =>
    new Map<string, Buffer>([
      ['empty', Buffer.alloc(0)],
      ['notes/é +%.txt', Buffer.from('parts and wholes')],
      ['video/23 MiB.mp4', randomBytes(23 * MiB + 5)], // 5 parts of 5 MiB
      ['video/200 MiB.mkv', randomBytes(200 * MiB)], // 40 parts
    ]);
  const fsJobSpec = {
    tasks: { partSize: 5 * MiB },
    workers: { source: { replicas: 2, concurrency: 2 }, destination: { replicas: 2 } },
  };

  it('copies 0 B to 200 MiB from S3 into a filesystem, large files as staged parts', async () => {
    const contents = mixed();
    const bucket = `large-to-fs-${Date.now()}`;
    await sourceBucket(bucket, contents);

    const job = await runJob('s3-to-fs-large', {
      source: s3Store(bucket),
      destination: { filesystem: { claimName: 'archive', path: '/mirror' } },
      ...fsJobSpec,
    });

    // The two small objects in one task, 5 + 40 part tasks.
    expectAllCopied(job, contents, 46);
    const root = path.join(bed.runner.claimDir(namespace, 'archive'), 'mirror');
    expect(walk(root)).toEqual(hashes(contents));
  });

  it('copies 0 B to 200 MiB from a filesystem into S3, large files as multipart uploads', async () => {
    const contents = mixed();
    fill(path.join(bed.runner.claimDir(namespace, 'archive'), 'export'), contents);
    const bucket = `large-from-fs-${Date.now()}`;
    await bed.s3.send(new CreateBucketCommand({ Bucket: bucket }));

    const job = await runJob('fs-to-s3-large', {
      source: { filesystem: { claimName: 'archive', path: '/export' } },
      destination: s3Store(bucket),
      ...fsJobSpec,
    });

    expectAllCopied(job, contents, 46);
    expect(await bucketHashes(bed.s3, bucket)).toEqual(hashes(contents));
  });

  /**
   * A job copying one 20 MiB object in four 5 MiB parts, one at a time at 2 MiB/s (about 2.5 s
   * between two parts), into a new bucket; `rewrite` replaces the source with `rewritten` once the
   * first part is stored there. The destination must then hold the new version, whole.
   */
  async function rewriteBetweenParts(
    name: string,
    key: string,
    spec: Pick<ReplicationJobSpec, 'source'>,
    rewrite: (rewritten: Buffer) => Promise<void>,
  ): Promise<void> {
    const destination = `${name}-${Date.now()}`;
    await bed.s3.send(new CreateBucketCommand({ Bucket: destination }));
    await bed.createJob(name, {
      ...{ source: spec.source, destination: s3Store(destination) },
      tasks: { partSize: 5 * MiB },
      bandwidthLimit: '2Mi',
      workers: { source: { replicas: 1, concurrency: 1 }, destination: { replicas: 1 } },
    });
    const partsStored = async () => {
      const uploads =
        (await bed.s3.send(new ListMultipartUploadsCommand({ Bucket: destination }))).Uploads ?? [];
      const upload = uploads.find((u) => u.Key === key);
      if (!upload) return 0;
      const parts = await bed.s3.send(
        new ListPartsCommand({ Bucket: destination, Key: key, UploadId: upload.UploadId }),
      );
      return parts.Parts?.length ?? 0;
    };
    await waitFor(
      'a first part to be stored at the destination',
      async () => (await partsStored()) >= 1,
      60_000,
    );
    const rewritten = randomBytes(20 * MiB);
    await rewrite(rewritten);

    await waitFor(
      'the job to succeed',
      async () => (await bed.readJob(name)).status?.phase === 'Succeeded',
      120_000,
    );
    const job = await bed.readJob(name);
    expect(job.status).toMatchObject({ objects: { copied: 1, failed: 0 } });
    // Not the first part of one version and the rest of the other: the new version, whole.
    expect(await bucketHashes(bed.s3, destination)).toEqual(hashes(new Map([[key, rewritten]])));
    await bed.deleteJob(name, 60_000);
  }

  it('copies an S3 source rewritten with the same size between two of its parts as its new version, whole (ADR 0033)', async () => {
    const source = `rewrite-src-${Date.now()}`;
    const key = 'video/20 MiB.mp4';
    await sourceBucket(source, new Map([[key, randomBytes(20 * MiB)]]));
    await rewriteBetweenParts('rewrite-s3', key, { source: s3Store(source) }, async (rewritten) => {
      await bed.s3.send(new PutObjectCommand({ Bucket: source, Key: key, Body: rewritten }));
    });
  });

  it('copies a file rewritten in place with the same size between two of its parts as its new version, whole (ADR 0033)', async () => {
    const dir = path.join(bed.runner.claimDir(namespace, 'archive'), 'rewrite-src');
    const key = 'video/20 MiB.mp4';
    fill(dir, new Map([[key, randomBytes(20 * MiB)]]));
    const source = { filesystem: { claimName: 'archive', path: '/rewrite-src' } };
    await rewriteBetweenParts('rewrite-fs', key, { source }, async (rewritten) => {
      // The same file (inode) gets new bytes: only its mtime and ctime tell.
      writeFileSync(path.join(dir, key), rewritten, { flag: 'r+' });
    });
  });

  it('aborts the multipart uploads a job deleted part-way left open at its destination, and no other upload', async () => {
    const source = `abandon-src-${Date.now()}`;
    const destination = `abandon-dst-${Date.now()}`;
    await sourceBucket(source, new Map([['video/30 MiB.mp4', randomBytes(30 * MiB)]]));
    await bed.s3.send(new CreateBucketCommand({ Bucket: destination }));
    // Someone else's upload in the same bucket: it must survive the job's deletion.
    const foreign = await bed.s3.send(
      new CreateMultipartUploadCommand({ Bucket: destination, Key: 'not-ferry/upload.bin' }),
    );
    const openUploads = async () =>
      ((await bed.s3.send(new ListMultipartUploadsCommand({ Bucket: destination }))).Uploads ?? []).map(
        (u) => `${u.Key} ${u.UploadId}`,
      );
    const name = 'abandoned';
    // Six 5 MiB parts at 2 MiB/s: the upload stays open for about 15 s.
    await bed.createJob(name, {
      ...{ source: s3Store(source), destination: s3Store(destination) },
      tasks: { partSize: 5 * MiB },
      bandwidthLimit: '2Mi',
    });

    await waitFor(
      "the job's upload to be open at the destination",
      async () => (await openUploads()).some((u) => u.startsWith('video/30 MiB.mp4 ')),
      60_000,
    );
    await bed.deleteJob(name, 60_000);
    expect(await openUploads()).toEqual([`not-ferry/upload.bin ${foreign.UploadId}`]);
    expect(await bucketHashes(bed.s3, destination)).toEqual(new Map());
  });

  it('removes the part files a job deleted part-way left on a filesystem destination, through a pod that mounts it', async () => {
    const source = `abandon-fs-src-${Date.now()}`;
    await sourceBucket(source, new Map([['video/30 MiB.mp4', randomBytes(30 * MiB)]]));
    const root = path.join(bed.runner.claimDir(namespace, 'archive'), 'abandoned-fs');
    const staging = path.join(root, '.ferry-staging');
    const stagedUploads = () => (existsSync(staging) ? readdirSync(staging) : []);
    const name = 'abandoned-fs';
    // Six 5 MiB parts at 2 MiB/s: the upload stays open for about 15 s.
    await bed.createJob(name, {
      ...{
        source: s3Store(source),
        destination: { filesystem: { claimName: 'archive', path: '/abandoned-fs' } },
      },
      tasks: { partSize: 5 * MiB },
      bandwidthLimit: '2Mi',
    });
    // Deleted soon after its upload is staged (upload.json): the workers cannot finish it in their grace period.
    await waitFor(
      "the job's upload to be staged on the volume",
      async () => stagedUploads().some((id) => existsSync(path.join(staging, id, 'upload.json'))),
      60_000,
    );
    await bed.deleteJob(name, 90_000);
    expect(stagedUploads()).toEqual([]);
    expect(existsSync(path.join(root, 'video', '30 MiB.mp4'))).toBe(false);
    const events = (await bed.core.listNamespacedEvent({ namespace })).items.filter(
      (e) => e.involvedObject.name === name,
    );
    expect(events.map((e) => e.reason)).toEqual(
      expect.arrayContaining(['AbortingUploads', 'UploadsAborted']),
    );
    const left = (await bed.core.listNamespacedPod({ namespace })).items.filter((p) =>
      p.metadata!.name!.startsWith(`${name}-`),
    );
    expect(left.filter((p) => !p.metadata!.deletionTimestamp).map((p) => p.metadata!.name)).toEqual([]);
  }, 120_000);
});
