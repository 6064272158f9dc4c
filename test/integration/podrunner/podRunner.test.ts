// The pod runner against the real bed: it schedules, runs, probes, reports and
// deletes pods the way the scheduler and the kubelet would.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { httpGet } from '../../bed/network.ts';
import { repoRoot } from '../../bed/tools.ts';
import { PodRunner } from '../../podrunner/podRunner.ts';
import { bedEndpoints } from '../../support/bed.ts';
import { kubeConfigFor } from '../../support/kube.ts';
import { waitFor } from '../../support/wait.ts';

const namespace = 'default';
const run = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
const label = 'ferry.dev/podrunner-test';
const server = 'test/integration/podrunner/fixtures/server.js'; // the image's path: the .ts runs here
const dir = mkdtempSync(path.join(os.tmpdir(), 'ferry-podrunner-it-'));

let kc: k8s.KubeConfig;
let core: k8s.CoreV1Api;
let runner: PodRunner;

function pod(
  name: string,
  container: Partial<k8s.V1Container>,
  spec: Partial<k8s.V1PodSpec> = {},
  group = run,
): k8s.V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `${name}-${run}`, namespace, labels: { [label]: group, app: name } },
    spec: {
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 5,
      containers: [{ name: 'main', image: 'ferry:test', ...container }],
      ...spec,
    },
  };
}

function serverPod(name: string, extra: Partial<k8s.V1Container> = {}): k8s.V1Pod {
  return pod(name, {
    command: ['node', server],
    ports: [{ name: 'http', containerPort: 8080 }],
    env: [{ name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }, ...(extra.env ?? [])],
    readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1 },
    livenessProbe: { tcpSocket: { port: 8080 }, initialDelaySeconds: 1, periodSeconds: 1 },
    ...extra,
    ...(extra.env
      ? { env: [{ name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }, ...extra.env] }
      : {}),
  });
}

async function create(p: k8s.V1Pod): Promise<string> {
  await core.createNamespacedPod({ namespace, body: p });
  return p.metadata!.name!;
}

async function read(name: string): Promise<k8s.V1Pod> {
  return core.readNamespacedPod({ name, namespace });
}

