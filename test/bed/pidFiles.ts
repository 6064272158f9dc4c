// Whether a process lives, and the bed's pid files (BED_DIR/pids/<server>.pid,
// written by BedServer): what the watchdogs of the loopback bed and of the
// cluster tier read to reap a bed whose owner died.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** Whether `pid` is a live process (one owned by another user counts: it exists). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** SIGKILLs the process group of every server whose pid file is in `pidsDir` (each leads its own group). */
export function killServerGroups(pidsDir: string): void {
  for (const file of existsSync(pidsDir) ? readdirSync(pidsDir) : []) {
    const pid = Number(readFileSync(path.join(pidsDir, file), 'utf8'));
    if (!Number.isInteger(pid) || pid <= 1) continue;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
