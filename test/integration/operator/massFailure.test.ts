// A job whose every object fails, with ~1,200-byte keys, end to end (real
// kube-apiserver, etcd, NATS, S3, a filesystem source): 5,000 objects under
// `x/…` on a filesystem, copied to a bucket where `x` is an object and whose
// keys are at most 1,024 bytes, so the S3 server refuses every write. The job
// must record its failures within etcd's and NATS's limits and end Failed,
// with its failures in status (bounded, with reasons), in the Failed event,
// and in its failure report (every key with its reason) — not stay stuck.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { Etcd3 } from 'etcd3';
import { ledgerPrefix } from '../../../api/names.ts';
import { group, version } from '../../../api/v1alpha1/index.ts';
import { bedEndpoints } from '../../support/bed.ts';
import { connectEngineClients, type EngineClients } from '../../support/engineClients.ts';
import {
  s3CredentialsSecret,
  startReplicationBed,
  type ReplicationBed,
} from '../../support/replicationBed.ts';
import { fill } from '../../support/treeContents.ts';
import { waitFor } from '../../support/wait.ts';

const namespace = `mass-failure-it-${Date.now()}`;
const logDir = mkdtempSync(path.join(os.tmpdir(), 'ferry-mass-failure-it-'));
const etcdRequestLimit = 1.5 * 1024 * 1024;
const objects = 5_000;

/**
 * ~1,200 bytes, in segments a filesystem holds (≤ 255), random as real keys are (deflate takes
 * nothing out of them): a thousand of them, the default tasks.maxObjects, pass 1 MiB.
 */
function longKeys(): string[] {
  const dirs = [1, 2, 3, 4, 5].map(() => randomBytes(100).toString('hex'));
  return Array.from(
    { length: objects },
    (_, i) => `x/${dirs.join('/')}/${String(i).padStart(5, '0')}-${randomBytes(100).toString('hex')}`,
  );
}

describe('a job whose every object fails, with long keys', () => {
  let bed: ReplicationBed;
  let clients: EngineClients;

  beforeAll(async () => {
    bed = await startReplicationBed({
      namespace,
      name: 'mass-failure-it',
      logDir,
      runner: { volumeDir: path.join(logDir, 'volumes') },
    });
    await bed.core.createNamespacedPersistentVolumeClaim({
      namespace,
      body: {
        metadata: { name: 'exports' },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
      },
    });
    clients = await connectEngineClients();
  });
  afterAll(async () => {
    await clients?.close();
    await bed?.stop();
  });

  it('ends Failed, within etcd’s and NATS’s limits, with bounded failures in status and every key with its reason in its report', async () => {
    const keys = longKeys();
    fill(
      path.join(bed.runner.claimDir(namespace, 'exports'), 'long'),
      new Map(keys.map((k) => [k, Buffer.from('ten bytes!')])),
    );
    const bucket = `mass-failure-${Date.now()}`;
    await bed.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await bed.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'x', Body: 'an object, not a folder' }));

    // Every task and status message of the job, as the NATS server carries it.
    const messageBytes = { tasks: [] as number[], status: [] as number[] };
    const taskSub = clients.nc.subscribe('ferry.tasks.>', {
      callback: (_e, m) => void messageBytes.tasks.push(m.data.length),
    });
    const statusSub = clients.nc.subscribe('ferry.status.>', {
      callback: (_e, m) => void messageBytes.status.push(m.data.length),
    });

    const job = await bed.runJob(
      {
        apiVersion: `${group}/${version}`,
        kind: 'ReplicationJob',
        metadata: { name: 'long-keys', namespace },
        spec: {
          source: { filesystem: { claimName: 'exports', path: '/long' } },
          destination: {
            s3: {
              endpoint: bedEndpoints().s3.endpoint,
              bucket,
              credentialsSecretRef: { name: s3CredentialsSecret },
            },
          },
          retry: { maxAttempts: 1 },
        },
      },
      150_000,
    );
    taskSub.unsubscribe();
    statusSub.unsubscribe();

    expect(job.status).toMatchObject({
      phase: 'Failed',
      objects: { planned: objects, copied: 0, failed: objects },
      failedObjectsTotal: objects,
    });
    expect(job.status!.failedObjects).toHaveLength(100);
    for (const f of job.status!.failedObjects!) {
      expect(keys).toContain(`${f.key}`);
      // The worker cuts a reason to 300 characters; with a 1,000-byte key in it the cause may be cut off.
      expect(f.reason).toMatch(/ObjectParentIsFile|KeyTooLong|409|400|parent|write "x\//i);
    }

    // NATS: every message below the server's max_payload.
    const maxPayload = clients.nc.info!.max_payload;
    expect(messageBytes.tasks.length).toBeGreaterThan(0);
    expect(messageBytes.status.length).toBeGreaterThan(0);
    expect(Math.max(...messageBytes.tasks)).toBeLessThan(maxPayload);
    expect(Math.max(...messageBytes.status)).toBeLessThan(maxPayload);

    // etcd: what a transaction of status updates writes is at most 50 records with their failure lists;
    // the largest 50 the ledger holds stay under etcd's request limit.
    const values = await ledgerValues(clients.etcd, job.metadata!.uid!);
    const largest = [...values.tasks, ...values.failures].sort((a, b) => b - a);
    expect(largest.slice(0, 50).reduce((n, b) => n + b, 0)).toBeLessThan(etcdRequestLimit);

    // The report: every key, each with its reason.
    const name = job.status!.failureReport!;
    expect(name).toBe('long-keys-failures');
    const parts = await bed.core.listNamespacedConfigMap({
      namespace,
      labelSelector: 'ferry.dev/failure-report-of=long-keys',
    });
    const lines = parts.items
      .flatMap((cm) =>
        gunzipSync(Buffer.from(cm.binaryData!['failures.jsonl.gz']!, 'base64'))
          .toString()
          .trimEnd()
          .split('\n'),
      )
      .map((l) => JSON.parse(l) as { key?: string; reason: string });
    const named = lines.filter((l) => l.key !== undefined);
    expect(new Set(named.map((l) => `x/${l.key!.replace(/^x\//, '')}`))).toEqual(new Set(keys));
    for (const l of named) expect(l.reason.length).toBeGreaterThan(0);

    // The Failed event names failures with their reasons.
    await waitFor('a Warning event naming failed objects', async () => {
      const events = await bed.core.listNamespacedEvent({ namespace });
      return events.items.some((e) => e.reason === 'Failed' && /objects failed: x\//.test(e.message ?? ''));
    });
    console.log(
      'largest task message',
      Math.max(...messageBytes.tasks),
      'status',
      Math.max(...messageBytes.status),
      'of',
      maxPayload,
      '; largest ledger value',
      largest[0],
      '; report parts',
      parts.items.length,
    );
  }, 240_000);
});

async function ledgerValues(etcd: Etcd3, uid: string): Promise<{ tasks: number[]; failures: number[] }> {
  const prefix = ledgerPrefix(uid);
  const all = await etcd.getAll().prefix(prefix).exec();
  const of = (kind: string) =>
    all.kvs
      .filter((kv) => kv.key.toString().startsWith(`${prefix}${kind}/`))
      .map((kv) => kv.value.length + kv.key.length);
  return { tasks: of('tasks'), failures: of('failures') };
}
