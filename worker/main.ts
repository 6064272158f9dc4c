// A Ferry worker pod: the source or destination side of a job.
//
// Today it validates its configuration and serves its probes and metrics; the
// task loop (pull tasks from JetStream, stream objects, report status) is built
// on this (see the worker issue).
import { Registry, collectDefaultMetrics } from 'prom-client';
import { createLogger } from '../common/logging.ts';
import { startProbeServer } from '../common/probes.ts';
import { loadWorkerConfig, WorkerConfigError } from './config.ts';

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

  const probes = await startProbeServer(config.listenHost, config.port, registry, () => !shuttingDown);
  jobLog.info('worker ready', { address: `${config.listenHost}:${config.port}` });

  process.once('SIGTERM', () => {
    shuttingDown = true;
    jobLog.info('SIGTERM: shutting down');
    void probes.close().then(() => process.exit(0));
    setTimeout(() => process.exit(0), 5_000).unref();
  });
}

main().catch((err: unknown) => {
  log.error(err instanceof WorkerConfigError ? `invalid configuration: ${err.message}` : 'worker failed', {
    error: err instanceof Error ? err.stack : String(err),
  });
  process.exit(1);
});
