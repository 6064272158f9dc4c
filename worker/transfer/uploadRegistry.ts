// Which multipart upload holds a large object's parts. The parts of one object
// reach the destination through different destination workers (a job may run
// several, and a task may be re-delivered to another), so the upload id cannot
// live in one worker's memory: it is a record in a NATS KV bucket, keyed by the
// job and the object, created with compare-and-set so that every worker agrees
// on one upload per object. The record also remembers that the object was
// completed, so a part delivered again afterwards changes nothing.
import { createHash } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm, type KV } from '@nats-io/kv';
import { uploadsBucket } from '../../api/tasks.ts';
import type { UploadRecord } from '../../api/uploads.ts';

/** Records outlive any job's run but not forever: a week after the last change. */
const recordTtlMs = 7 * 24 * 3600 * 1000;

/** The part of a KV entry the registry reads. */
interface Entry {
  record: UploadRecord;
  revision: number;
}

export class UploadRegistry {
  private readonly kv: KV;
  private readonly jobUid: string;

  private constructor(kv: KV, jobUid: string) {
    this.kv = kv;
    this.jobUid = jobUid;
  }

  static async open(nc: NatsConnection, jobUid: string): Promise<UploadRegistry> {
    const kv = await new Kvm(nc).create(uploadsBucket, { ttl: recordTtlMs, history: 1 });
    return new UploadRegistry(kv, jobUid);
  }

  /** KV keys allow few characters: the object key is hashed. */
  private entryKey(objectKey: string): string {
    return `${this.jobUid}.${createHash('sha256').update(objectKey, 'utf8').digest('hex').slice(0, 40)}`;
  }

  private async read(objectKey: string): Promise<Entry | undefined> {
    const entry = await this.kv.get(this.entryKey(objectKey));
    if (!entry || entry.operation !== 'PUT') return undefined;
    return { record: entry.json<UploadRecord>(), revision: entry.revision };
  }

  /** The object's upload record, if any worker started one. */
  async find(objectKey: string): Promise<UploadRecord | undefined> {
    return (await this.read(objectKey))?.record;
  }

  /**
   * The object's upload, starting one with `start` when none exists. When two
   * workers start one at the same time, one record wins; the loser's upload is
   * handed to `discard` and the winner's returned.
   */
  async findOrStart(
    objectKey: string,
    size: number,
    start: () => Promise<string>,
    discard: (uploadId: string) => Promise<void>,
    sourceVersion?: string,
  ): Promise<UploadRecord> {
    const existing = await this.read(objectKey);
    if (existing) return existing.record;
    const record: UploadRecord = {
      uploadId: await start(),
      key: objectKey,
      state: 'open',
      size,
      ...(sourceVersion !== undefined ? { sourceVersion } : {}),
    };
    try {
      await this.kv.create(this.entryKey(objectKey), JSON.stringify(record));
      return record;
    } catch (err) {
      const winner = await this.read(objectKey);
      if (!winner) throw err;
      await discard(record.uploadId);
      return winner.record;
    }
  }

  /**
   * Replaces the open upload `current` with a new one (from `start`) for
   * another version of the source, which part `partNumber`'s task found:
   * the old upload's parts are of a version no longer there, so they are
   * handed to `discard`, and that task becomes the one that sends every part
   * (docs/adr/0033). Compare-and-set on the record: when another worker
   * changed it first, the new upload is discarded instead and the record as
   * it is now returned.
   */
  async restart(
    objectKey: string,
    current: UploadRecord,
    sourceVersion: string,
    partNumber: number,
    start: () => Promise<string>,
    discard: (uploadId: string) => Promise<void>,
  ): Promise<UploadRecord> {
    const entry = await this.read(objectKey);
    if (!entry || entry.record.uploadId !== current.uploadId || entry.record.state !== 'open')
      return entry?.record ?? current;
    const { completing: _stale, ...kept } = entry.record;
    const record: UploadRecord = {
      ...kept,
      uploadId: await start(),
      sourceVersion,
      restartedBy: partNumber,
    };
    try {
      await this.kv.update(this.entryKey(objectKey), JSON.stringify(record), entry.revision);
    } catch (err) {
      await discard(record.uploadId);
      const now = await this.read(objectKey);
      if (!now) throw err;
      return now.record;
    }
    await discard(current.uploadId);
    return record;
  }

  /**
   * Adds `details` to the open upload `uploadId` (compare-and-set). True when
   * written; false when the upload is no longer the open one.
   */
  async annotate(
    objectKey: string,
    uploadId: string,
    details: Pick<UploadRecord, 'completing'>,
  ): Promise<boolean> {
    for (;;) {
      const current = await this.read(objectKey);
      if (!current || current.record.uploadId !== uploadId || current.record.state !== 'open') return false;
      try {
        await this.kv.update(
          this.entryKey(objectKey),
          JSON.stringify({ ...current.record, ...details }),
          current.revision,
        );
        return true;
      } catch (err) {
        if ((await this.read(objectKey))?.revision === current.revision) throw err;
      }
    }
  }

  /**
   * Moves an open upload to `state` (compare-and-set on the record it was read
   * from), with `details` (reason, completedBy). True when this call made the
   * change; false when the upload was settled already (by another worker).
   */
  async settle(
    objectKey: string,
    uploadId: string,
    state: 'completed' | 'discarded',
    details: Pick<UploadRecord, 'reason' | 'completedBy'> = {},
  ): Promise<boolean> {
    for (;;) {
      const current = await this.read(objectKey);
      if (!current || current.record.uploadId !== uploadId || current.record.state !== 'open') return false;
      const record: UploadRecord = { ...current.record, state, ...details };
      try {
        await this.kv.update(this.entryKey(objectKey), JSON.stringify(record), current.revision);
        return true;
      } catch (err) {
        // Another worker settled it first: read again (and stop when it is already in `state`).
        if ((await this.read(objectKey))?.revision === current.revision) throw err;
      }
    }
  }
}
