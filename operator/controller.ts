// The ReplicationJob controller: informers feed a work queue of job keys; each
// key is reconciled as gather → decide → apply → record.
import { isDeepStrictEqual } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import type { ReplicationJob } from '../api/v1alpha1/index.ts';
import { withFields, type Logger } from '../common/logging.ts';
import { group, plural, version } from '../api/v1alpha1/index.ts';
import { labels, operatorName, workerTokenSecretName } from '../api/names.ts';
import type { ExternalJobState } from './external/jobState.ts';
import { recordEvent } from './events.ts';
import type { OperatorMetrics } from './metrics.ts';
import { startResilientInformer, type ResilientInformer } from './kube/resilientInformer.ts';
import { WorkQueue, type ProcessOutcome } from './workQueue.ts';
import type { JobEngine } from './engine/jobEngine.ts';
import { applyAction } from './reconcile/apply.ts';
import { natsEntriesOf } from './reconcile/workerNatsAccess.ts';
import { isUploadAbortPod } from './reconcile/uploadAbortPod.ts';
import { Reason } from './reconcile/conditions.ts';
import { decide, type DecideSettings, type Observed } from './reconcile/decide.ts';
import { statusMergePatch } from './reconcile/statusPatch.ts';

/** Starts the task engine of a running job; `onProgress` is called on every change. */
export type EngineStarter = (job: ReplicationJob, onProgress: () => void) => JobEngine;

export interface ControllerOptions {
  /** Watch one namespace, or all when undefined. */
  watchNamespace?: string;
  concurrency: number;
  identity: string;
  settings: DecideSettings;
  /** The NATS access worker Secrets get, re-read while the operator runs; overrides `settings.natsSecretData`. */
  natsAccess?: { readonly current: Readonly<Record<string, string>>; onChange(listener: () => void): void };
  startEngine?: EngineStarter;
}

const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

function jobKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

export class ReplicationJobController {
  private readonly core: k8s.CoreV1Api;
  private readonly objects: k8s.CustomObjectsApi;
  private readonly queue: WorkQueue;
  private jobs: ResilientInformer<ReplicationJob> | undefined;
  private pods: ResilientInformer<k8s.V1Pod> | undefined;
  private readonly kc: k8s.KubeConfig;
  private readonly options: ControllerOptions;
  private readonly external: ExternalJobState;
  private readonly metrics: OperatorMetrics;
  private readonly log: Logger;
  /** The task engines this leader runs, by job UID. */
  private readonly engines = new Map<string, JobEngine>();

  constructor(
    kc: k8s.KubeConfig,
    options: ControllerOptions,
    external: ExternalJobState,
    metrics: OperatorMetrics,
    log: Logger,
  ) {
    this.kc = kc;
    this.options = options;
    this.external = external;
    this.metrics = metrics;
    this.log = log;
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.objects = kc.makeApiClient(k8s.CustomObjectsApi);
    this.queue = new WorkQueue(
      { concurrency: options.concurrency, baseBackoffMs: 500, maxBackoffMs: 60_000 },
      (key) => this.reconcile(key),
      (key, err, retryInMs) =>
        this.log.error('reconcile failed', { job: key, error: String(err), retryInMs }),
    );
  }

