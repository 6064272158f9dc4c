// A Ferry worker pod: the source or destination side of a job.
//
// It validates its configuration and serves its probes and metrics; a
// destination worker also serves the object endpoint source workers stream to
// (worker/transfer/). The task loop (pull tasks from JetStream, run them with
// worker/transfer/copyTask.ts, report status) is the next step.
import { Registry, collectDefaultMetrics } from 'prom-client';
import { createLogger } from '../common/logging.ts';
import { startProbeServer } from '../common/probes.ts';
import { loadWorkerConfig, WorkerConfigError } from './config.ts';
import { openObjectStore } from './storage/index.ts';
import { createDestinationHandler } from './transfer/destinationEndpoint.ts';

const log = createLogger('worker');

async function main(): Promise<void> {
  const config = loadWorkerConfig();
  const jobLog = log.child({
    namespace: config.jobNamespace,
    job: config.jobName,
    role: config.role,
    pod: config.podName,
  });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ferry_worker_' });
  let shuttingDown = false;

  // The SDK's default chain reads AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, set from the job's Secret.
  const store = openObjectStore(config.store);
  const routes =
    config.role === 'destination' ? createDestinationHandler(store, config.token, jobLog) : undefined;
  const probes = await startProbeServer(
    config.listenHost,
    config.port,
    registry,
    () => !shuttingDown,
    routes,
  );
  jobLog.info('worker ready', { address: `${config.listenHost}:${config.port}` });

  process.once('SIGTERM', () => {
    shuttingDown = true;
    jobLog.info('SIGTERM: shutting down');
    void probes
      .close()
      .then(() => store.close())
      .then(() => process.exit(0));
    setTimeout(() => process.exit(0), 5_000).unref();
  });
}

main().catch((err: unknown) => {
  log.error(err instanceof WorkerConfigError ? `invalid configuration: ${err.message}` : 'worker failed', {
    error: err instanceof Error ? err.stack : String(err),
  });
  process.exit(1);
});
