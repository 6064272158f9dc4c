// The Helm chart helm/ferry: lint, render, schema validation, a server-side dry run
// of what it renders against the bed's kube-apiserver, and its RBAC applied for
// real and probed with `kubectl auth can-i` as the operator's and the workers'
// ServiceAccounts.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type * as k8s from '@kubernetes/client-node';
import { loadAll } from 'js-yaml';
import { repoRoot, toolPath } from '../../bed/tools.ts';
import { bedEndpoints } from '../../support/bed.ts';

const run = promisify(execFile);
const chartDir = path.join(repoRoot, 'helm', 'ferry');
const ciValues = (name: string) => path.join(chartDir, 'ci', `${name}-values.yaml`);
const valueSets = readdirSync(path.join(chartDir, 'ci'))
  .filter((f) => f.endsWith('-values.yaml'))
  .map((f) => f.replace(/-values\.yaml$/, ''))
  .sort();

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

// Helm keeps its (here unused) config and cache out of $HOME.
let helmHome: string;
beforeAll(() => {
  helmHome = mkdtempSync(path.join(os.tmpdir(), 'ferry-helm-'));
});
afterAll(() => rmSync(helmHome, { recursive: true, force: true }));

async function tool(
  name: 'helm' | 'kubectl' | 'nats-server',
  args: string[],
  input?: string,
  extraEnv: Record<string, string> = {},
): Promise<Result> {
  const env = {
    ...process.env,
    HELM_CONFIG_HOME: path.join(helmHome, 'config'),
    HELM_CACHE_HOME: path.join(helmHome, 'cache'),
    HELM_DATA_HOME: path.join(helmHome, 'data'),
    ...extraEnv,
  };
  const child = run(toolPath(name), args, { env, maxBuffer: 32 * 1024 * 1024, encoding: 'utf8' });
  if (input !== undefined) child.child.stdin!.end(input);
  try {
    const { stdout, stderr } = await child;
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

async function ok(name: 'helm' | 'kubectl' | 'nats-server', args: string[], input?: string): Promise<string> {
  const result = await tool(name, args, input);
  if (result.code !== 0) {
    throw new Error(`${name} ${args.join(' ')} failed (${result.code}):\n${result.stderr}${result.stdout}`);
  }
  return result.stdout;
}

const kubectl = (args: string[], input?: string) =>
  ok('kubectl', ['--kubeconfig', bedEndpoints().kubeconfig, ...args], input);

/** `helm template` of the chart as release `ferry` in `namespace`; `extra` are more helm flags. */
async function render(namespace: string, extra: string[] = []): Promise<string> {
  return ok('helm', ['template', 'ferry', chartDir, '--namespace', namespace, ...extra]);
}

interface Document {
  /** The document as Helm wrote it: what the API server gets (js-yaml reads YAML 1.2, kubectl 1.1). */
  text: string;
  manifest: Manifest;
}

function documents(rendered: string): Document[] {
  return rendered
    .split(/^---[ \t]*$/m)
    .map((text) => ({ text, manifest: (loadAll(text) as (Manifest | null)[])[0] }))
    .filter((d): d is Document => d.manifest !== null && d.manifest !== undefined);
}

function parse(rendered: string): Manifest[] {
  return documents(rendered).map((d) => d.manifest);
}

const rbacKinds = ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'];

function find<T>(manifests: Manifest[], kind: string, name?: string): T {
  const found = manifests.filter((m) => m.kind === kind && (name === undefined || m.metadata.name === name));
  if (found.length !== 1) {
    throw new Error(
      `expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}: ` +
        manifests.map((m) => `${m.kind}/${m.metadata.name}`).join(', '),
    );
  }
  return found[0] as T;
}

function operatorContainer(manifests: Manifest[]): k8s.V1Container {
  const deployment = find<k8s.V1Deployment>(manifests, 'Deployment', 'ferry-operator');
  return deployment.spec!.template.spec!.containers.find((c) => c.name === 'operator')!;
}

function envOf(container: k8s.V1Container): Record<string, string | undefined> {
  return Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value]));
}