  /** Starts the informers and resolves once their caches are filled. */
  async start(): Promise<void> {
    const ns = this.options.watchNamespace;
    const jobsPath = ns
      ? `/apis/${group}/${version}/namespaces/${ns}/${plural}`
      : `/apis/${group}/${version}/${plural}`;
    this.jobs = startResilientInformer<ReplicationJob>(
      this.kc,
      jobsPath,
      () =>
        (ns
          ? this.objects.listNamespacedCustomObject({ group, version, plural, namespace: ns })
          : this.objects.listClusterCustomObject({ group, version, plural })) as Promise<
          k8s.KubernetesListObject<ReplicationJob>
        >,
      this.log,
    );
    const selector = `${labels.managedBy}=${operatorName}`;
    this.pods = startResilientInformer<k8s.V1Pod>(
      this.kc,
      ns ? `/api/v1/namespaces/${ns}/pods` : '/api/v1/pods',
      () =>
        ns
          ? this.core.listNamespacedPod({ namespace: ns, labelSelector: selector })
          : this.core.listPodForAllNamespaces({ labelSelector: selector }),
      this.log,
      selector,
    );
    // No reconcile before both caches are filled: a job reconciled while the
    // pods are still being listed would look as if it had no workers, and
    // get duplicates (seen after leader changes). Everything is enqueued once
    // both are synced.
    let synced = false;
    const enqueueJob = (job: ReplicationJob) => {
      if (synced) this.queue.add(jobKey(job.metadata!.namespace!, job.metadata!.name!));
    };
    const enqueueOwner = (pod: k8s.V1Pod) => {
      if (!synced) return;
      const owner = pod.metadata?.ownerReferences?.find((o) => o.kind === 'ReplicationJob' && o.controller);
      if (owner) this.queue.add(jobKey(pod.metadata!.namespace!, owner.name));
    };
    this.jobs.informer.on(k8s.ADD, enqueueJob);
    this.jobs.informer.on(k8s.UPDATE, enqueueJob);
    this.jobs.informer.on(k8s.DELETE, enqueueJob);
    this.pods.informer.on(k8s.ADD, enqueueOwner);
    this.pods.informer.on(k8s.UPDATE, enqueueOwner);
    this.pods.informer.on(k8s.DELETE, enqueueOwner);
    await Promise.all([this.jobs.synced, this.pods.synced]);
    synced = true;
    this.log.info('caches synced; reconciling', { jobs: this.jobs.informer.list().length });
    for (const job of this.jobs.informer.list()) enqueueJob(job);
    // New NATS access reaches every job's worker Secret, then its pods (ADR 0016).
    this.options.natsAccess?.onChange(() => {
      for (const job of this.jobs!.informer.list()) enqueueJob(job);
    });
  }

  /** The settings of one reconcile: the NATS access as it is now. */
  private settings(): DecideSettings {
    const { settings, natsAccess } = this.options;
    return natsAccess ? { ...settings, natsSecretData: natsAccess.current } : settings;
  }

  async stop(): Promise<void> {
    await this.queue.shutdown();
    await Promise.all([...this.engines.values()].map((e) => e.stop()));
    await Promise.all([this.jobs?.stop(), this.pods?.stop()]);
  }

  private async reconcile(key: string): Promise<ProcessOutcome> {
    const [namespace, name] = key.split('/') as [string, string];
    const job = this.jobs!.informer.get(name, namespace);
    if (!job) return {}; // deleted, and the finalizer already ran
    const log = withFields(this.log, { namespace, name });
    const began = process.hrtime.bigint();
    const now = new Date();
    try {
      const observed = await this.gather(job, now);
      const settings = this.settings();
      const decision = decide(observed, settings);
      for (const action of decision.actions) {
        log.debug('apply', {
          action: action.kind,
          ...(action.kind === 'CreatePod' ? { pod: action.pod.metadata?.name } : {}),
        });
        await applyAction(
          {
            core: this.core,
            objects: this.objects,
            external: this.external,
            natsSecretData: settings.natsSecretData,
            log,
          },
          job,
          action,
        );
      }
      const requeueForEngine = await this.superviseEngine(job, decision.status?.phase, key);
      if (decision.status && !isDeepStrictEqual(decision.status, job.status ?? {})) {
        await this.objects.patchNamespacedCustomObjectStatus(
          {
            group,
            version,
            namespace,
            plural,
            name,
            body: { status: statusMergePatch(job.status ?? {}, decision.status) },
          },
          mergePatch,
        );
      }
      for (const event of decision.events) {
        log.info('event', { reason: event.reason, message: event.message });
        await recordEvent(this.core, job, event, now, this.options.identity);
      }
      this.metrics.reconciles.inc({ outcome: 'success' });
      this.updatePhaseGauge();
      const requeues = [decision.requeueAfterMs, requeueForEngine].filter(
        (v): v is number => v !== undefined,
      );
      return { requeueAfterMs: requeues.length ? Math.min(...requeues) : undefined };
    } catch (err) {
      this.metrics.reconciles.inc({ outcome: 'error' });
      await recordEvent(
        this.core,
        job,
        { type: 'Warning', reason: Reason.ReconcileError, message: String(err).slice(0, 1000) },
        now,
        this.options.identity,
      ).catch((e: unknown) => log.warn('could not record the failure as an event', { error: String(e) }));
      throw err;
    } finally {
      this.metrics.reconcileDuration.observe(Number(process.hrtime.bigint() - began) / 1e9);
    }
  }

