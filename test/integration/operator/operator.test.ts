// The operator against the real bed: kube-apiserver, etcd, NATS, and the pod
// runner playing the kubelet, with the operator running as its own process.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { Etcd3 } from 'etcd3';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { ensureJobConsumers, ensureStreams } from '../../../operator/dispatch/streams.ts';
import type { ReplicationJob } from '../../../api/v1alpha1/index.ts';
import { group, plural, version } from '../../../api/v1alpha1/index.ts';
import {
  consumerPrefix,
  labels,
  ledgerPrefix,
  streams,
  workerEnv,
  workerTokenSecretName,
} from '../../../api/names.ts';
import { PodRunner } from '../../podrunner/podRunner.ts';
import { bedEndpoints } from '../../support/bed.ts';
import { installCrds, kubeConfigFor, readReplicationJob } from '../../support/kube.ts';
import { OperatorProcess } from '../../support/operatorProcess.ts';
import { waitFor } from '../../support/wait.ts';

const namespace = `operator-it-${Date.now()}`;
const leaseNamespace = namespace;
const logDir = mkdtempSync(path.join(os.tmpdir(), 'ferry-operator-it-'));

let kc: k8s.KubeConfig;
let core: k8s.CoreV1Api;
let objects: k8s.CustomObjectsApi;
let runner: PodRunner;
const operators: OperatorProcess[] = [];

function startOperator(identity: string): Promise<OperatorProcess> {
  return OperatorProcess.start(bedEndpoints(), {
    identity,
    watchNamespace: namespace,
    leaseNamespace,
    leaseName: 'ferry-it-leader',
    logFile: path.join(logDir, `${identity}.log`),
  }).then((op) => (operators.push(op), op));
}

function replicationJob(name: string, spec: Partial<ReplicationJob['spec']> = {}): ReplicationJob {
  return {
    apiVersion: `${group}/${version}`,
    kind: 'ReplicationJob',
    metadata: { name, namespace },
    spec: {
      source: {
        s3: { endpoint: 'http://127.0.0.1:9', bucket: 'site-a', credentialsSecretRef: { name: 's3-creds' } },
      },
      destination: {
        s3: { endpoint: 'http://127.0.0.1:9', bucket: 'site-b', credentialsSecretRef: { name: 's3-creds' } },
      },
      ...spec,
    },
  };
}

function getJob(name: string): Promise<ReplicationJob> {
  return readReplicationJob(objects, namespace, name);
}

async function jobPods(uid: string): Promise<k8s.V1Pod[]> {
  return (await core.listNamespacedPod({ namespace, labelSelector: `${labels.jobUid}=${uid}` })).items;
}

