// Reaps a cluster tier whose owner died without tearing it down, as
// test/bed/watchdog.ts does for the loopback bed, and also what the node
// leaves outside the bed's process groups (nodeReaper.ts): containerd's shims
// and the containers, mounts, the bridge. Started detached by ClusterPlane:
//   node clusterWatchdog.ts OWNER_PID BED_DIR
// It exits on its own when BED_DIR/pids disappears (a clean teardown).
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { reapNode } from './nodeReaper.ts';

const [ownerArg, bedDir] = process.argv.slice(2);
const ownerPid = Number(ownerArg);
if (!Number.isInteger(ownerPid) || !bedDir) {
  console.error('usage: clusterWatchdog.ts OWNER_PID BED_DIR');
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

function killServerGroups(): void {
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

async function reap(): Promise<void> {
  killServerGroups();
  await reapNode(bedDir!);
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
    reap().catch((err: Error) => {
      console.error(`cluster watchdog: ${err.message}`);
      process.exitCode = 1;
    });
  }
}, 1_000);
