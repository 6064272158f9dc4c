// A store that goes away while a job plans (issue 15): the job shows it —
// Degraded=True naming the store and the error, one Warning event for the
// outage — rather than resuming again and again, and goes on by itself once
// the store is back, copying every object. The source S3 server is reached
// through a relay the test takes down and brings back on the same port.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import type { ReplicationJob } from '../../../api/v1alpha1/index.ts';
import { bedEndpoints } from '../../support/bed.ts';
import { bucketHashes, bucketWith, hashes } from '../../support/bucketContents.ts';
import {
  finished,
  s3CredentialsSecret,
  startReplicationBed,
  type ReplicationBed,
} from '../../support/replicationBed.ts';
import { TcpRelay } from '../../support/tcpRelay.ts';
import { waitFor } from '../../support/wait.ts';

const namespace = `store-outage-it-${Date.now()}`;
const logDir = mkdtempSync(path.join(os.tmpdir(), 'ferry-store-outage-it-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a source store that goes away while the job plans', () => {
  let bed: ReplicationBed;
  let relay: TcpRelay;

  beforeAll(async () => {
    bed = await startReplicationBed({ namespace, name: 'store-outage-it', logDir });
    relay = await TcpRelay.start(new URL(bedEndpoints().s3.endpoint));
  });
  afterAll(async () => {
    await relay?.down();
    await bed?.stop();
  });

  const degraded = (job: ReplicationJob) => job.status?.conditions?.find((c) => c.type === 'Degraded');
  const events = async (name: string) =>
    (await bed.core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` })).items;

  it('shows the outage as Degraded and one event, not as resumes, and completes once the store is back', async () => {
    const name = 'source-away';
    const source = `outage-src-${Date.now()}`;
    const destination = `outage-dst-${Date.now()}`;
    const contents = new Map(
      Array.from({ length: 30 }, (_, i) => [`k/${String(i).padStart(3, '0')}`, randomBytes(512)] as const),
    );
    await bucketWith(bed.s3, source, contents);
    await bed.s3.send(new CreateBucketCommand({ Bucket: destination }));
    const credentialsSecretRef = { name: s3CredentialsSecret };

    await relay.down(); // the source server goes away before the plan's first listing
    await bed.createJob(name, {
      source: { s3: { endpoint: relay.url, bucket: source, credentialsSecretRef } },
      destination: {
        s3: { endpoint: bedEndpoints().s3.endpoint, bucket: destination, credentialsSecretRef },
      },
      tasks: { maxObjects: 5 },
    });

    let job: ReplicationJob | undefined;
    await waitFor(
      `${name} to show the outage`,
      async () => (degraded((job = await bed.readJob(name)))?.status ?? '') === 'True',
      30_000,
    );
    expect(degraded(job!)).toMatchObject({ reason: 'StoreUnreachable' });
    expect(degraded(job!)!.message).toContain(source); // the store, named
    expect(degraded(job!)!.message).toMatch(/ECONNREFUSED|network error|request failed/);
    // Long enough for many retries (and, before issue 15, for resumes every 5 s).
    await sleep(15_000);
    job = await bed.readJob(name);
    expect(job.status?.phase).not.toBe('Failed');
    expect(degraded(job)?.status).toBe('True');
    expect(job.status?.resumes ?? 0).toBe(0);
    const warnings = (await events(name)).filter((e) => e.reason === 'StoreUnreachable');
    expect(warnings).toHaveLength(1); // once per outage, not per retry
    expect(warnings[0]).toMatchObject({ type: 'Warning' });

    await relay.up();
    await waitFor(
      `${name} to complete once the store is back`,
      async () => {
        job = await bed.readJob(name);
        if (finished(job, 'Failed')) throw new Error(`${name} failed: ${JSON.stringify(job.status)}`);
        return finished(job);
      },
      60_000,
    );
    expect(job!.status).toMatchObject({ objects: { copied: 30, failed: 0 } });
    expect(job!.status?.resumes ?? 0).toBe(0);
    expect(degraded(job!)).toMatchObject({ status: 'False', reason: 'Reachable' });
    expect((await events(name)).map((e) => e.reason)).toContain('Recovered');
    expect(await bucketHashes(bed.s3, destination)).toEqual(hashes(contents));
  }, 120_000);
});