async function waitForPod(
  name: string,
  what: string,
  check: (p: k8s.V1Pod) => boolean,
  timeoutMs = 30_000,
): Promise<k8s.V1Pod> {
  let last: k8s.V1Pod | undefined;
  await waitFor(
    `pod ${name} ${what}`,
    async () => {
      last = await read(name);
      return check(last);
    },
    timeoutMs,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; last status: ${JSON.stringify(last?.status)}`, { cause: err });
  });
  return last!;
}

const isReady = (p: k8s.V1Pod) =>
  p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
const terminated = (p: k8s.V1Pod) => p.status?.containerStatuses?.[0]?.state?.terminated;

/** Whether a process runs (a zombie waiting for an init that reaps lazily does not). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

async function gone(name: string): Promise<boolean> {
  try {
    await read(name);
    return false;
  } catch (err) {
    return (err as { code?: number }).code === 404;
  }
}

beforeAll(async () => {
  kc = kubeConfigFor(bedEndpoints().kubeconfig);
  core = kc.makeApiClient(k8s.CoreV1Api);
  runner = await PodRunner.start({
    kubeconfig: bedEndpoints().kubeconfig,
    namespace,
    labelSelector: `${label}=${run}`,
    dir,
    restartBackoffMs: 200,
    configRetryMs: 500,
  });
});

afterAll(async () => {
  await core.deleteCollectionNamespacedPod({ namespace, labelSelector: label, gracePeriodSeconds: 0 });
  await runner?.stop();
  for (const name of [`creds-${run}`, `late-${run}`])
    await core.deleteNamespacedSecret({ name, namespace }).catch(() => {});
  await core.deleteNamespacedConfigMap({ name: `settings-${run}`, namespace }).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

describe('the pod runner', () => {
  it('registers a Ready node', async () => {
    const node = await core.readNode({ name: runner.nodeName });
    expect(node.status?.conditions).toContainEqual(
      expect.objectContaining({ type: 'Ready', status: 'True' }),
    );
  });

  it('binds pods to its node and runs each, Ready, on its own loopback address', async () => {
    const names = await Promise.all([create(serverPod('web-a')), create(serverPod('web-b'))]);
    const pods = await Promise.all(names.map((name) => waitForPod(name, 'to be Ready', isReady)));
    const ips = pods.map((p) => p.status!.podIP!);
    for (const p of pods) {
      expect(p.spec!.nodeName).toBe(runner.nodeName);
      expect(p.status!.phase).toBe('Running');
      expect(p.status!.podIP).toMatch(/^127\.0\.\d+\.\d+$/);
      expect(p.status!.podIP).not.toBe('127.0.0.1');
      expect(p.status!.podIPs).toEqual([{ ip: p.status!.podIP }]);
      expect(p.status!.hostIP).toBe('127.0.0.1');
      expect(p.status!.startTime).toBeDefined();
      const types = Object.fromEntries(p.status!.conditions!.map((c) => [c.type, c.status]));
      expect(types).toEqual({
        PodScheduled: 'True',
        Initialized: 'True',
        ContainersReady: 'True',
        Ready: 'True',
      });
      expect(p.status!.containerStatuses![0]).toMatchObject({
        name: 'main',
        image: 'ferry:test',
        ready: true,
        started: true,
        restartCount: 0,
        state: { running: { startedAt: expect.any(Date) } },
      });
      expect((await httpGet(`http://${p.status!.podIP}:8080/healthz`)).body).toBe('ok');
      expect(runner.pidOf(namespace, p.metadata!.name!)).toEqual(expect.any(Number));
    }
    expect(ips[0]).not.toBe(ips[1]);
  });

  it('gives the process env from a Secret, a ConfigMap and the downward API, and nothing of its own', async () => {
    await core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: `creds-${run}` }, stringData: { password: 's3cret' } },
    });
    await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: `settings-${run}` }, data: { MODE: 'fast', COLOUR: 'blue' } },
    });
    const p = serverPod('env', {
      envFrom: [{ configMapRef: { name: `settings-${run}` }, prefix: 'CM_' }],
      env: [
        { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: `creds-${run}`, key: 'password' } } },
        { name: 'MODE', valueFrom: { configMapKeyRef: { name: `settings-${run}`, key: 'MODE' } } },
        { name: 'OPTIONAL', valueFrom: { secretKeyRef: { name: `nope-${run}`, key: 'x', optional: true } } },
        { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
        { name: 'POD_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
        { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
        { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
        { name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
        { name: 'URL', value: 'http://$(POD_IP):8080/$(MODE)' },
      ],
    });
    const name = await create(p);
    const running = await waitForPod(name, 'to be Ready', isReady);
    const env = JSON.parse((await httpGet(`http://${running.status!.podIP}:8080/env`)).body) as Record<
      string,
      string
    >;
    expect(env).toMatchObject({
      PASSWORD: 's3cret',
      MODE: 'fast',
      CM_MODE: 'fast',
      CM_COLOUR: 'blue',
      POD_IP: running.status!.podIP,
      POD_NAME: name,
      POD_NAMESPACE: namespace,
      POD_UID: running.metadata!.uid,
      APP: 'env',
      NODE: runner.nodeName,
      HOST_IP: '127.0.0.1',
      URL: `http://${running.status!.podIP}:8080/fast`,
    });
    expect(env.PATH).toBeDefined();
    expect(env.HOME).toBeDefined();
    expect(env).not.toHaveProperty('OPTIONAL');
    expect(env).not.toHaveProperty('NODE_OPTIONS');
    expect(env).not.toHaveProperty('FERRY_BED'); // the runner's own environment does not leak in
    // stdout goes to the pod's log file
    expect(readFileSync(runner.logFile(namespace, name), 'utf8')).toContain('"PASSWORD":"s3cret"');
  });

  it('leaves a container whose Secret is missing waiting with CreateContainerConfigError, and starts it once it exists', async () => {
    const name = await create(
      pod('nosecret', {
        command: ['node', '-e', 'console.log("token", process.env.TOKEN); setInterval(() => {}, 1000)'],
        env: [{ name: 'TOKEN', valueFrom: { secretKeyRef: { name: `late-${run}`, key: 'token' } } }],
      }),
    );
    const waiting = await waitForPod(
      name,
      'to wait with CreateContainerConfigError',
      (p) => p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CreateContainerConfigError',
    );
    expect(waiting.status!.phase).toBe('Pending');
    expect(waiting.status!.containerStatuses![0]!.state!.waiting!.message).toContain(`late-${run}`);
    expect(runner.pidOf(namespace, name)).toBeUndefined();

    await core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: `late-${run}` }, stringData: { token: 'tok-1' } },
    });
    await waitForPod(name, 'to run', (p) => p.status?.phase === 'Running' && isReady(p));
    await waitFor('the token in the log', async () =>
      readFileSync(runner.logFile(namespace, name), 'utf8').includes('token tok-1'),
    );
  });

  it('reports a process that exits 0 as Succeeded, and one that exits 3 as Failed with its exit code', async () => {
    const [ok, bad] = await Promise.all([
      create(pod('exit0', { command: ['node', '-e', 'setTimeout(() => process.exit(0), 300)'] })),
      create(pod('exit3', { command: ['sh', '-c', 'echo failing; exit 3'] })),
    ]);
    const succeeded = await waitForPod(ok, 'to succeed', (p) => p.status?.phase === 'Succeeded');
    expect(terminated(succeeded)).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(terminated(succeeded)!.finishedAt).toBeDefined();
    expect(isReady(succeeded)).toBe(false);

    const failed = await waitForPod(bad, 'to fail', (p) => p.status?.phase === 'Failed');
    expect(terminated(failed)).toMatchObject({ exitCode: 3, reason: 'Error' });
    expect(failed.status!.containerStatuses![0]!.restartCount).toBe(0);
    expect(readFileSync(runner.logFile(namespace, bad), 'utf8')).toContain('failing');
  });

  it('reports a killed process as Failed', async () => {
    const name = await create(serverPod('victim'));
    await waitForPod(name, 'to be Ready', isReady);
    const pid = runner.pidOf(namespace, name)!;
    expect(runner.killProcess(namespace, name, 'SIGKILL')).toBe(true);
    const failed = await waitForPod(name, 'to fail', (p) => p.status?.phase === 'Failed');
    expect(terminated(failed)).toMatchObject({ exitCode: 137, reason: 'Error' });
    expect(alive(pid)).toBe(false);
  });

  it('kills a container whose liveness probe fails', async () => {
    const name = await create(
      pod('unhealthy', {
        command: ['node', '-e', 'setInterval(() => {}, 1000)'],
        livenessProbe: { httpGet: { path: '/healthz', port: 9 }, periodSeconds: 1, failureThreshold: 2 },
      }),
    );
    const failed = await waitForPod(name, 'to fail', (p) => p.status?.phase === 'Failed');
    expect(terminated(failed)).toMatchObject({ exitCode: 137, message: expect.stringContaining('Liveness') });
  });

  it('restarts an OnFailure container with back-off, counting restarts', async () => {
    const name = await create(
      pod('crashy', { command: ['sh', '-c', 'exit 1'] }, { restartPolicy: 'OnFailure' }),
    );
    const restarted = await waitForPod(
      name,
      'to restart twice',
      (p) => (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 2,
    );
    expect(restarted.status!.phase).not.toMatch(/Succeeded|Failed/);
    expect(restarted.status!.containerStatuses![0]!.lastState!.terminated).toMatchObject({ exitCode: 1 });
  });

  it('stops the process of a deleted pod, then removes the pod from the API', async () => {
    const [polite, stubborn] = await Promise.all([
      create(serverPod('polite')),
      create(
        pod(
          'stubborn',
          {
            command: [
              'node',
              '-e',
              "process.on('SIGTERM', () => console.log('ignoring SIGTERM')); setInterval(() => {}, 1000)",
            ],
          },
          { terminationGracePeriodSeconds: 1 },
        ),
      ),
    ]);
    await waitForPod(polite, 'to be Ready', isReady);
    await waitForPod(stubborn, 'to be Ready', isReady);
    const pids = [runner.pidOf(namespace, polite)!, runner.pidOf(namespace, stubborn)!];
    const began = Date.now();
    await core.deleteNamespacedPod({ name: polite, namespace });
    await core.deleteNamespacedPod({ name: stubborn, namespace });
    await waitFor(
      'both pods to disappear from the API',
      async () => (await gone(polite)) && (await gone(stubborn)),
    );
    expect(Date.now() - began).toBeLessThan(10_000);
    expect(pids.filter(alive)).toEqual([]);
    expect(readFileSync(runner.logFile(namespace, polite), 'utf8')).toContain('SIGTERM: shutting down');
    expect(readFileSync(runner.logFile(namespace, stubborn), 'utf8')).toContain('ignoring SIGTERM');
  });

  it('ignores pods for another scheduler and pods outside its label selector', async () => {
    const other = await create(
      pod('other-scheduler', { command: ['true'] }, { schedulerName: 'someone-else' }),
    );
    const foreign = await create(pod('foreign', { command: ['true'] }, {}, `${run}-not-mine`));
    await new Promise((r) => setTimeout(r, 1_500));
    for (const name of [other, foreign]) {
      const p = await read(name);
      expect(p.spec!.nodeName).toBeUndefined();
      expect(p.status!.phase).toBe('Pending');
    }
  });

  it('resumes its watch after the connection to the API server breaks', async () => {
    // A second runner reaching the API server through a proxy whose connections we cut.
    const upstream = new URL(kc.getCurrentCluster()!.server);
    const sockets = new Set<net.Socket>();
    const proxy = net.createServer((client) => {
      const server = net.connect(Number(upstream.port), upstream.hostname);
      for (const [a, b] of [
        [client, server],
        [server, client],
      ] as const) {
        sockets.add(a);
        a.on('error', () => b.destroy());
        a.on('close', () => (sockets.delete(a), b.destroy()));
        a.pipe(b);
      }
    });
    proxy.listen(0, '127.0.0.1');
    await once(proxy, 'listening');
    const proxied = new k8s.KubeConfig();
    proxied.loadFromOptions({
      clusters: kc.clusters.map((c) => ({
        ...c,
        server: `https://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`,
      })),
      users: kc.users,
      contexts: kc.contexts,
      currentContext: kc.currentContext,
    });
    const group = `${run}-proxied`;
    const second = await PodRunner.start({
      kubeconfig: proxied,
      namespace,
      labelSelector: `${label}=${group}`,
      watchBackoffMs: 100,
    });
    try {
      const before = await create(
        pod('before-cut', { command: ['node', '-e', 'setInterval(() => {}, 1000)'] }, {}, group),
      );
      await waitForPod(before, 'to run', (p) => p.status?.phase === 'Running');
      const restarts = second.watchRestarts;
      for (const socket of sockets) socket.destroy();
      await waitFor('the watch to be re-established', async () => second.watchRestarts > restarts);
      const after = await create(
        pod('after-cut', { command: ['node', '-e', 'setInterval(() => {}, 1000)'] }, {}, group),
      );
      await waitForPod(after, 'to run', (p) => p.status?.phase === 'Running');
      expect(second.podIP(namespace, after)).not.toBe(second.podIP(namespace, before));
    } finally {
      await second.stop();
      proxy.close();
      for (const socket of sockets) socket.destroy();
    }
  });

  async function startProgram(podName: string, group: string) {
    const child = spawn(
      process.execPath,
      [
        path.join(repoRoot, 'test/podrunner/main.ts'),
        '--kubeconfig',
        bedEndpoints().kubeconfig,
        '--namespace',
        namespace,
        '--selector',
        `${label}=${group}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH, HOME: process.env.HOME } },
    );
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const exited = once(child, 'exit');
    const name = await create(
      pod(podName, { command: ['node', '-e', 'setInterval(() => {}, 1000)'] }, {}, group),
    );
    const running = await waitForPod(
      name,
      'to run',
      (p) => p.status?.phase === 'Running' && isReady(p),
    ).catch((err: Error) => {
      child.kill('SIGKILL');
      throw new Error(`${err.message}; runner output:\n${output}`, { cause: err });
    });
    const pid = Number(running.status!.containerStatuses![0]!.containerID!.replace('podrunner://', ''));
    expect(alive(pid)).toBe(true);
    return { child, exited, pid };
  }

  it("runs as a program until SIGTERM, then kills its pods' processes", async () => {
    const { child, exited, pid } = await startProgram('cli', `${run}-cli`);
    child.kill('SIGTERM');
    const [code] = await exited;
    expect(code).toBe(0);
    expect(alive(pid)).toBe(false);
  });

  it('leaves no process behind when it is killed', async () => {
    const { child, exited, pid } = await startProgram('cli-killed', `${run}-cli-killed`);
    child.kill('SIGKILL');
    await exited;
    await waitFor(`the watchdog to kill pid ${pid}`, async () => !alive(pid), 10_000);
  });
});
