// The pod runner's persistentVolumeClaim volumes against the real bed: a claim
// is a host directory, the container finds it where its env and args name the
// mount path, and a pod whose claim does not exist does not start.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { PodRunner } from '../../podrunner/podRunner.ts';
import { bedEndpoints } from '../../support/bed.ts';
import { kubeConfigFor } from '../../support/kube.ts';
import { waitFor } from '../../support/wait.ts';

const namespace = `podrunner-volumes-${Date.now().toString(36)}`;
const dir = mkdtempSync(path.join(os.tmpdir(), 'ferry-podrunner-volumes-'));

let core: k8s.CoreV1Api;
let runner: PodRunner;

// Reads the file named by its first argument, writes what it saw into $OUT/result.json.
const program = `
const fs = process.getBuiltinModule('node:fs');
fs.mkdirSync(process.env.OUT, { recursive: true });
fs.writeFileSync(process.env.OUT + '/result.json', JSON.stringify({
  input: fs.readFileSync(process.argv[1], 'utf8'),
  store: JSON.parse(process.env.STORE),
  untouched: process.env.UNTOUCHED,
  out: process.env.OUT,
}));
`;

function claim(name: string): k8s.V1PersistentVolumeClaim {
  return {
    metadata: { name },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
  };
}

function claimPod(name: string, claimName: string): k8s.V1Pod {
  return {
    metadata: { name, namespace },
    spec: {
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 1,
      volumes: [
        { name: 'store', persistentVolumeClaim: { claimName } },
        { name: 'scratch', emptyDir: {} },
      ],
      containers: [
        {
          name: 'main',
          image: 'ferry:test',
          command: ['node', '-e', program],
          args: ['/mnt/input/in.txt'],
          env: [
            { name: 'STORE', value: JSON.stringify({ filesystem: { mountPath: '/data/store' } }) },
            { name: 'OUT', value: '/data/store/out' },
            { name: 'UNTOUCHED', value: '/data/storex:/tmp' },
          ],
          volumeMounts: [
            { name: 'store', mountPath: '/data/store' },
            { name: 'store', mountPath: '/mnt/input', subPath: 'inputs', readOnly: true },
            { name: 'scratch', mountPath: '/tmp' },
          ],
        },
      ],
    },
  };
}

async function read(name: string): Promise<k8s.V1Pod> {
  return core.readNamespacedPod({ name, namespace });
}

async function waitForPhase(name: string, phase: string): Promise<k8s.V1Pod> {
  let last: k8s.V1Pod | undefined;
  await waitFor(`pod ${name} to be ${phase}`, async () => {
    last = await read(name);
    return last.status?.phase === phase;
  }).catch((err: Error) => {
    throw new Error(`${err.message}; last status: ${JSON.stringify(last?.status)}`, { cause: err });
  });
  return last!;
}

