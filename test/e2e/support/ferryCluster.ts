// The e2e world: a real single-node cluster (test/cluster/), the project's
// images imported into its containerd, an S3 server the pods reach on the
// node's bridge address, and Ferry installed by its own Helm chart with the
// bundled NATS and etcd — exactly what a user installs, under the chart's
// ServiceAccount and RBAC. Test files reach it through FERRY_E2E.
import { readFileSync } from 'node:fs';
import type * as k8s from '@kubernetes/client-node';
import path from 'node:path';
import { ClusterPlane } from '../../cluster/clusterPlane.ts';
import { hostAddress } from '../../cluster/clusterNetwork.ts';
import { S3Server, type S3Credentials } from '../../bed/s3Server.ts';
import { repoRoot } from '../../bed/tools.ts';
import { helm, kubectl } from './cli.ts';

/** How a test file reaches the e2e world. */
export interface E2eEndpoints {
  kubeconfig: string;
  /** Where the release runs (the operator, NATS and etcd). */
  releaseNamespace: string;
  release: string;
  /** Where a test makes the host directories of the volumes it binds to its claims. */
  dataDir: string;
  s3: { endpoint: string; region: string; credentials: S3Credentials };
}

export const release = 'ferry';
export const releaseNamespace = 'ferry-system';

const imagesDir = path.join(repoRoot, '.tools', 'images');
const bundledStorageClass = 'ferry-local';
const bundledClaims = 6;

/** The images `make image` and `make tools` exported, by name (.tools/images/images.json). */
export function localImages(): Record<string, string> {
  const file = path.join(imagesDir, 'images.json');
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
  } catch (err) {
    throw new Error(`no image list at ${file}: run 'make image' first`, { cause: err });
  }
}

/** The chart values that point every image at the local builds, never pulled. */
export function localImageValues(images = localImages()): string[] {
  const [ferryRepo, ferryTag] = splitReference(images.ferry!);
  const [natsRepo, natsTag] = splitReference(images['nats-server']!);
  const [etcdRepo, etcdTag] = splitReference(images.etcd!);
  return [
    `image.repository=${ferryRepo}`,
    `image.tag=${ferryTag}`,
    'image.pullPolicy=Never',
    `nats.bundled.image.repository=${natsRepo}`,
    `nats.bundled.image.tag=${natsTag}`,
    'nats.bundled.image.pullPolicy=Never',
    `etcd.bundled.image.repository=${etcdRepo}`,
    `etcd.bundled.image.tag=${etcdTag}`,
    'etcd.bundled.image.pullPolicy=Never',
  ].flatMap((v) => ['--set', v]);
}

function splitReference(ref: string): [string, string] {
  const at = ref.lastIndexOf(':');
  return [ref.slice(0, at), ref.slice(at + 1)];
}

export class FerryCluster {
  readonly plane: ClusterPlane;
  readonly s3: S3Server;

  private constructor(plane: ClusterPlane, s3: S3Server) {
    this.plane = plane;
    this.s3 = s3;
  }

  static async start(log: (line: string) => void): Promise<FerryCluster> {
    const began = Date.now();
    const plane = await ClusterPlane.start({ log });
    log(`e2e: cluster up in ${Date.now() - began} ms`);
    try {
      for (const [name, ref] of Object.entries(localImages())) {
        const t = Date.now();
        await plane.importImage(path.join(imagesDir, `${name}.oci.tar`));
        log(`e2e: image ${ref} imported in ${Date.now() - t} ms`);
      }
      // The bundled NATS and etcd claim one volume per server (three each).
      await plane.createStaticVolumes(bundledClaims, bundledStorageClass);
      const s3 = await S3Server.create(plane.dir, 's3', undefined, hostAddress);
      await s3.start();
      const cluster = new FerryCluster(plane, s3);
      await cluster.install(log);
      return cluster;
    } catch (err) {
      await plane.stop();
      throw err;
    }
  }

  get kubeconfig(): string {
    return this.plane.kubeconfigPath;
  }

  /** `helm install` of the chart with the bundled NATS and etcd on the node's static volumes. */
  private async install(log: (line: string) => void): Promise<void> {
    await installRelease(this.kubeconfig, log, [
      '--set',
      `nats.bundled.persistence.storageClass=${bundledStorageClass}`,
      '--set',
      `etcd.bundled.persistence.storageClass=${bundledStorageClass}`,
    ]);
  }

  endpoints(): E2eEndpoints {
    return {
      kubeconfig: this.kubeconfig,
      releaseNamespace,
      release,
      dataDir: path.join(this.plane.dir, 'e2e-data'),
      s3: { endpoint: this.s3.endpoint, region: this.s3.region, credentials: this.s3.credentials },
    };
  }

  async stop(): Promise<void> {
    await this.s3.stop();
    await this.plane.stop();
  }
}

/**
 * `helm install` of the chart as the release, with the local images and
 * `values` (helm arguments), waiting until the operator and the bundled
 * servers are ready; logs the release's pods with their node and image.
 */
export async function installRelease(
  kubeconfig: string,
  log: (line: string) => void,
  values: string[],
): Promise<void> {
  const began = Date.now();
  await helm(kubeconfig, [
    'install',
    release,
    path.join(repoRoot, 'helm', 'ferry'),
    '--namespace',
    releaseNamespace,
    '--create-namespace',
    ...localImageValues(),
    ...values,
    '--wait',
    '--timeout',
    '10m',
  ]);
  log(`e2e: helm install ready in ${Date.now() - began} ms`);
  log(`e2e: the release's pods:\n${await podsWithNodeAndImage(kubeconfig, releaseNamespace)}`);
}

/**
 * The pods of `namespace` (matching `selector`), each with its node, image and
 * start-up time (created → Ready, from the pod's own conditions): where and
 * what runs, and how long the real node took to start it.
 */
export async function podsWithNodeAndImage(
  kubeconfig: string,
  namespace: string,
  selector?: string,
): Promise<string> {
  const { stdout } = await kubectl(kubeconfig, [
    'get',
    'pods',
    '-n',
    namespace,
    ...(selector ? ['-l', selector] : []),
    '-o',
    'json',
  ]);
  const pods = (JSON.parse(stdout) as { items: k8s.V1Pod[] }).items;
  return pods.map(describePod).join('\n');
}

function describePod(pod: k8s.V1Pod): string {
  const ready = pod.status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'True');
  const created = pod.metadata?.creationTimestamp;
  const startup =
    ready?.lastTransitionTime && created
      ? `ready ${(new Date(ready.lastTransitionTime).getTime() - new Date(created).getTime()) / 1000} s after creation`
      : `not ready (${pod.status?.phase})`;
  const images = (pod.spec?.containers ?? []).map((c) => c.image).join(',');
  return `  ${pod.metadata?.name} on ${pod.spec?.nodeName}: ${images}, ${startup}`;
}
