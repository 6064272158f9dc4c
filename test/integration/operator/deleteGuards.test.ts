// The delete guards of a Sync keep their word (docs/operations.md): a Sync
// they refuse ends Failed before its first copy, so the destination is left
// byte for byte as it was. Real operator process, worker pods, etcd, NATS, S3.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ReplicationJob } from '../../../api/v1alpha1/index.ts';
import { group, plural, version } from '../../../api/v1alpha1/index.ts';
import { bedEndpoints } from '../../support/bed.ts';
import { bucketHashes, bucketWith } from '../../support/bucketContents.ts';
import { finished, startReplicationBed, type ReplicationBed } from '../../support/replicationBed.ts';
import { waitFor } from '../../support/wait.ts';

const namespace = `delete-guards-it-${Date.now()}`;
const logDir = mkdtempSync(path.join(os.tmpdir(), 'ferry-delete-guards-it-'));

describe('the delete guards of a Sync are judged before its first copy', () => {
  let bed: ReplicationBed;

  beforeAll(async () => {
    bed = await startReplicationBed({ namespace, name: 'delete-guards-it', logDir });
  });

  afterAll(async () => {
    await bed?.stop();
  });

  function syncJob(name: string, source: string, destination: string, maxDeletes: number): ReplicationJob {
    const endpoint = bedEndpoints().s3.endpoint;
    const store = (bucket: string) => ({
      s3: { endpoint, bucket, credentialsSecretRef: { name: 's3-creds' } },
    });
    return {
      apiVersion: `${group}/${version}`,
      kind: 'ReplicationJob',
      metadata: { name, namespace },
      spec: {
        mode: 'Sync',
        source: store(source),
        destination: store(destination),
        tasks: { maxObjects: 4 },
        deletion: { maxDeletes },
      },
    };
  }

  async function failedJob(name: string): Promise<ReplicationJob> {
    let job: ReplicationJob | undefined;
    await waitFor(
      `job ${name} to end`,
      async () => {
        job = await bed.readJob(name);
        if (finished(job)) throw new Error(`the job succeeded: ${JSON.stringify(job.status)}`);
        return finished(job, 'Failed');
      },
      60_000,
    );
    return job!;
  }

  it('refuses a Sync deleting more than maxDeletes with TooManyDeletes, overwriting and adding nothing', async () => {
    const source = `dg-src-${Date.now()}`;
    const destination = `dg-dst-${Date.now()}`;
    // 300 keys on both sides with different content (each a copy that overwrites), 300 new ones,
    // then 6 extras at the end of the key order: the plan's first steps are copies.
    const key = (prefix: string, i: number) => `${prefix}/${String(i).padStart(4, '0')}`;
    const sourceObjects = new Map<string, Buffer>();
    const destinationObjects = new Map<string, Buffer>();
    for (let i = 0; i < 300; i++) {
      sourceObjects.set(key('a-changed', i), randomBytes(64));
      destinationObjects.set(key('a-changed', i), randomBytes(64));
      sourceObjects.set(key('b-new', i), randomBytes(64));
    }
    for (let i = 0; i < 6; i++) destinationObjects.set(key('z-extra', i), randomBytes(8));
    await bucketWith(bed.s3, source, sourceObjects);
    await bucketWith(bed.s3, destination, destinationObjects);
    const before = await bucketHashes(bed.s3, destination);

    await bed.objects.createNamespacedCustomObject({
      group,
      version,
      namespace,
      plural,
      body: syncJob('too-many-deletes', source, destination, 5),
    });
    const job = await failedJob('too-many-deletes');

    // Give a copy that was sent anyway the time to land before comparing.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const after = await bucketHashes(bed.s3, destination);
    const changed = [...after].filter(([k, h]) => before.get(k) !== h).map(([k]) => k);
    expect({ changed: changed.length, keys: [...after.keys()] }).toEqual({
      changed: 0,
      keys: [...before.keys()],
    });
    const failed = job.status!.conditions!.find((c) => c.type === 'Failed');
    expect(failed).toMatchObject({ status: 'True', reason: 'TooManyDeletes' });
    expect(failed!.message).toContain('nothing was copied or deleted');
    expect(job.status!.objects?.copied ?? 0).toBe(0);
  });

  it('refuses to delete a destination key that differs from a source key only in case or normalisation, naming both', async () => {
    const source = `dg-fold-src-${Date.now()}`;
    const destination = `dg-fold-dst-${Date.now()}`;
    // On a destination that folds names, "photo.jpg" is the object "Photo.JPG" is copied to, and
    // "café" (NFC) the object "café" (NFD) is: deleting either loses the object just copied.
    const nfd = 'cafe\u0301.txt';
    const nfc = 'caf\u00e9.txt';
    await bucketWith(
      bed.s3,
      source,
      new Map([
        ['Photo.JPG', randomBytes(32)],
        [nfd, randomBytes(32)],
        ['keep.txt', randomBytes(32)],
      ]),
    );
    await bucketWith(
      bed.s3,
      destination,
      new Map([
        ['photo.jpg', randomBytes(16)],
        [nfc, randomBytes(16)],
      ]),
    );
    const before = await bucketHashes(bed.s3, destination);

    await bed.objects.createNamespacedCustomObject({
      group,
      version,
      namespace,
      plural,
      body: syncJob('name-collision', source, destination, 100),
    });
    const job = await failedJob('name-collision');

    const failed = job.status!.conditions!.find((c) => c.type === 'Failed');
    expect(failed).toMatchObject({ status: 'True', reason: 'DeleteNameCollision' });
    for (const name of ['photo.jpg', 'Photo.JPG', nfc, nfd])
      expect(failed!.message).toContain(JSON.stringify(name));
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(await bucketHashes(bed.s3, destination)).toEqual(before);
  });
});
