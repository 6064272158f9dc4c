// What an e2e test file works with: the cluster's endpoints, an S3 client of
// its own (the independent check of what a job left), a namespace per file
// with the S3 credentials Secret users create, and the ReplicationJob
// commands a user types (apply, wait, get, describe).
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { jest } from '@jest/globals';
import type { ReplicationJob } from '../../../api/v1alpha1/index.ts';
import { bucketHashes, bucketWith, hashes } from '../../support/bucketContents.ts';
import { waitFor } from '../../support/wait.ts';
import { kubectl, kubectlApply } from './cli.ts';
import type { E2eEndpoints } from './ferryCluster.ts';

export const s3CredentialsSecret = 's3-credentials';

export function e2eEndpoints(): E2eEndpoints {
  const raw = process.env.FERRY_E2E;
  if (!raw) throw new Error('FERRY_E2E is not set: e2e tests run under their jest global setup (make e2e)');
  return JSON.parse(raw) as E2eEndpoints;
}

export function s3ClientFor(e2e: E2eEndpoints): S3Client {
  return new S3Client({
    endpoint: e2e.s3.endpoint,
    region: e2e.s3.region,
    credentials: e2e.s3.credentials,
    forcePathStyle: true,
  });
}

/** Creates `namespace` with the Secret the jobs' S3 stores name, as a user would with kubectl. */
export async function jobNamespace(e2e: E2eEndpoints, namespace: string): Promise<void> {
  await kubectl(e2e.kubeconfig, ['create', 'namespace', namespace]);
  await kubectl(e2e.kubeconfig, [
    'create',
    'secret',
    'generic',
    s3CredentialsSecret,
    '-n',
    namespace,
    `--from-literal=AWS_ACCESS_KEY_ID=${e2e.s3.credentials.accessKeyId}`,
    `--from-literal=AWS_SECRET_ACCESS_KEY=${e2e.s3.credentials.secretAccessKey}`,
  ]);
}

/** An S3 store of `bucket` on the e2e S3 server, as a job spec names it. */
export function s3Store(e2e: E2eEndpoints, bucket: string, prefix?: string) {
  return {
    s3: {
      endpoint: e2e.s3.endpoint,
      bucket,
      ...(prefix ? { prefix } : {}),
      credentialsSecretRef: { name: s3CredentialsSecret },
    },
  };
}

export function replicationJob(
  namespace: string,
  name: string,
  spec: ReplicationJob['spec'],
): ReplicationJob {
  return { apiVersion: 'ferry.dev/v1alpha1', kind: 'ReplicationJob', metadata: { name, namespace }, spec };
}

export async function applyJob(e2e: E2eEndpoints, job: ReplicationJob): Promise<void> {
  await kubectlApply(e2e.kubeconfig, [job]);
}

/** `kubectl wait --for=condition=Complete rj/<name>`: what the README tells users to run. */
export async function waitComplete(e2e: E2eEndpoints, namespace: string, name: string, timeout = '300s') {
  await kubectl(e2e.kubeconfig, [
    'wait',
    '-n',
    namespace,
    '--for=condition=Complete',
    `rj/${name}`,
    `--timeout=${timeout}`,
  ]);
}

export async function readJob(e2e: E2eEndpoints, namespace: string, name: string): Promise<ReplicationJob> {
  const { stdout } = await kubectl(e2e.kubeconfig, ['get', 'rj', name, '-n', namespace, '-o', 'json']);
  return JSON.parse(stdout) as ReplicationJob;
}

/** A host directory for a volume the test binds to a claim, owned by the workers' UID. */
export function volumeDir(e2e: E2eEndpoints, name: string): string {
  const dir = path.join(e2e.dataDir, name);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  return dir;
}

