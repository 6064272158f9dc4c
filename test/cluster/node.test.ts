// The cluster tier's node: a real kubelet on containerd, runc and CNI runs a
// pod the way the chart's pods run (the restricted security context), with a
// pod IP and logs kubectl can read; and the tier leaves nothing behind, whether
// it is stopped or its owner is killed.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { toolPath } from '../bed/tools.ts';
import { waitFor } from '../support/wait.ts';
import { ClusterPlane, imagesDir, type ClusterEndpoints } from './clusterPlane.ts';
import { podCidr } from './clusterNetwork.ts';
import { sandboxImage } from './containerd.ts';
import { nodeLeftovers } from './nodeReaper.ts';
import { bridgeExists } from './podBridge.ts';
import { serviceNetworkLeftovers } from './serviceNetwork.ts';

const run = promisify(execFile);
const log = (line: string) => process.stderr.write(`${line}\n`);

async function kubectl(kubeconfig: string, args: string[]): Promise<string> {
  return (await run(toolPath('kubectl'), ['--kubeconfig', kubeconfig, ...args])).stdout;
}

/** A pod as the chart runs its pods: UID 65532, read-only root, no capabilities, RuntimeDefault seccomp. */
function restrictedPod(name: string, args: string[], restartPolicy: 'Always' | 'Never'): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: {
      restartPolicy,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: 65532,
        runAsGroup: 65532,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      containers: [
        {
          name: 'main',
          image: sandboxImage,
          imagePullPolicy: 'Never',
          args,
          securityContext: {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ['ALL'] },
          },
        },
      ],
    },
  };
}

