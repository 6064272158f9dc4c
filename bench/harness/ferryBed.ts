// The transfer benchmarks' bed: a private local control plane with a second
// S3 server, so the source and the destination are two separate endpoints
// (for Ferry and for rclone alike), the pod runner (the bed's kubelet) and the
// operator as its own process — the same wiring as `make demo`.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { ReplicationJob, ReplicationJobSpec } from '../../api/v1alpha1/index.ts';
import { group, plural, version } from '../../api/v1alpha1/index.ts';
import { labels } from '../../api/names.ts';
import { LocalControlPlane } from '../../test/bed/controlPlane.ts';
import { S3Server } from '../../test/bed/s3Server.ts';
import { PodRunner } from '../../test/podrunner/podRunner.ts';
import { installCrds, kubeConfigFor, readReplicationJob } from '../../test/support/kube.ts';
import { OperatorProcess } from '../../test/support/operatorProcess.ts';
import { waitFor } from '../../test/support/wait.ts';
import { connect } from '@nats-io/transport-node';
import { statusSubject, tasksSubject } from '../../api/tasks.ts';
import { clientFor, type S3Endpoint } from './buckets.ts';

export const benchNamespace = 'bench';

/** What the job's status showed, and when (seconds after the job was created). */
export interface JobTimeline {
  /** Created → Complete, the Ferry figure. */
  seconds: number;
  /** First seen with phase Running (planned, workers starting). */
  runningAt?: number;
  /** First seen with all worker pods ready. */
  workersReadyAt?: number;
  /** The first task message on NATS: planning is over, dispatch began. */
  firstDispatchAt?: number;
  /** The first status message on NATS (a worker took a task). */
  firstStatusAt?: number;
  /** The last status message on NATS before Complete (the last task done). */
  lastStatusAt?: number;
  /** First seen with a task succeeded. */
  firstTaskDoneAt?: number;
  uid: string;
  status: NonNullable<ReplicationJob['status']>;
}

export class FerryBed {
  readonly plane: LocalControlPlane;
  readonly destinationServer: S3Server;
  readonly source: S3Endpoint;
  readonly destination: S3Endpoint;
  readonly kc: k8s.KubeConfig;
  readonly logDir: string;
  runner: PodRunner | undefined;
  operator: OperatorProcess | undefined;
  private readonly objects: k8s.CustomObjectsApi;
  private operators = 0;

  private constructor(plane: LocalControlPlane, destinationServer: S3Server, logDir: string) {
    this.plane = plane;
    this.destinationServer = destinationServer;
    this.logDir = logDir;
    const { s3 } = plane.endpoints();
    this.source = { name: 'source', ...s3 };
    this.destination = {
      name: 'destination',
      endpoint: destinationServer.endpoint,
      region: destinationServer.region,
      credentials: destinationServer.credentials,
    };
    this.kc = kubeConfigFor(plane.kubeconfigPath);
    this.objects = this.kc.makeApiClient(k8s.CustomObjectsApi);
  }

  static async start(log: (line: string) => void): Promise<FerryBed> {
    const plane = await LocalControlPlane.start({ log });
    const logDir = mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-'));
    let bed: FerryBed | undefined;
    try {
      const destinationServer = await S3Server.create(plane.dir, 's3-destination');
      await destinationServer.start();
      bed = new FerryBed(plane, destinationServer, logDir);
      await bed.setUp();
      return bed;
    } catch (err) {
      await bed?.stop();
      if (!bed) await plane.stop();
      throw err;
    }
  }

