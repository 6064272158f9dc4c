// The chart as installed on a real cluster: images that can come from the
// node's own store (no registry), server images that are a static binary alone
// (no shell to run probes or wrappers with), a read-only root filesystem with a
// volume wherever a process writes, and probes the operator really serves.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { loadAll } from 'js-yaml';
import { Registry } from 'prom-client';
import { startProbeServer } from '../../../common/probes.ts';
import { repoRoot } from '../../bed/tools.ts';
import { chartDir, ciValues, findManifest, renderChart, type Manifest } from './renderChart.ts';

const ns = 'ferry-system';
const valueSets = readdirSync(path.join(chartDir, 'ci'))
  .filter((f) => f.endsWith('-values.yaml'))
  .map((f) => f.replace(/-values\.yaml$/, ''))
  .sort();

/** Every pod template the chart renders, by `Kind/name`. */
function podSpecs(manifests: Manifest[]): [string, k8s.V1PodSpec][] {
  return manifests
    .filter((m) => m.kind === 'Deployment' || m.kind === 'StatefulSet')
    .map((m) => [`${m.kind}/${m.metadata.name}`, (m as unknown as k8s.V1Deployment).spec!.template.spec!]);
}

const operatorContainer = (manifests: Manifest[]) =>
  findManifest<k8s.V1Deployment>(manifests, 'Deployment', 'ferry-operator').spec!.template.spec!
    .containers[0]!;

const envOf = (container: k8s.V1Container) =>
  Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value]));

/** A pinned version in tools/install.sh (`NAME=value  # comment`). */
function pinnedVersion(name: string): string {
  const script = readFileSync(path.join(repoRoot, 'tools', 'install.sh'), 'utf8');
  const match = new RegExp(`^${name}=(\\S+)`, 'm').exec(script);
  if (!match) throw new Error(`${name} is not pinned in tools/install.sh`);
  return match[1]!;
}

describe('the chart on a cluster that cannot pull from upstream registries (ci/local-images-values.yaml)', () => {
  let manifests: Manifest[];
  beforeAll(async () => {
    manifests = await renderChart(ns, ['-f', ciValues('local-images')]);
  });

  it("runs every container from the node's own localhost/ferry images, never pulled", () => {
    const images = podSpecs(manifests).flatMap(([owner, spec]) =>
      spec.containers.map((c) => [owner, c.image, c.imagePullPolicy]),
    );
    expect(images).toEqual(
      expect.arrayContaining([
        ['Deployment/ferry-operator', 'localhost/ferry/ferry:dev', 'Never'],
        [
          'StatefulSet/ferry-nats',
          `localhost/ferry/nats-server:${pinnedVersion('NATS_SERVER_VERSION')}`,
          'Never',
        ],
        ['StatefulSet/ferry-etcd', `localhost/ferry/etcd:${pinnedVersion('ETCD_VERSION')}`, 'Never'],
      ]),
    );
    expect(images).toHaveLength(3);
  });

  it('gives the worker pods the same image and pull policy', () => {
    expect(envOf(operatorContainer(manifests))).toMatchObject({
      FERRY_WORKER_IMAGE: 'localhost/ferry/ferry:dev',
      FERRY_WORKER_IMAGE_PULL_POLICY: 'Never',
    });
  });
});

describe("the worker pods' image pull (FERRY_WORKER_IMAGE_PULL_POLICY, the worker ServiceAccount)", () => {
  it("gives the worker ServiceAccount the chart's imagePullSecrets, so its pods can pull the worker image", async () => {
    const manifests = await renderChart(ns, ['--set', 'imagePullSecrets[0].name=regcred']);
    const account = findManifest<k8s.V1ServiceAccount>(manifests, 'ServiceAccount', 'ferry-worker');
    expect(account.imagePullSecrets).toEqual([{ name: 'regcred' }]);
    expect(account.automountServiceAccountToken).toBe(false);
  });

  it.each([
    [[], 'IfNotPresent'],
    [['--set', 'image.pullPolicy=Always'], 'Always'],
    [['--set', 'image.pullPolicy=Always,workers.image.pullPolicy=Never'], 'Never'],
  ])('with %j is %s', async (flags, policy) => {
    const env = envOf(operatorContainer(await renderChart(ns, flags)));
    expect(env.FERRY_WORKER_IMAGE_PULL_POLICY).toBe(policy);
  });

  it('refuses an unknown pull policy, naming the value', async () => {
    await expect(renderChart(ns, ['--set', 'workers.image.pullPolicy=Sometimes'])).rejects.toThrow(
      "at '/workers/image/pullPolicy'",
    );
  });
});

