// The README's first command: runs Ferry's main job locally on the embedded bed.
//
// Today it starts the real local control plane, installs the CRDs and applies
// an example ReplicationJob with kubectl, exactly as a user would on a cluster,
// then tears everything down. Replication itself arrives with the operator and
// the workers.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { LocalControlPlane } from '../test/bed/controlPlane.ts';
import { repoRoot, toolPath } from '../test/bed/tools.ts';

const began = Date.now();
console.log('demo: starting the local control plane (etcd, kube-apiserver, nats-server, S3)...');
const plane = await LocalControlPlane.start({ log: (line) => console.log(`  ${line}`) });
const kubectl = (...args: string[]) =>
  execFileSync(toolPath('kubectl'), ['--kubeconfig', plane.kubeconfigPath, ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
  });

try {
  console.log('demo: kubectl apply -f crds/');
  process.stdout.write(kubectl('apply', '-f', path.join(repoRoot, 'crds')));
  kubectl('wait', '--for=condition=Established', 'crd/replicationjobs.ferry.dev', '--timeout=30s');
  console.log('demo: kubectl apply -f examples/s3-to-s3-copy.yaml');
  process.stdout.write(kubectl('apply', '-f', path.join(repoRoot, 'examples', 's3-to-s3-copy.yaml')));
  process.stdout.write(kubectl('get', 'replicationjobs'));
  console.log('demo: the API is served; the operator that runs the job is not built yet.');
} finally {
  await plane.stop();
  console.log(
    `demo: control plane stopped, everything cleaned up (${((Date.now() - began) / 1000).toFixed(1)} s)`,
  );
}
