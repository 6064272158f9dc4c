// The pod runner: plays the scheduler's and the kubelet's part against the
// bed's kube-apiserver, which has neither (nor a container runtime). It
// registers a Node, binds pending pods to it, gives each pod its own loopback
// address and runs the pod's first container as a local process, reporting its
// status, running its probes and honouring its restart policy and deletion.
// Test and development only: operator/ and worker/ never import it.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { AddressPool } from './addresses.ts';
import { defaultResolveEntrypoint, type ResolveEntrypoint } from './entrypoint.ts';
import { isNotFound } from './env.ts';
import { registerNode } from './node.ts';
import { PodWatch } from './podWatch.ts';
import { podFileName, podKey, PodWorker } from './podWorker.ts';
import { describe } from './status.ts';
import { checkVolumeDir, claimDirectory, podSecretsDirectory, probeReadOnlyMounts } from './volumes.ts';

export type { ResolveEntrypoint, Entrypoint, EntrypointContext } from './entrypoint.ts';
export { defaultResolveEntrypoint } from './entrypoint.ts';

export interface PodRunnerOptions {
  /** A kubeconfig file, or a loaded KubeConfig. */
  kubeconfig: string | k8s.KubeConfig;
  /** Only pods in this namespace (all namespaces by default). */
  namespace?: string;
  /** Only pods matching this label selector. */
  labelSelector?: string;
  /** The Node to register and bind pods to; "bed-node" by default. */
  nodeName?: string;
  /** Logs (DIR/logs) and pid files (DIR/pids); a fresh temporary directory by default. */
  dir?: string;
  /** Where pods' log files go; DIR/logs by default (and then removed with a temporary DIR). */
  logDir?: string;
  /**
   * Where persistentVolumeClaim contents live: one directory per claim,
   * VOLUMEDIR/<namespace>/<claimName> (see volumes.ts); DIR/volumes by default.
   */
  volumeDir?: string;
  /**
   * Make readOnly claim mounts read-only (a private mount namespace per
   * container, where the machine allows one; see volumes.ts). True by default.
   */
  enforceReadOnly?: boolean;
  /** Keep a temporary `dir` after stop(). A given `dir` is always kept (its logs/ and all). */
  keepDir?: boolean;
  /** Maps a container's image and command to a local command. */
  resolveEntrypoint?: ResolveEntrypoint;
  /** Progress lines; silent by default. */
  log?: (line: string) => void;
  /** Caps a pod's termination grace period (10 s by default). */
  maxGracePeriodSeconds?: number;
  /** Caps the probes' periodSeconds (to speed tests up); not capped by default. */
  maxProbePeriodSeconds?: number;
  /** First restart back-off for OnFailure/Always pods (1 s by default), doubling up to 30 s. */
  restartBackoffMs?: number;
  /** How often a container waiting for its config (CreateContainerConfigError) is retried (2 s by default). */
  configRetryMs?: number;
  /** Back-off before the pod watch is re-established (500 ms by default). */
  watchBackoffMs?: number;
  /** Where pod address leases are kept, shared by the runners on this machine. */
  addressLeaseDir?: string;
}

const hostIP = '127.0.0.1';

export class PodRunner {
  readonly nodeName: string;
  readonly dir: string;
  readonly logDir: string;
  readonly volumeDir: string;
  /** Whether readOnly claim mounts are read-only for the container's process (see volumes.ts). */
  readonly enforcesReadOnly: boolean;
  private readonly readOnlyMounts: string[] | undefined;
  readonly kubeConfig: k8s.KubeConfig;
  private readonly options: PodRunnerOptions;
  private readonly core: k8s.CoreV1Api;
  private readonly addresses: AddressPool;
  private readonly workers = new Map<string, PodWorker>();
  private readonly binding = new Set<string>(); // uids
  private readonly deleting = new Set<string>(); // uids
  private readonly removeDir: boolean;
  private readonly log: (line: string) => void;
  private readonly watch: PodWatch;
  private stopped = false;

  private constructor(options: PodRunnerOptions, kc: k8s.KubeConfig, dir: string, removeDir: boolean) {
    this.options = options;
    this.kubeConfig = kc;
    this.dir = dir;
    this.logDir = options.logDir ?? path.join(dir, 'logs');
    this.volumeDir = path.resolve(options.volumeDir ?? path.join(dir, 'volumes'));
    this.readOnlyMounts = options.enforceReadOnly === false ? undefined : probeReadOnlyMounts();
    this.enforcesReadOnly = this.readOnlyMounts !== undefined;
    this.removeDir = removeDir;
    this.nodeName = options.nodeName ?? 'bed-node';
    this.log = options.log ?? (() => {});
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.addresses = new AddressPool(options.addressLeaseDir);
    this.watch = new PodWatch(
      kc,
      {
        namespace: options.namespace,
        labelSelector: options.labelSelector,
        backoffMs: options.watchBackoffMs ?? 500,
        log: this.log,
      },
      { upsert: (pod) => this.upsert(pod), remove: (pod) => this.remove(pod) },
    );
  }

