// Filesystem stores on the real node: a PersistentVolumeClaim (a volume on
// this machine's disk, bound ahead to its claim) as a job's source and as
// its destination. The worker pods mount the claim as the kubelet mounts it,
// as UID 65532 with a read-only root filesystem; the test reads the volume's
// host directory itself to check what the job left.
import { createHash, randomBytes } from 'node:crypto';
import { chownSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bucketHashes, bucketWith, hashes } from '../support/bucketContents.ts';
import { kubectlApply } from './support/cli.ts';
import {
  applyJob,
  boundVolume,
  jobFile,
  readJob,
  replicationJob,
  s3Store,
  volumeDir,
  waitComplete,
} from './support/world.ts';

const { e2e, namespace, s3 } = jobFile('e2e-filesystem');
/** The workers' UID and GID (the chart's pod security context). */
const workerUid = 65532;

/** A volume for `claim`, its directory owned by the workers' UID, bound ahead to the claim. */
async function claim(name: string): Promise<string> {
  const dir = volumeDir(e2e, `${namespace}-${name}`);
  chownSync(dir, workerUid, workerUid);
  await kubectlApply(e2e.kubeconfig, boundVolume(dir, namespace, name));
  return dir;
}

function treeHashes(root: string, dir = root, into = new Map<string, string>()): Map<string, string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) treeHashes(root, full, into);
    else into.set(path.relative(root, full), createHash('sha256').update(readFileSync(full)).digest('hex'));
  }
  return into;
}

const contents = () =>
  new Map(
    Array.from({ length: 120 }, (_, i) => [
      `reports/${i % 6}/r${String(i).padStart(3, '0')}.dat`,
      randomBytes(3000 + i),
    ]),
  );

it('copies a claim to S3', async () => {
  const files = contents();
  const dir = await claim('exports');
  for (const [key, body] of files) {
    mkdirSync(path.dirname(path.join(dir, key)), { recursive: true });
    writeFileSync(path.join(dir, key), body);
  }
  await bucketWith(s3(), 'fs-archive', new Map());
  await applyJob(
    e2e,
    replicationJob(namespace, 'claim-to-s3', {
      source: { filesystem: { claimName: 'exports' } },
      destination: s3Store(e2e, 'fs-archive', 'archive/'),
      tasks: { maxObjects: 20 },
    }),
  );
  await waitComplete(e2e, namespace, 'claim-to-s3');
  expect((await readJob(e2e, namespace, 'claim-to-s3')).status).toMatchObject({
    phase: 'Succeeded',
    objects: { planned: 120, copied: 120, failed: 0 },
  });
  const archived = new Map([...hashes(files)].map(([key, hash]) => [`archive/${key}`, hash]));
  expect(await bucketHashes(s3(), 'fs-archive')).toEqual(archived);
});

it('copies S3 to a claim', async () => {
  const objects = contents();
  await bucketWith(s3(), 'fs-restore', objects);
  const dir = await claim('restore');
  await applyJob(
    e2e,
    replicationJob(namespace, 's3-to-claim', {
      source: s3Store(e2e, 'fs-restore'),
      destination: { filesystem: { claimName: 'restore', path: '/restored' } },
      tasks: { maxObjects: 20 },
    }),
  );
  await waitComplete(e2e, namespace, 's3-to-claim');
  expect((await readJob(e2e, namespace, 's3-to-claim')).status).toMatchObject({
    phase: 'Succeeded',
    objects: { planned: 120, copied: 120, failed: 0 },
  });
  expect(treeHashes(path.join(dir, 'restored'))).toEqual(hashes(objects));
});
