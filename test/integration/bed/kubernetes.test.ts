import * as k8s from '@kubernetes/client-node';
import { bedEndpoints } from '../../support/bed.ts';
import { installCrds, kubeConfigFor, openWatch } from '../../support/kube.ts';
import { waitFor } from '../../support/wait.ts';

const group = 'ferry.dev';
const version = 'v1alpha1';
const plural = 'replicationjobs';
const namespace = 'default';

interface ReplicationJobObject {
  apiVersion: string;
  kind: string;
  metadata: k8s.V1ObjectMeta;
  spec: Record<string, unknown>;
  status?: Record<string, unknown>;
}

describe('the local kube-apiserver', () => {
  let kc: k8s.KubeConfig;
  let objects: k8s.CustomObjectsApi;

  beforeAll(async () => {
    kc = kubeConfigFor(bedEndpoints().kubeconfig);
    objects = kc.makeApiClient(k8s.CustomObjectsApi);
    await installCrds(kc);
  });

  it('reports its version and serves the core API with the admin credentials', async () => {
    const versionInfo = await kc.makeApiClient(k8s.VersionApi).getCode();
    expect(versionInfo.gitVersion).toMatch(/^v1\.\d+\.\d+/);
    const namespaces = await kc.makeApiClient(k8s.CoreV1Api).listNamespace();
    expect(namespaces.items.map((n) => n.metadata?.name)).toContain('default');
  });

  it('creates, reads, watches, updates the status of and deletes a ReplicationJob', async () => {
    const name = `smoke-${Date.now()}`;
    const seen: string[] = [];
    const request = await openWatch(
      kc,
      `/apis/${group}/${version}/namespaces/${namespace}/${plural}`,
      { fieldSelector: `metadata.name=${name}` },
      (type, obj) => seen.push(`${type}:${((obj as ReplicationJobObject).status?.phase as string) ?? '-'}`),
      (err) => seen.push(`ERROR:${err.message}`),
    );

    try {
      const body: ReplicationJobObject = {
        apiVersion: `${group}/${version}`,
        kind: 'ReplicationJob',
        metadata: { name, namespace },
        spec: {
          source: {
            s3: {
              endpoint: 'http://127.0.0.1:9000',
              bucket: 'site-in',
              credentialsSecretRef: { name: 'in-creds' },
            },
          },
          destination: {
            s3: {
              endpoint: 'http://127.0.0.1:9001',
              bucket: 'site-out',
              credentialsSecretRef: { name: 'out-creds' },
            },
          },
        },
      };
      await objects.createNamespacedCustomObject({ group, version, namespace, plural, body });

      const read = (await objects.getNamespacedCustomObject({
        group,
        version,
        namespace,
        plural,
        name,
      })) as ReplicationJobObject;
      expect(read.spec.mode).toBe('Copy'); // defaulted by the CRD schema
      expect(read.metadata.generation).toBe(1);

      const status = {
        observedGeneration: 1,
        phase: 'Running',
        conditions: [
          {
            type: 'Complete',
            status: 'False',
            reason: 'Replicating',
            message: 'copying',
            lastTransitionTime: new Date().toISOString(),
          },
        ],
      };
      await objects.patchNamespacedCustomObjectStatus(
        { group, version, namespace, plural, name, body: { status } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
      const updated = (await objects.getNamespacedCustomObject({
        group,
        version,
        namespace,
        plural,
        name,
      })) as ReplicationJobObject;
      expect(updated.status).toMatchObject({ phase: 'Running', observedGeneration: 1 });
      expect(updated.metadata.generation).toBe(1); // a status write does not bump the generation

      await objects.deleteNamespacedCustomObject({ group, version, namespace, plural, name });
      await waitFor('the watch to see the deletion', async () => seen.includes('DELETED:Running')).catch(
        (err) => {
          throw new Error(`${err.message}; the watch saw: ${seen.join(', ') || 'nothing'}`, { cause: err });
        },
      );
      expect(seen[0]).toBe('ADDED:-');
      expect(seen).toContain('MODIFIED:Running');
      await expect(
        objects.getNamespacedCustomObject({ group, version, namespace, plural, name }),
      ).rejects.toMatchObject({ code: 404 });
    } finally {
      request.abort();
    }
  });

  it('rejects a ReplicationJob that breaks the schema, naming the field', async () => {
    const body = {
      apiVersion: `${group}/${version}`,
      kind: 'ReplicationJob',
      metadata: { name: `bad-${Date.now()}`, namespace },
      spec: { source: {}, destination: {}, mode: 'Mirror' },
    };
    await expect(
      objects.createNamespacedCustomObject({ group, version, namespace, plural, body }),
    ).rejects.toMatchObject({
      code: 422,
      body: expect.stringContaining('spec.mode'),
    });
  });
});
