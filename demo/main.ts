// The README's first command: runs Ferry's main job locally on the embedded bed.
//
// It starts the real local control plane, the pod runner (the bed's kubelet)
// and the operator, puts sample data in a source bucket, then does what a user
// does on a cluster — kubectl apply the CRDs and an example ReplicationJob, and
// kubectl wait for it to be Complete — verifies the destination against the
// source object by object, deletes the job and checks nothing is left.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
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

  step('putting sample data in the source bucket (site-a/photos/: 1,000 small objects and 4 large ones)');
  const { endpoint, region, credentials } = plane.endpoints().s3;
  const s3 = new S3Client({ endpoint, region, credentials, forcePathStyle: true });
  const sample = new Map<string, Buffer>();
  for (let i = 0; i < 1000; i++)
    sample.set(`photos/2026/img-${String(i).padStart(4, '0')}.jpg`, randomBytes(4096 + (i % 7) * 1000));
  for (let i = 0; i < 4; i++) sample.set(`photos/videos/clip-${i}.mp4`, randomBytes(16 * 1024 * 1024));
  await s3.send(new CreateBucketCommand({ Bucket: 'site-a' }));
  await s3.send(new CreateBucketCommand({ Bucket: 'site-b' }));
  const entries = [...sample];
  for (let i = 0; i < entries.length; i += 32) {
    await Promise.all(
      entries
        .slice(i, i + 32)
        .map(([Key, Body]) => s3.send(new PutObjectCommand({ Bucket: 'site-a', Key, Body }))),
    );
  }
  await s3.send(
    new PutObjectCommand({ Bucket: 'site-a', Key: 'notes/outside-the-prefix.txt', Body: 'not copied' }),
  );
  const totalBytes = [...sample.values()].reduce((n, b) => n + b.length, 0);
  console.log(`${sample.size} objects, ${(totalBytes / 1024 / 1024).toFixed(1)} MiB`);

  step(
    'kubectl apply -f examples/s3-to-s3-copy.yaml (endpoint set to the local S3 server) and its credentials Secret',
  );
  await kubectl(
    'create',
    'secret',
    'generic',
    's3-credentials',
    `--from-literal=AWS_ACCESS_KEY_ID=${credentials.accessKeyId}`,
    `--from-literal=AWS_SECRET_ACCESS_KEY=${credentials.secretAccessKey}`,
  );
  const manifest = path.join(logs, 'photos-copy.yaml');
  writeFileSync(
    manifest,
    readFileSync(path.join(repoRoot, 'examples', 's3-to-s3-copy.yaml'), 'utf8').replaceAll(
      'http://127.0.0.1:9000',
      endpoint,
    ),
  );
  const copyBegan = Date.now();
  await show('apply', '-f', manifest);

  step('kubectl wait --for=condition=Complete rj/photos-copy (progress every 2 s)');
  const progress = setInterval(() => {
    void kubectl('get', 'rj/photos-copy', '--no-headers').then(
      (line) => process.stdout.write(`  ${line}`),
      () => {},
    );
  }, 2_000);
  try {
    await show('wait', '--for=condition=Complete', 'rj/photos-copy', '--timeout=300s');
  } finally {
    clearInterval(progress);
  }
  const seconds = (Date.now() - copyBegan) / 1000;
  await show('get', 'rj/photos-copy', '-o', 'wide');
  step('kubectl get events');
  await show('get', 'events', '--field-selector', 'involvedObject.kind=ReplicationJob');

  step(
    'verifying site-b/photos/ against site-a/photos/ by an independent listing and SHA-256 of every object',
  );
  const copied: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: 'site-b', ContinuationToken: token }));
    copied.push(...(page.Contents ?? []).map((o) => o.Key!));
    token = page.NextContinuationToken;
  } while (token);
  if (copied.length !== sample.size || copied.some((k) => !sample.has(k))) {
    throw new Error(
      `destination holds ${copied.length} objects, expected exactly the ${sample.size} under photos/`,
    );
  }
  for (const [Key, body] of sample) {
    const got = Buffer.from(
      await (await s3.send(new GetObjectCommand({ Bucket: 'site-b', Key }))).Body!.transformToByteArray(),
    );
    if (createHash('sha256').update(got).digest('hex') !== createHash('sha256').update(body).digest('hex')) {
      throw new Error(`content differs: ${Key}`);
    }
  }
  s3.destroy();
  console.log(
    `verified: ${sample.size} objects, ${(totalBytes / 1024 / 1024).toFixed(1)} MiB replicated in ${seconds.toFixed(1)} s ` +
      `(${(totalBytes / 1024 / 1024 / seconds).toFixed(1)} MiB/s, from apply to Complete)`,
  );

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
