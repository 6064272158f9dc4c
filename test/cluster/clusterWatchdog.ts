// Reaps a cluster tier whose owner died without tearing it down, as
// test/bed/watchdog.ts does for the loopback bed, and also what the node
// leaves outside the bed's process groups (nodeReaper.ts): containerd's shims
// and the containers, mounts, the bridge. Started detached by ClusterPlane:
//   node clusterWatchdog.ts OWNER_PID BED_DIR
// It exits on its own when BED_DIR/pids disappears (a clean teardown).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { processAlive } from '../bed/pidFiles.ts';
import { reapAbandonedTier } from './nodeReaper.ts';

const [ownerArg, bedDir] = process.argv.slice(2);
const ownerPid = Number(ownerArg);
if (!Number.isInteger(ownerPid) || !bedDir) {
  console.error('usage: clusterWatchdog.ts OWNER_PID BED_DIR');
  process.exit(2);
}
const pidsDir = path.join(bedDir, 'pids');

const timer = setInterval(() => {
  if (!existsSync(pidsDir)) {
    clearInterval(timer);
    return;
  }
  if (!processAlive(ownerPid)) {
    clearInterval(timer);
    reapAbandonedTier(bedDir).catch((err: Error) => {
      console.error(`cluster watchdog: ${err.message}`);
      process.exitCode = 1;
    });
  }
}, 1_000);
