// What a filesystem destination does with keys it cannot hold as files, end
// to end (real kube-apiserver, etcd, NATS, versitygw, pod-runner volumes):
// an empty S3 directory marker becomes its directory; a key that is both an
// object and a prefix, or uses a name Ferry reserves, fails by name with its
// reason while every other object of its task arrives; and a symbolic link
// planted in the destination volume is never written through (docs/adr/0037).
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, statSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ReplicationJob, ReplicationJobSpec } from '../../../api/v1alpha1/index.ts';
import { group, version } from '../../../api/v1alpha1/index.ts';
import { bedEndpoints } from '../../support/bed.ts';
import { bucketWith, hashes } from '../../support/bucketContents.ts';
import { fill, walk } from '../../support/treeContents.ts';
import {
  s3CredentialsSecret,
  startReplicationBed,
  type ReplicationBed,
} from '../../support/replicationBed.ts';

const namespace = `fs-keys-it-${Date.now()}`;
const logDir = mkdtempSync(path.join(os.tmpdir(), 'ferry-fs-keys-it-'));

/** Twenty ordinary objects, in one task with the awkward keys. */
const ordinary = () =>
  new Map(
    Array.from({ length: 20 }, (_, i) => [`good/${String(i).padStart(2, '0')}.bin`, randomBytes(500 + i)]),
  );

describe('keys a filesystem destination cannot hold as files', () => {
  let bed: ReplicationBed;

  beforeAll(async () => {
    bed = await startReplicationBed({
      namespace,
      name: 'fs-keys-it',
      logDir,
      runner: { volumeDir: path.join(logDir, 'volumes') },
    });
    await bed.core.createNamespacedPersistentVolumeClaim({
      namespace,
      body: {
        metadata: { name: 'mirror' },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
      },
    });
  });
  afterAll(async () => {
    await bed?.stop();
  });

  const runJob = (name: string, spec: ReplicationJobSpec) =>
    bed.runJob({
      apiVersion: `${group}/${version}`,
      kind: 'ReplicationJob',
      metadata: { name, namespace },
      spec,
    });
  const s3Store = (bucket: string) => ({
    s3: { endpoint: bedEndpoints().s3.endpoint, bucket, credentialsSecretRef: { name: s3CredentialsSecret } },
  });
  const reasonOf = (job: ReplicationJob, key: string) =>
    job.status?.failedObjects?.find((f) => f.key === key)?.reason;

  it('makes directory markers directories, fails each unrepresentable key by name, and copies every other object', async () => {
    const good = ordinary();
    const bad = new Map<string, Buffer>([
      ['.ferry-notes/a.txt', Buffer.from('reserved name')], // Ferry's own names
      ['conflict/inner.txt', Buffer.from('under a file')], // "conflict" is a file at the destination
      ['taken', Buffer.from('over a directory')], // "taken/" holds files at the destination
    ]);
    const markers = new Map([
      ['photos/', Buffer.alloc(0)],
      ['empty-dir/', Buffer.alloc(0)],
    ]);
    const bucket = `fs-keys-${Date.now()}`;
    await bucketWith(bed.s3, bucket, new Map([...good, ...bad, ...markers]));
    const root = path.join(bed.runner.claimDir(namespace, 'mirror'), 'keys');
    const existing = new Map([
      ['conflict', Buffer.from('an object named like a prefix')],
      ['taken/x', Buffer.from('keeps "taken" a directory')],
    ]);
    fill(root, existing);

    const job = await runJob('fs-keys', {
      source: s3Store(bucket),
      destination: { filesystem: { claimName: 'mirror', path: '/keys' } },
      tasks: { maxObjects: 100 }, // one task: the bad keys must not sink the good ones
    });

    // Files: every ordinary object arrived whole; what was there is untouched.
    expect(walk(root)).toEqual(hashes(new Map([...good, ...existing])));
    // Markers: their directories.
    for (const marker of markers.keys()) expect(statSync(path.join(root, marker)).isDirectory()).toBe(true);
    expect(readdirSync(path.join(root, 'empty-dir'))).toEqual([]);
    // Each bad key, by name, with its own reason.
    expect(job.status?.phase).toBe('Failed');
    expect(reasonOf(job, '.ferry-notes/a.txt')).toMatch(/reserved/);
    expect(reasonOf(job, 'conflict/inner.txt')).toMatch(/"conflict" is an object \(a file\)/);
    expect(reasonOf(job, 'taken')).toMatch(/also a prefix/);
    expect(job.status?.failedObjectsTotal).toBe(bad.size);
    // Counted as committed: the ordinary objects and the markers (operator side: helper H5).
    expect(job.status?.objects).toMatchObject({ copied: good.size + markers.size, failed: bad.size });
  });

  it('never writes through a symbolic link planted in the destination volume', async () => {
    const outside = mkdtempSync(path.join(os.tmpdir(), 'ferry-outside-'));
    const root = path.join(bed.runner.claimDir(namespace, 'mirror'), 'linked');
    mkdirSync(root, { recursive: true });
    symlinkSync(outside, path.join(root, 'escape')); // a directory link pointing out of the store
    const good = ordinary();
    const through = new Map([
      ['escape/planted.txt', Buffer.from('must not land outside')],
      ['escape/deeper/planted.txt', Buffer.from('nor here')],
    ]);
    const bucket = `fs-links-${Date.now()}`;
    await bucketWith(bed.s3, bucket, new Map([...good, ...through]));

    const job = await runJob('fs-links', {
      source: s3Store(bucket),
      destination: { filesystem: { claimName: 'mirror', path: '/linked' } },
      tasks: { maxObjects: 100 },
    });

    expect(readdirSync(outside)).toEqual([]); // nothing outside the store changed
    expect(existsSync(path.join(outside, 'deeper'))).toBe(false);
    expect(walk(root)).toEqual(hashes(good)); // walk skips the link itself
    expect(job.status?.phase).toBe('Failed');
    for (const key of through.keys()) expect(reasonOf(job, key)).toMatch(/"escape" is a symbolic link/);
    expect(job.status?.objects).toMatchObject({ copied: good.size, failed: through.size });
  });
});
