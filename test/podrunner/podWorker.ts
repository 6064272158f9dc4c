// One pod on the runner's node: resolves its container's environment, runs the
// container as a local process, probes it, applies the restart policy and
// reports all of it in the pod's status — the kubelet's job for one pod.
import path from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { ContainerConfigError, expand, resolveEnv } from './env.ts';
import { localWorkingDir, type ResolveEntrypoint } from './entrypoint.ts';
import { LocalProcess, type ExitStatus } from './localProcess.ts';
import { ProbeLoop, type ProbeTarget } from './probes.ts';
import { Conditions, describe, podStatus, StatusWriter, type PodView } from './status.ts';
import {
  mountVolumes,
  rewriteMountPaths,
  VolumeMountError,
  withReadOnlyMounts,
  type HostMount,
} from './volumes.ts';

export interface PodWorkerSettings {
  core: k8s.CoreV1Api;
  nodeName: string;
  hostIP: string;
  resolveEntrypoint: ResolveEntrypoint;
  logFile: string;
  pidFile: string;
  /** Retry period while the container's config (a Secret, a ConfigMap) is missing. */
  configRetryMs: number;
  /** First restart back-off; doubles up to 30 s. */
  restartBackoffMs: number;
  maxProbePeriodSeconds: number;
  /** Where claims' host directories are (see volumes.ts). */
  volumeDir: string;
  /** The `unshare` options that make readOnly mounts read-only; undefined: not enforced here. */
  readOnlyMounts: string[] | undefined;
  log: (line: string) => void;
}

export class PodWorker {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly podIP: string;
  private pod: k8s.V1Pod;
  private readonly settings: PodWorkerSettings;
  private readonly view: PodView;
  private readonly conditions = new Conditions();
  private readonly status: StatusWriter;
  private process: LocalProcess | undefined;
  private stopping = false;
  private wake: () => void = () => {};
  private finished: Promise<void> = Promise.resolve();

  constructor(pod: k8s.V1Pod, podIP: string, settings: PodWorkerSettings) {
    this.pod = pod;
    this.namespace = pod.metadata!.namespace!;
    this.name = pod.metadata!.name!;
    this.uid = pod.metadata!.uid!;
    this.podIP = podIP;
    this.settings = settings;
    const container = this.container;
    this.view = {
      phase: 'Pending',
      podIP,
      hostIP: settings.hostIP,
      startTime: new Date(),
      container: {
        name: container.name,
        image: container.image ?? '',
        state: { waiting: { reason: 'ContainerCreating' } },
        ready: false,
        started: false,
        restartCount: 0,
      },
    };
    this.status = new StatusWriter(
      settings.core,
      this.namespace,
      this.name,
      () => podStatus(this.view, this.conditions),
      (line) => settings.log(line),
    );
  }

  get pid(): number | undefined {
    return this.process?.running ? this.process.pid : undefined;
  }

  get phase(): string {
    return this.view.phase;
  }

  private get container(): k8s.V1Container {
    return this.pod.spec!.containers[0]!;
  }

  private log(line: string): void {
    this.settings.log(`pod ${this.namespace}/${this.name}: ${line}`);
  }

  /** The latest version of the pod from the API. */
  update(pod: k8s.V1Pod): void {
    this.pod = pod;
  }

  start(): void {
    if ((this.pod.spec?.initContainers?.length ?? 0) > 0)
      this.log('init containers are ignored by the pod runner');
    if ((this.pod.spec?.containers.length ?? 0) > 1)
      this.log('only the first container is run by the pod runner');
    this.finished = this.run().catch((err: unknown) => this.log(`stopped on an error: ${describe(err)}`));
  }

  /** Sends a signal to the container's process group (a test simulating a crash); false if none runs. */
  signal(signal: NodeJS.Signals): boolean {
    if (!this.process?.running) return false;
    this.process.signal(signal);
    return true;
  }

  /** Stops the container for a graceful deletion: SIGTERM, SIGKILL after graceMs; no more status writes. */
  async terminate(graceMs: number): Promise<void> {
    this.stopping = true;
    this.status.close();
    this.wake();
    await this.process?.terminate(graceMs);
    await this.finished;
  }

  /** The pod is gone (or the runner stops): kill the container at once. */
  async kill(): Promise<void> {
    this.stopping = true;
    this.status.close();
    this.wake();
    this.process?.signal('SIGKILL');
    await this.finished;
  }

  private async run(): Promise<void> {
    void this.status.request(); // Pending, ContainerCreating, with the pod's IP
    let backoffMs = this.settings.restartBackoffMs;
    while (!this.stopping) {
      const exit = await this.runOnce();
      if (this.stopping) return;
      if (exit === 'retry') {
        await this.sleep(this.settings.configRetryMs);
        continue;
      }
      const policy = this.pod.spec?.restartPolicy ?? 'Always';
      const restart = policy === 'Always' || (policy === 'OnFailure' && exit.exitCode !== 0);
      if (!restart) {
        this.view.phase = exit.exitCode === 0 ? 'Succeeded' : 'Failed';
        this.log(`${this.view.phase} (exit code ${exit.exitCode})`);
        await this.status.request();
        return;
      }
      const c = this.view.container;
      c.lastState = c.state;
      c.restartCount++;
      c.state = {
        waiting: {
          reason: 'CrashLoopBackOff',
          message: `back-off ${Math.round(backoffMs / 1000)}s restarting failed container=${c.name} pod=${this.name}`,
        },
      };
      void this.status.request();
      await this.sleep(backoffMs);
      backoffMs = Math.min(backoffMs * 2, 30_000);
    }
  }