  /**
   * Runs the job's task engine while its workers run, and stops it otherwise.
   * An engine that stopped on an error is replaced on a later reconcile: a resume.
   */
  private async superviseEngine(
    job: ReplicationJob,
    phase: string | undefined,
    key: string,
  ): Promise<number | undefined> {
    const uid = job.metadata!.uid!;
    const engine = this.engines.get(uid);
    // Pending too: planning (and sending the first copies to JetStream) goes on
    // while the worker pods start; waiting for their readiness probes cost
    // seconds. A listing through a worker of a filesystem side waits for it.
    const wanted =
      (phase === 'Running' || phase === 'Pending') &&
      !job.metadata!.deletionTimestamp &&
      this.options.startEngine;
    if (!wanted) {
      if (engine) {
        this.engines.delete(uid);
        await engine.stop();
      }
      return undefined;
    }
    if (engine?.running) return undefined;
    if (engine) {
      this.engines.delete(uid);
      return 5_000; // back off before the resume
    }
    this.engines.set(
      uid,
      this.options.startEngine!(job, () => this.queue.add(key)),
    );
    this.engines.get(uid)!.start();
    return undefined;
  }

  /** Reads what decide needs: the job's pods from the cache, its token Secret from the API. */
  private async gather(job: ReplicationJob, now: Date): Promise<Observed> {
    const uid = job.metadata!.uid!;
    const pods = this.pods!.informer.list(job.metadata!.namespace!).filter(
      (p) => p.metadata?.labels?.[labels.jobUid] === uid,
    );
    let tokenSecretExists = true;
    let workerSecretNats: Record<string, string> | undefined;
    try {
      const secret = await this.core.readNamespacedSecret({
        name: workerTokenSecretName(job.metadata!.name!),
        namespace: job.metadata!.namespace!,
      });
      workerSecretNats = natsEntriesOf(
        Object.fromEntries(
          Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
        ),
      );
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
      tokenSecretExists = false;
    }
    // A deleted job whose workers are gone: what is left open at a filesystem destination (decide.ts).
    const abortingUploads =
      job.metadata?.deletionTimestamp !== undefined &&
      job.spec.destination.filesystem !== undefined &&
      pods.every(isUploadAbortPod);
    return {
      job,
      pods,
      tokenSecretExists,
      workerSecretNats,
      now,
      progress: this.engines.get(uid)?.progress,
      ...(abortingUploads ? { uploadsToAbort: await this.external.uploadsToAbort(uid) } : {}),
    };
  }

  private updatePhaseGauge(): void {
    const counts = new Map<string, number>();
    for (const job of this.jobs!.informer.list()) {
      const phase = job.status?.phase ?? 'Pending';
      counts.set(phase, (counts.get(phase) ?? 0) + 1);
    }
    this.metrics.jobsByPhase.reset();
    for (const [phase, count] of counts) this.metrics.jobsByPhase.set({ phase }, count);
  }
}
