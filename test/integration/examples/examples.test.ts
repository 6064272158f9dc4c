// The manifests in examples/ are ones a user can apply as they are: each is
// applied to the bed's kube-apiserver with a server-side dry run (the CRD's
// schema, defaults and CEL rules run for real, nothing is stored), the GitOps
// kustomization is built with `kubectl kustomize` and its output dry-run
// applied the same way, and the Argo CD Application points at that
// kustomization. A broken example fails here, naming the file.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { loadAll } from 'js-yaml';
import { repoRoot, toolPath } from '../../bed/tools.ts';
import { bedEndpoints } from '../../support/bed.ts';
import { installCrds, kubeConfigFor } from '../../support/kube.ts';

const examplesDir = path.join(repoRoot, 'examples');
const gitopsDir = path.join(examplesDir, 'gitops');
const plainExamples = readdirSync(examplesDir)
  .filter((f) => f.endsWith('.yaml'))
  .sort();
const namespace = `examples-it-${Date.now()}`;

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: Record<string, unknown>;
}

/** Runs kubectl against the bed; a failure carries kubectl's own message. */
function kubectl(args: string[], input?: string): string {
  try {
    return execFileSync(toolPath('kubectl'), ['--kubeconfig', bedEndpoints().kubeconfig, ...args], {
      encoding: 'utf8',
      input,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`kubectl ${args.join(' ')} failed: ${e.stderr || e.message}`, { cause: err });
  }
}

const serverDryRun = (manifests: string, ns?: string) =>
  kubectl(['apply', '--dry-run=server', ...(ns ? ['-n', ns] : []), '-f', '-'], manifests);

beforeAll(async () => {
  const kc = kubeConfigFor(bedEndpoints().kubeconfig);
  await installCrds(kc);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: namespace } } });
});

describe('examples/', () => {
  it('holds the copy, filesystem, delete-guarded Sync and dry-run examples', () => {
    expect(plainExamples).toEqual(
      expect.arrayContaining([
        's3-to-s3-copy.yaml',
        'filesystem-to-s3-copy.yaml',
        's3-sync-with-delete-guards.yaml',
        's3-sync-dry-run.yaml',
      ]),
    );
  });

  it.each(plainExamples)('%s passes the API server validation (server-side dry run)', (file) => {
    const text = readFileSync(path.join(examplesDir, file), 'utf8');
    const manifests = loadAll(text) as Manifest[];
    const out = serverDryRun(text, namespace);
    for (const m of manifests) {
      expect(out).toContain(`${m.kind.toLowerCase()}.ferry.dev/${m.metadata.name} created (server dry run)`);
    }
  });

  it('is checked for real: an example made invalid is rejected with the rule it breaks', () => {
    // The copy example with the destination made the same store as the source.
    const broken = readFileSync(path.join(examplesDir, 's3-to-s3-copy.yaml'), 'utf8').replace(
      'bucket: site-b',
      'bucket: site-a',
    );
    expect(() => serverDryRun(broken, namespace)).toThrow(/source and destination overlap/);
  });
});

describe('examples/gitops', () => {
  it('builds with kubectl kustomize into the namespace and the job, which pass validation', () => {
    const built = kubectl(['kustomize', gitopsDir]);
    const manifests = loadAll(built) as Manifest[];
    expect(manifests.map((m) => `${m.kind}/${m.metadata.name}`)).toEqual([
      'Namespace/replication',
      expect.stringMatching(/^ReplicationJob\//),
    ]);
    expect(manifests[1]!.metadata.namespace).toBe('replication');
    // The namespace exists for real, so the job's dry run is judged inside it.
    const ns = manifests.find((m) => m.kind === 'Namespace')!;
    kubectl(['apply', '-f', '-'], JSON.stringify(ns));
    expect(serverDryRun(built)).toContain('created (server dry run)');
  });

  it('has an Argo CD Application that syncs that kustomization into its namespace', () => {
    const [app] = loadAll(readFileSync(path.join(gitopsDir, 'argocd-application.yaml'), 'utf8')) as {
      apiVersion: string;
      kind: string;
      spec: { source: { path: string }; destination: { namespace: string } };
    }[];
    expect(app).toMatchObject({ apiVersion: 'argoproj.io/v1alpha1', kind: 'Application' });
    const target = path.join(repoRoot, app!.spec.source.path);
    expect(existsSync(path.join(target, 'kustomization.yaml'))).toBe(true);
    const kustomization = loadAll(readFileSync(path.join(target, 'kustomization.yaml'), 'utf8'))[0] as {
      namespace: string;
    };
    expect(app!.spec.destination.namespace).toBe(kustomization.namespace);
  });
});