  /** Registers the node and starts watching pods; resolves once the first list has been handled. */
  static async start(options: PodRunnerOptions): Promise<PodRunner> {
    let kc: k8s.KubeConfig;
    if (typeof options.kubeconfig === 'string') {
      kc = new k8s.KubeConfig();
      kc.loadFromFile(options.kubeconfig);
    } else {
      kc = options.kubeconfig;
    }
    if (options.volumeDir !== undefined) checkVolumeDir(path.resolve(options.volumeDir));
    const dir = options.dir ?? mkdtempSync(path.join(os.tmpdir(), 'ferry-podrunner-'));
    if (options.volumeDir === undefined) checkVolumeDir(path.join(dir, 'volumes'));
    mkdirSync(options.logDir ?? path.join(dir, 'logs'), { recursive: true });
    mkdirSync(path.join(dir, 'pids'), { recursive: true });
    const removeDir = !options.dir && !options.keepDir;
    // The watchdog removes DIR when the runner dies, unless DIR/keep exists.
    if (!removeDir) writeFileSync(path.join(dir, 'keep'), '');
    startWatchdog(dir);
    const runner = new PodRunner(options, kc, dir, removeDir);
    try {
      await registerNode(runner.core, runner.nodeName, hostIP);
      runner.watch.start();
      await runner.watch.synced;
    } catch (err) {
      await runner.stop();
      throw err;
    }
    runner.log(`pod runner: node ${runner.nodeName} ready; logs in ${runner.logDir}`);
    return runner;
  }

  /** Stops watching and kills every pod's process (the pods stay in the API, as after a node crash). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.watch.stop();
    await Promise.all([...this.workers.values()].map((w) => w.kill()));
    this.workers.clear();
    this.addresses.releaseAll();
    // Removing pids/ tells the watchdog the runner stopped cleanly.
    rmSync(path.join(this.dir, 'pids'), { recursive: true, force: true });
    if (this.removeDir) rmSync(this.dir, { recursive: true, force: true });
  }

  /** Where a pod's container writes its stdout and stderr (appended across restarts). */
  logFile(namespace: string, name: string): string {
    return path.join(this.logDir, `${podFileName(namespace, name)}.log`);
  }

  /**
   * The host directory holding a persistentVolumeClaim's contents (created when
   * a pod first mounts it): what a test fills or inspects as "the volume".
   */
  claimDir(namespace: string, claimName: string): string {
    return claimDirectory(this.volumeDir, namespace, claimName);
  }

  /** The pid of a pod's running container process (its process group id), if one runs. */
  pidOf(namespace: string, name: string): number | undefined {
    return this.workers.get(podKey(namespace, name))?.pid;
  }

  /** The loopback address the runner gave a pod. */
  podIP(namespace: string, name: string): string | undefined {
    return this.workers.get(podKey(namespace, name))?.podIP;
  }

  /**
   * Signals a pod's container process group, as a crash or the OOM killer would;
   * the pod's restart policy then applies. False if no process runs for it.
   */
  killProcess(namespace: string, name: string, signal: NodeJS.Signals = 'SIGKILL'): boolean {
    return this.workers.get(podKey(namespace, name))?.signal(signal) ?? false;
  }

  /** How many times the pod watch was re-established (after errors or server-side timeouts). */
  get watchRestarts(): number {
    return this.watch.restarts;
  }

  /** Whether a pod is this runner's business: default scheduler, unbound or bound to this node. */
  private ours(pod: k8s.V1Pod): boolean {
    const scheduler = pod.spec?.schedulerName;
    if (scheduler && scheduler !== 'default-scheduler') return false;
    const node = pod.spec?.nodeName;
    return !node || node === this.nodeName;
  }

  private upsert(pod: k8s.V1Pod): void {
    if (this.stopped || !this.ours(pod)) return;
    const namespace = pod.metadata!.namespace!;
    const name = pod.metadata!.name!;
    const uid = pod.metadata!.uid!;
    const key = podKey(namespace, name);
    const existing = this.workers.get(key);
    if (existing && existing.uid !== uid) this.forget(key, existing); // a new pod of the same name
    if (pod.metadata?.deletionTimestamp) {
      void this.delete(pod);
      return;
    }
    if (!pod.spec?.nodeName) {
      void this.bind(pod);
      return;
    }
    const worker = this.workers.get(key);
    if (worker) {
      worker.update(pod);
      return;
    }
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') return; // finished before this runner started
    if (phase === 'Running') {
      // Its process died with an earlier runner; like a node that lost the pod.
      void this.markLost(pod);
      return;
    }
    let ip: string;
    try {
      ip = this.addresses.allocate();
    } catch (err) {
      this.log(`pod ${key}: ${describe(err)}`);
      return;
    }
    const file = podFileName(namespace, name);
    const created = new PodWorker(pod, ip, {
      core: this.core,
      nodeName: this.nodeName,
      hostIP,
      resolveEntrypoint: this.options.resolveEntrypoint ?? defaultResolveEntrypoint,
      logFile: this.logFile(namespace, name),
      pidFile: path.join(this.dir, 'pids', file),
      configRetryMs: this.options.configRetryMs ?? 2_000,
      restartBackoffMs: this.options.restartBackoffMs ?? 1_000,
      maxProbePeriodSeconds: this.options.maxProbePeriodSeconds ?? Infinity,
      volumeDir: this.volumeDir,
      readOnlyMounts: this.readOnlyMounts,
      log: this.log,
    });
    this.workers.set(key, created);
    this.log(`pod ${key}: starting at ${ip}`);
    created.start();
  }

