// Starts one local control plane for the integration suite. Test files reach
// it through FERRY_BED (the endpoints as JSON) and KUBECONFIG, both inherited
// by jest's workers. Tests that restart or kill servers start a bed of their own.
import { LocalControlPlane } from './controlPlane.ts';

declare global {
  var __ferryBed: LocalControlPlane | undefined;
}

export default async function globalSetup(): Promise<void> {
  const began = Date.now();
  const plane = await LocalControlPlane.start({
    keepDir: process.env.FERRY_BED_KEEP === '1',
    log: (line) => process.stderr.write(`${line}\n`),
  });
  globalThis.__ferryBed = plane;
  process.env.FERRY_BED = JSON.stringify(plane.endpoints());
  process.env.KUBECONFIG = plane.kubeconfigPath;
  process.stderr.write(`bed: control plane up in ${Date.now() - began} ms at ${plane.dir}\n`);
}