  private async setUp(): Promise<void> {
    await installCrds(this.kc);
    const core = this.kc.makeApiClient(k8s.CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: benchNamespace } } });
    for (const s3 of [this.source, this.destination]) {
      await core.createNamespacedSecret({
        namespace: benchNamespace,
        body: {
          metadata: { name: `${s3.name}-credentials` },
          stringData: {
            AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
            AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
          },
        },
      });
    }
    this.runner = await PodRunner.start({
      kubeconfig: this.plane.kubeconfigPath,
      namespace: benchNamespace,
      logDir: path.join(this.logDir, 'pods'),
      maxProbePeriodSeconds: 1,
    });
    this.operator = await this.startOperator();
  }

  /** Starts an operator process (after a previous one was stopped, it resumes the running jobs). */
  async startOperator(): Promise<OperatorProcess> {
    const n = ++this.operators;
    this.operator = await OperatorProcess.start(this.plane.endpoints(), {
      identity: `bench-operator-${n}`,
      watchNamespace: benchNamespace,
      leaseNamespace: benchNamespace,
      leaseName: 'ferry-bench',
      logFile: path.join(this.logDir, `operator-${n}.log`),
      // Debug logs of every status would tax the operator the benchmark measures.
      extraEnv: { FERRY_LOG_LEVEL: 'info' },
    });
    return this.operator;
  }

  sourceClient() {
    return clientFor(this.source);
  }

  destinationClient() {
    return clientFor(this.destination);
  }

  /** A job copying bucket `from` of the source server into bucket `to` of the destination server. */
  jobSpec(from: string, to: string, tuning: Partial<ReplicationJobSpec> = {}): ReplicationJobSpec {
    const store = (s3: S3Endpoint, bucket: string) => ({
      s3: { endpoint: s3.endpoint, bucket, credentialsSecretRef: { name: `${s3.name}-credentials` } },
    });
    return {
      mode: 'Copy',
      source: store(this.source, from),
      destination: store(this.destination, to),
      ...tuning,
    };
  }

  async createJob(name: string, spec: ReplicationJobSpec): Promise<void> {
    const body: ReplicationJob = {
      apiVersion: `${group}/${version}`,
      kind: 'ReplicationJob',
      metadata: { name, namespace: benchNamespace },
      spec,
    };
    await this.objects.createNamespacedCustomObject({
      group,
      version,
      namespace: benchNamespace,
      plural,
      body,
    });
  }

  readJob(name: string): Promise<ReplicationJob> {
    return readReplicationJob(this.objects, benchNamespace, name);
  }

  /**
   * Creates the job and waits for it to be Complete, reading its status every
   * `pollMs`; resolves with the wall time and when each stage was first seen.
   */
  async runJob(
    name: string,
    spec: ReplicationJobSpec,
    pollMs = 100,
    timeoutMs = 900_000,
  ): Promise<JobTimeline> {
    const nc = await connect({ servers: this.plane.nats.url });
    const timeline: Partial<JobTimeline> = {};
    const began = performance.now();
    const at = () => (performance.now() - began) / 1000;
    // Core subscriptions see every message JetStream stores on these subjects.
    nc.subscribe(tasksSubject('*'), {
      callback: () => {
        timeline.firstDispatchAt ??= at();
      },
    });
    nc.subscribe(statusSubject('*'), {
      callback: () => {
        timeline.firstStatusAt ??= at();
        timeline.lastStatusAt = at();
      },
    });
    await nc.flush();
    try {
      await this.createJob(name, spec);
      return await this.waitComplete(name, timeline, at, pollMs, timeoutMs);
    } finally {
      await nc.close();
    }
  }

  private async waitComplete(
    name: string,
    timeline: Partial<JobTimeline>,
    at: () => number,
    pollMs: number,
    timeoutMs: number,
  ): Promise<JobTimeline> {
    for (;;) {
      const job = await this.readJob(name);
      const s = job.status ?? {};
      const now = at();
      if (s.phase === 'Running') timeline.runningAt ??= now;
      if (s.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
        timeline.workersReadyAt ??= now;
      if ((s.tasks?.succeeded ?? 0) > 0) timeline.firstTaskDoneAt ??= now;
      if (s.conditions?.some((c) => c.type === 'Failed' && c.status === 'True'))
        throw new Error(`job ${name} failed: ${JSON.stringify(s.lastFailure ?? s)}`);
      if (s.conditions?.some((c) => c.type === 'Complete' && c.status === 'True')) {
        return { ...timeline, seconds: now, uid: job.metadata!.uid!, status: s };
      }
      if (now * 1000 > timeoutMs) throw new Error(`job ${name} not Complete after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  /** Deletes the job and waits until it is gone (its finalizer removed its pods and ledger state). */
  async deleteJob(name: string): Promise<void> {
    await this.objects.deleteNamespacedCustomObject({
      group,
      version,
      namespace: benchNamespace,
      plural,
      name,
    });
    await waitFor(
      `job ${name} to be deleted`,
      async () => {
        try {
          await this.readJob(name);
          return false;
        } catch (err) {
          if ((err as { code?: number }).code === 404) return true;
          throw err;
        }
      },
      120_000,
    );
  }

  /** The job's worker pods as (name, role) pairs. */
  async workerPods(): Promise<{ name: string; role: string }[]> {
    const core = this.kc.makeApiClient(k8s.CoreV1Api);
    const pods = await core.listNamespacedPod({ namespace: benchNamespace });
    return pods.items.map((p) => ({
      name: p.metadata!.name!,
      role: p.metadata?.labels?.[labels.role] ?? '',
    }));
  }

  async stop(): Promise<void> {
    await this.operator?.stop();
    await this.runner?.stop();
    await this.destinationServer.stop();
    await this.plane.stop();
  }
}
