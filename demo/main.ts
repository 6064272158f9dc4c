// The README's first command: runs Ferry's main job locally on the embedded bed.
//
// It starts the real local control plane, the pod runner (the bed's kubelet)
// and the operator, then does what a user does on a cluster — kubectl apply the
// CRDs and an example ReplicationJob — and shows the job's worker pods coming up,
// its status and events. Then it deletes the job and checks nothing is left.
// (The copy loop and the task engine are the next steps; see the open issues.)
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LocalControlPlane } from '../test/bed/controlPlane.ts';
import { repoRoot, toolPath } from '../test/bed/tools.ts';
import { PodRunner } from '../test/podrunner/podRunner.ts';
import { OperatorProcess } from '../test/support/operatorProcess.ts';

const began = Date.now();
const step = (line: string) => console.log(`\ndemo: ${line}`);
step('starting the local control plane (etcd, kube-apiserver, nats-server, S3)...');
const plane = await LocalControlPlane.start({ log: (line) => console.log(`  ${line}`) });
const logs = mkdtempSync(path.join(os.tmpdir(), 'ferry-demo-'));
// Asynchronous on purpose: the pod runner shares this process's event loop.
const kubectl = async (...args: string[]) =>
  (
    await promisify(execFile)(toolPath('kubectl'), ['--kubeconfig', plane.kubeconfigPath, ...args], {
      cwd: repoRoot,
    })
  ).stdout;
const show = async (...args: string[]) => process.stdout.write(await kubectl(...args));
let runner: PodRunner | undefined;
let operator: OperatorProcess | undefined;

try {
  step('kubectl apply -f crds/');
  await show('apply', '-f', path.join(repoRoot, 'crds'));
  await kubectl('wait', '--for=condition=Established', 'crd/replicationjobs.ferry.dev', '--timeout=30s');
  await kubectl('create', 'namespace', 'ferry-system');

  step('starting the pod runner and the operator');
  runner = await PodRunner.start({
    kubeconfig: plane.kubeconfigPath,
    dir: path.join(logs, 'pods'),
    maxProbePeriodSeconds: 1,
    log: (line) => console.log(`  ${line}`),
  });
  operator = await OperatorProcess.start(plane.endpoints(), {
    identity: 'ferry-operator-0',
    watchNamespace: 'default',
    leaseNamespace: 'ferry-system',
    leaseName: 'ferry-operator-leader',
    logFile: path.join(logs, 'operator.log'),
  });

  step('kubectl apply -f examples/s3-to-s3-copy.yaml (with its credentials Secret)');
  await kubectl(
    'create',
    'secret',
    'generic',
    's3-credentials',
    '--from-literal=AWS_ACCESS_KEY_ID=demo',
    '--from-literal=AWS_SECRET_ACCESS_KEY=demo',
  );
  await show('apply', '-f', path.join(repoRoot, 'examples', 's3-to-s3-copy.yaml'));

  step('kubectl wait --for=condition=Ready rj/photos-copy');
  await show('wait', '--for=condition=Ready', 'rj/photos-copy', '--timeout=90s');
  await show('get', 'rj,pods,secrets', '-o', 'wide');
  step('kubectl get events');
  await show('get', 'events', '--field-selector', 'involvedObject.kind=ReplicationJob');

  step('kubectl delete rj/photos-copy: the finalizer removes its pods, Secret and ledger state');
  await show('delete', 'rj/photos-copy', '--timeout=60s');
  const left = (
    await kubectl('get', 'pods,secrets', '-l', 'app.kubernetes.io/managed-by=ferry-operator', '-o', 'name')
  ).trim();
  if (left) throw new Error(`left behind after deletion:\n${left}`);
  console.log('nothing left behind');
} catch (err) {
  console.error(`demo: FAILED: ${(err as Error).message}\n(logs in ${logs})`);
  process.exitCode = 1;
} finally {
  await operator?.stop();
  await runner?.stop();
  await plane.stop();
  if (!process.exitCode) rmSync(logs, { recursive: true, force: true });
  step(`everything stopped and cleaned up (${((Date.now() - began) / 1000).toFixed(1)} s)`);
}
