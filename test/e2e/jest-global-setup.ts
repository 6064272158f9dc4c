// Starts the e2e world once for the suite (support/ferryCluster.ts): test
// files reach it through FERRY_E2E and KUBECONFIG.
import { FerryCluster } from './support/ferryCluster.ts';

declare global {
  var __ferryE2e: FerryCluster | undefined;
}

export default async function globalSetup(): Promise<void> {
  const began = Date.now();
  const cluster = await FerryCluster.start((line) => process.stderr.write(`${line}\n`));
  globalThis.__ferryE2e = cluster;
  process.env.FERRY_E2E = JSON.stringify(cluster.endpoints());
  process.env.KUBECONFIG = cluster.kubeconfig;
  process.stderr.write(`e2e: ready in ${Date.now() - began} ms\n`);
}
