// The chart's RBAC against the code: every Kubernetes API call in operator/ and
// worker/ (and what they import), read from the source with the TypeScript
// type checker and mapped to the (apiGroup, resource, verb) the API server
// authorizes, must be granted by the Role/ClusterRole the chart binds to that
// component's ServiceAccount — and the chart grants nothing the code does not
// use. A call the mapper cannot place fails the test by name.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { repoRoot } from '../../bed/tools.ts';
import { allows, describePermission, grantsOf, unusedGrants, type Grant } from '../../support/rbacGrants.ts';
import { permissionOfMethod, scanApiUse, type ApiUse } from '../../support/rbacNeeds.ts';
import { ciValues, findManifest, renderChart, type Manifest } from './renderChart.ts';

function sources(folder: string): string[] {
  return readdirSync(path.join(repoRoot, folder), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
}

// A file no component imports, scanned in the same program: it shows what the
// mapper does with calls it knows and with calls it does not.
const fixturePath = path.join(repoRoot, 'test', 'unit', 'helm', 'apiUseFixture.virtual.ts');
const fixture = `
import * as k8s from '@kubernetes/client-node';
function informerOf(kc: k8s.KubeConfig, path: string, list: k8s.ListPromise<k8s.V1Service>) {
  return k8s.makeInformer(kc, path, list);
}
export function run(kc: k8s.KubeConfig): void {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  informerOf(kc, '/api/v1/services', () => core.listServiceForAllNamespaces());
  void core.connectGetNamespacedPodExec({ name: 'p', namespace: 'n' });
  void new k8s.Watch(kc).watch('/api/v1/pods', {}, () => {}, () => {});
  const plural = String(Date.now());
  void kc.makeApiClient(k8s.CustomObjectsApi).listClusterCustomObject({ group: 'example.com', version: 'v1', plural });
}
`;

const scans = scanApiUse(
  { operator: sources('operator'), worker: sources('worker'), fixture: [fixturePath] },
  { root: repoRoot, virtualFiles: { [fixturePath]: fixture } },
);
const operator = scans.operator!;
const worker = scans.worker!;

/** Each distinct permission, with every call site that needs it. */
function permissions(uses: ApiUse[]): [string, ApiUse, string[]][] {
  const byPermission = new Map<string, [ApiUse, string[]]>();
  for (const use of uses) {
    const key = describePermission(use);
    const entry = byPermission.get(key) ?? [use, []];
    entry[1].push(`${use.call} at ${use.site}`);
    byPermission.set(key, entry);
  }
  return [...byPermission.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([k, [u, s]]) => [k, u, s]);
}

const ns = 'ferry-system';
const installs: [string, string[]][] = [
  ['defaults', []],
  ['watchNamespace', ['-f', ciValues('watch-namespace')]],
];
const rendered = new Map<string, Manifest[]>();
beforeAll(async () => {
  for (const [name, flags] of installs) rendered.set(name, await renderChart(ns, flags));
});

const operatorGrants = (install: string): Grant[] =>
  grantsOf(rendered.get(install)! as never, { name: 'ferry-operator', namespace: ns });

describe("the chart's RBAC is exactly what the code uses", () => {
  it('maps every @kubernetes/client-node call in operator/ and worker/ to a permission', () => {
    expect(operator.unmapped).toEqual([]);
    expect(worker.unmapped).toEqual([]);
  });

  it('finds the calls the operator is known to make (the scan sees through fields, Pick<> and informers)', () => {
    const found = permissions(operator.uses).map(([p]) => p);
    expect(found).toEqual(
      expect.arrayContaining([
        'patch secrets', // the worker Secrets after a NATS credential rotation
        'watch pods', // an informer's list function, passed through startResilientInformer
        'watch replicationjobs (ferry.dev)',
        'update leases (coordination.k8s.io)', // leader election, through a Pick<CoordinationV1Api>
        'update replicationjobs/finalizers (ferry.dev)', // owner references that block deletion
        'patch replicationjobs/status (ferry.dev)',
        'update configmaps', // the failure report, replaced when the job owns it
      ]),
    );
  });

  describe.each(installs.map(([name]) => name))('installed with %s', (install) => {
    it.each(permissions(operator.uses))("the operator's role grants %s", (permission, use, sites) => {
      const granting = operatorGrants(install).filter((g) => allows(g.rule, use));
      if (granting.length === 0)
        throw new Error(`the chart does not grant the operator "${permission}", used by ${sites.join(', ')}`);
    });

    it('grants the operator nothing its code does not use', () => {
      expect(unusedGrants(operatorGrants(install), operator.uses)).toEqual([]);
    });

    it("limits get/update of Leases to the operator's own leader Lease", () => {
      const manifests = rendered.get(install)!;
      const deployment = findManifest<k8s.V1Deployment>(manifests, 'Deployment', 'ferry-operator');
      const env = deployment.spec!.template.spec!.containers[0]!.env!;
      const lease = env.find((e) => e.name === 'FERRY_LEASE_NAME')!.value;
      const leaseRules = operatorGrants(install).filter((g) => g.rule.resources?.includes('leases'));
      expect(leaseRules.map((g) => [g.role, g.rule.verbs, g.rule.resourceNames ?? []])).toEqual([
        [`Role/${ns}/ferry-operator-leader-election`, ['create'], []],
        [`Role/${ns}/ferry-operator-leader-election`, ['get', 'update'], [lease]],
      ]);
    });

    it('the worker code makes no Kubernetes API call, and the worker ServiceAccount is granted nothing', () => {
      expect(worker.uses).toEqual([]);
      const manifests = rendered.get(install)!;
      const accounts = manifests.filter(
        (m) => m.kind === 'ServiceAccount' && m.metadata.name === 'ferry-worker',
      );
      expect(accounts.length).toBeGreaterThan(0);
      for (const account of accounts)
        expect(
          grantsOf(manifests as never, { name: 'ferry-worker', namespace: account.metadata.namespace! }),
        ).toEqual([]);
    });
  });
});

describe('the permission mapper', () => {
  it.each([
    ['CoreV1Api', 'patchNamespacedSecret', 'patch', 'secrets'],
    ['CoreV1Api', 'listPodForAllNamespaces', 'list', 'pods'],
    ['CoreV1Api', 'readNamespacedPodLog', 'get', 'pods/log'],
    ['CoreV1Api', 'deleteCollectionNamespacedPod', 'deletecollection', 'pods'],
    ['CoreV1Api', 'replaceNamespacedConfigMap', 'update', 'configmaps'],
    ['CoordinationV1Api', 'replaceNamespacedLease', 'update', 'leases'],
    ['EventsV1Api', 'createNamespacedEvent', 'create', 'events'],
    ['CustomObjectsApi', 'patchNamespacedCustomObjectStatus', 'patch', 'customobjects/status'],
    ['CustomObjectsApi', 'getClusterCustomObject', 'get', 'customobjects'],
  ])('%s.%s needs %s %s', (cls, method, verb, resource) => {
    expect(permissionOfMethod(cls, method)).toEqual({ verb, resource });
  });

  it.each([
    ['CoreV1Api', 'connectGetNamespacedPodExec'], // no verb it knows
    ['CoreV1Api', 'readNamespacedPodTemplate'], // a kind it does not know
    ['CoreV1Api', 'createNamespacedPodAttach'], // a subresource it does not know
    ['NetworkingV1Api', 'listNamespacedNetworkPolicy'], // an API class it does not know
  ])('refuses to guess %s.%s', (cls, method) => {
    expect(permissionOfMethod(cls, method)).toEqual({ unknown: `${cls}.${method}` });
  });

  it('names each call it cannot map, and reads an informer as list + watch', () => {
    const scan = scans.fixture!;
    const at = (line: number) => `test/unit/helm/apiUseFixture.virtual.ts:${line}`;
    expect(scan.unmapped.sort()).toEqual(
      [
        `CoreV1Api.connectGetNamespacedPodExec at ${at(9)}`,
        `CustomObjectsApi.listClusterCustomObject at ${at(12)}: its group and plural are not constants`,
        `Watch.watch at ${at(10)}`,
        `new Watch at ${at(10)}`,
      ].sort(),
    );
    expect(permissions(scan.uses).map(([p]) => p)).toEqual(['list services', 'watch services']);
  });
});