/** A PersistentVolume on `dir` bound ahead to the claim `namespace/claim`, and that claim. */
export function boundVolume(dir: string, namespace: string, claim: string): object[] {
  const pvName = `${namespace}-${claim}`;
  return [
    {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: pvName },
      spec: {
        capacity: { storage: '1Gi' },
        accessModes: ['ReadWriteOnce'],
        persistentVolumeReclaimPolicy: 'Retain',
        storageClassName: '',
        claimRef: { namespace, name: claim },
        hostPath: { path: dir, type: 'Directory' },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: claim, namespace },
      spec: {
        accessModes: ['ReadWriteOnce'],
        storageClassName: '',
        volumeName: pvName,
        resources: { requests: { storage: '1Gi' } },
      },
    },
  ];
}

/** What one test file works in: the e2e world, its own namespace, and an S3 client for checking. */
export interface JobFile {
  e2e: E2eEndpoints;
  namespace: string;
  /** The file's S3 client (set once its beforeAll ran). */
  s3: () => S3Client;
}

/** Registers the file's set-up: its namespace with the S3 credentials, and an S3 client closed after it. */
export function jobFile(namespace: string): JobFile {
  const e2e = e2eEndpoints();
  // A job on the real node takes tens of seconds, a helm install or upgrade minutes on a loaded machine.
  jest.setTimeout(600_000);
  let s3: S3Client | undefined;
  beforeAll(async () => {
    s3 = s3ClientFor(e2e);
    await jobNamespace(e2e, namespace);
  });
  afterAll(() => s3?.destroy());
  return {
    e2e,
    namespace,
    s3: () => {
      if (!s3) throw new Error('the S3 client is made in beforeAll');
      return s3;
    },
  };
}

export interface PacedJob {
  /** The source's objects: key → content. */
  contents: Map<string, Buffer>;
  uid: string;
}

/**
 * Fills `<name>-src` with `count` random objects of `size` bytes and starts a
 * job copying them to an empty `<name>-dst`, one object per task and paced
 * (`bandwidth`), so a fault or a change finds it mid-way; returns once
 * `midway` tasks succeeded.
 */
export async function startPacedJob(
  file: JobFile,
  name: string,
  pace: { count: number; size: number; bandwidth: string; midway: number },
): Promise<PacedJob> {
  const { e2e, namespace } = file;
  const contents = new Map(
    Array.from({ length: pace.count }, (_, i) => [
      `${name}/${String(i).padStart(4, '0')}`,
      randomBytes(pace.size),
    ]),
  );
  await bucketWith(file.s3(), `${name}-src`, contents);
  await bucketWith(file.s3(), `${name}-dst`, new Map());
  await applyJob(
    e2e,
    replicationJob(namespace, name, {
      source: s3Store(e2e, `${name}-src`),
      destination: s3Store(e2e, `${name}-dst`),
      tasks: { maxObjects: 1 },
      workers: { source: { concurrency: 1 } },
      bandwidthLimit: pace.bandwidth,
    }),
  );
  let job: ReplicationJob | undefined;
  await waitFor(
    `${name}: ${pace.midway} tasks to succeed`,
    async () => ((job = await readJob(e2e, namespace, name)).status?.tasks?.succeeded ?? 0) >= pace.midway,
    180_000,
  );
  return { contents, uid: job!.metadata!.uid! };
}

/** Waits for `name` to be Complete, then checks it copied `contents` whole: counters, and `<name>-dst` read back. */
export async function expectCopiedWhole(
  file: JobFile,
  name: string,
  contents: Map<string, Buffer>,
): Promise<void> {
  const { e2e, namespace } = file;
  await waitComplete(e2e, namespace, name, '300s');
  const bytes = [...contents.values()].reduce((n, b) => n + b.length, 0);
  expect((await readJob(e2e, namespace, name)).status).toMatchObject({
    phase: 'Succeeded',
    objects: { planned: contents.size, copied: contents.size, failed: 0 },
    bytes: { copied: bytes },
    tasks: { succeeded: contents.size, failed: 0, pending: 0, running: 0, dispatched: 0 },
  });
  expect(await bucketHashes(file.s3(), `${name}-dst`)).toEqual(hashes(contents));
}
