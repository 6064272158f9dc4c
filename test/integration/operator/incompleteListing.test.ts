// A Sync whose source or destination listing is cut short fails and deletes nothing
// (issue 15): the extras a complete listing would find are never judged on a
// partial view. The cut store's endpoint is a relay that drops the listing's
// continuation tokens; the page size is the S3 default 1000, so > 1000 objects.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ReplicationJob } from '../../../api/v1alpha1/index.ts';
import { group, plural, version } from '../../../api/v1alpha1/index.ts';
import { bedEndpoints } from '../../support/bed.ts';
import { bucketHashes, bucketWith } from '../../support/bucketContents.ts';
import { finished, startReplicationBed, type ReplicationBed } from '../../support/replicationBed.ts';
import { tokenDroppingRelay } from '../../support/tokenDroppingRelay.ts';
import { waitFor } from '../../support/wait.ts';

const namespace = `incomplete-listing-it-${Date.now()}`;
const logDir = mkdtempSync(path.join(os.tmpdir(), 'ferry-incomplete-listing-it-'));

describe('a Sync with a listing truncated without a token', () => {
  let bed: ReplicationBed;
  let relay: Awaited<ReturnType<typeof tokenDroppingRelay>>;

  beforeAll(async () => {
    bed = await startReplicationBed({ namespace, name: 'incomplete-listing-it', logDir });
    relay = await tokenDroppingRelay(new URL(bedEndpoints().s3.endpoint));
  });

  afterAll(async () => {
    await relay?.close();
    await bed?.stop();
  });

  async function syncThroughRelay(name: string, cut: 'source' | 'destination'): Promise<void> {
    const source = `il-${name}-src-${Date.now()}`;
    const destination = `il-${name}-dst-${Date.now()}`;
    const key = (prefix: string, i: number) => `${prefix}/${String(i).padStart(4, '0')}`;
    // 1100 shared keys fill the first page; the extras sit after them in key order, on the page the relay hides.
    const shared = new Map<string, Buffer>();
    for (let i = 0; i < 1100; i++) shared.set(key('a-shared', i), Buffer.from(`v${i}`));
    const extras = new Map<string, Buffer>();
    for (let i = 0; i < 5; i++) extras.set(key('z-extra', i), randomBytes(8));
    const sourceObjects = new Map(shared);
    for (let i = 0; i < 5; i++) sourceObjects.set(key('b-new', i), randomBytes(16));
    await bucketWith(bed.s3, source, sourceObjects);
    await bucketWith(bed.s3, destination, new Map([...shared, ...extras]));
    const before = await bucketHashes(bed.s3, destination);

    const { endpoint } = bedEndpoints().s3;
    const store = (bucket: string, through: string) => ({
      s3: { endpoint: through, bucket, credentialsSecretRef: { name: 's3-creds' } },
    });
    const job: ReplicationJob = {
      apiVersion: `${group}/${version}`,
      kind: 'ReplicationJob',
      metadata: { name, namespace },
      spec: {
        mode: 'Sync',
        source: store(source, cut === 'source' ? relay.url : endpoint),
        destination: store(destination, cut === 'destination' ? relay.url : endpoint),
      },
    };
    await bed.objects.createNamespacedCustomObject({ group, version, namespace, plural, body: job });

    let ended: ReplicationJob | undefined;
    await waitFor(
      'the job to end',
      async () => {
        ended = await bed.readJob(name);
        if (finished(ended)) throw new Error(`the job succeeded: ${JSON.stringify(ended.status)}`);
        return finished(ended, 'Failed');
      },
      30_000,
    );
    // Listed directly, not through the relay: every destination object is there, unchanged, nothing added.
    const after = await bucketHashes(bed.s3, destination);
    expect([...after]).toEqual([...before]);
    const failed = ended!.status!.conditions!.find((c) => c.type === 'Failed');
    expect(failed).toMatchObject({ status: 'True', reason: 'ListingFailed' });
    expect(failed!.message).toContain('truncated but gave no continuation token');
    expect(ended!.status!.objects?.copied ?? 0).toBe(0);
    expect(ended!.status!.objects?.deleted ?? 0).toBe(0);
  }

  // A hidden destination page would hide extras (left in place) and shared keys (copied again).
  it('ends Failed naming the incomplete listing when the destination is cut, deleting and copying nothing', async () => {
    await syncThroughRelay('cut-destination', 'destination');
  });

  // A hidden source page is the dangerous one: without the guard the shared keys on it are deleted.
  it('ends Failed naming the incomplete listing when the source is cut, deleting and copying nothing', async () => {
    await syncThroughRelay('cut-source', 'source');
  });
});
