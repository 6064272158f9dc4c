// The ledger's etcd out of space (issue 15): its quota alarm (NOSPACE,
// "etcdserver: mvcc: database space exceeded") refuses every write. A running
// job must say so — Degraded=True with reason LedgerOutOfSpace and what to
// do, one Warning event — and wait, backing off, instead of ending its engine
// and starting it again and again; after the runbook's recovery (delete,
// compact, defragment, disarm the alarm) it goes on and completes.
// The ledger here is an etcd of its own, started with a 4 MiB quota.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { AlarmAction, AlarmType, Etcd3 } from 'etcd3';
import type { ReplicationJob } from '../../../api/v1alpha1/index.ts';
import { EtcdServer } from '../../bed/etcd.ts';
import { bedEndpoints } from '../../support/bed.ts';
import { bucketHashes, bucketWith, hashes } from '../../support/bucketContents.ts';
import {
  finished,
  s3CredentialsSecret,
  startReplicationBed,
  type ReplicationBed,
} from '../../support/replicationBed.ts';
import { waitFor } from '../../support/wait.ts';

const namespace = `ledger-nospace-it-${Date.now()}`;
const dir = mkdtempSync(path.join(os.tmpdir(), 'ferry-ledger-nospace-it-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const junk = 'junk/';

describe('a job whose ledger etcd runs out of space', () => {
  let etcdServer: EtcdServer;
  let etcd: Etcd3;
  let bed: ReplicationBed;

  beforeAll(async () => {
    etcdServer = await EtcdServer.create(dir, 'small-ledger', [`--quota-backend-bytes=${4 * 1024 * 1024}`]);
    await etcdServer.start();
    etcd = new Etcd3({ hosts: etcdServer.clientUrl });
    bed = await startReplicationBed({
      namespace,
      name: 'ledger-nospace-it',
      logDir: dir,
      bed: { ...bedEndpoints(), ledgerEtcdUrl: etcdServer.clientUrl },
    });
  }, 60_000);
  afterAll(async () => {
    await bed?.stop();
    etcd?.close();
    await etcdServer?.stop();
  });

  /** Writes junk until etcd raises its NOSPACE alarm. */
  async function fillLedger(): Promise<void> {
    const value = randomBytes(256 * 1024).toString('base64');
    for (let i = 0; i < 200; i++) {
      try {
        await etcd.put(`${junk}${i}`).value(value);
      } catch (err) {
        if (/database space exceeded/.test(String(err))) return;
        throw err;
      }
    }
    throw new Error('etcd never ran out of space');
  }

  /** docs/operations.md, "The ledger is out of space": free, compact, defragment, disarm. */
  async function recoverLedger(): Promise<void> {
    await etcd.delete().prefix(junk); // deletes are allowed under the alarm
    const { header } = await etcd.maintenance.status();
    await etcd.kv.compact({ revision: header.revision, physical: true });
    await etcd.maintenance.defragment();
    const { alarms } = await etcd.maintenance.alarm({
      action: AlarmAction.Get,
      alarm: AlarmType.None,
      memberID: '0',
    });
    for (const a of alarms)
      await etcd.maintenance.alarm({ action: AlarmAction.Deactivate, alarm: a.alarm, memberID: a.memberID });
  }

  const degraded = (job: ReplicationJob) => job.status?.conditions?.find((c) => c.type === 'Degraded');

  it('shows LedgerOutOfSpace with what to do, backs off, and completes after the recovery', async () => {
    const name = 'ledger-full';
    const source = `nospace-src-${Date.now()}`;
    const destination = `nospace-dst-${Date.now()}`;
    const contents = new Map(
      Array.from({ length: 60 }, (_, i) => [`k/${String(i).padStart(3, '0')}`, randomBytes(1024)] as const),
    );
    await bucketWith(bed.s3, source, contents);
    await bed.s3.send(new CreateBucketCommand({ Bucket: destination }));
    const endpoint = bedEndpoints().s3.endpoint;
    const credentialsSecretRef = { name: s3CredentialsSecret };
    await bed.createJob(name, {
      source: { s3: { endpoint, bucket: source, credentialsSecretRef } },
      destination: { s3: { endpoint, bucket: destination, credentialsSecretRef } },
      tasks: { maxObjects: 1 },
      workers: { source: { concurrency: 1 }, destination: {} },
      bandwidthLimit: '8Ki', // about 8 objects a second: mid-way when the ledger fills
    });
    await waitFor(
      `${name}: 5 tasks to succeed`,
      async () => ((await bed.readJob(name)).status?.tasks?.succeeded ?? 0) >= 5,
      60_000,
    );
    await fillLedger();

    let job: ReplicationJob | undefined;
    await waitFor(
      `${name} to show the ledger out of space`,
      async () => degraded((job = await bed.readJob(name)))?.reason === 'LedgerOutOfSpace',
      30_000,
    );
    expect(degraded(job!)).toMatchObject({ status: 'True' });
    expect(degraded(job!)!.message).toMatch(/database space exceeded/);
    expect(degraded(job!)!.message).toMatch(/alarm disarm/);
    await sleep(10_000); // the engine waits, backing off; before issue 15 it restarted every few seconds
    job = await bed.readJob(name);
    expect(job.status?.phase).not.toBe('Failed');
    expect(job.status?.resumes ?? 0).toBe(0);
    const events = (
      await bed.core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` })
    ).items;
    expect(events.filter((e) => e.reason === 'LedgerOutOfSpace')).toHaveLength(1);

    await recoverLedger();
    await waitFor(
      `${name} to complete after the recovery`,
      async () => {
        job = await bed.readJob(name);
        if (finished(job, 'Failed')) throw new Error(`${name} failed: ${JSON.stringify(job.status)}`);
        return finished(job);
      },
      60_000,
    );
    expect(job!.status).toMatchObject({ objects: { copied: 60, failed: 0 } });
    expect(job!.status?.resumes ?? 0).toBe(0);
    expect(degraded(job!)).toMatchObject({ status: 'False' });
    expect(await bucketHashes(bed.s3, destination)).toEqual(hashes(contents));
  }, 180_000);
});
