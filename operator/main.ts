// The Ferry operator: leader-elected controller for ReplicationJobs.
import * as k8s from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import { Etcd3, type IOptions } from 'etcd3';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { ConfigError, loadOperatorConfig, type OperatorConfig } from './config.ts';
import { ReplicationJobController } from './controller.ts';
import { JobEngine } from './engine/jobEngine.ts';
import { ExternalJobState } from './external/jobState.ts';
import { LeaderElector } from './kube/leaderElection.ts';
import { PooledKubeConfig } from './kube/pooledKubeConfig.ts';
import { createLogger, withFields } from '../common/logging.ts';
import { natsConnectionOptions } from '../common/natsAuth.ts';
import { LiveNatsAccess } from './reconcile/liveNatsAccess.ts';
import { OperatorMetrics } from './metrics.ts';
import { startProbeServer } from '../common/probes.ts';

const log = createLogger('operator');

function etcdOptions(config: OperatorConfig): IOptions {
  const { tls, username, password } = config.etcdAuth;
  return {
    hosts: config.etcdEndpoints,
    ...(tls
      ? {
          credentials: {
            rootCertificate: readFileSync(tls.caFile),
            ...(tls.certFile
              ? { certChain: readFileSync(tls.certFile), privateKey: readFileSync(tls.keyFile!) }
              : {}),
          },
        }
      : {}),
    ...(username ? { auth: { username, password: password! } } : {}),
  };
}

/** The operator's connections to etcd and NATS (connected on first use), shared by every job. */
function connections(config: OperatorConfig) {
  const etcd = new Etcd3(etcdOptions(config));
  let nats: NatsConnection | undefined;
  const natsConnection = async () =>
    (nats ??= await connect(await natsConnectionOptions(config.natsUrl, config.natsAuth)));
  return { etcd, natsConnection, closeNats: async () => nats?.close() };
}

/** The controller, with the task engine it starts for each running job. */
function replicationController(
  config: OperatorConfig,
  kc: k8s.KubeConfig,
  links: ReturnType<typeof connections>,
  natsAccess: LiveNatsAccess,
  metrics: OperatorMetrics,
): ReplicationJobController {
  const { etcd, natsConnection } = links;
  const jsm = async () => jetstreamManager(await natsConnection());
  const consumers = { taskAckWaitMs: config.taskAckWaitMs, taskMaxDeliver: config.taskMaxDeliver };
  return new ReplicationJobController(
    kc,
    {
      watchNamespace: config.watchNamespace,
      concurrency: config.reconcileConcurrency,
      identity: config.identity,
      settings: {
        defaultImage: config.workerImage,
        defaultImagePullPolicy: config.workerImagePullPolicy,
        natsUrl: config.natsUrl,
        workerLogLevel: config.workerLogLevel,
        podRestartBackoffBaseMs: config.podRestartBackoffBaseMs,
        podRestartBackoffMaxMs: config.podRestartBackoffMaxMs,
        taskAckWaitMs: config.taskAckWaitMs,
        transferIdleTimeoutMs: config.transferIdleTimeoutMs,
      },
      natsAccess,
      startEngine: (job, onProgress) =>
        new JobEngine(job, {
          etcd,
          nats: natsConnection,
          core: kc.makeApiClient(k8s.CoreV1Api),
          log: withFields(log, { namespace: job.metadata!.namespace, name: job.metadata!.name }),
          consumers,
          planAheadTasks: config.planAheadTasks,
          onProgress,
        }),
    },
    new ExternalJobState(etcd, jsm, consumers),
    metrics,
    log,
  );
}

async function main(): Promise<void> {
  const config = loadOperatorConfig();
  // Shares connections to the kube-apiserver across requests (ADR 0013).
  const kc = new PooledKubeConfig();
  kc.loadFromDefault();
  const metrics = new OperatorMetrics();
  const links = connections(config);
  // Worker pods get the operator's NATS files as they are now, not as they were at start-up (ADR 0016).
  const natsAccess = await LiveNatsAccess.load(config.natsAuth, log);
  const controller = replicationController(config, kc, links, natsAccess, metrics);
  // A standby replica is ready too: healthy, and waiting for the lease.
  const probes = await startProbeServer(config.probeHost, config.probePort, metrics.registry, () => true);
  log.info('operator starting', {
    identity: config.identity,
    probePort: probes.port,
    watchNamespace: config.watchNamespace ?? '*',
  });

  // Leader election keeps the stock client, a new connection per request: a lease
  // round must fail fast when the kube-apiserver goes away, not wait on a pooled
  // connection that went silent (ADR 0013).
  const electionKc = new k8s.KubeConfig();
  electionKc.loadFromDefault();
  const elector = new LeaderElector(
    electionKc.makeApiClient(k8s.CoordinationV1Api),
    {
      namespace: config.namespace,
      leaseName: config.leaseName,
      identity: config.identity,
      leaseDurationMs: config.leaseDurationMs,
      renewDeadlineMs: config.renewDeadlineMs,
      retryPeriodMs: config.retryPeriodMs,
    },
    log,
  );
  elector.run({
    onStartedLeading: () => {
      metrics.leader.set(1);
      // A standby may have read its files long ago: re-read them before the first reconcile.
      natsAccess
        .refresh()
        .then(() => natsAccess.start(config.natsFilesRecheckMs))
        .then(() => controller.start())
        .catch((err: unknown) => {
          log.error('controller failed to start', { error: String(err) });
          process.exit(1);
        });
    },
    onStoppedLeading: () => {
      // Another replica may already be reconciling: stop at once.
      metrics.leader.set(0);
      process.exit(1);
    },
  });

  const shutdown = async (signal: string) => {
    log.info('shutting down', { signal });
    await controller.stop();
    await elector.stop();
    await probes.close();
    links.etcd.close();
    await links.closeNats();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  log.error(err instanceof ConfigError ? `invalid configuration: ${err.message}` : 'operator failed', {
    error: err instanceof Error ? err.stack : String(err),
  });
  process.exit(1);
});
