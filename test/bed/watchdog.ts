// Reaps a bed whose owner died without tearing it down (a crashed or killed
// test run, a closed terminal). Started detached by LocalControlPlane.start:
//   node watchdog.ts OWNER_PID BED_DIR
// Every second it checks the owner; once the owner is gone it kills the process
// group of every pid in BED_DIR/pids and removes BED_DIR (unless it is kept).
// It exits on its own when BED_DIR/pids disappears (a clean teardown).
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { killServerGroups, processAlive } from './pidFiles.ts';

const [ownerArg, bedDir] = process.argv.slice(2);
const ownerPid = Number(ownerArg);
if (!Number.isInteger(ownerPid) || !bedDir) {
  console.error('usage: watchdog.ts OWNER_PID BED_DIR');
  process.exit(2);
}
const pidsDir = path.join(bedDir, 'pids');

function reap(): void {
  killServerGroups(pidsDir);
  if (!existsSync(path.join(bedDir!, 'keep'))) rmSync(bedDir!, { recursive: true, force: true });
  else rmSync(pidsDir, { recursive: true, force: true });
}

const timer = setInterval(() => {
  if (!existsSync(pidsDir)) {
    clearInterval(timer);
    return;
  }
  if (!processAlive(ownerPid)) {
    clearInterval(timer);
    reap();
  }
}, 1_000);
