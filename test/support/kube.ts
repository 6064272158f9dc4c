// Kubernetes helpers for tests: a client for the bed and CRD installation.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { waitFor } from './wait.ts';
import type { ReplicationJob } from '../../api/v1alpha1/index.ts';
import { group, plural, version } from '../../api/v1alpha1/index.ts';
import { repoRoot } from '../bed/tools.ts';

export function kubeConfigFor(kubeconfigPath: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return kc;
}

/**
 * Every CustomResourceDefinition in crds/, as typed objects: client-node renames
 * schema keywords (`default` is `_default`), so plain parsed YAML would lose them.
 */
export function loadCrds(): k8s.V1CustomResourceDefinition[] {
  const dir = path.join(repoRoot, 'crds');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .flatMap(
      (f) => k8s.loadAllYaml(readFileSync(path.join(dir, f), 'utf8')) as k8s.V1CustomResourceDefinition[],
    );
}

/**
 * Creates or replaces the CRDs from crds/ and waits until each is Established.
 * Test files run in parallel against one bed, so a conflict with another file
 * installing them at the same moment is retried.
 */
export async function installCrds(kc: k8s.KubeConfig): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await installCrdsOnce(kc);
    } catch (err) {
      if ((err as { code?: number }).code !== 409 || attempt >= 10) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

async function installCrdsOnce(kc: k8s.KubeConfig): Promise<void> {
  const api = kc.makeApiClient(k8s.ApiextensionsV1Api);
  for (const crd of loadCrds()) {
    const name = crd.metadata!.name!;
    try {
      const existing = await api.readCustomResourceDefinition({ name });
      crd.metadata!.resourceVersion = existing.metadata!.resourceVersion;
      await api.replaceCustomResourceDefinition({ name, body: crd });
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
      await api.createCustomResourceDefinition({ body: crd });
    }
    await waitFor(`CRD ${name} Established`, async () => {
      const current = await api.readCustomResourceDefinition({ name });
      return (
        current.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false
      );
    });
  }
}

/**
 * Opens a watch, retrying while the API server answers 429: right after a CRD
 * is established its watch cache is still initializing and says "Too Many
 * Requests" with Retry-After. Any later error ends the watch and is recorded.
 */
export async function openWatch(
  kc: k8s.KubeConfig,
  path: string,
  query: Record<string, string>,
  onEvent: (type: string, obj: unknown) => void,
  onError: (err: Error) => void,
  timeoutMs = 30_000,
): Promise<AbortController> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let failure: (Error & { statusCode?: number }) | undefined;
    const request = await new k8s.Watch(kc).watch(path, query, onEvent, (err) => {
      if (err) (failure ? onError : (e: Error) => (failure = e))(err);
    });
    if (!failure) return request;
    if (failure.statusCode !== 429 || Date.now() > deadline) throw failure;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Reads a ReplicationJob as the API server holds it. */
export async function readReplicationJob(
  objects: k8s.CustomObjectsApi,
  namespace: string,
  name: string,
): Promise<ReplicationJob> {
  return (await objects.getNamespacedCustomObject({
    group,
    version,
    namespace,
    plural,
    name,
  })) as ReplicationJob;
}
