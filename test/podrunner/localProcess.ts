// A container's process: spawned detached in its own process group (the
// container's "PID namespace": when its main process ends, the rest of the group
// is killed too), stdout and stderr appended to the pod's log file, and its pid
// recorded in the runner's pids/ directory so the watchdog can reap it if the
// runner dies.
import { spawn } from 'node:child_process';
import { closeSync, openSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';

export interface LocalProcessSpec {
  command: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  logFile: string;
  pidFile: string;
}

export interface ExitStatus {
  /** The exit code as the kubelet reports it: 128 + the signal number for a signal. */
  exitCode: number;
  signal: NodeJS.Signals | null;
}

export class LocalProcess {
  readonly pid: number;
  readonly startedAt: Date;
  readonly exited: Promise<ExitStatus>;
  private done = false;

  private constructor(pid: number, exited: Promise<ExitStatus>) {
    this.pid = pid;
    this.startedAt = new Date();
    this.exited = exited.finally(() => {
      this.done = true;
    });
  }

  /** Starts the process; rejects (with the reason) if it cannot be started. */
  static async spawn(spec: LocalProcessSpec): Promise<LocalProcess> {
    const log = openSync(spec.logFile, 'a');
    try {
      const child = spawn(spec.command, spec.args, {
        cwd: spec.cwd,
        env: spec.env,
        detached: true,
        stdio: ['ignore', log, log],
      });
      const exited = new Promise<ExitStatus>((resolve) => {
        child.once('exit', (code, signal) => {
          signalGroup(child.pid!, 'SIGKILL'); // whatever it left behind goes with it
          rmSync(spec.pidFile, { force: true });
          resolve({ exitCode: code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0), signal });
        });
      });
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', (err) => reject(new Error(`cannot start ${spec.command}: ${err.message}`)));
      });
      writeFileSync(spec.pidFile, String(child.pid));
      return new LocalProcess(child.pid!, exited);
    } finally {
      closeSync(log); // the child holds its own copy
    }
  }

  get running(): boolean {
    return !this.done;
  }

  /** Sends a signal to the whole process group. */
  signal(signal: NodeJS.Signals): void {
    if (this.running) signalGroup(this.pid, signal);
  }

  /** SIGTERM, then SIGKILL once `graceMs` has passed; resolves when it has exited. */
  async terminate(graceMs: number): Promise<ExitStatus> {
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}
