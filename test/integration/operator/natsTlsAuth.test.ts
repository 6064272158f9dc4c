// A NATS that requires TLS with a client certificate and a user/password, end
// to end: the operator
// connects with its CA and credentials, hands the same access to the job's
// worker pods through the job's worker Secret (a secret volume for the CA, a
// secretKeyRef for the user and password), and an S3 → S3 job completes
// through them. A worker given the wrong password stops at once, saying why.
// Real kube-apiserver, etcd, S3 and a private nats-server; worker pods through
// the pod runner. A client certificate rotated in place (as cert-manager and
// the kubelet do) reaches a running job's Secret and pods without a restart.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, renameSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { group, version } from '../../../api/v1alpha1/index.ts';
import { annotations, labels, workerEnv, workerTokenSecretName } from '../../../api/names.ts';
import type * as k8s from '@kubernetes/client-node';
import { createControlPlanePki, issueClientCertificate } from '../../bed/certificates.ts';
import { NatsServer } from '../../bed/natsServer.ts';
import { repoRoot } from '../../bed/tools.ts';
import { applyAction } from '../../../operator/reconcile/apply.ts';
import { workerNatsSecretData } from '../../../operator/reconcile/workerNatsAccess.ts';
import { bedEndpoints } from '../../support/bed.ts';
import { job } from '../../support/fixtures.ts';
import { waitFor } from '../../support/wait.ts';
import { bucketHashes, bucketWith, hashes } from '../../support/bucketContents.ts';
import {
  s3CredentialsSecret,
  startReplicationBed,
  type ReplicationBed,
} from '../../support/replicationBed.ts';

const namespace = `nats-auth-it-${Date.now()}`;
const logDir = mkdtempSync(path.join(os.tmpdir(), 'ferry-nats-auth-it-'));
const user = 'ferry';
const password = randomBytes(12).toString('hex');