async function applyPods(kubeconfig: string, objects: object[]): Promise<void> {
  const child = spawn(toolPath('kubectl'), ['--kubeconfig', kubeconfig, 'apply', '-f', '-'], {
    stdio: 'pipe',
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end(JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
  const [code] = (await once(child, 'exit')) as [number];
  if (code !== 0) throw new Error(`kubectl apply exited ${code}: ${stderr}`);
}

async function leftovers(dir: string): Promise<string[]> {
  return [...(await nodeLeftovers(dir, await bridgeExists())), ...(await serviceNetworkLeftovers())];
}

async function waitForNoLeftovers(dir: string, timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let left = await leftovers(dir);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    left = await leftovers(dir);
  }
  return left;
}

describe('the cluster tier node', () => {
  let plane: ClusterPlane | undefined;

  afterAll(async () => {
    await plane?.stop();
  });

  it('runs a pod with the restricted security context, with a pod IP, logs and exec', async () => {
    const began = Date.now();
    // Another tier on the machine (another test file) has the bridge until it stops.
    plane = await ClusterPlane.start({ log, waitForMachineMs: 240_000 });
    log(`node.test: cluster up, node Ready, in ${Date.now() - began} ms`);
    const { kubeconfig } = plane.endpoints();

    const created = Date.now();
    await applyPods(kubeconfig, [
      restrictedPod('sandbox', [], 'Always'),
      // The pause binary prints its version with -v and exits: a log line to read back.
      restrictedPod('version', ['-v'], 'Never'),
    ]);
    await kubectl(kubeconfig, ['wait', '--for=condition=Ready', 'pod/sandbox', '--timeout=60s']);
    log(`node.test: restricted pod Ready ${Date.now() - created} ms after it was created`);
    await kubectl(kubeconfig, [
      'wait',
      '--for=jsonpath={.status.phase}=Succeeded',
      'pod/version',
      '--timeout=60s',
    ]);

    const pod = JSON.parse(await kubectl(kubeconfig, ['get', 'pod', 'sandbox', '-o', 'json'])) as {
      spec: { nodeName: string };
      status: { phase: string; podIP: string };
    };
    expect(pod.status.phase).toBe('Running');
    expect(pod.spec.nodeName).toBe(plane.nodeName);
    expect(pod.status.podIP.startsWith(podCidr.replace('0/24', ''))).toBe(true);
    // kube-apiserver reaches the kubelet on the node IP with its client certificate.
    expect(await kubectl(kubeconfig, ['logs', 'version'])).toBe('ferry pause 3.10\n');
    expect(await kubectl(kubeconfig, ['logs', 'sandbox'])).toBe('');
    // exec goes through the kubelet to containerd's stream server.
    expect(await kubectl(kubeconfig, ['exec', 'sandbox', '--', '/pause', '-v'])).toBe('ferry pause 3.10\n');
  }, 360_000);

  it('binds a claim of ferry-local to a static volume a restricted pod writes to', async () => {
    const { kubeconfig } = plane!.endpoints();
    const [volume] = await plane!.createStaticVolumes(1);
    const etcdArchive = path.join(imagesDir, 'etcd.oci.tar');
    const [etcdImage] = await plane!.importImage(etcdArchive);
    const pod = restrictedPod('writer', [], 'Always') as {
      spec: { containers: Record<string, unknown>[]; volumes?: object[] };
    };
    // etcd (an image `make tools` builds) writes its data directory: a real filesystem store.
    Object.assign(pod.spec.containers[0]!, {
      image: etcdImage,
      command: ['/usr/local/bin/etcd'],
      args: [
        '--data-dir=/data/etcd',
        '--listen-client-urls=http://127.0.0.1:2379',
        '--advertise-client-urls=http://127.0.0.1:2379',
      ],
      volumeMounts: [{ name: 'data', mountPath: '/data' }],
    });
    pod.spec.volumes = [{ name: 'data', persistentVolumeClaim: { claimName: 'writer-data' } }];
    const claim = {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'writer-data', namespace: 'default' },
      spec: {
        storageClassName: 'ferry-local',
        accessModes: ['ReadWriteOnce'],
        resources: { requests: { storage: '1Gi' } },
      },
    };
    await applyPods(kubeconfig, [claim, pod]);
    await kubectl(kubeconfig, ['wait', '--for=condition=Ready', 'pod/writer', '--timeout=60s']);
    expect(
      await kubectl(kubeconfig, ['get', 'pvc', 'writer-data', '-o', 'jsonpath={.spec.volumeName}']),
    ).toBe(volume!.name);
    const wal = path.join(volume!.hostPath, 'etcd', 'member', 'wal');
    await waitFor(`etcd's write-ahead log in ${wal}`, async () => existsSync(wal));
  });

  it('refuses a second tier on the machine while one runs, changing nothing', async () => {
    await expect(ClusterPlane.start()).rejects.toThrow(/bridge ferry0 already exists/);
    expect(plane && (await kubectl(plane.kubeconfigPath, ['get', 'pod', 'sandbox', '-o', 'name']))).toBe(
      'pod/sandbox\n',
    );
  });

  it('is torn down leaving no process, mount, bridge or host state', async () => {
    const stopping = plane!;
    plane = undefined;
    // What the tier found before it started (the CNI bridge plugin turns forwarding on host-wide).
    const forwardingBefore = readFileSync(path.join(stopping.dir, 'ip_forward'), 'utf8');
    const began = Date.now();
    await stopping.stop();
    log(`node.test: teardown in ${Date.now() - began} ms`);
    expect(await leftovers(stopping.dir)).toEqual([]);
    expect(readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8')).toBe(forwardingBefore);
  });

  it('is reaped by its watchdog when its owner is killed, pods and all', async () => {
    const { owner, endpoints } = await tierOfAnotherProcess();
    owner.kill('SIGKILL');
    const reaped = Date.now();
    expect(await waitForNoLeftovers(endpoints.dir, 30_000)).toEqual([]);
    log(`node.test: the watchdog reaped the tier ${Date.now() - reaped} ms after its owner died`);
  }, 360_000);

  it('reaps, when it starts, a tier whose owner and watchdog were both killed', async () => {
    // A session stopped mid-run: every process it left is ended, the bridge and host state stay.
    const { owner, endpoints } = await tierOfAnotherProcess();
    const watchdogPid = Number(readFileSync(path.join(endpoints.dir, 'watchdog.pid'), 'utf8'));
    process.kill(watchdogPid, 'SIGKILL');
    owner.kill('SIGKILL');
    await once(owner, 'exit');
    await new Promise((r) => setTimeout(r, 2_000)); // a watchdog still alive would have reaped by now
    expect(await bridgeExists()).toBe(true);

    const next = await ClusterPlane.start({ log });
    try {
      expect(existsSync(endpoints.dir)).toBe(false);
      expect(next.nodeName).toBeDefined();
    } finally {
      await next.stop();
    }
    expect(await leftovers(next.dir)).toEqual([]);
  }, 360_000);

  /** A tier started by another process (cli.ts up) with a Ready pod on it, as a killed session leaves one. */
  async function tierOfAnotherProcess(): Promise<{ owner: ChildProcess; endpoints: ClusterEndpoints }> {
    const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), 'cli.ts');
    const owner: ChildProcess = spawn(process.execPath, [cli, 'up'], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, FERRY_CLUSTER_WAIT_MS: '240000' },
    });
    const exited = once(owner, 'exit');
    let endpoints: ClusterEndpoints | undefined;
    try {
      for await (const line of createInterface({ input: owner.stdout! })) {
        const up = /^cluster: up (.*)$/.exec(line);
        if (up) {
          endpoints = JSON.parse(up[1]!) as ClusterEndpoints;
          break;
        }
      }
      expect(endpoints).toBeDefined();
      await applyPods(endpoints!.kubeconfig, [restrictedPod('orphan', [], 'Always')]);
      await kubectl(endpoints!.kubeconfig, ['wait', '--for=condition=Ready', 'pod/orphan', '--timeout=60s']);
    } catch (err) {
      owner.kill('SIGTERM'); // a clean stop, so a failed test leaves no tier running
      await exited;
      throw err;
    }

    return { owner, endpoints: endpoints! };
  }
});
