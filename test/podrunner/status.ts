// The pod's status as the kubelet reports it, and its writer: one merge patch of
// the status subresource at a time, always of the latest state (writes requested
// while one is in flight are coalesced), retried until it lands or the pod is gone.
import * as k8s from '@kubernetes/client-node';
import { isNotFound } from './env.ts';

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed';

/** What the runner knows of a pod's single container. */
export interface ContainerView {
  name: string;
  image: string;
  state: k8s.V1ContainerState;
  lastState?: k8s.V1ContainerState;
  ready: boolean;
  started: boolean;
  restartCount: number;
  containerID?: string;
}

export interface PodView {
  phase: PodPhase;
  podIP: string;
  hostIP: string;
  startTime: Date;
  container: ContainerView;
  message?: string;
  reason?: string;
}

const conditionTypes = ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'] as const;

/** Keeps each condition's lastTransitionTime across writes. */
export class Conditions {
  private readonly current = new Map<string, { status: string; since: Date; reason?: string }>();

  build(view: PodView): k8s.V1PodCondition[] {
    const terminal = view.phase === 'Succeeded' || view.phase === 'Failed';
    const ready = view.container.ready && view.phase === 'Running';
    const wanted: Record<(typeof conditionTypes)[number], { status: boolean; reason?: string }> = {
      PodScheduled: { status: true },
      Initialized: { status: true },
      ContainersReady: ready
        ? { status: true }
        : { status: false, reason: terminal ? 'PodCompleted' : 'ContainersNotReady' },
      Ready: ready
        ? { status: true }
        : { status: false, reason: terminal ? 'PodCompleted' : 'ContainersNotReady' },
    };
    return conditionTypes.map((type) => {
      const { status: on, reason } = wanted[type];
      const status = on ? 'True' : 'False';
      const previous = this.current.get(type);
      const since = previous && previous.status === status ? previous.since : new Date();
      this.current.set(type, { status, since, reason });
      const condition: k8s.V1PodCondition = { type, status, lastTransitionTime: since };
      if (reason) {
        condition.reason = reason;
        condition.message =
          reason === 'ContainersNotReady'
            ? `containers with unready status: [${view.container.name}]`
            : undefined;
      }
      return condition;
    });
  }
}

export function podStatus(view: PodView, conditions: Conditions): k8s.V1PodStatus {
  const c = view.container;
  const containerStatus: k8s.V1ContainerStatus = {
    name: c.name,
    image: c.image,
    imageID: '',
    ready: c.ready,
    started: c.started,
    restartCount: c.restartCount,
    state: c.state,
    lastState: c.lastState ?? {},
    ...(c.containerID ? { containerID: c.containerID } : {}),
  };
  return {
    phase: view.phase,
    conditions: conditions.build(view),
    hostIP: view.hostIP,
    hostIPs: [{ ip: view.hostIP }],
    podIP: view.podIP,
    podIPs: [{ ip: view.podIP }],
    startTime: view.startTime,
    containerStatuses: [containerStatus],
    qosClass: 'BestEffort',
    ...(view.message ? { message: view.message } : {}),
    ...(view.reason ? { reason: view.reason } : {}),
  };
}

/** Writes the latest status; `request()` may be called as often as wanted. */
export class StatusWriter {
  private readonly core: k8s.CoreV1Api;
  private readonly namespace: string;
  private readonly name: string;
  private readonly current: () => k8s.V1PodStatus;
  private readonly log: (line: string) => void;
  private dirty = false;
  private flushing: Promise<void> | undefined;
  private closed = false;

  constructor(
    core: k8s.CoreV1Api,
    namespace: string,
    name: string,
    current: () => k8s.V1PodStatus,
    log: (line: string) => void,
  ) {
    this.core = core;
    this.namespace = namespace;
    this.name = name;
    this.current = current;
    this.log = log;
  }

  /** Schedules a write of the current status; resolves once it (or a later one) has landed. */
  request(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.dirty = true;
    this.flushing ??= this.flush().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  /** No more writes: the pod is gone or the runner is stopping. */
  close(): void {
    this.closed = true;
  }

  private async flush(): Promise<void> {
    let failures = 0;
    while (this.dirty && !this.closed) {
      this.dirty = false;
      try {
        await this.core.patchNamespacedPodStatus(
          { name: this.name, namespace: this.namespace, body: { status: this.current() } },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
        );
        failures = 0;
      } catch (err) {
        if (isNotFound(err)) {
          this.closed = true;
          return;
        }
        failures++;
        this.log(`pod ${this.namespace}/${this.name}: status write failed (${describe(err)}); retrying`);
        this.dirty = true;
        await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** failures, 5_000)));
      }
    }
  }
}

export function describe(err: unknown): string {
  const e = err as { code?: number; body?: unknown; message?: string };
  if (e.code !== undefined && e.body !== undefined) {
    const body = typeof e.body === 'string' ? e.body : JSON.stringify(e.body);
    return `HTTP ${e.code}: ${body.slice(0, 500)}`;
  }
  return e.message ?? String(err);
}
