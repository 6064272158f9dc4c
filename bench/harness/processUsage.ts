// What the processes of a benchmark run cost: CPU seconds (user + system,
// from /proc/<pid>/stat) and peak resident memory (the kernel's high-water
// mark, VmHWM in /proc/<pid>/status). Sampled while they run, since a process
// that has exited can no longer be asked; the CPU figure of a process that
// exits mid-run is its last sample's.
import { readFileSync } from 'node:fs';

const ticksPerSecond = 100; // USER_HZ on Linux

export interface Usage {
  cpuSeconds: number;
  peakRssMB: number;
}

function readUsage(pid: number): { cpuTicks: number; hwmMB: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) in parentheses; utime and stime are 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpuTicks = Number(fields[11]) + Number(fields[12]);
    const hwm = readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('VmHWM:'));
    return { cpuTicks, hwmMB: hwm ? Math.round(Number(hwm.split(/\s+/)[1]) / 1024) : 0 };
  } catch {
    return undefined; // exited
  }
}

export class UsageSampler {
  private readonly first = new Map<string, number>(); // label/pid → CPU ticks at first sight
  private readonly last = new Map<string, { label: string; cpuTicks: number; hwmMB: number }>();
  private readonly timer: NodeJS.Timeout;
  private readonly processes: () => Promise<{ label: string; pid: number; since?: 'start' }[]>;

  /**
   * `processes` is asked on every sample, so pods started later are included.
   * A process marked `since: 'start'` is charged its CPU from its own start
   * (a worker pod born during the run); others from the first sample.
   */
  constructor(processes: () => Promise<{ label: string; pid: number; since?: 'start' }[]>, everyMs = 200) {
    this.processes = processes;
    void this.sample();
    this.timer = setInterval(() => void this.sample(), everyMs);
  }

  private async sample(): Promise<void> {
    for (const { label, pid, since } of await this.processes().catch(() => [])) {
      const usage = readUsage(pid);
      if (!usage) continue;
      const id = `${label}/${pid}`;
      if (!this.first.has(id)) this.first.set(id, since === 'start' ? 0 : usage.cpuTicks);
      // An exited process not yet reaped (a zombie) still has its CPU times but no memory figures.
      const hwmMB = Math.max(this.last.get(id)?.hwmMB ?? 0, usage.hwmMB);
      this.last.set(id, { label, cpuTicks: usage.cpuTicks, hwmMB });
    }
  }

  /** Takes a last sample and returns the usage per label (processes with one label summed, peaks maxed). */
  async stop(): Promise<Map<string, Usage>> {
    clearInterval(this.timer);
    await this.sample();
    const byLabel = new Map<string, Usage>();
    for (const [id, { label, cpuTicks, hwmMB }] of this.last) {
      const u = byLabel.get(label) ?? { cpuSeconds: 0, peakRssMB: 0 };
      u.cpuSeconds += (cpuTicks - this.first.get(id)!) / ticksPerSecond;
      u.peakRssMB = Math.max(u.peakRssMB, hwmMB);
      byLabel.set(label, u);
    }
    return byLabel;
  }
}