beforeAll(async () => {
  const kc = kubeConfigFor(bedEndpoints().kubeconfig);
  core = kc.makeApiClient(k8s.CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  runner = await PodRunner.start({
    kubeconfig: bedEndpoints().kubeconfig,
    namespace,
    dir,
    configRetryMs: 300,
  });
});

afterAll(async () => {
  await runner?.stop();
  await core?.deleteNamespace({ name: namespace }).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

describe('the pod runner with persistentVolumeClaim volumes', () => {
  it('gives the container the claim’s host directory wherever its env and args name the mount path', async () => {
    await core.createNamespacedPersistentVolumeClaim({ namespace, body: claim('data') });
    const volume = runner.claimDir(namespace, 'data');
    mkdirSync(path.join(volume, 'inputs'), { recursive: true });
    writeFileSync(path.join(volume, 'inputs', 'in.txt'), 'put there by the test');

    await core.createNamespacedPod({ namespace, body: claimPod('reader', 'data') });
    await waitForPhase('reader', 'Succeeded');

    const result = JSON.parse(readFileSync(path.join(volume, 'out', 'result.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(result).toEqual({
      input: 'put there by the test', // the read-only subPath mount, through the args
      store: { filesystem: { mountPath: volume } }, // inside a JSON value
      untouched: '/data/storex:/tmp', // not the mount path, and an ignored emptyDir mount
      out: path.join(volume, 'out'),
    });
    expect(volume.startsWith(path.join(dir, 'volumes'))).toBe(true);
  });

  it('makes a readOnly mount read-only for the container, where the machine allows it', async () => {
    if (!runner.enforcesReadOnly) {
      console.warn('readOnly mounts cannot be enforced on this machine (no usable unshare): not tested');
      return;
    }
    await core.createNamespacedPersistentVolumeClaim({ namespace, body: claim('shared') });
    const volume = runner.claimDir(namespace, 'shared');
    mkdirSync(volume, { recursive: true });
    writeFileSync(path.join(volume, 'existing.txt'), 'readable');
    const attempt = `
const fs = process.getBuiltinModule('node:fs');
console.log('READ ' + fs.readFileSync(process.env.DIR + '/existing.txt', 'utf8'));
try { fs.writeFileSync(process.env.DIR + '/written.txt', 'x'); console.log('WRITE ok'); }
catch (err) { console.log('WRITE ' + err.code); }
`;
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'ro-writer', namespace },
        spec: {
          restartPolicy: 'Never',
          volumes: [{ name: 'store', persistentVolumeClaim: { claimName: 'shared', readOnly: true } }],
          containers: [
            {
              name: 'main',
              image: 'ferry:test',
              command: ['node', '-e', attempt],
              env: [{ name: 'DIR', value: '/data/store' }],
              volumeMounts: [{ name: 'store', mountPath: '/data/store', readOnly: true }],
            },
          ],
        },
      },
    });
    await waitForPhase('ro-writer', 'Succeeded');
    const log = readFileSync(runner.logFile(namespace, 'ro-writer'), 'utf8');
    expect(log).toContain('READ readable');
    expect(log).toContain('WRITE EROFS');
    expect(existsSync(path.join(volume, 'written.txt'))).toBe(false);
    // Outside the container's namespace the directory is as writable as before.
    writeFileSync(path.join(volume, 'after.txt'), 'still writable for others');
  });

  it('keeps a pod whose claim does not exist in ContainerCreating, and starts it once the claim exists', async () => {
    await core.createNamespacedPod({ namespace, body: claimPod('waiting', 'later') });
    let pod: k8s.V1Pod | undefined;
    await waitFor('the missing claim to be reported', async () => {
      pod = await read('waiting');
      return (
        pod.status?.containerStatuses?.[0]?.state?.waiting?.message?.includes(
          'persistentvolumeclaim "later" not found',
        ) ?? false
      );
    });
    expect(pod!.status!.phase).toBe('Pending');
    expect(pod!.status!.containerStatuses![0]!.state!.waiting!.reason).toBe('ContainerCreating');
    // Well past a few retries, it still has not run.
    await new Promise((r) => setTimeout(r, 1_500));
    expect(runner.pidOf(namespace, 'waiting')).toBeUndefined();
    expect((await read('waiting')).status!.phase).toBe('Pending');

    const volume = runner.claimDir(namespace, 'later');
    mkdirSync(path.join(volume, 'inputs'), { recursive: true });
    writeFileSync(path.join(volume, 'inputs', 'in.txt'), 'late');
    await core.createNamespacedPersistentVolumeClaim({ namespace, body: claim('later') });
    await waitForPhase('waiting', 'Succeeded');
    expect(JSON.parse(readFileSync(path.join(volume, 'out', 'result.json'), 'utf8'))).toMatchObject({
      input: 'late',
    });
  });
});

