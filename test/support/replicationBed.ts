// What an end-to-end ReplicationJob test stands on: a namespace with the bed's
// S3 credentials in a Secret, an S3 client, the pod runner for the worker
// pods, and the operator as its own process.
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { S3Client } from '@aws-sdk/client-s3';
import {
  group,
  plural,
  version,
  type ReplicationJob,
  type ReplicationJobSpec,
} from '../../api/v1alpha1/index.ts';
import { PodRunner, type PodRunnerOptions } from '../podrunner/podRunner.ts';
import type { BedEndpoints } from '../bed/controlPlane.ts';
import { bedEndpoints } from './bed.ts';
import { installCrds, kubeConfigFor, readReplicationJob } from './kube.ts';
import { OperatorProcess } from './operatorProcess.ts';
import { waitFor } from './wait.ts';

/** The Secret holding the bed's S3 credentials in the test's namespace. */
export const s3CredentialsSecret = 's3-creds';

export interface ReplicationBed {
  namespace: string;
  core: k8s.CoreV1Api;
  objects: k8s.CustomObjectsApi;
  s3: S3Client;
  runner: PodRunner;
  operator: OperatorProcess;
  readJob(name: string): Promise<ReplicationJob>;
  /** Creates a job named `name` in the bed's namespace, and returns without waiting. */
  createJob(name: string, spec: ReplicationJobSpec): Promise<void>;
  /** Deletes the job and waits until it is gone (its finalizer done). */
  deleteJob(name: string, timeoutMs?: number): Promise<void>;
  /** Creates the job and waits for it to be Complete or Failed; the job as it finished. */
  runJob(job: ReplicationJob, timeoutMs?: number): Promise<ReplicationJob>;
  stop(): Promise<void>;
}

export interface ReplicationBedOptions {
  namespace: string;
  /** Names the operator's identity and lease. */
  name: string;
  /** Holds operator.log and the pods' logs (pods/). */
  logDir: string;
  runner?: Partial<PodRunnerOptions>;
  /** More environment for the operator (e.g. FERRY_WORKER_LOG_LEVEL). */
  operatorEnv?: Record<string, string>;
  /** A private bed (a test that restarts its servers); the shared one by default. */
  bed?: BedEndpoints;
}

export const finished = (job: ReplicationJob, type: 'Complete' | 'Failed' = 'Complete'): boolean =>
  job.status?.conditions?.some((c) => c.type === type && c.status === 'True') ?? false;

export async function startReplicationBed(options: ReplicationBedOptions): Promise<ReplicationBed> {
  const bed = options.bed ?? bedEndpoints();
  const { namespace } = options;
  const kc = kubeConfigFor(bed.kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const objects = kc.makeApiClient(k8s.CustomObjectsApi);
  await installCrds(kc);
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  await core.createNamespacedSecret({
    namespace,
    body: {
      metadata: { name: s3CredentialsSecret },
      stringData: {
        AWS_ACCESS_KEY_ID: bed.s3.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: bed.s3.credentials.secretAccessKey,
      },
    },
  });
  const s3 = new S3Client({
    endpoint: bed.s3.endpoint,
    region: bed.s3.region,
    credentials: bed.s3.credentials,
    forcePathStyle: true,
  });
  const runner = await PodRunner.start({
    kubeconfig: bed.kubeconfig,
    namespace,
    logDir: path.join(options.logDir, 'pods'),
    maxProbePeriodSeconds: 1,
    ...options.runner,
  });
  const operator = await OperatorProcess.start(bed, {
    identity: `${options.name}-operator`,
    watchNamespace: namespace,
    leaseNamespace: namespace,
    leaseName: `ferry-${options.name}`,
    logFile: path.join(options.logDir, 'operator.log'),
    extraEnv: options.operatorEnv,
  });
  const readJob = (name: string) => readReplicationJob(objects, namespace, name);
  return {
    namespace,
    core,
    objects,
    s3,
    runner,
    operator,
    readJob,
    async createJob(name, spec) {
      const body: ReplicationJob = {
        apiVersion: `${group}/${version}`,
        kind: 'ReplicationJob',
        metadata: { name, namespace },
        spec,
      };
      await objects.createNamespacedCustomObject({ group, version, namespace, plural, body });
    },
    async deleteJob(name, timeoutMs = 60_000) {
      await objects.deleteNamespacedCustomObject({ group, version, namespace, plural, name });
      await waitFor(
        `job ${name} to be gone`,
        () =>
          readJob(name).then(
            () => false,
            (err: unknown) => (err as { code?: number }).code === 404,
          ),
        timeoutMs,
      );
    },
    async runJob(job, timeoutMs = 120_000) {
      const name = job.metadata!.name!;
      await objects.createNamespacedCustomObject({ group, version, namespace, plural, body: job });
      let current: ReplicationJob | undefined;
      await waitFor(
        `job ${name} to be Complete or Failed`,
        async () => {
          current = await readJob(name);
          return finished(current) || finished(current, 'Failed');
        },
        timeoutMs,
      );
      return current!;
    },
    async stop() {
      await operator.stop();
      await runner.stop();
      s3.destroy();
    },
  };
}
