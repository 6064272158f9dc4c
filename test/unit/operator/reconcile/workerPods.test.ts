import { workerEnv, workerTokenSecretName } from '../../../../api/names.ts';
import { desiredWorkerPod } from '../../../../operator/reconcile/workerPods.ts';
import { uploadAbortPod } from '../../../../operator/reconcile/uploadAbortPod.ts';
import { job, settings } from '../../../support/fixtures.ts';

describe('a worker pod', () => {
  const j = job('copy');
  j.spec.source = { filesystem: { claimName: 'archive', path: '/exports' } };
  const source = desiredWorkerPod(j, 'source', 0, 0, settings);
  const destination = desiredWorkerPod(j, 'destination', 0, 0, settings);
  const env = (pod: typeof source) =>
    Object.fromEntries(pod.spec!.containers[0]!.env!.map((e) => [e.name, e]));

  it('runs with a restrictive security context: non-root, read-only root filesystem, no capabilities, RuntimeDefault seccomp', () => {
    expect(source.spec!.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(source.spec!.containers[0]!.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
    });
  });

  it('is owned by its job, so it is found and removed with it', () => {
    expect(source.metadata!.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'ReplicationJob', name: 'copy', uid: 'uid-copy', controller: true }),
    ]);
  });

  it('gets the job token from the job Secret, never inline', () => {
    expect(env(destination)[workerEnv.token]).toEqual({
      name: workerEnv.token,
      valueFrom: { secretKeyRef: { name: workerTokenSecretName('copy'), key: 'token' } },
    });
  });

  it('gets no NATS access when the operator connects without TLS or credentials', () => {
    expect(env(source)['FERRY_NATS_TLS_CA']).toBeUndefined();
    expect(env(source)['FERRY_NATS_USER']).toBeUndefined();
    expect(source.spec!.volumes!.map((v) => v.name)).not.toContain('nats-access');
  });

  it("gets the operator's NATS TLS files and credentials from the job Secret, never inline", () => {
    const pod = desiredWorkerPod(j, 'source', 0, 0, {
      ...settings,
      natsSecretData: {
        'nats-ca.crt': 'CA PEM',
        'nats-client.crt': 'CERT PEM',
        'nats-client.key': 'KEY PEM',
        'nats-user': 'ferry',
        'nats-password': 's3cret',
      },
    });
    const secretName = workerTokenSecretName('copy');
    expect(pod.spec!.volumes).toContainEqual({
      name: 'nats-access',
      secret: {
        secretName,
        items: ['nats-ca.crt', 'nats-client.crt', 'nats-client.key'].map((key) => ({ key, path: key })),
        defaultMode: 0o400,
      },
    });
    expect(pod.spec!.containers[0]!.volumeMounts).toContainEqual({
      name: 'nats-access',
      mountPath: '/etc/ferry/nats',
      readOnly: true,
    });
    expect(env(pod)['FERRY_NATS_TLS_CA']!.value).toBe('/etc/ferry/nats/nats-ca.crt');
    expect(env(pod)['FERRY_NATS_TLS_CERT']!.value).toBe('/etc/ferry/nats/nats-client.crt');
    expect(env(pod)['FERRY_NATS_TLS_KEY']!.value).toBe('/etc/ferry/nats/nats-client.key');
    expect(env(pod)['FERRY_NATS_USER']!.valueFrom).toEqual({
      secretKeyRef: { name: secretName, key: 'nats-user' },
    });
    expect(env(pod)['FERRY_NATS_PASSWORD']!.valueFrom).toEqual({
      secretKeyRef: { name: secretName, key: 'nats-password' },
    });
    expect(JSON.stringify(pod)).not.toMatch(/s3cret|PEM/);
  });

  it('reads S3 credentials from the Secret the spec names', () => {
    expect(env(destination)[workerEnv.accessKeyId]?.valueFrom?.secretKeyRef).toEqual({
      name: 'dst-creds',
      key: 'AWS_ACCESS_KEY_ID',
    });
    expect(JSON.parse(env(destination)[workerEnv.store]!.value!)).toEqual({
      s3: { endpoint: 'http://dst:9000', bucket: 'out' },
    });
  });

  it('mounts a filesystem source read-only', () => {
    expect(source.spec!.volumes).toContainEqual({
      name: 'store',
      persistentVolumeClaim: { claimName: 'archive', readOnly: true },
    });
    expect(JSON.parse(env(source)[workerEnv.store]!.value!)).toEqual({
      filesystem: { claimName: 'archive', path: '/exports', mountPath: '/data/store' },
    });
  });

  it('has readiness and liveness probes on its HTTP port', () => {
    const c = source.spec!.containers[0]!;
    expect(c.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(c.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
  });

  it('tells source workers the task ack-wait, so they signal progress on a long task in time', () => {
    const pod = desiredWorkerPod(j, 'source', 0, 0, { ...settings, taskAckWaitMs: 4_000 });
    expect(env(pod)[workerEnv.taskAckWaitMs]?.value).toBe('4000');
  });

  it("gives each source worker an equal share of the job's bandwidth limit, and destinations none", () => {
    const limited = job('limited');
    limited.spec.bandwidthLimit = '100Mi';
    limited.spec.workers = { source: { replicas: 4 } };
    const share = env(desiredWorkerPod(limited, 'source', 1, 0, settings))[workerEnv.bandwidth];
    expect(share?.value).toBe(String((100 * 1024 * 1024) / 4));
    expect(
      env(desiredWorkerPod(limited, 'destination', 0, 0, settings))[workerEnv.bandwidth],
    ).toBeUndefined();
    expect(env(source)[workerEnv.bandwidth]).toBeUndefined(); // no limit set
  });

  it('is not restarted in place: the operator replaces failed pods with back-off', () => {
    expect(source.spec!.restartPolicy).toBe('Never');
  });

  describe("pulls the operator's image with the operator's pull policy (FERRY_WORKER_IMAGE_PULL_POLICY)", () => {
    const never = { ...settings, defaultImagePullPolicy: 'Never' as const };
    const container = (pod: typeof source) => pod.spec!.containers[0]!;

    it("the operator's image: its pull policy, in worker and upload-abort pods alike", () => {
      expect(container(desiredWorkerPod(j, 'source', 0, 0, never))).toMatchObject({
        image: settings.defaultImage,
        imagePullPolicy: 'Never',
      });
      expect(container(uploadAbortPod(j, [], never)).imagePullPolicy).toBe('Never');
      // Unset: Kubernetes' default, and pods made before the setting keep their digest.
      expect(container(source).imagePullPolicy).toBeUndefined();
    });

    it("a job's own pull policy wins; a job's own image is never pulled by the operator's policy", () => {
      const own = job('own');
      own.spec.workers = { imagePullPolicy: 'Always' };
      expect(container(desiredWorkerPod(own, 'source', 0, 0, never)).imagePullPolicy).toBe('Always');
      own.spec.workers = { image: 'registry.example/ferry:custom' };
      expect(container(desiredWorkerPod(own, 'source', 0, 0, never))).toMatchObject({
        image: 'registry.example/ferry:custom',
      });
      expect(container(desiredWorkerPod(own, 'source', 0, 0, never)).imagePullPolicy).toBeUndefined();
      expect(container(uploadAbortPod(own, [], never)).imagePullPolicy).toBeUndefined();
    });
  });
});