describe('the pod runner with secret volumes', () => {
  // Reads the files $CA and $KEY name and what else the volume holds; writes it all to $OUT/result.json.
  const secretReader = `
const fs = process.getBuiltinModule('node:fs');
const path = process.getBuiltinModule('node:path');
fs.mkdirSync(process.env.OUT, { recursive: true });
fs.writeFileSync(process.env.OUT + '/result.json', JSON.stringify({
  ca: fs.readFileSync(process.env.CA, 'utf8'),
  key: fs.readFileSync(process.env.KEY, 'utf8'),
  files: fs.readdirSync(path.dirname(process.env.CA)).sort(),
  dir: path.dirname(process.env.CA),
}));
`;
  const secretPod = (name: string, secretName: string): k8s.V1Pod => ({
    metadata: { name, namespace },
    spec: {
      restartPolicy: 'Never',
      volumes: [
        { name: 'out', persistentVolumeClaim: { claimName: 'secret-out' } },
        {
          name: 'tls',
          secret: {
            secretName,
            items: [
              { key: 'ca.crt', path: 'ca.crt' },
              { key: 'tls.key', path: 'client/tls.key' },
            ],
            defaultMode: 0o400,
          },
        },
      ],
      containers: [
        {
          name: 'main',
          image: 'ferry:test',
          command: ['node', '-e', secretReader],
          env: [
            { name: 'CA', value: '/etc/tls/ca.crt' },
            { name: 'KEY', value: '/etc/tls/client/tls.key' },
            { name: 'OUT', value: `/data/out/${name}` },
          ],
          volumeMounts: [
            { name: 'out', mountPath: '/data/out' },
            { name: 'tls', mountPath: '/etc/tls' },
          ],
        },
      ],
    },
  });
  const result = (name: string) =>
    JSON.parse(
      readFileSync(path.join(runner.claimDir(namespace, 'secret-out'), name, 'result.json'), 'utf8'),
    ) as { ca: string; key: string; files: string[]; dir: string };

  beforeAll(async () => {
    await core.createNamespacedPersistentVolumeClaim({ namespace, body: claim('secret-out') });
  });

  it("gives the container the Secret's items as files where its mount path is named, and removes them with the pod", async () => {
    await core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name: 'tls', namespace },
        stringData: { 'ca.crt': 'CA PEM', 'tls.key': 'KEY PEM', token: 'not an item' },
      },
    });
    await core.createNamespacedPod({ namespace, body: secretPod('secret-reader', 'tls') });
    await waitForPhase('secret-reader', 'Succeeded');

    const seen = result('secret-reader');
    expect(seen).toMatchObject({ ca: 'CA PEM', key: 'KEY PEM', files: ['ca.crt', 'client'] });
    expect(seen.dir.startsWith(path.join(dir, 'volumes'))).toBe(true);

    await core.deleteNamespacedPod({ name: 'secret-reader', namespace });
    await waitFor('the pod and its secret files to be gone', async () => !existsSync(seen.dir));
  });

  it('keeps a pod whose Secret does not exist in ContainerCreating, and starts it once the Secret exists', async () => {
    await core.createNamespacedPod({ namespace, body: secretPod('secret-waiting', 'later-tls') });
    await waitFor('the missing Secret to be reported', async () => {
      const waiting = (await read('secret-waiting')).status?.containerStatuses?.[0]?.state?.waiting;
      return (
        waiting?.reason === 'ContainerCreating' &&
        (waiting.message?.includes('secret "later-tls" not found') ?? false)
      );
    });
    expect(runner.pidOf(namespace, 'secret-waiting')).toBeUndefined();

    await core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: 'later-tls', namespace }, stringData: { 'ca.crt': 'LATE CA' } },
    });
    await waitFor('the missing key to be reported', async () => {
      const waiting = (await read('secret-waiting')).status?.containerStatuses?.[0]?.state?.waiting;
      return waiting?.message?.includes("couldn't find key tls.key in Secret") ?? false;
    });
    await core.replaceNamespacedSecret({
      name: 'later-tls',
      namespace,
      body: {
        metadata: { name: 'later-tls', namespace },
        stringData: { 'ca.crt': 'LATE CA', 'tls.key': 'LATE KEY' },
      },
    });
    await waitForPhase('secret-waiting', 'Succeeded');
    expect(result('secret-waiting')).toMatchObject({ ca: 'LATE CA', key: 'LATE KEY' });
  });
});
