// A Ferry worker pod: the source or destination side of a job.
//
// Both roles validate their configuration and serve probes and metrics.
// A destination worker serves the object endpoint source workers stream to
// (worker/transfer/) and announces it in NATS KV (endpoints.ts). A source
// worker runs the task loop (taskLoop.ts): tasks from JetStream, objects to a
// destination worker, status back on JetStream. Both roles serve the listing
// route (worker/listing/) and announce it, so the operator can plan from a
// store only this side's pods reach (a filesystem store on their volume).
// First: the heap settings apply before the rest of the worker allocates.
import './heapTuning.ts';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { createLogger, type Logger } from '../common/logging.ts';
import { startProbeServer } from '../common/probes.ts';
import { describeNatsAuth, natsConnectionOptions } from '../common/natsAuth.ts';
import {
  isUploadAbortRun,
  loadUploadAbortConfig,
  loadWorkerConfig,
  WorkerConfigError,
  type WorkerConfig,
} from './config.ts';
import { abortUploads } from './transfer/abortUploads.ts';
import { announceDestination, announceListing } from '../api/announcements.ts';
import { DestinationDirectory } from './endpoints.ts';
import { applyTransferTimeouts } from './http/serverTimeouts.ts';
import { createListingRoute } from './listing/listingEndpoint.ts';
import { FilesystemStore, openObjectStore, type ObjectStore } from '../storage/index.ts';
import { WorkerMetrics } from './metrics.ts';
import { SourceTaskLoop } from './taskLoop.ts';
import { BandwidthLimiter } from './transfer/copyTask.ts';
import { createDestinationHandler } from './transfer/destinationEndpoint.ts';
import { UploadRegistry } from './transfer/uploadRegistry.ts';

const log = createLogger('worker');

/** The NATS connection; a refusal (TLS, credentials, no server) stops the worker naming NATS and the cause. */
async function connectNats(config: WorkerConfig): Promise<NatsConnection> {
  const options = await natsConnectionOptions(config.natsUrl, config.natsAuth, { name: config.podName });
  try {
    return await connect(options);
  } catch (err) {
    throw new NatsUnreachableError(
      `cannot connect to NATS at ${config.natsUrl} (${describeNatsAuth(config.natsAuth)}): ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}

class NatsUnreachableError extends Error {}

/** A deleted job's upload-abort pod: abort, and exit. No NATS, no endpoint. */
async function abortLeftUploads(): Promise<void> {
  const { store: storeConfig, uploads } = loadUploadAbortConfig();
  const store = openObjectStore(storeConfig);
  try {
    await abortUploads(store, uploads, log);
  } finally {
    await store.close();
  }
}

/** A source worker's task loop, started: it takes the job's tasks and sends their objects to the destination workers. */
function startSourceLoop(
  nc: NatsConnection,
  config: WorkerConfig,
  source: ObjectStore,
  jobLog: Logger,
  metrics: WorkerMetrics,
): SourceTaskLoop {
  const directory = new DestinationDirectory(nc, config.jobUid);
  const loop = new SourceTaskLoop({
    js: jetstream(nc),
    jobUid: config.jobUid,
    worker: config.podName,
    source,
    pickDestination: (waiting) => directory.pickWaiting(config.destinationWaitMs, waiting),
    destinationRefused: (url) => directory.refusedConnection(url),
    token: config.token,
    concurrency: config.concurrency,
    workingIntervalMs: config.workingIntervalMs,
    idleTimeoutMs: config.transferIdleTimeoutMs,
    log: jobLog,
    metrics,
    ...(config.bandwidthBytesPerSecond
      ? { bandwidth: new BandwidthLimiter(config.bandwidthBytesPerSecond) }
      : {}),
  });
  loop.start();
  return loop;
}

async function main(): Promise<void> {
  if (isUploadAbortRun()) return abortLeftUploads();
  const config = loadWorkerConfig();
  const jobLog = log.child({
    namespace: config.jobNamespace,
    job: config.jobName,
    role: config.role,
    pod: config.podName,
  });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ferry_worker_' });
  const metrics = new WorkerMetrics(registry);
  let shuttingDown = false;

  // The SDK's default chain reads AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, set from the job's Secret.
  const store = openObjectStore(config.store);
  const nc = await connectNats(config);
  const transfer =
    config.role === 'destination'
      ? createDestinationHandler(
          store,
          config.token,
          jobLog,
          await UploadRegistry.open(nc, config.jobUid),
          metrics,
        )
      : undefined;
  const listing = createListingRoute(store, config.token, jobLog, {
    // A source directory that is missing must not read as an empty source.
    requiredDirectory: config.role === 'source' && store instanceof FilesystemStore ? store.root : undefined,
    // A destination volume that folds names is found out before planning (ADR 0035).
    nameFoldingDirectory:
      config.role === 'destination' && store instanceof FilesystemStore ? store.root : undefined,
  });
  const probes = await startProbeServer(
    config.listenHost,
    config.port,
    registry,
    () => !shuttingDown,
    (req, res) => listing.handle(req, res) || (transfer?.(req, res) ?? false),
  );
  applyTransferTimeouts(probes.server, config.transferIdleTimeoutMs);
  let withdraw: (() => Promise<void>) | undefined;
  let loop: SourceTaskLoop | undefined;
  const url = `http://${config.listenHost}:${config.port}`;
  const withdrawListing = await announceListing(nc, config.jobUid, config.role, config.podName, url);
  if (config.role === 'destination') {
    withdraw = await announceDestination(nc, config.jobUid, config.podName, url);
  } else {
    loop = startSourceLoop(nc, config, store, jobLog, metrics);
  }
  jobLog.info('worker ready', { address: `${config.listenHost}:${config.port}` });

  process.once('SIGTERM', () => {
    // Finish the task in hand (or hand it back), stop announcing, then close.
    shuttingDown = true;
    jobLog.info('SIGTERM: shutting down');
    void (async () => {
      await loop?.stop();
      await withdraw?.().catch(() => {});
      await withdrawListing().catch(() => {});
      await probes.close();
      await listing.close();
      await store.close();
      await nc.drain().catch(() => {});
      process.exit(0);
    })();
    setTimeout(() => process.exit(0), 25_000).unref();
  });
}

main().catch((err: unknown) => {
  const message =
    err instanceof WorkerConfigError
      ? `invalid configuration: ${err.message}`
      : err instanceof NatsUnreachableError
        ? err.message
        : 'worker failed';
  log.error(message, {
    error: err instanceof Error ? err.stack : String(err),
  });
  process.exit(1);
});