  /** Runs the container once: its exit, or 'retry' when it could not be created yet. */
  private async runOnce(): Promise<ExitStatus | 'retry'> {
    const container = this.container;
    const c = this.view.container;
    let env: Record<string, string>;
    let entry: { command: string; args: string[]; cwd: string };
    let mounts: HostMount[];
    try {
      mounts = await mountVolumes(this.settings.core, this.pod, container, this.settings.volumeDir);
      const resolvedEnv = await resolveEnv(this.settings.core, this.pod, container, {
        podIP: this.podIP,
        hostIP: this.settings.hostIP,
        nodeName: this.settings.nodeName,
      });
      // Expanded with the container's own view of paths, then rewritten to the host's.
      const onHost = (value: string) => rewriteMountPaths(value, mounts);
      const resolved = this.settings.resolveEntrypoint(
        container.image ?? '',
        (container.command ?? []).map((a) => onHost(expand(a, resolvedEnv))),
        (container.args ?? []).map((a) => onHost(expand(a, resolvedEnv))),
        { workingDir: container.workingDir, pod: this.pod },
      );
      env = Object.fromEntries(Object.entries(resolvedEnv).map(([k, v]) => [k, onHost(v)]));
      const readOnlyDirs = [...new Set(mounts.filter((m) => m.readOnly).map((m) => m.hostPath))];
      const command = this.settings.readOnlyMounts
        ? withReadOnlyMounts(resolved, readOnlyDirs, this.settings.readOnlyMounts)
        : resolved;
      entry = { ...command, cwd: resolved.cwd ?? localWorkingDir(container.workingDir) };
    } catch (err) {
      const reason =
        err instanceof ContainerConfigError
          ? 'CreateContainerConfigError'
          : err instanceof VolumeMountError
            ? 'ContainerCreating'
            : 'CreateContainerError';
      const message = err instanceof Error ? err.message : String(err);
      if (c.state.waiting?.reason !== reason || c.state.waiting.message !== message)
        this.log(`${reason}: ${message}`);
      c.state = { waiting: { reason, message } };
      void this.status.request();
      return 'retry';
    }

    const startedAt = new Date();
    let proc: LocalProcess;
    try {
      proc = await LocalProcess.spawn({
        ...entry,
        env,
        logFile: this.settings.logFile,
        pidFile: this.settings.pidFile,
      });
    } catch (err) {
      const message = (err as Error).message;
      this.log(`StartError: ${message}`);
      c.started = false;
      c.ready = false;
      c.state = {
        terminated: { exitCode: 128, reason: 'StartError', message, startedAt, finishedAt: new Date() },
      };
      return { exitCode: 128, signal: null };
    }
    this.process = proc;
    if (this.stopping) proc.signal('SIGKILL');
    this.log(`started pid ${proc.pid}: ${entry.command} ${entry.args.join(' ')}`);
    for (const m of mounts)
      this.log(
        `${m.volume} at ${m.mountPath} is ${m.hostPath}${!m.readOnly ? '' : this.settings.readOnlyMounts ? ' (read-only)' : ' (readOnly: not enforced on this machine)'}`,
      );
    c.containerID = `podrunner://${proc.pid}`;
    c.state = { running: { startedAt: proc.startedAt } };
    c.started = true;
    c.ready = !container.readinessProbe;
    this.view.phase = 'Running';
    void this.status.request();

    const target: ProbeTarget = { podIP: this.podIP, container, env, cwd: entry.cwd };
    const probes: ProbeLoop[] = [];
    let killedBy: string | undefined;
    if (container.readinessProbe) {
      probes.push(
        new ProbeLoop(
          container.readinessProbe,
          target,
          false,
          (ok, message) => {
            this.log(`readiness ${ok ? 'passed' : 'failed'}: ${message}`);
            c.ready = ok;
            void this.status.request();
          },
          this.settings.maxProbePeriodSeconds,
        ),
      );
    }
    if (container.livenessProbe) {
      probes.push(
        new ProbeLoop(
          container.livenessProbe,
          target,
          true,
          (ok, message) => {
            if (ok) return;
            killedBy = `Liveness probe failed: ${message}`;
            this.log(`${killedBy}; killing the container`);
            proc.signal('SIGKILL');
          },
          this.settings.maxProbePeriodSeconds,
        ),
      );
    }
    for (const probe of probes) probe.start();
    const exit = await proc.exited;
    for (const probe of probes) probe.stop();
    this.log(`exited: code ${exit.exitCode}${exit.signal ? ` (${exit.signal})` : ''}`);
    c.ready = false;
    c.state = {
      terminated: {
        exitCode: exit.exitCode,
        ...(exit.signal ? { signal: signalNumber(exit.exitCode) } : {}),
        reason: exit.exitCode === 0 ? 'Completed' : 'Error',
        ...(killedBy ? { message: killedBy } : {}),
        startedAt: proc.startedAt,
        finishedAt: new Date(),
        containerID: c.containerID,
      },
    };
    return exit;
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

function signalNumber(exitCode: number): number {
  return exitCode - 128;
}

export function podKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

export function podFileName(namespace: string, name: string): string {
  return path.basename(`${namespace}_${name}`);
}