  private remove(pod: k8s.V1Pod): void {
    const key = podKey(pod.metadata!.namespace!, pod.metadata!.name!);
    const worker = this.workers.get(key);
    this.deleting.delete(pod.metadata!.uid!);
    if (worker && worker.uid === pod.metadata!.uid) this.forget(key, worker);
  }

  /** The pod is gone: kill its process and free its address. */
  private forget(key: string, worker: PodWorker): void {
    this.workers.delete(key);
    void worker.kill().finally(() => {
      this.addresses.release(worker.podIP);
      rmSync(podSecretsDirectory(this.volumeDir, worker.namespace, worker.uid), {
        recursive: true,
        force: true,
      });
    });
  }

  private async bind(pod: k8s.V1Pod): Promise<void> {
    const uid = pod.metadata!.uid!;
    if (this.binding.has(uid)) return;
    this.binding.add(uid);
    const namespace = pod.metadata!.namespace!;
    const name = pod.metadata!.name!;
    try {
      await this.core.createNamespacedPodBinding({
        name,
        namespace,
        body: {
          apiVersion: 'v1',
          kind: 'Binding',
          metadata: { name, namespace, uid },
          target: { apiVersion: 'v1', kind: 'Node', name: this.nodeName },
        },
      });
      this.log(`pod ${namespace}/${name}: bound to ${this.nodeName}`);
    } catch (err) {
      // 409: already bound (by us or another scheduler); 404: gone. The watch brings the outcome.
      if ((err as { code?: number }).code !== 409 && !isNotFound(err)) {
        this.log(`pod ${namespace}/${name}: binding failed: ${describe(err)}`);
        setTimeout(() => this.binding.delete(uid), 1_000).unref();
        return;
      }
    }
    setTimeout(() => this.binding.delete(uid), 10_000).unref();
  }

  /** Graceful deletion: stop the container, then remove the pod for good (as the kubelet confirms it). */
  private async delete(pod: k8s.V1Pod): Promise<void> {
    const uid = pod.metadata!.uid!;
    if (this.deleting.has(uid) || !pod.spec?.nodeName) return;
    this.deleting.add(uid);
    const namespace = pod.metadata!.namespace!;
    const name = pod.metadata!.name!;
    const cap = this.options.maxGracePeriodSeconds ?? 10;
    const grace = Math.min(
      pod.metadata?.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30,
      cap,
    );
    const worker = this.workers.get(podKey(namespace, name));
    if (worker && worker.uid === uid) {
      this.log(`pod ${namespace}/${name}: deleting; stopping its container (grace ${grace} s)`);
      await worker.terminate(grace * 1000);
    }
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        await this.core.deleteNamespacedPod({
          name,
          namespace,
          gracePeriodSeconds: 0,
          body: { gracePeriodSeconds: 0, preconditions: { uid } },
        });
        return;
      } catch (err) {
        const code = (err as { code?: number }).code;
        if (isNotFound(err) || code === 409) return; // gone, or another pod now has the name
        this.log(`pod ${namespace}/${name}: delete failed: ${describe(err)}`);
        await new Promise((r) => setTimeout(r, Math.min(250 * 2 ** attempt, 5_000)));
      }
    }
  }

  /** A pod Running on this node that has no process here: an earlier runner died. It failed. */
  private async markLost(pod: k8s.V1Pod): Promise<void> {
    const namespace = pod.metadata!.namespace!;
    const name = pod.metadata!.name!;
    this.log(
      `pod ${namespace}/${name}: Running without a process (an earlier runner died); marking it Failed`,
    );
    const statuses = (pod.status?.containerStatuses ?? []).map((s) => ({
      ...s,
      ready: false,
      state: {
        terminated: {
          exitCode: 137,
          reason: 'ContainerStatusUnknown',
          message: 'The container could not be located when the pod was terminated',
          finishedAt: new Date(),
        },
      },
    }));
    try {
      await this.core.patchNamespacedPodStatus(
        {
          name,
          namespace,
          body: {
            status: {
              phase: 'Failed',
              containerStatuses: statuses,
              conditions: (pod.status?.conditions ?? []).map((c) =>
                c.type === 'Ready' || c.type === 'ContainersReady' ? { ...c, status: 'False' } : c,
              ),
            },
          },
        },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
    } catch (err) {
      this.log(`pod ${namespace}/${name}: could not mark it Failed: ${describe(err)}`);
    }
  }
}

function startWatchdog(dir: string): void {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'bed', 'watchdog.ts');
  if (!existsSync(script)) throw new Error(`watchdog not found at ${script}`);
  const child = spawn(process.execPath, [script, String(process.pid), dir], {
    detached: true,
    stdio: 'ignore',
  });
  child.unref();
}
