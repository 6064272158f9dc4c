// A job's state outside Kubernetes (ADR 0004, ADR 0020): its ledger records in
// etcd, its durable consumers on JetStream and its workers' records in NATS KV.
// Created when the job starts, removed by the finalizer when it is deleted.
import type * as k8s from '@kubernetes/client-node';
import type { Etcd3 } from 'etcd3';
import type { JetStreamManager } from '@nats-io/jetstream';
import { consumerPrefix, ledgerPrefix, streams } from '../../api/names.ts';
import { listingEndpointsBucket } from '../../api/listing.ts';
import { endpointsBucket, statusSubject, tasksSubject, uploadsBucket } from '../../api/tasks.ts';
import type { ReplicationJob } from '../../api/v1alpha1/index.ts';
import {
  defaultConsumerSettings,
  ensureJobConsumers,
  ensureStreams,
  isStreamNotFound,
  type ConsumerSettings,
} from '../dispatch/streams.ts';
import { abortOpenUploads, openUploadsOf, type AbortedUploads } from './openUploads.ts';
import type { UploadToAbort } from '../../api/uploads.ts';

export class ExternalJobState {
  private readonly etcd: Etcd3;
  private readonly jsm: () => Promise<JetStreamManager>;
  private readonly consumers: ConsumerSettings;

  constructor(
    etcd: Etcd3,
    jsm: () => Promise<JetStreamManager>,
    consumers: ConsumerSettings = defaultConsumerSettings,
  ) {
    this.etcd = etcd;
    this.jsm = jsm;
    this.consumers = consumers;
  }

  /** Creates the streams (if missing) and the job's durable consumers. Idempotent. */
  async ensure(jobUid: string): Promise<void> {
    const jsm = await this.jsm();
    await ensureStreams(jsm);
    await ensureJobConsumers(jsm, jobUid, this.consumers);
  }

  /** The job's uploads still open, with their keys: undefined when the records cannot be read. */
  async uploadsToAbort(jobUid: string): Promise<UploadToAbort[] | undefined> {
    try {
      const open = await openUploadsOf((await this.jsm()).jetstream(), jobUid);
      return open.map(({ key, uploadId }) => ({ key, uploadId }));
    } catch {
      return undefined; // best effort (openUploads.ts): the deletion goes on
    }
  }

  /**
   * Aborts the multipart uploads the job left open at its destination (see
   * openUploads.ts). Run before remove(), which drops the records naming them.
   */
  async abortOpenUploads(job: ReplicationJob, core: k8s.CoreV1Api): Promise<AbortedUploads> {
    let open;
    try {
      open = await openUploadsOf((await this.jsm()).jetstream(), job.metadata!.uid!);
    } catch (err) {
      // Best effort (openUploads.ts): what cannot be read cannot hold the job's deletion.
      return {
        aborted: 0,
        left: [{ count: 0, reason: `upload records unreadable: ${(err as Error).message}` }],
      };
    }
    return abortOpenUploads(job, open, core);
  }

  /**
   * Removes the job's ledger, its consumers and the messages left on its
   * subjects (task messages of an earlier epoch no worker acknowledged, say:
   * with the consumers gone nothing would ever take them) and the workers' KV
   * records of it. Idempotent:
   * removing what is already gone succeeds.
   */
  async remove(jobUid: string): Promise<void> {
    await this.etcd.delete().prefix(ledgerPrefix(jobUid));
    const jsm = await this.jsm();
    const subjects = [
      [streams.tasks, tasksSubject(jobUid)],
      [streams.status, statusSubject(jobUid)],
    ] as const;
    for (const [stream, subject] of subjects) {
      let names: string[];
      try {
        names = (await jsm.consumers.list(stream).next()).map((c) => c.name);
      } catch (err) {
        if (isStreamNotFound(err)) continue;
        throw err;
      }
      for (const name of names.filter((n) => n.startsWith(consumerPrefix(jobUid)))) {
        await jsm.consumers.delete(stream, name);
      }
      await jsm.streams.purge(stream, { filter: subject });
    }
    // The workers' KV records of the job (announced endpoints, multipart uploads).
    for (const bucket of [endpointsBucket, listingEndpointsBucket, uploadsBucket]) {
      try {
        await jsm.streams.purge(`KV_${bucket}`, { filter: `$KV.${bucket}.${jobUid}.>` });
      } catch (err) {
        if (!isStreamNotFound(err)) throw err;
      }
    }
  }
}