describe('a NATS that requires TLS, a client certificate and a password', () => {
  let nats: NatsServer;
  let caFile: string;
  let pkiDir: string;
  // The files the operator reads: a client certificate the CA signed, copied so that a test can rotate it.
  let clientCert: { certFile: string; keyFile: string };
  let bed: ReplicationBed;

  beforeAll(async () => {
    pkiDir = mkdtempSync(path.join(logDir, 'pki-'));
    const pki = await createControlPlanePki(pkiDir);
    caFile = pki.caCert;
    clientCert = { certFile: path.join(pkiDir, 'live.crt'), keyFile: path.join(pkiDir, 'live.key') };
    copyFileSync(pki.adminCert, clientCert.certFile);
    copyFileSync(pki.adminKey, clientCert.keyFile);
    // In the shared bed's directory, so its watchdog reaps this server too if the run dies.
    nats = await NatsServer.create(bedEndpoints().dir, {
      name: `nats-tls-${Date.now()}`,
      tls: { certFile: pki.servingCert, keyFile: pki.servingKey, clientCaFile: pki.caCert },
      auth: { user, password },
    });
    await nats.start();
    bed = await startReplicationBed({
      namespace,
      name: 'nats-auth-it',
      logDir,
      operatorEnv: {
        FERRY_NATS_URL: nats.url,
        FERRY_NATS_TLS_CA: caFile,
        FERRY_NATS_TLS_CERT: clientCert.certFile,
        FERRY_NATS_TLS_KEY: clientCert.keyFile,
        FERRY_NATS_USER: user,
        FERRY_NATS_PASSWORD: password,
        FERRY_NATS_FILES_RECHECK_MS: '500',
      },
    });
  }, 120_000);

  afterAll(async () => {
    await bed?.stop();
    await nats?.stop();
  });

  const s3Store = (bucket: string) => ({
    s3: { endpoint: bedEndpoints().s3.endpoint, bucket, credentialsSecretRef: { name: s3CredentialsSecret } },
  });

  it('copies S3 to S3 through worker pods that connect with the TLS and credentials the operator passed on', async () => {
    expect(nats.url).toMatch(/^tls:\/\//);
    const contents = new Map<string, Buffer>([
      ['a.txt', Buffer.from('over TLS')],
      ['nested/b.bin', randomBytes(256 * 1024)],
      ['nested/c.bin', randomBytes(10)],
    ]);
    const source = `nats-auth-src-${Date.now()}`;
    const destination = `nats-auth-dst-${Date.now()}`;
    await bucketWith(bed.s3, source, contents);
    await bed.s3.send(new CreateBucketCommand({ Bucket: destination }));

    const job = await bed.runJob({
      apiVersion: `${group}/${version}`,
      kind: 'ReplicationJob',
      metadata: { name: 'over-tls', namespace },
      spec: { source: s3Store(source), destination: s3Store(destination) },
    });

    expect(job.status).toMatchObject({
      phase: 'Succeeded',
      objects: { planned: contents.size, copied: contents.size, failed: 0 },
    });
    expect(job.status?.conditions).toContainEqual(
      expect.objectContaining({ type: 'Complete', status: 'True' }),
    );
    expect(await bucketHashes(bed.s3, destination)).toEqual(hashes(contents));

    // The job's worker Secret holds the access; the pods that used it named only the Secret.
    const secret = await bed.core.readNamespacedSecret({
      name: workerTokenSecretName('over-tls'),
      namespace,
    });
    const data = Object.fromEntries(
      Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
    );
    expect(data).toMatchObject({
      'nats-ca.crt': readFileSync(caFile, 'utf8'),
      'nats-client.crt': readFileSync(clientCert.certFile, 'utf8'),
      'nats-client.key': readFileSync(clientCert.keyFile, 'utf8'),
      'nats-user': user,
      'nats-password': password,
    });
    const podLog = readFileSync(bed.runner.logFile(namespace, 'over-tls-source-0-0'), 'utf8');
    expect(podLog).not.toContain('cannot connect to NATS');
  });

  /** Runs a source worker with `nats` as its NATS access until it exits: its exit code and output. */
  async function runWorker(
    natsEnv: Record<string, string>,
  ): Promise<{ exitCode: number | null; output: string }> {
    const env = {
      PATH: process.env.PATH,
      [workerEnv.role]: 'source',
      [workerEnv.jobNamespace]: namespace,
      [workerEnv.jobName]: 'refused',
      [workerEnv.jobUid]: 'uid-refused',
      [workerEnv.podName]: 'refused-source-0-0',
      [workerEnv.podIp]: '127.0.0.1',
      [workerEnv.port]: '18080',
      [workerEnv.natsUrl]: nats.url,
      [workerEnv.concurrency]: '1',
      [workerEnv.store]: JSON.stringify({ s3: { endpoint: bedEndpoints().s3.endpoint, bucket: 'unused' } }),
      [workerEnv.token]: 't',
      ...natsEnv,
    };
    const worker = spawn(process.execPath, [path.join(repoRoot, 'worker', 'main.ts')], { env });
    let output = '';
    worker.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    worker.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exitCode = await new Promise<number | null>((resolve) => worker.once('exit', resolve));
    return { exitCode, output };
  }

  it('stops a worker given the wrong password at once, naming NATS and the refusal', async () => {
    const { exitCode, output } = await runWorker({
      FERRY_NATS_TLS_CA: caFile,
      FERRY_NATS_TLS_CERT: clientCert.certFile,
      FERRY_NATS_TLS_KEY: clientCert.keyFile,
      FERRY_NATS_USER: user,
      FERRY_NATS_PASSWORD: 'not-the-password',
    });
    expect(exitCode).toBe(1);
    expect(output).toContain(`cannot connect to NATS at ${nats.url}`);
    expect(output).toMatch(/user ferry\): Authorization Violation/i);
  }, 30_000);

  it('stops a worker without the client certificate, saying it presented none', async () => {
    const { exitCode, output } = await runWorker({
      FERRY_NATS_TLS_CA: caFile,
      FERRY_NATS_USER: user,
      FERRY_NATS_PASSWORD: password,
    });
    expect(exitCode).toBe(1);
    // The server ends the handshake; the client sees a timeout. The message says what it presented.
    expect(output).toContain(
      `cannot connect to NATS at ${nats.url} (TLS with CA ${caFile}, no client certificate, user ferry)`,
    );
  }, 30_000);

  it('brings a worker Secret made without NATS access (before an upgrade) in step, keeping its token', async () => {
    const name = 'made-before';
    await bed.core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name: workerTokenSecretName(name), namespace },
        stringData: { token: 'the job token', 'nats-user': 'someone-else', 'nats.creds': 'old creds' },
      },
    });
    const natsSecretData = await workerNatsSecretData({ tls: { caFile }, user, password });
    // Only UpdateWorkerSecretNats runs, which uses neither the custom objects API nor the job's external state.
    const clients = { core: bed.core, objects: bed.objects, external: undefined as never, natsSecretData };
    const inNamespace = job(name, (j) => {
      j.metadata!.namespace = namespace;
    });
    await applyAction(clients, inNamespace, { kind: 'UpdateWorkerSecretNats' });

    const secret = await bed.core.readNamespacedSecret({ name: workerTokenSecretName(name), namespace });
    const data = Object.fromEntries(
      Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
    );
    expect(data).toEqual({
      token: 'the job token',
      'nats-ca.crt': readFileSync(caFile, 'utf8'),
      'nats-user': user,
      'nats-password': password,
    });
  });

  it('passes a client certificate rotated in place on to a running job: its Secret, then new pods, and the job completes', async () => {
    const name = 'rotated-mid-job';
    const contents = new Map<string, Buffer>(
      Array.from({ length: 48 }, (_, i) => [`obj-${i}.bin`, randomBytes(8 * 1024)] as const),
    );
    const source = `nats-rot-src-${Date.now()}`;
    const destination = `nats-rot-dst-${Date.now()}`;
    await bucketWith(bed.s3, source, contents);
    await bed.s3.send(new CreateBucketCommand({ Bucket: destination }));
    // Paced, so the job is still copying when the certificate turns over.
    await bed.createJob(name, {
      source: s3Store(source),
      destination: s3Store(destination),
      bandwidthLimit: '16Ki',
    });
    const livePods = async (): Promise<k8s.V1Pod[]> => {
      const { items } = await bed.core.listNamespacedPod({ namespace, labelSelector: `${labels.role}` });
      return items.filter((p) => p.metadata!.name!.startsWith(`${name}-`) && !p.metadata!.deletionTimestamp);
    };
    const ready = (p: k8s.V1Pod) =>
      p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    await waitFor(
      'the job to run with ready workers',
      async () => {
        const current = await bed.readJob(name);
        return (
          current.status?.phase === 'Running' &&
          current.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true
        );
      },
      60_000,
    );
    const podsBefore = await livePods();
    const templatesBefore = new Set(podsBefore.map((p) => p.metadata!.annotations![annotations.podTemplate]));

    // The kubelet's way: the new files appear whole, by rename.
    const next = await issueClientCertificate(pkiDir, 'rotated', 'ferry-rotated');
    copyFileSync(next.key, `${clientCert.keyFile}.new`);
    copyFileSync(next.cert, `${clientCert.certFile}.new`);
    renameSync(`${clientCert.keyFile}.new`, clientCert.keyFile);
    renameSync(`${clientCert.certFile}.new`, clientCert.certFile);

    const secretCert = async () => {
      const secret = await bed.core.readNamespacedSecret({ name: workerTokenSecretName(name), namespace });
      return Buffer.from(secret.data!['nats-client.crt']!, 'base64').toString('utf8');
    };
    await waitFor(
      'the worker Secret to hold the rotated certificate',
      async () => (await secretCert()) === readFileSync(next.cert, 'utf8'),
      15_000,
    );
    await waitFor(
      'every worker pod to be replaced by a ready pod made with the rotated certificate',
      async () => {
        const pods = await livePods();
        return (
          pods.length === podsBefore.length &&
          pods.every(
            (p) => ready(p) && !templatesBefore.has(p.metadata!.annotations![annotations.podTemplate]),
          )
        );
      },
      90_000,
    );

    let finished: Awaited<ReturnType<typeof bed.readJob>> | undefined;
    await waitFor(
      'the job to complete',
      async () => {
        finished = await bed.readJob(name);
        return finished.status?.phase === 'Succeeded' || finished.status?.phase === 'Failed';
      },
      120_000,
    );
    expect(finished!.status).toMatchObject({
      phase: 'Succeeded',
      objects: { planned: contents.size, copied: contents.size, failed: 0 },
    });
    expect(await bucketHashes(bed.s3, destination)).toEqual(hashes(contents));
    // The replacements reached NATS with the new certificate: the server accepted it.
    for (const pod of await livePods()) {
      expect(readFileSync(bed.runner.logFile(namespace, pod.metadata!.name!), 'utf8')).not.toContain(
        'cannot connect to NATS',
      );
    }
  }, 240_000);
});