describe.each(valueSets)('with ci/%s-values.yaml', (set) => {
  let manifests: Manifest[];
  beforeAll(async () => {
    manifests = await renderChart(ns, ['-f', ciValues(set)]);
  });

  it('runs no shell in any container: commands are the binaries themselves, probes are HTTP GETs', () => {
    const shells = /^(\/bin\/|\/usr\/bin\/)?(sh|bash|ash|dash)$/;
    for (const [owner, spec] of podSpecs(manifests)) {
      for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
        const where = `${owner} container ${c.name}`;
        expect([where, shells.test(c.command?.[0] ?? '')]).toEqual([where, false]);
        for (const probe of [c.startupProbe, c.livenessProbe, c.readinessProbe]) {
          expect([where, probe?.exec]).toEqual([where, undefined]);
          expect([where, probe?.httpGet?.path ?? probe?.tcpSocket?.port]).not.toEqual([where, undefined]);
        }
        expect([where, c.lifecycle?.preStop?.exec, c.lifecycle?.postStart?.exec]).toEqual([
          where,
          undefined,
          undefined,
        ]);
      }
    }
  });

  it('has a read-only root filesystem everywhere, and a volume wherever a process writes', () => {
    const writes: Record<string, string[]> = {
      'ferry-operator': ['/tmp'],
      'ferry-nats': [/store_dir: (\S+)/.exec(natsConfig(manifests) ?? 'store_dir: /data/jetstream')![1]!],
      'ferry-etcd': [etcdDataDir(manifests) ?? '/var/lib/etcd/data'],
    };
    for (const [owner, spec] of podSpecs(manifests)) {
      const c = spec.containers[0]!;
      expect([owner, c.securityContext?.readOnlyRootFilesystem]).toEqual([owner, true]);
      const mounts = (c.volumeMounts ?? []).filter((m) => !m.readOnly).map((m) => m.mountPath);
      for (const dir of writes[owner.split('/')[1]!] ?? []) {
        const mounted = mounts.some((m) => dir === m || dir.startsWith(`${m}/`));
        expect([owner, dir, mounted]).toEqual([owner, dir, true]);
      }
    }
  });

  it("puts no Service link variables in any pod's environment (they would land among the FERRY_ variables)", () => {
    for (const [owner, spec] of podSpecs(manifests))
      expect([owner, spec.enableServiceLinks]).toEqual([owner, false]);
  });

  it('probes the operator on paths its probe server answers, on the port it listens on', async () => {
    const container = operatorContainer(manifests);
    const port = container.ports!.find((p) => p.name === 'metrics')!.containerPort;
    expect(envOf(container).FERRY_PROBE_ADDRESS).toBe(`0.0.0.0:${port}`);
    const server = await startProbeServer('127.0.0.1', 0, new Registry(), () => true);
    try {
      for (const probe of [container.startupProbe, container.livenessProbe, container.readinessProbe]) {
        expect(probe!.httpGet!.port).toBe('metrics');
        const response = await fetch(`http://127.0.0.1:${server.port}${probe!.httpGet!.path}`);
        expect([probe!.httpGet!.path, response.status]).toEqual([probe!.httpGet!.path, 200]);
      }
    } finally {
      await server.close();
    }
  });
});

describe('the examples a user applies on a cluster', () => {
  const examples = readdirSync(path.join(repoRoot, 'examples'), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.yaml'))
    .map((e) => path.relative(repoRoot, path.join(e.parentPath, e.name)))
    .sort();

  it.each(examples)(
    '%s names S3 servers as pods reach them: never loopback, which is the pod itself',
    (file) => {
      const jobs = (loadAll(readFileSync(path.join(repoRoot, file), 'utf8')) as (Manifest | null)[]).filter(
        (m): m is Manifest => m?.kind === 'ReplicationJob',
      );
      for (const job of jobs) {
        const spec = job.spec as {
          source: { s3?: { endpoint: string } };
          destination: { s3?: { endpoint: string } };
        };
        for (const s3 of [spec.source.s3, spec.destination.s3]) {
          if (!s3) continue;
          const host = new URL(s3.endpoint).hostname;
          expect([s3.endpoint, /^(localhost|127\.|\[::1\]$|::1$|0\.0\.0\.0$)/.test(host)]).toEqual([
            s3.endpoint,
            false,
          ]);
        }
      }
    },
  );

  it('has the copy example that README.md tells users to apply', () => {
    expect(examples).toContain('examples/s3-to-s3-copy.yaml');
  });
});

function natsConfig(manifests: Manifest[]): string | undefined {
  const map = manifests.find((m) => m.kind === 'ConfigMap' && m.metadata.name === 'ferry-nats');
  return (map as k8s.V1ConfigMap | undefined)?.data?.['nats.conf'];
}

function etcdDataDir(manifests: Manifest[]): string | undefined {
  const sts = manifests.find((m) => m.kind === 'StatefulSet' && m.metadata.name === 'ferry-etcd');
  const args = (sts as k8s.V1StatefulSet | undefined)?.spec!.template.spec!.containers[0]!.args ?? [];
  return args.find((a) => a.startsWith('--data-dir='))?.slice('--data-dir='.length);
}
