// Runs the real operator (operator/main.ts) as a separate process against the
// bed, the way it runs in a cluster: configured through its environment, with
// its probes and metrics on a loopback port. Tests SIGKILL it to crash it.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { freePort, httpGet } from '../bed/network.ts';
import { repoRoot } from '../bed/tools.ts';
import type { BedEndpoints } from '../bed/controlPlane.ts';
import { waitFor } from './wait.ts';

export interface OperatorOptions {
  identity: string;
  watchNamespace: string;
  leaseNamespace: string;
  leaseName: string;
  logFile: string;
  extraEnv?: Record<string, string>;
}

export class OperatorProcess {
  readonly options: OperatorOptions;
  readonly probeUrl: string;
  private readonly child: ChildProcess;
  private readonly exited: Promise<number | null>;

  private constructor(options: OperatorOptions, child: ChildProcess, probeUrl: string) {
    this.options = options;
    this.child = child;
    this.probeUrl = probeUrl;
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  static async start(bed: BedEndpoints, options: OperatorOptions): Promise<OperatorProcess> {
    const port = await freePort();
    const log = createWriteStream(options.logFile, { flags: 'a' });
    const child = spawn(process.execPath, [path.join(repoRoot, 'operator', 'main.ts')], {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        KUBECONFIG: bed.kubeconfig,
        POD_NAME: options.identity,
        FERRY_NAMESPACE: options.leaseNamespace,
        FERRY_WATCH_NAMESPACE: options.watchNamespace,
        FERRY_LEASE_NAME: options.leaseName,
        FERRY_WORKER_IMAGE: 'ferry:dev',
        FERRY_NATS_URL: bed.natsUrl,
        FERRY_ETCD_ENDPOINTS: bed.ledgerEtcdUrl,
        FERRY_PROBE_ADDRESS: `127.0.0.1:${port}`,
        FERRY_LEASE_DURATION_MS: '4000',
        FERRY_RENEW_DEADLINE_MS: '3000',
        FERRY_RETRY_PERIOD_MS: '500',
        FERRY_POD_RESTART_BACKOFF_BASE_MS: '500',
        FERRY_LOG_LEVEL: 'debug',
        ...options.extraEnv,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    const operator = new OperatorProcess(options, child, `http://127.0.0.1:${port}`);
    await waitFor(`operator ${options.identity} to serve /healthz (log: ${options.logFile})`, async () => {
      if (child.exitCode !== null)
        throw new Error(`operator ${options.identity} exited with ${child.exitCode}; see ${options.logFile}`);
      return (await httpGet(`${operator.probeUrl}/healthz`).catch(() => ({ status: 0 }))).status === 200;
    });
    return operator;
  }

  /** The operator's process id (for reading its memory use). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The value of a Prometheus metric line (summed over label sets matching `labels`). */
  async metric(name: string, labels = ''): Promise<number> {
    const { body } = await httpGet(`${this.probeUrl}/metrics`);
    return body
      .split('\n')
      .filter(
        (l) =>
          l.startsWith(name) && (l.startsWith(`${name} `) || l.startsWith(`${name}{`)) && l.includes(labels),
      )
      .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
  }

  /** Crashes the operator: no shutdown hook runs, the lease is not released. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }
}
