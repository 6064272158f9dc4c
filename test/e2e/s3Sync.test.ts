// S3 → S3 Sync on the real node, as a user runs it: a Secret and a
// ReplicationJob applied with kubectl, `kubectl wait --for=condition=Complete`,
// `kubectl get rj` and `kubectl describe rj`. The destination is then listed
// and read back independently: exactly the source's objects, byte for byte,
// the extra one deleted, and the counters exact.
import { randomBytes } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { bucketHashes, bucketWith, hashes, sha } from '../support/bucketContents.ts';
import { kubectl } from './support/cli.ts';
import { applyJob, jobFile, readJob, replicationJob, s3Store, waitComplete } from './support/world.ts';

const { e2e, namespace, s3 } = jobFile('e2e-s3-sync');

function objects(count: number, prefix: string): Map<string, Buffer> {
  return new Map(
    Array.from({ length: count }, (_, i) => [
      `${prefix}${String(i).padStart(4, '0')}.bin`,
      randomBytes(1024 + ((i * 7919) % 65536)),
    ]),
  );
}

it('syncs a bucket, deleting the extra destination object, and reports it through kubectl', async () => {
  const contents = objects(300, 'media/');
  await bucketWith(s3(), 'sync-src', contents);
  await bucketWith(s3(), 'sync-dst', new Map([['media/stale.bin', randomBytes(100)]]));
  // Outside the job's prefix: a Sync must leave it alone.
  await s3().send(new PutObjectCommand({ Bucket: 'sync-dst', Key: 'other/keep.bin', Body: 'keep' }));

  await applyJob(
    e2e,
    replicationJob(namespace, 'media-sync', {
      mode: 'Sync',
      source: s3Store(e2e, 'sync-src', 'media/'),
      destination: s3Store(e2e, 'sync-dst', 'media/'),
      workers: { source: { replicas: 2, concurrency: 4 } },
      tasks: { maxObjects: 25 },
    }),
  );
  await waitComplete(e2e, namespace, 'media-sync');

  const job = await readJob(e2e, namespace, 'media-sync');
  expect(job.status).toMatchObject({
    phase: 'Succeeded',
    progressPercent: 100,
    // planned: what the plan copies and deletes (docs/api.md).
    objects: { planned: 301, copied: 300, deleted: 1, failed: 0 },
    bytes: { copied: [...contents.values()].reduce((n, b) => n + b.length, 0) },
  });
  const expected = hashes(contents);
  expected.set('other/keep.bin', sha(Buffer.from('keep')));
  expect(await bucketHashes(s3(), 'sync-dst')).toEqual(expected);

  const { stdout: listed } = await kubectl(e2e.kubeconfig, ['get', 'rj', '-n', namespace]);
  expect(listed).toMatch(/media-sync\s+Succeeded\s+100/);
  const { stdout: described } = await kubectl(e2e.kubeconfig, [
    'describe',
    'rj',
    'media-sync',
    '-n',
    namespace,
  ]);
  // The events the operator recorded for the job, as kubectl shows them (type, reason, …, message).
  const events = described.slice(described.indexOf('Events:'));
  expect(events).toMatch(/Normal\s+Accepted\s.*starting worker pods/);
  expect(events).toMatch(/Normal\s+Succeeded\s.*replication complete/);
  process.stderr.write(`kubectl get rj:\n${listed}\n`);
});
