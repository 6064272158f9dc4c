// Start a cluster tier by hand, or from a test that kills it to check the
// watchdog:
//
//   node test/cluster/cli.ts up   start it and keep it running until SIGINT/SIGTERM
//
// Prints `cluster: up <endpoints as JSON>` once the node is Ready, then
// `source`-able exports: KUBECONFIG for kubectl and helm. FERRY_CLUSTER_KEEP=1
// keeps the directory; FERRY_CLUSTER_WAIT_MS waits for another tier to stop.
import { ClusterPlane } from './clusterPlane.ts';

async function up(): Promise<void> {
  const plane = await ClusterPlane.start({
    log: console.log,
    keepDir: process.env.FERRY_CLUSTER_KEEP === '1',
    // Milliseconds to wait for another tier on this machine to stop.
    waitForMachineMs: Number(process.env.FERRY_CLUSTER_WAIT_MS ?? 0),
  });
  console.log(`cluster: up ${JSON.stringify(plane.endpoints())}`);
  console.log(`export KUBECONFIG=${plane.kubeconfigPath}`);
  const shutdown = async () => {
    const report = await plane.stop();
    console.log(`cluster: stopped (${report.killed} processes killed, ${report.unmounted} mounts released)`);
    process.exit(0);
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  setInterval(() => {}, 1 << 30); // keep running until a signal
}

if (process.argv[2] === 'up') await up();
else {
  console.error('usage: cli.ts up');
  process.exit(2);
}
