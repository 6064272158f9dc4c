// What every step of a job's task engine talks to: the job's ledger in etcd
// and its subjects in JetStream. Dispatch, status ingestion and the resume
// take them as one value, so no call can pair one job's ledger with another
// job's subjects.
import type { JetStreamClient } from '@nats-io/jetstream';
import type { TaskLedger } from '../ledger/taskLedger.ts';

export interface JobChannels {
  /** The job's UID: its subjects, consumers and ledger prefix are named after it. */
  readonly jobUid: string;
  /** The job's record in etcd (ADR 0004). */
  readonly ledger: TaskLedger;
  /** Where task messages are published and status messages fetched. */
  readonly js: JetStreamClient;
}
