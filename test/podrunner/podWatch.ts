// List+watch of pods that never gives up: every list is diffed against what was
// seen before (so deletions missed while disconnected are noticed), then watched
// from its resourceVersion; on ANY end of the watch — an error, 410 Gone, a
// dropped connection, a timeout — it lists again after a short back-off.
import * as k8s from '@kubernetes/client-node';
import { describe } from './status.ts';

export interface PodWatchHandlers {
  /** A pod was added or changed. */
  upsert(pod: k8s.V1Pod): void;
  /** A pod is gone from the API. */
  remove(pod: k8s.V1Pod): void;
}

export interface PodWatchOptions {
  namespace?: string;
  labelSelector?: string;
  backoffMs: number;
  log: (line: string) => void;
}

export class PodWatch {
  private readonly kc: k8s.KubeConfig;
  private readonly core: k8s.CoreV1Api;
  private readonly options: PodWatchOptions;
  private readonly handlers: PodWatchHandlers;
  private readonly known = new Map<string, k8s.V1Pod>(); // by uid
  private stopped = false;
  private current: AbortController | undefined;
  private endWatch: () => void = () => {};
  private wake: () => void = () => {};
  private loop: Promise<void> = Promise.resolve();
  private markSynced: () => void = () => {};
  /** Resolves once the first list has been handled. */
  readonly synced: Promise<void>;
  /** How many times the watch was re-established after it ended. */
  restarts = 0;

  constructor(kc: k8s.KubeConfig, options: PodWatchOptions, handlers: PodWatchHandlers) {
    this.kc = kc;
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.options = options;
    this.handlers = handlers;
    this.synced = new Promise((resolve) => (this.markSynced = resolve));
  }

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.current?.abort();
    this.endWatch();
    this.wake();
    await this.loop;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        const resourceVersion = await this.list();
        this.markSynced();
        const failed = await this.watch(resourceVersion);
        failures = failed ? failures + 1 : 0;
      } catch (err) {
        failures++;
        this.options.log(`pod list failed: ${describe(err)}`);
      }
      if (this.stopped) return;
      this.restarts++;
      await this.sleep(Math.min(this.options.backoffMs * 2 ** Math.min(failures, 6), 10_000));
    }
  }

  private async list(): Promise<string> {
    const { namespace, labelSelector } = this.options;
    const list = namespace
      ? await this.core.listNamespacedPod({ namespace, labelSelector })
      : await this.core.listPodForAllNamespaces({ labelSelector });
    const present = new Set<string>();
    for (const pod of list.items) {
      present.add(pod.metadata!.uid!);
      this.known.set(pod.metadata!.uid!, pod);
      this.handlers.upsert(pod);
    }
    for (const [uid, pod] of this.known) {
      if (present.has(uid)) continue;
      this.known.delete(uid);
      this.handlers.remove(pod);
    }
    return list.metadata!.resourceVersion!;
  }

  /** Watches until the watch ends; true if it ended on an error. */
  private async watch(resourceVersion: string): Promise<boolean> {
    const { namespace, labelSelector } = this.options;
    const path = namespace ? `/api/v1/namespaces/${namespace}/pods` : '/api/v1/pods';
    // The server ends the watch before client-node's 30 s inactivity timeout would.
    const query: Record<string, string> = {
      resourceVersion,
      allowWatchBookmarks: 'true',
      timeoutSeconds: '25',
    };
    if (labelSelector) query.labelSelector = labelSelector;
    return new Promise<boolean>((resolve) => {
      let ended = false;
      const end = (failed: boolean, why: string) => {
        if (ended) return;
        ended = true;
        this.current?.abort();
        if (failed && !this.stopped) this.options.log(`pod watch ended: ${why}; listing again`);
        resolve(failed);
      };
      this.endWatch = () => end(false, 'stopped');
      const onEvent = (type: string, obj: unknown) => {
        if (ended) return;
        const pod = obj as k8s.V1Pod;
        switch (type) {
          case 'ADDED':
          case 'MODIFIED':
            this.known.set(pod.metadata!.uid!, pod);
            this.handlers.upsert(pod);
            break;
          case 'DELETED':
            this.known.delete(pod.metadata!.uid!);
            this.handlers.remove(pod);
            break;
          case 'ERROR':
            end(true, `error event ${JSON.stringify(obj)}`);
            break;
        }
      };
      new k8s.Watch(this.kc)
        .watch(path, query, onEvent, (err: unknown) => end(!!err, err ? describe(err) : 'closed'))
        .then((controller) => {
          this.current = controller;
          if (ended || this.stopped) controller.abort();
        })
        .catch((err: unknown) => end(true, describe(err)));
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