function isReady(pod: k8s.V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

async function waitForRunningJob(name: string): Promise<ReplicationJob> {
  let job = await getJob(name);
  await waitFor(
    `job ${name} to be Running with ready workers`,
    async () => {
      job = await getJob(name);
      return (
        job.status?.phase === 'Running' &&
        job.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true
      );
    },
    60_000,
  );
  return job;
}

beforeAll(async () => {
  kc = kubeConfigFor(bedEndpoints().kubeconfig);
  core = kc.makeApiClient(k8s.CoreV1Api);
  objects = kc.makeApiClient(k8s.CustomObjectsApi);
  await installCrds(kc);
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  await core.createNamespacedSecret({
    namespace,
    body: {
      metadata: { name: 's3-creds' },
      stringData: { AWS_ACCESS_KEY_ID: 'id', AWS_SECRET_ACCESS_KEY: 'secret' },
    },
  });
  runner = await PodRunner.start({
    kubeconfig: bedEndpoints().kubeconfig,
    namespace,
    logDir: path.join(logDir, 'pods'),
  });
});

afterAll(async () => {
  await Promise.all(operators.map((op) => op.stop()));
  await runner?.stop();
});

describe('the operator schedules worker pods for a ReplicationJob', () => {
  let operator: OperatorProcess;
  beforeAll(async () => {
    operator = await startOperator('operator-a');
  });
  afterAll(() => operator.stop());

  it('creates the source and destination pods the spec asks for, and the job reports Running once they are ready', async () => {
    await objects.createNamespacedCustomObject({
      group,
      version,
      namespace,
      plural,
      body: replicationJob('two-sources', {
        workers: { source: { replicas: 2 }, destination: { replicas: 1 } },
      }),
    });
    const job = await waitForRunningJob('two-sources');
    const pods = await jobPods(job.metadata!.uid!);
    expect(pods.map((p) => p.metadata!.labels![labels.slot]).sort()).toEqual([
      'destination-0',
      'source-0',
      'source-1',
    ]);
    expect(pods.every(isReady)).toBe(true);
    expect(new Set(pods.map((p) => p.status!.podIP)).size).toBe(3); // each pod its own address
    expect(job.status).toMatchObject({
      observedGeneration: 1,
      workers: { sourceReady: 2, destinationReady: 1 },
    });
    expect(job.status!.startTime).toBeDefined();
    expect(job.metadata!.finalizers).toContain('ferry.dev/cleanup');

    const events = await core.listNamespacedEvent({
      namespace,
      fieldSelector: `involvedObject.uid=${job.metadata!.uid}`,
    });
    expect(events.items.map((e) => e.reason)).toEqual(expect.arrayContaining(['Accepted', 'Started']));
    expect(await operator.metric('ferry_reconcile_total', 'outcome="success"')).toBeGreaterThan(0);
  });

  it('recreates a worker pod whose process was killed, and the job recovers', async () => {
    const before = await getJob('two-sources');
    const victim = (await jobPods(before.metadata!.uid!)).find(
      (p) => p.metadata!.labels![labels.slot] === 'source-1',
    )!;
    await runner.killProcess(namespace, victim.metadata!.name!, 'SIGKILL');

    await waitFor(
      'a replacement pod in slot source-1 to be ready',
      async () => {
        const pods = await jobPods(before.metadata!.uid!);
        return pods.some(
          (p) =>
            p.metadata!.labels![labels.slot] === 'source-1' &&
            p.metadata!.name !== victim.metadata!.name &&
            isReady(p),
        );
      },
      60_000,
    );
    await waitForRunningJob('two-sources');
    const events = await core.listNamespacedEvent({
      namespace,
      fieldSelector: `involvedObject.uid=${before.metadata!.uid}`,
    });
    expect(events.items.find((e) => e.reason === 'WorkerPodRecreated')?.message).toContain(
      victim.metadata!.name,
    );
  });

  it('rolls the source pods onto a changed spec.workers.source (a new concurrency), leaving the destination pod alone', async () => {
    const before = await waitForRunningJob('two-sources');
    const uid = before.metadata!.uid!;
    const podsBefore = await jobPods(uid);
    const named = (role: string) =>
      podsBefore.filter((p) => p.metadata!.labels![labels.role] === role).map((p) => p.metadata!.name!);
    const concurrencyOf = (pod: k8s.V1Pod) =>
      pod.spec!.containers[0]!.env!.find((e) => e.name === workerEnv.concurrency)?.value;
    expect(podsBefore.map(concurrencyOf)).not.toContain('3');
    await objects.patchNamespacedCustomObject(
      {
        group,
        version,
        namespace,
        plural,
        name: 'two-sources',
        body: { spec: { workers: { source: { replicas: 2, concurrency: 3 } } } },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await waitFor(
      'both source pods replaced by ready pods with the new concurrency',
      async () => {
        const live = (await jobPods(uid)).filter(
          (p) => !p.metadata!.deletionTimestamp && p.metadata!.labels![labels.role] === 'source',
        );
        return (
          live.length === 2 &&
          live.every(
            (p) => isReady(p) && concurrencyOf(p) === '3' && !named('source').includes(p.metadata!.name!),
          )
        );
      },
      60_000,
    );
    const destination = (await jobPods(uid)).filter(
      (p) => p.metadata!.labels![labels.role] === 'destination',
    );
    expect(destination.map((p) => p.metadata!.name)).toEqual(named('destination'));
    await waitForRunningJob('two-sources');
    const events = await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.uid=${uid}` });
    expect(events.items.filter((e) => e.reason === 'WorkerPodOutdated').map((e) => e.message)).toEqual(
      expect.arrayContaining(
        named('source').map((name) => expect.stringContaining(name) as unknown as string),
      ),
    );
  });

  it('removes the worker pods of a suspended job, and brings them back on resume', async () => {
    const patch = (suspend: boolean) =>
      objects.patchNamespacedCustomObject(
        { group, version, namespace, plural, name: 'two-sources', body: { spec: { suspend } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
    const uid = (await getJob('two-sources')).metadata!.uid!;
    await patch(true);
    await waitFor(
      'the job to be Suspended with no pods',
      async () =>
        (await getJob('two-sources')).status?.phase === 'Suspended' && (await jobPods(uid)).length === 0,
      60_000,
    );
    await patch(false);
    await waitForRunningJob('two-sources');
  });

  it('leaves no pod, Secret, ledger key or NATS consumer behind when a job is deleted', async () => {
    const job = await waitForRunningJob('two-sources');
    const uid = job.metadata!.uid!;
    // State the task engine keeps for the job outside Kubernetes.
    const etcd = new Etcd3({ hosts: bedEndpoints().ledgerEtcdUrl });
    const nc: NatsConnection = await connect({ servers: bedEndpoints().natsUrl });
    const jsm: JetStreamManager = await jetstreamManager(nc);
    try {
      await etcd.put(`${ledgerPrefix(uid)}tasks/0001`).value('{"state":"SUCCEEDED"}');
      await ensureStreams(jsm);
      await ensureJobConsumers(jsm, uid);
      await jsm.consumers.add(streams.tasks, {
        durable_name: 'someone-else',
        ack_policy: AckPolicy.Explicit,
        filter_subject: 'ferry.tasks.someone-else',
      });
      expect(
        await core.readNamespacedSecret({ name: workerTokenSecretName('two-sources'), namespace }),
      ).toBeDefined();

      await objects.deleteNamespacedCustomObject({ group, version, namespace, plural, name: 'two-sources' });
      await waitFor(
        'the job to be gone',
        async () =>
          getJob('two-sources').then(
            () => false,
            () => true,
          ),
        60_000,
      );

      expect(await jobPods(uid)).toEqual([]);
      await expect(
        core.readNamespacedSecret({ name: workerTokenSecretName('two-sources'), namespace }),
      ).rejects.toMatchObject({ code: 404 });
      expect(await etcd.getAll().prefix(ledgerPrefix(uid)).keys()).toEqual([]);
      const consumers = [
        ...(await jsm.consumers.list(streams.tasks).next()),
        ...(await jsm.consumers.list(streams.status).next()),
      ].map((c) => c.name);
      expect(consumers).toContain('someone-else'); // only the job's own consumers are removed
      expect(consumers.filter((name) => name.startsWith(consumerPrefix(uid)))).toEqual([]);
    } finally {
      await jsm.consumers.delete(streams.tasks, 'someone-else').catch(() => {});
      etcd.close();
      await nc.close();
    }
  });
});

describe('leader election between two operator replicas', () => {
  it('lets only the leader reconcile, and hands over to the standby when the leader dies', async () => {
    const coordination = kc.makeApiClient(k8s.CoordinationV1Api);
    const first = await startOperator('replica-1');
    await waitFor(
      'replica-1 to hold the lease',
      async () =>
        (
          await coordination
            .readNamespacedLease({ name: 'ferry-it-leader', namespace: leaseNamespace })
            .catch(() => undefined)
        )?.spec?.holderIdentity === 'replica-1',
    );
    const second = await startOperator('replica-2');

    await objects.createNamespacedCustomObject({
      group,
      version,
      namespace,
      plural,
      body: replicationJob('led'),
    });
    await waitForRunningJob('led');
    expect(await first.metric('ferry_leader')).toBe(1);
    expect(await second.metric('ferry_leader')).toBe(0);
    expect(await second.metric('ferry_reconcile_total')).toBe(0);

    await first.kill(); // a crash: the lease is not released
    const killedAt = Date.now();
    await waitFor(
      'replica-2 to take the lease',
      async () =>
        (await coordination.readNamespacedLease({ name: 'ferry-it-leader', namespace: leaseNamespace })).spec
          ?.holderIdentity === 'replica-2',
      30_000,
    );
    expect(Date.now() - killedAt).toBeLessThan(4_000 + 3_000); // within the lease duration (plus a retry period)

    // The new leader reconciles: a new job gets its workers.
    await objects.createNamespacedCustomObject({
      group,
      version,
      namespace,
      plural,
      body: replicationJob('after-handover'),
    });
    await waitForRunningJob('after-handover');
    expect(await second.metric('ferry_reconcile_total')).toBeGreaterThan(0);
  });
});
