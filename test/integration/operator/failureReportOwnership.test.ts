// The failure report is a ConfigMap named after the job (`<job>-failures`).
// A ConfigMap of that name that the job does not own is the user's: writing
// the report must never overwrite it. One the job wrote before is replaced.
// Against the bed's kube-apiserver and ledger etcd.
import { randomUUID } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import * as k8s from '@kubernetes/client-node';
import { Etcd3 } from 'etcd3';
import type { ReplicationJob } from '../../../api/v1alpha1/index.ts';
import { createLogger } from '../../../common/logging.ts';
import { failureReportName, writeFailureReport } from '../../../operator/engine/failureReport.ts';
import { TaskLedger } from '../../../operator/ledger/taskLedger.ts';
import { taskId } from '../../../operator/planner/taskPlanner.ts';
import { bedEndpoints } from '../../support/bed.ts';
import { kubeConfigFor } from '../../support/kube.ts';

const namespace = `failure-report-${Date.now()}`;

describe('writing a failure report', () => {
  let core: k8s.CoreV1Api;
  let etcd: Etcd3;
  beforeAll(async () => {
    core = kubeConfigFor(bedEndpoints().kubeconfig).makeApiClient(k8s.CoreV1Api);
    etcd = new Etcd3({ hosts: bedEndpoints().ledgerEtcdUrl });
    await core.createNamespace({ body: { metadata: { name: namespace } } });
  });
  afterAll(async () => {
    etcd.close();
    await core.deleteNamespace({ name: namespace });
  });

  /** A job's ledger where one task failed on `key`, and the job as the operator sees it. */
  async function failedJob(name: string, key: string): Promise<{ job: ReplicationJob; ledger: TaskLedger }> {
    const uid = randomUUID();
    const ledger = new TaskLedger(etcd, uid);
    await ledger.ensureJob();
    const task = { kind: 'copy' as const, id: taskId(0), objects: [{ key, size: 1 }], bytes: 1 };
    await ledger.recordPlan([task], {}, true);
    await ledger.applyUpdates([{ taskId: task.id, state: 'DISPATCHED', epoch: 2, attempt: 1 }]);
    const error = {
      kind: 'permanent' as const,
      message: 'failed',
      failures: [{ key, reason: 'EACCES' }],
      failedCount: 1,
    };
    await ledger.applyUpdates([{ taskId: task.id, state: 'FAILED', epoch: 2, attempt: 1, error }]);
    const job = {
      apiVersion: 'ferry.dev/v1alpha1',
      kind: 'ReplicationJob',
      metadata: { name, namespace, uid },
      spec: {},
    } as unknown as ReplicationJob;
    return { job, ledger };
  }

  const reportedKeys = async (name: string) => {
    const cm = await core.readNamespacedConfigMap({ name, namespace });
    return gunzipSync(Buffer.from(cm.binaryData!['failures.jsonl.gz']!, 'base64')).toString('utf8');
  };

  it('leaves a ConfigMap of the report’s name that the job does not own as it is, and says why', async () => {
    const name = failureReportName('users-job');
    await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name }, data: { mine: 'keep me' } },
    });
    const { job, ledger } = await failedJob('users-job', 'a/secret.txt');
    const warnings: string[] = [];
    const log = {
      ...createLogger('test', 'error'),
      warn: (_m: string, f?: object) => void warnings.push(JSON.stringify(f)),
    };

    expect(await writeFailureReport(core, job, ledger, log)).toBeUndefined();
    const kept = await core.readNamespacedConfigMap({ name, namespace });
    expect(kept.data).toEqual({ mine: 'keep me' });
    expect(kept.binaryData).toBeUndefined();
    expect(warnings.join('\n')).toMatch(/exists and is not this job's/);
    await ledger.remove();
  });

  it('replaces the report it wrote before', async () => {
    const first = await failedJob('rerun', 'old/key.bin');
    expect(await writeFailureReport(core, first.job, first.ledger, createLogger('test', 'error'))).toBe(
      failureReportName('rerun'),
    );
    expect(await reportedKeys(failureReportName('rerun'))).toMatch(/old\/key\.bin/);
    // The same job (same UID), its ledger now naming another failure.
    const again = await failedJob('rerun', 'new/key.bin');
    again.job.metadata!.uid = first.job.metadata!.uid;
    expect(await writeFailureReport(core, again.job, again.ledger, createLogger('test', 'error'))).toBe(
      failureReportName('rerun'),
    );
    const keys = await reportedKeys(failureReportName('rerun'));
    expect(keys).toMatch(/new\/key\.bin/);
    expect(keys).not.toMatch(/old\/key\.bin/);
    await first.ledger.remove();
    await again.ledger.remove();
  });
});
