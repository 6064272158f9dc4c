// A server process of the local bed, started in its own process group so that
// stopping it (or the watchdog reaping it) also ends anything it spawned.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';

export interface ProcessSpec {
  /** Name used in logs and errors, e.g. "kube-apiserver". */
  name: string;
  command: string;
  args: string[];
  /** Combined stdout and stderr are appended here. */
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export class ManagedProcess {
  readonly spec: ProcessSpec;
  private child: ChildProcess | undefined;
  private log: WriteStream | undefined;
  private exited: Promise<void> = Promise.resolve();
  private exitCode: number | null = null;
  private exitSignal: NodeJS.Signals | null = null;

  constructor(spec: ProcessSpec) {
    this.spec = spec;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.exitCode === null && this.exitSignal === null;
  }

  async start(): Promise<void> {
    if (this.running) throw new Error(`${this.spec.name} is already running (pid ${this.pid})`);
    this.log = createWriteStream(this.spec.logFile, { flags: 'a' });
    await once(this.log, 'open');
    this.exitCode = null;
    this.exitSignal = null;
    const child = spawn(this.spec.command, this.spec.args, {
      cwd: this.spec.cwd,
      env: this.spec.env ?? process.env,
      detached: true, // own process group: kill(-pid) reaches its children too
      stdio: ['ignore', this.log, this.log],
    });
    this.child = child;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitCode = code;
        this.exitSignal = signal;
        resolve();
      });
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err) =>
        reject(new Error(`${this.spec.name}: cannot start ${this.spec.command}: ${err.message}`)),
      );
    });
  }

  /** Describes how the process ended, for error messages. */
  describeExit(): string {
    if (this.running) return `${this.spec.name} is running`;
    return `${this.spec.name} exited (code ${this.exitCode}, signal ${this.exitSignal}); see ${this.spec.logFile}`;
  }

  /** SIGTERM, then SIGKILL after the grace period; resolves once it has exited. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.child || !this.running) return;
    signalGroup(this.child.pid!, 'SIGTERM');
    const timer = setTimeout(() => signalGroup(this.child!.pid!, 'SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
    signalGroup(this.child.pid!, 'SIGKILL'); // stragglers left in the group
    this.log?.end();
  }

  /** Ends the process abruptly, as a crash would. */
  async kill(): Promise<void> {
    if (!this.child || !this.running) return;
    signalGroup(this.child.pid!, 'SIGKILL');
    await this.exited;
    this.log?.end();
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/**
 * Polls `probe` until it resolves true. Fails early, naming the process, if the
 * process exits while we wait, and otherwise after `timeoutMs`.
 */
export async function waitUntilReady(
  proc: ManagedProcess,
  probe: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = 'not ready yet';
  while (Date.now() < deadline) {
    if (!proc.running) throw new Error(`${proc.describeExit()} before it became ready`);
    try {
      if (await probe()) return;
    } catch (err) {
      lastError = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `${proc.spec.name} not ready after ${timeoutMs} ms (${lastError}); see ${proc.spec.logFile}`,
  );
}
