// A NATS client certificate rotated while a job runs, on the real node: the
// release is installed against an external NATS that requires TLS with a
// client certificate and a password (a host process on the node's bridge
// address). The certificate Secret is replaced as cert-manager replaces it;
// the kubelet updates the operator's mounted files, the operator re-reads them
// and patches the job's worker Secret (the one path that needs `patch` on
// secrets in the chart's role), and the job completes whole. Runs after
// lifecycle.test.ts uninstalled the shared release (sequencer.js).
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { workerTokenSecretName } from '../../api/names.ts';
import {
  createControlPlanePki,
  issueClientCertificate,
  issueServingCertificate,
} from '../bed/certificates.ts';
import { NatsServer } from '../bed/natsServer.ts';
import { hostAddress } from '../cluster/clusterNetwork.ts';
import { waitFor } from '../support/wait.ts';
import { helm, kubectl, kubectlApply } from './support/cli.ts';
import { installRelease } from './support/ferryCluster.ts';
import { expectCopiedWhole, jobFile, readJob, startPacedJob } from './support/world.ts';

const file = jobFile('e2e-nats-rotation');
const { e2e, namespace } = file;
/** About 8 objects a second (bandwidthLimit): the job runs for 40 s, longer than a rotation takes to arrive. */
const objectCount = 320;
const user = 'ferry';
const password = randomBytes(12).toString('hex');
const pkiDir = path.join(e2e.dataDir, 'nats-pki');
let caFile: string;
let nats: NatsServer;

/** The Secret the chart mounts for the operator's NATS TLS (nats.external.tls). */
function tlsSecret(cert: { cert: string; key: string }): object {
  const data = (file: string) => readFileSync(file).toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'nats-client-tls', namespace: e2e.releaseNamespace },
    type: 'kubernetes.io/tls',
    data: { 'ca.crt': data(caFile), 'tls.crt': data(cert.cert), 'tls.key': data(cert.key) },
  };
}

beforeAll(async () => {
  // This file's own release; the shared one is gone when lifecycle.test.ts ran, and removed if not.
  await helm(e2e.kubeconfig, [
    'uninstall',
    e2e.release,
    '-n',
    e2e.releaseNamespace,
    '--wait',
    '--ignore-not-found',
  ]);
  mkdirSync(pkiDir, { recursive: true });
  const pki = await createControlPlanePki(pkiDir);
  caFile = pki.caCert;
  const serving = await issueServingCertificate(pkiDir, 'nats-serving', 'nats', {
    ips: [hostAddress],
    dnsNames: [],
  });
  // In the cluster's own directory (dataDir's parent), so the cluster's watchdog reaps it too if the run dies.
  nats = await NatsServer.create(path.dirname(e2e.dataDir), {
    name: 'nats-tls',
    host: hostAddress,
    tls: { certFile: serving.cert, keyFile: serving.key, clientCaFile: caFile },
    auth: { user, password },
  });
  await nats.start();
  await kubectlApply(e2e.kubeconfig, [
    tlsSecret(await issueClientCertificate(pkiDir, 'client-1', 'ferry-operator')),
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'nats-credentials', namespace: e2e.releaseNamespace },
      stringData: { username: user, password },
    },
  ]);
  await installRelease(
    e2e.kubeconfig,
    (line) => process.stderr.write(`${line}\n`),
    [
      ...['nats.mode=external', `nats.external.url=${nats.url}`, 'nats.external.tls.enabled=true'],
      ...[
        'nats.external.tls.secretName=nats-client-tls',
        'nats.external.credentials.secretName=nats-credentials',
      ],
      ...['operator.natsFilesRecheckMs=1000', 'etcd.bundled.persistence.storageClass=ferry-local'],
    ].flatMap((v) => ['--set', v]),
  );
}, 600_000);

afterAll(async () => {
  await helm(e2e.kubeconfig, ['uninstall', e2e.release, '-n', e2e.releaseNamespace, '--wait']).catch(
    () => undefined,
  );
  await nats?.stop();
});

it('carries a rotated client certificate to a running job’s worker Secret, and the job completes', async () => {
  const { contents } = await startPacedJob(file, 'through-rotation', {
    count: objectCount,
    size: 2048,
    bandwidth: '16Ki',
    midway: 5,
  });

  const rotated = await issueClientCertificate(pkiDir, 'client-2', 'ferry-operator');
  await kubectlApply(e2e.kubeconfig, [tlsSecret(rotated)]);
  const workerCert = async () => {
    const { stdout } = await kubectl(e2e.kubeconfig, [
      'get',
      'secret',
      workerTokenSecretName('through-rotation'),
      '-n',
      namespace,
      '-o',
      'jsonpath={.data.nats-client\\.crt}',
    ]);
    return Buffer.from(stdout, 'base64').toString('utf8');
  };
  await waitFor(
    'the rotated certificate in the job’s worker Secret',
    async () => (await workerCert()) === readFileSync(rotated.cert, 'utf8'),
    180_000,
  );
  // The rotation reached the job while it ran: a job that had finished would prove nothing.
  expect((await readJob(e2e, namespace, 'through-rotation')).status?.tasks?.succeeded ?? 0).toBeLessThan(
    objectCount,
  );

  await expectCopiedWhole(file, 'through-rotation', contents);
}, 600_000);
