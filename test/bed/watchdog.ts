// Reaps a bed whose owner died without tearing it down (a crashed or killed
// test run, a closed terminal). Started detached by LocalControlPlane.start:
//   node watchdog.ts OWNER_PID BED_DIR
// Every second it checks the owner; once the owner is gone it kills the process
// group of every pid in BED_DIR/pids and removes BED_DIR (unless it is kept).
// It exits on its own when BED_DIR/pids disappears (a clean teardown).
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';

const [ownerArg, bedDir] = process.argv.slice(2);
const ownerPid = Number(ownerArg);
if (!Number.isInteger(ownerPid) || !bedDir) {
  console.error('usage: watchdog.ts OWNER_PID BED_DIR');
  process.exit(2);
}
const pidsDir = path.join(bedDir, 'pids');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function reap(): void {
  for (const file of existsSync(pidsDir) ? readdirSync(pidsDir) : []) {
    const pid = Number(readFileSync(path.join(pidsDir, file), 'utf8'));
    if (!Number.isInteger(pid) || pid <= 1) continue;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  if (!existsSync(path.join(bedDir!, 'keep'))) rmSync(bedDir!, { recursive: true, force: true });
  else rmSync(pidsDir, { recursive: true, force: true });
}

const timer = setInterval(() => {
  if (!existsSync(pidsDir)) {
    clearInterval(timer);
    return;
  }
  if (!alive(ownerPid)) {
    clearInterval(timer);
    reap();
  }
}, 1_000);
