// client-node's informer relists on 410 Gone by itself but stops for good on
// any other error (a dropped connection, a 429 while a CRD's watch cache warms
// up, an API server restart). This wrapper restarts it with capped back-off, so
// the operator's view of the cluster never silently freezes (ADR 0003).
import * as k8s from '@kubernetes/client-node';
import { backoffDelay, type Backoff } from '../../common/backoff.ts';
import type { Logger } from '../../common/logging.ts';

/** The wait before restarting a stopped informer, by consecutive failures. */
const restartBackoff: Backoff = { initialMs: 250, maxMs: 30_000 };

export interface ResilientInformer<T extends k8s.KubernetesObject> {
  informer: k8s.Informer<T> & k8s.ObjectCache<T>;
  /** Resolves once the first list has been loaded into the cache. */
  synced: Promise<void>;
  stop(): Promise<void>;
}

export function startResilientInformer<T extends k8s.KubernetesObject>(
  kc: k8s.KubeConfig,
  path: string,
  list: k8s.ListPromise<T>,
  log: Logger,
  labelSelector?: string,
): ResilientInformer<T> {
  const informer = k8s.makeInformer<T>(kc, path, list, labelSelector);
  let stopped = false;
  let failures = 0;
  let markSynced: () => void = () => {};
  const synced = new Promise<void>((resolve) => (markSynced = resolve));

  informer.on(k8s.CONNECT, () => {
    failures = 0;
  });
  informer.on(k8s.ERROR, (err: unknown) => {
    if (stopped) return;
    failures++;
    const delayMs = backoffDelay(restartBackoff, failures);
    log.warn('informer stopped; restarting', { path, error: String(err), retryInMs: delayMs });
    setTimeout(() => {
      if (!stopped)
        informer
          .start()
          .catch((e: unknown) => log.error('informer restart failed', { path, error: String(e) }));
    }, delayMs).unref();
  });

  // Synced once a list has succeeded (the cache then holds a resource version).
  const watchSync = setInterval(() => {
    if ((informer as unknown as { latestResourceVersion(): string }).latestResourceVersion()) {
      clearInterval(watchSync);
      markSynced();
    }
  }, 50);
  // Errors during this first start are reported to the ERROR handler above.
  void informer.start();

  return {
    informer,
    synced,
    stop: async () => {
      stopped = true;
      clearInterval(watchSync);
      await informer.stop();
    },
  };
}
