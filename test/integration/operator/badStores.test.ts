// Jobs that cannot succeed because of the stores they name, end to end
// through the operator: each ends Failed with a reason naming the problem,
// after a bounded number of attempts (no retry storm), and writes nothing.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { ReplicationJob, ReplicationJobSpec } from '../../../api/v1alpha1/index.ts';
import { group, version } from '../../../api/v1alpha1/index.ts';
import { bedEndpoints } from '../../support/bed.ts';
import { bucketWith } from '../../support/bucketContents.ts';
import {
  s3CredentialsSecret,
  startReplicationBed,
  type ReplicationBed,
} from '../../support/replicationBed.ts';

const namespace = `bad-stores-it-${Date.now()}`;
const logDir = mkdtempSync(path.join(os.tmpdir(), 'ferry-bad-stores-it-'));

describe('jobs whose stores are wrong', () => {
  let bed: ReplicationBed;

  beforeAll(async () => {
    bed = await startReplicationBed({ namespace, name: 'bad-stores-it', logDir });
    await bed.core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name: 'wrong-creds' },
        stringData: { AWS_ACCESS_KEY_ID: 'nobody', AWS_SECRET_ACCESS_KEY: 'not-the-secret' },
      },
    });
  });
  afterAll(async () => {
    await bed?.stop();
  });

  const s3 = (bucket: string, secret = s3CredentialsSecret) => ({
    s3: { endpoint: bedEndpoints().s3.endpoint, bucket, credentialsSecretRef: { name: secret } },
  });
  const run = (name: string, spec: ReplicationJobSpec) =>
    bed.runJob({
      apiVersion: `${group}/${version}`,
      kind: 'ReplicationJob',
      metadata: { name, namespace },
      spec,
    });
  const condition = (job: ReplicationJob, type: string) =>
    job.status?.conditions?.find((c) => c.type === type);

  async function objectCount(bucket: string): Promise<number> {
    return (await bed.s3.send(new ListObjectsV2Command({ Bucket: bucket }))).KeyCount ?? 0;
  }

  it('fails a job whose source bucket does not exist, naming the bucket', async () => {
    const destination = `bad-dst-${Date.now()}`;
    await bed.s3.send(new CreateBucketCommand({ Bucket: destination }));
    const job = await run('no-source-bucket', {
      source: s3('no-such-bucket-anywhere'),
      destination: s3(destination),
    });
    expect(condition(job, 'Failed')).toMatchObject({ status: 'True', reason: 'ListingFailed' });
    expect(condition(job, 'Failed')?.message).toContain('no-such-bucket-anywhere');
    // Every condition of the Failed job tells the truth: none still reads "in progress".
    expect(condition(job, 'Complete')).toMatchObject({
      status: 'False',
      reason: 'Failed',
      message: condition(job, 'Failed')?.message,
    });
    expect(condition(job, 'Reconciling')).toMatchObject({ status: 'False', reason: 'Finished' });
    expect(
      job.status?.conditions?.filter((c) => c.reason === 'InProgress' || /in progress/.test(c.message)),
    ).toEqual([]);
    expect(await objectCount(destination)).toBe(0);
  });

  it('fails a job with wrong credentials once, with a clear reason, without retrying in a loop', async () => {
    const source = `bad-creds-src-${Date.now()}`;
    const destination = `bad-creds-dst-${Date.now()}`;
    await bucketWith(bed.s3, source, new Map([['a', randomBytes(10)]]));
    await bed.s3.send(new CreateBucketCommand({ Bucket: destination }));
    const job = await run('wrong-credentials', {
      source: s3(source, 'wrong-creds'),
      destination: s3(destination),
    });
    expect(condition(job, 'Failed')).toMatchObject({ status: 'True', reason: 'ListingFailed' });
    expect(condition(job, 'Failed')?.message).toMatch(/access key|credential|denied|signature/i);
    // Give a retry loop time to show itself: the job stays Failed and planning is not attempted again.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const after = await bed.readJob('wrong-credentials');
    expect(condition(after, 'Failed')?.status).toBe('True');
    const attempts = readFileSync(path.join(logDir, 'operator.log'), 'utf8')
      .split('\n')
      .filter((line) => line.includes('wrong-credentials') && /listing failed/i.test(line)).length;
    expect(attempts).toBeLessThanOrEqual(2); // the failure and its event: no storm
    expect(await objectCount(destination)).toBe(0);
  });

  it('fails a job whose destination bucket does not exist before copying anything, naming the bucket', async () => {
    const source = `bad-dst-src-${Date.now()}`;
    const keys = ['one.txt', 'two.txt'];
    await bucketWith(bed.s3, source, new Map(keys.map((k) => [k, randomBytes(100)])));
    const job = await run('no-destination-bucket', {
      source: s3(source),
      destination: s3('no-such-destination-bucket'),
    });
    const failed = condition(job, 'Failed');
    expect(failed?.status).toBe('True');
    // The destination is listed before planning: a missing bucket fails the job before any copy.
    expect(failed?.message).toContain('no-such-destination-bucket');
    expect(job.status?.objects?.copied ?? 0).toBe(0);
  });
});
