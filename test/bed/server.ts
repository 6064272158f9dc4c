// What every server of the bed shares: a managed process, a readiness probe,
// and start/stop/kill/restart that keep the same ports and data, so a test can
// restart a server mid-job the way an operator would see it in a cluster.
import { writeFileSync, rmSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { ManagedProcess, waitUntilReady, type ProcessSpec } from './processes.ts';

export abstract class BedServer {
  protected readonly process: ManagedProcess;
  private readonly pidFile: string;
  private readonly readyTimeoutMs: number;

  /** `bedDir/pids/<name>.pid` is what the watchdog reaps if the owner dies. */
  protected constructor(bedDir: string, spec: Omit<ProcessSpec, 'logFile'>, readyTimeoutMs: number) {
    this.readyTimeoutMs = readyTimeoutMs;
    mkdirSync(path.join(bedDir, 'logs'), { recursive: true });
    mkdirSync(path.join(bedDir, 'pids'), { recursive: true });
    this.process = new ManagedProcess({ ...spec, logFile: path.join(bedDir, 'logs', `${spec.name}.log`) });
    this.pidFile = path.join(bedDir, 'pids', `${spec.name}.pid`);
  }

  get name(): string {
    return this.process.spec.name;
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  get running(): boolean {
    return this.process.running;
  }

  get logFile(): string {
    return this.process.spec.logFile;
  }

  /** Resolves true once the server serves requests. */
  protected abstract isReady(): Promise<boolean>;

  async start(): Promise<void> {
    await this.process.start();
    writeFileSync(this.pidFile, String(this.process.pid));
    await waitUntilReady(this.process, () => this.isReady(), this.readyTimeoutMs);
  }

  async stop(): Promise<void> {
    await this.process.stop();
    rmSync(this.pidFile, { force: true });
  }

  /** SIGKILL: the server dies as in a crash. */
  async kill(): Promise<void> {
    await this.process.kill();
    rmSync(this.pidFile, { force: true });
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }
}