function toYamlStream(docs: Document[]): string {
  return docs.map((d) => d.text).join('\n---\n');
}

/** A fresh namespace name; the bed has no namespace controller, so they are left behind. */
function freshNamespace(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
}

describe('the Helm chart helm/ferry', () => {
  describe('packaging', () => {
    it('carries an up-to-date copy of crds/ferry.dev_replicationjobs.yaml (run `make chart-crds`)', () => {
      const source = readFileSync(path.join(repoRoot, 'crds', 'ferry.dev_replicationjobs.yaml'), 'utf8');
      const copy = readFileSync(path.join(chartDir, 'crds', 'ferry.dev_replicationjobs.yaml'), 'utf8');
      // toBe shows the first difference; the message says how to fix it.
      if (copy !== source) {
        throw new Error(
          'helm/ferry/crds/ferry.dev_replicationjobs.yaml differs from crds/ferry.dev_replicationjobs.yaml: ' +
            'run `make chart-crds` (cp crds/*.yaml helm/ferry/crds/)',
        );
      }
      expect(readdirSync(path.join(chartDir, 'crds')).sort()).toEqual(
        readdirSync(path.join(repoRoot, 'crds'))
          .filter((f) => f.endsWith('.yaml'))
          .sort(),
      );
    });

    it('has one values file per case under ci/', () => {
      expect(valueSets).toEqual(['default', 'external-tls', 'local-images', 'monitoring', 'watch-namespace']);
    });

    it('passes helm lint --strict with the defaults', async () => {
      const out = await ok('helm', ['lint', '--strict', chartDir]);
      expect(out).toContain('0 chart(s) failed');
    });

    it.each(valueSets)('passes helm lint --strict with ci/%s-values.yaml', async (set) => {
      const out = await ok('helm', ['lint', '--strict', chartDir, '-f', ciValues(set)]);
      expect(out).toContain('0 chart(s) failed');
    });
  });

  describe('rendering', () => {
    const ns = 'ferry-system';

    it('defaults: 2 operator replicas wired to the bundled NATS and etcd, hardened, spread', async () => {
      const manifests = parse(await render(ns, ['-f', ciValues('default')]));
      const deployment = find<k8s.V1Deployment>(manifests, 'Deployment', 'ferry-operator');
      expect(deployment.spec!.replicas).toBe(2);
      const pod = deployment.spec!.template.spec!;
      expect(pod.serviceAccountName).toBe('ferry-operator');
      const container = operatorContainer(manifests);
      expect(container.image).toBe('ghcr.io/ferry-dev/ferry:0.1.0');
      expect(container.command).toEqual(['node', 'operator/main.js']);
      const env = envOf(container);
      expect(env).toMatchObject({
        FERRY_WORKER_IMAGE: 'ghcr.io/ferry-dev/ferry:0.1.0',
        FERRY_NATS_URL: `nats://ferry-nats.${ns}.svc.cluster.local:4222`,
        FERRY_ETCD_ENDPOINTS: [0, 1, 2]
          .map((i) => `http://ferry-etcd-${i}.ferry-etcd-headless.${ns}.svc.cluster.local:2379`)
          .join(','),
        FERRY_PROBE_ADDRESS: '0.0.0.0:8081',
        FERRY_LEASE_NAME: 'ferry-leader',
        FERRY_TASK_ACK_WAIT_MS: '60000',
        FERRY_TASK_MAX_DELIVER: '5',
        FERRY_PLAN_AHEAD_TASKS: '1000',
        FERRY_NATS_FILES_RECHECK_MS: '30000',
      });
      expect(env).not.toHaveProperty('FERRY_WATCH_NAMESPACE');
      expect(Object.keys(env).filter((k) => k.includes('TLS'))).toEqual([]);
      const fieldRefs = Object.fromEntries(
        container
          .env!.filter((e) => e.valueFrom?.fieldRef)
          .map((e) => [e.name, e.valueFrom!.fieldRef!.fieldPath]),
      );
      expect(fieldRefs).toEqual({ FERRY_NAMESPACE: 'metadata.namespace', POD_NAME: 'metadata.name' });
      expect(container.livenessProbe!.httpGet).toMatchObject({ path: '/healthz', port: 'metrics' });
      expect(container.readinessProbe!.httpGet).toMatchObject({ path: '/readyz', port: 'metrics' });
      expect(container.ports).toEqual([{ name: 'metrics', containerPort: 8081, protocol: 'TCP' }]);
      expect(container.securityContext).toMatchObject({
        runAsNonRoot: true,
        runAsUser: 65532,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(pod.securityContext).toMatchObject({
        runAsNonRoot: true,
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(
        pod.affinity!.podAntiAffinity!.preferredDuringSchedulingIgnoredDuringExecution![0]!.podAffinityTerm
          .topologyKey,
      ).toBe('kubernetes.io/hostname');
      expect(container.volumeMounts!.map((m) => m.name)).toEqual(['tmp']);

      // Bundled NATS and etcd: 3-member StatefulSets with volumes, behind headless Services.
      for (const name of ['ferry-nats', 'ferry-etcd']) {
        const sts = find<k8s.V1StatefulSet>(manifests, 'StatefulSet', name);
        expect(sts.spec!.replicas).toBe(3);
        expect(sts.spec!.serviceName).toBe(`${name}-headless`);
        expect(sts.spec!.volumeClaimTemplates![0]!.metadata!.name).toBe('data');
        const headless = find<k8s.V1Service>(manifests, 'Service', `${name}-headless`);
        expect(headless.spec).toMatchObject({ clusterIP: 'None', publishNotReadyAddresses: true });
      }
      const etcdArgs = find<k8s.V1StatefulSet>(manifests, 'StatefulSet', 'ferry-etcd').spec!.template.spec!
        .containers[0]!.args!;
      expect(etcdArgs).toContain(
        '--initial-cluster=' +
          [0, 1, 2]
            .map(
              (i) =>
                `ferry-etcd-${i}=http://ferry-etcd-${i}.ferry-etcd-headless.${ns}.svc.cluster.local:2380`,
            )
            .join(','),
      );
      expect(
        find<k8s.V1StatefulSet>(manifests, 'StatefulSet', 'ferry-nats').spec!.template.spec!.containers[0]!
          .image,
      ).toBe('nats:2.12-alpine');

      // Metrics Service, PDB, a ClusterRole, no ServiceMonitor or NetworkPolicy.
      const metrics = find<k8s.V1Service>(manifests, 'Service', 'ferry-operator-metrics');
      expect(metrics.spec!.ports).toEqual([
        { name: 'metrics', port: 8081, targetPort: 'metrics', protocol: 'TCP' },
      ]);
      expect(
        find<k8s.V1PodDisruptionBudget>(manifests, 'PodDisruptionBudget', 'ferry-operator').spec!
          .minAvailable,
      ).toBe(1);
      expect(find<Manifest>(manifests, 'ClusterRole').metadata.name).toBe(`${ns}-ferry-operator`);
      expect(manifests.filter((m) => m.kind === 'Role').map((m) => m.metadata.name)).toEqual([
        'ferry-operator-leader-election',
      ]);
      expect(manifests.filter((m) => ['ServiceMonitor', 'NetworkPolicy'].includes(m.kind))).toEqual([]);
      const workerSa = find<k8s.V1ServiceAccount>(manifests, 'ServiceAccount', 'ferry-worker');
      expect(workerSa.automountServiceAccountToken).toBe(false);
      expect(workerSa.metadata!.namespace).toBe(ns);
      // The CRD is not a template: Helm installs crds/ itself (and never deletes it).
      expect(manifests.filter((m) => m.kind === 'CustomResourceDefinition')).toEqual([]);
      const withCrds = parse(await render(ns, ['--include-crds']));
      expect(find<Manifest>(withCrds, 'CustomResourceDefinition').metadata.name).toBe(
        'replicationjobs.ferry.dev',
      );
    });

    it('defaults: the bundled NATS configuration is valid for nats-server, with JetStream and 3 routes', async () => {
      const manifests = parse(await render(ns));
      const conf = find<k8s.V1ConfigMap>(manifests, 'ConfigMap', 'ferry-nats').data!['nats.conf']!;
      expect(conf).toContain('jetstream {');
      expect(conf).toContain('store_dir: /data/jetstream');
      expect(
        conf.match(/nats:\/\/ferry-nats-\d\.ferry-nats-headless\.ferry-system\.svc\.cluster\.local:6222/g),
      ).toHaveLength(3);
      const dir = mkdtempSync(path.join(os.tmpdir(), 'ferry-nats-conf-'));
      try {
        const file = path.join(dir, 'nats.conf');
        writeFileSync(file, conf);
        // The servers fill server_name from their pod's name.
        const result = await tool('nats-server', ['-t', '-c', file], undefined, { POD_NAME: 'ferry-nats-0' });
        expect(`${result.stdout}${result.stderr}`).toContain('is valid');
        expect(result.code).toBe(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('external NATS and etcd with TLS: their URLs, TLS Secrets mounted, paths and credentials by env', async () => {
      const manifests = parse(await render(ns, ['-f', ciValues('external-tls')]));
      expect(manifests.filter((m) => m.kind === 'StatefulSet')).toEqual([]);
      const container = operatorContainer(manifests);
      const env = envOf(container);
      expect(env).toMatchObject({
        FERRY_NATS_URL: 'tls://nats.messaging.svc.cluster.local:4222',
        FERRY_ETCD_ENDPOINTS: [0, 1, 2]
          .map((i) => `https://etcd-${i}.etcd.storage.svc.cluster.local:2379`)
          .join(','),
        FERRY_NATS_TLS_CA: '/etc/ferry/nats-tls/ca.crt',
        FERRY_NATS_TLS_CERT: '/etc/ferry/nats-tls/tls.crt',
        FERRY_NATS_TLS_KEY: '/etc/ferry/nats-tls/tls.key',
        FERRY_ETCD_TLS_CA: '/etc/ferry/etcd-tls/ca.crt',
        FERRY_ETCD_TLS_CERT: '/etc/ferry/etcd-tls/tls.crt',
        FERRY_ETCD_TLS_KEY: '/etc/ferry/etcd-tls/tls.key',
      });
      const secretRefs = Object.fromEntries(
        container
          .env!.filter((e) => e.valueFrom?.secretKeyRef)
          .map((e) => [e.name, `${e.valueFrom!.secretKeyRef!.name}/${e.valueFrom!.secretKeyRef!.key}`]),
      );
      expect(secretRefs).toEqual({
        FERRY_NATS_USER: 'ferry-nats-credentials/username',
        FERRY_NATS_PASSWORD: 'ferry-nats-credentials/password',
        FERRY_ETCD_USERNAME: 'ferry-etcd-credentials/username',
        FERRY_ETCD_PASSWORD: 'ferry-etcd-credentials/password',
      });
      expect(container.volumeMounts).toEqual(
        expect.arrayContaining([
          { name: 'nats-tls', mountPath: '/etc/ferry/nats-tls', readOnly: true },
          { name: 'etcd-tls', mountPath: '/etc/ferry/etcd-tls', readOnly: true },
        ]),
      );
      const volumes = find<k8s.V1Deployment>(manifests, 'Deployment', 'ferry-operator').spec!.template.spec!
        .volumes!;
      expect(
        Object.fromEntries(volumes.filter((v) => v.secret).map((v) => [v.name, v.secret!.secretName])),
      ).toEqual({
        'nats-tls': 'ferry-nats-tls',
        'etcd-tls': 'ferry-etcd-tls',
      });
    });

    it('a NATS creds file is mounted and named by FERRY_NATS_CREDS_FILE', async () => {
      const manifests = parse(
        await render(ns, [
          '--set',
          'nats.mode=external,nats.external.url=nats://nats:4222',
          '--set',
          'nats.external.credentials.secretName=nats-creds,nats.external.credentials.type=credsFile',
        ]),
      );
      const container = operatorContainer(manifests);
      expect(envOf(container).FERRY_NATS_CREDS_FILE).toBe('/etc/ferry/nats-creds/nats.creds');
      expect(envOf(container)).not.toHaveProperty('FERRY_NATS_USER');
      expect(container.volumeMounts!.map((m) => m.name)).toContain('nats-creds');
    });

    it('watchNamespace: a Role and RoleBinding in that namespace instead of a ClusterRole', async () => {
      const manifests = parse(await render(ns, ['-f', ciValues('watch-namespace')]));
      expect(manifests.filter((m) => m.kind.startsWith('Cluster'))).toEqual([]);
      const role = find<k8s.V1Role>(manifests, 'Role', 'ferry-operator');
      expect(role.metadata!.namespace).toBe('replication');
      const binding = find<k8s.V1RoleBinding>(manifests, 'RoleBinding', 'ferry-operator');
      expect(binding.metadata!.namespace).toBe('replication');
      expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'ferry-operator', namespace: ns }]);
      expect(find<k8s.V1Role>(manifests, 'Role', 'ferry-operator-leader-election').metadata!.namespace).toBe(
        ns,
      );
      expect(envOf(operatorContainer(manifests)).FERRY_WATCH_NAMESPACE).toBe('replication');
      expect(find<Manifest>(manifests, 'ServiceAccount', 'ferry-worker').metadata.namespace).toBe(
        'replication',
      );
    });

    it('serviceMonitor and networkPolicy: a ServiceMonitor on the metrics port and NetworkPolicies', async () => {
      const manifests = parse(await render(ns, ['-f', ciValues('monitoring')]));
      const monitor = find<Manifest & { spec: { endpoints: unknown[] } }>(manifests, 'ServiceMonitor');
      expect(monitor.apiVersion).toBe('monitoring.coreos.com/v1');
      expect(monitor.metadata.labels).toMatchObject({ release: 'prometheus' });
      expect(monitor.spec.endpoints).toEqual([
        expect.objectContaining({ port: 'metrics', path: '/metrics' }),
      ]);
      const policies = manifests.filter((m) => m.kind === 'NetworkPolicy').map((m) => m.metadata.name);
      expect(policies.sort()).toEqual(['ferry-etcd', 'ferry-nats', 'ferry-operator']);
      const operatorPolicy = find<k8s.V1NetworkPolicy>(manifests, 'NetworkPolicy', 'ferry-operator');
      expect(operatorPolicy.spec!.ingress).toEqual([
        {
          ports: [{ port: 'metrics', protocol: 'TCP' }],
          from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }],
        },
      ]);
    });
  });

  describe('values schema', () => {
    it.each([
      [['--set', 'nats.mode=foo'], "at '/nats/mode': value must be one of 'bundled', 'external'"],
      [['--set', 'etcd.mode=embedded'], "at '/etcd/mode': value must be one of 'bundled', 'external'"],
      [['--set', 'operator.replicas=0'], "at '/operator/replicas': minimum: got 0, want 1"],
      [['--set', 'replicaCount=-1'], "additional properties 'replicaCount' not allowed"],
      [['--set', 'operator.replicas=two'], "at '/operator/replicas'"],
      [['--set', 'nats.mode=external'], "at '/nats/external/url'"],
      [['--set', 'nats.mode=external,nats.external.url=http://nats:4222'], "at '/nats/external/url'"],
      [['--set', 'etcd.mode=external'], "at '/etcd/external/endpoints'"],
      [['--set', 'nats.bundled.persistence.size=lots'], "at '/nats/bundled/persistence/size'"],
      [
        ['--set', 'nats.mode=external,nats.external.url=nats://n:4222,nats.external.tls.enabled=true'],
        "at '/nats/external/tls/secretName'",
      ],
      [['--set', 'image.pullPolicy=Sometimes'], "at '/image/pullPolicy'"],
      [
        ['--set', 'operator.tasks.ackWaitMs=500'],
        "at '/operator/tasks/ackWaitMs': minimum: got 500, want 1,000",
      ],
      [
        ['--set', 'operator.leaderElection.renewDeadlineMs=20000'],
        'operator.leaderElection.renewDeadlineMs must be shorter than operator.leaderElection.leaseDurationMs',
      ],
    ])('rejects %j naming the value', async (args, message) => {
      const result = await tool('helm', ['template', 'ferry', chartDir, ...args]);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain(message);
    });
  });

  describe('against the API server', () => {
    beforeAll(async () => {
      // The chart's CRD, applied for real: the dry runs below, and ReplicationJobs, need it.
      await kubectl([
        'apply',
        '--server-side',
        '--force-conflicts',
        '--field-manager=ferry-helm-test',
        '-f',
        path.join(chartDir, 'crds'),
      ]);
      await kubectl([
        'wait',
        '--for=condition=Established',
        'crd/replicationjobs.ferry.dev',
        '--timeout=60s',
      ]);
    });

    async function serviceMonitorCrdExists(): Promise<boolean> {
      const result = await tool('kubectl', [
        '--kubeconfig',
        bedEndpoints().kubeconfig,
        'get',
        'crd',
        'servicemonitors.monitoring.coreos.com',
      ]);
      return result.code === 0;
    }

    it.each(['default', 'external-tls', 'monitoring'])(
      'accepts everything ci/%s-values.yaml renders (server-side dry run in a fresh namespace)',
      async (set) => {
        const namespace = freshNamespace(`helm-${set}`);
        await kubectl(['create', 'namespace', namespace]);
        let docs = documents(await render(namespace, ['-f', ciValues(set)]));
        if (!(await serviceMonitorCrdExists()))
          docs = docs.filter((d) => d.manifest.kind !== 'ServiceMonitor');
        const manifests = docs.map((d) => d.manifest);
        expect(manifests.length).toBeGreaterThan(5);
        const out = await kubectl(
          ['apply', '--server-side', '--dry-run=server', '--field-manager=helm', '-f', '-'],
          toYamlStream(docs),
        );
        for (const m of manifests) {
          expect(out).toMatch(new RegExp(`${m.metadata.name} serverside-applied \\(server dry run\\)`));
        }
        // Dry run only: nothing was created.
        const deployments = await kubectl(['get', 'deployments', '-n', namespace, '-o', 'name']);
        expect(deployments.trim()).toBe('');
      },
    );

    it('grants the operator exactly what it needs, and the workers nothing', async () => {
      const namespace = freshNamespace('helm-rbac');
      const other = freshNamespace('helm-other');
      await kubectl(['create', 'namespace', namespace]);
      await kubectl(['create', 'namespace', other]);
      const rbac = documents(await render(namespace)).filter((d) => rbacKinds.includes(d.manifest.kind));
      expect(rbac.map((d) => d.manifest.kind).sort()).toEqual([
        'ClusterRole',
        'ClusterRoleBinding',
        'Role',
        'RoleBinding',
        'ServiceAccount',
        'ServiceAccount',
      ]);
      const stream = toYamlStream(rbac);
      await kubectl(['apply', '--server-side', '--field-manager=helm', '-f', '-'], stream);
      try {
        const operator = `system:serviceaccount:${namespace}:ferry-operator`;
        const worker = `system:serviceaccount:${namespace}:ferry-worker`;
        const canI = async (as: string, args: string[]) => {
          const result = await tool('kubectl', [
            '--kubeconfig',
            bedEndpoints().kubeconfig,
            'auth',
            'can-i',
            `--as=${as}`,
            ...args,
          ]);
          return `${result.stdout.trim()}`;
        };
        const checks: [string, string[], 'yes' | 'no'][] = [
          // Jobs, their status and finalizers, anywhere (a ClusterRole).
          [operator, ['list', 'replicationjobs.ferry.dev', '-n', namespace], 'yes'],
          [operator, ['watch', 'replicationjobs.ferry.dev', '-n', other], 'yes'],
          [operator, ['list', 'replicationjobs.ferry.dev', '--all-namespaces'], 'yes'],
          [operator, ['patch', 'replicationjobs.ferry.dev', '--subresource=status', '-n', other], 'yes'],
          [operator, ['update', 'replicationjobs.ferry.dev', '--subresource=finalizers', '-n', other], 'yes'],
          [operator, ['delete', 'replicationjobs.ferry.dev', '-n', other], 'yes'],
          [operator, ['create', 'replicationjobs.ferry.dev', '-n', other], 'no'],
          // Worker pods, token Secrets by name, events.
          [operator, ['create', 'pods', '-n', other], 'yes'],
          [operator, ['delete', 'pods', '-n', other], 'yes'],
          [operator, ['watch', 'pods', '--all-namespaces'], 'yes'],
          [operator, ['update', 'pods', '-n', other], 'no'],
          [operator, ['create', 'pods', '--subresource=exec', '-n', other], 'no'],
          [operator, ['create', 'events', '-n', other], 'yes'],
          [operator, ['create', 'secrets', '-n', other], 'yes'],
          [operator, ['get', 'secrets/photos-worker-token', '-n', other], 'yes'],
          [operator, ['delete', 'secrets/photos-worker-token', '-n', other], 'yes'],
          [operator, ['list', 'secrets', '-n', other], 'no'],
          [operator, ['list', 'secrets', '--all-namespaces'], 'no'],
          [operator, ['watch', 'secrets', '-n', namespace], 'no'],
          [operator, ['update', 'secrets/photos-worker-token', '-n', other], 'no'],
          // A NATS credential rotation reaches each job's worker Secret by a merge patch.
          [operator, ['patch', 'secrets/photos-worker-token', '-n', other], 'yes'],
          [operator, ['update', 'replicationjobs.ferry.dev', '-n', other], 'no'],
          [operator, ['update', 'replicationjobs.ferry.dev', '--subresource=status', '-n', other], 'no'],
          [operator, ['patch', 'events', '-n', other], 'no'],
          // Its own leader Lease, in the release namespace only.
          [operator, ['get', 'leases.coordination.k8s.io/ferry-leader', '-n', namespace], 'yes'],
          [operator, ['update', 'leases.coordination.k8s.io/ferry-leader', '-n', namespace], 'yes'],
          [operator, ['create', 'leases.coordination.k8s.io', '-n', namespace], 'yes'],
          [operator, ['update', 'leases.coordination.k8s.io/other-lease', '-n', namespace], 'no'],
          [operator, ['update', 'leases.coordination.k8s.io/ferry-leader', '-n', other], 'no'],
          [operator, ['create', 'leases.coordination.k8s.io', '-n', other], 'no'],
          [operator, ['delete', 'leases.coordination.k8s.io/ferry-leader', '-n', namespace], 'no'],
          // The failure report of a failed job: written, and replaced only when the job owns it.
          [operator, ['create', 'configmaps', '-n', namespace], 'yes'],
          [operator, ['get', 'configmaps', '-n', namespace], 'yes'],
          [operator, ['update', 'configmaps', '-n', namespace], 'yes'],
          // Nothing else.
          [operator, ['get', 'nodes'], 'no'],
          [operator, ['create', 'deployments.apps', '-n', namespace], 'no'],
          [operator, ['delete', `namespaces/${namespace}`], 'no'],
          [operator, ['create', 'rolebindings.rbac.authorization.k8s.io', '-n', namespace], 'no'],
          [operator, ['update', 'customresourcedefinitions.apiextensions.k8s.io'], 'no'],
          [operator, ['delete', 'configmaps', '-n', namespace], 'no'],
          [operator, ['list', 'configmaps', '-n', namespace], 'no'],
          // Worker pods do not use the API at all.
          [worker, ['list', 'pods', '-n', namespace], 'no'],
          [worker, ['get', 'secrets', '-n', namespace], 'no'],
          [worker, ['get', 'secrets/photos-worker-token', '-n', namespace], 'no'],
          [worker, ['get', 'replicationjobs.ferry.dev', '-n', namespace], 'no'],
          [worker, ['create', 'events', '-n', namespace], 'no'],
        ];
        const answers = await Promise.all(
          checks.map(
            async ([as, args]) => `${as.split(':').pop()} ${args.join(' ')}: ${await canI(as, args)}`,
          ),
        );
        expect(answers).toEqual(
          checks.map(([as, args, want]) => `${as.split(':').pop()} ${args.join(' ')}: ${want}`),
        );
      } finally {
        // The ClusterRole and its binding are cluster-scoped: do not leave them behind.
        await kubectl(['delete', '--ignore-not-found', '--wait=false', '-f', '-'], stream);
      }
    });

    it('with watchNamespace, confines the operator to that namespace', async () => {
      const namespace = freshNamespace('helm-rbac-ns');
      const watched = freshNamespace('helm-watched');
      const other = freshNamespace('helm-other');
      for (const ns of [namespace, watched, other]) await kubectl(['create', 'namespace', ns]);
      const rbac = documents(await render(namespace, ['--set', `operator.watchNamespace=${watched}`])).filter(
        (d) => rbacKinds.includes(d.manifest.kind),
      );
      expect(rbac.filter((d) => d.manifest.kind.startsWith('Cluster'))).toEqual([]);
      await kubectl(['apply', '--server-side', '--field-manager=helm', '-f', '-'], toYamlStream(rbac));
      const operator = `system:serviceaccount:${namespace}:ferry-operator`;
      const canI = async (args: string[]) =>
        (
          await tool('kubectl', [
            '--kubeconfig',
            bedEndpoints().kubeconfig,
            'auth',
            'can-i',
            `--as=${operator}`,
            ...args,
          ])
        ).stdout.trim();
      const checks: [string[], string][] = [
        [['list', 'replicationjobs.ferry.dev', '-n', watched], 'yes'],
        [['create', 'pods', '-n', watched], 'yes'],
        [['update', 'leases.coordination.k8s.io/ferry-leader', '-n', namespace], 'yes'],
        [['list', 'replicationjobs.ferry.dev', '-n', other], 'no'],
        [['list', 'replicationjobs.ferry.dev', '--all-namespaces'], 'no'],
        [['create', 'pods', '-n', other], 'no'],
        [['create', 'pods', '-n', namespace], 'no'],
        [['update', 'leases.coordination.k8s.io/ferry-leader', '-n', watched], 'no'],
      ];
      const answers = await Promise.all(
        checks.map(async ([args]) => `${args.join(' ')}: ${await canI(args)}`),
      );
      expect(answers).toEqual(checks.map(([args, want]) => `${args.join(' ')}: ${want}`));
      const workerSa = await kubectl(['get', 'serviceaccount', 'ferry-worker', '-n', watched, '-o', 'json']);
      expect(JSON.parse(workerSa)).toMatchObject({ automountServiceAccountToken: false });
    });
  });
});
