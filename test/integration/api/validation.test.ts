// The ReplicationJob API as the real kube-apiserver serves it from the CRD:
// what it rejects (and how it says so), the defaults it fills in, the
// immutability of a started job's stores, and the documentation kubectl shows.
import { execFileSync } from 'node:child_process';
import * as k8s from '@kubernetes/client-node';
import {
  group,
  plural,
  version,
  type ReplicationJob,
  type ReplicationJobSpec,
} from '../../../api/v1alpha1/index.ts';
import { toolPath } from '../../bed/tools.ts';
import { bedEndpoints } from '../../support/bed.ts';
import { installCrds, kubeConfigFor } from '../../support/kube.ts';
import { waitFor } from '../../support/wait.ts';

const namespace = 'default';

function s3(bucket: string, extra: object = {}) {
  return {
    s3: {
      endpoint: 'http://127.0.0.1:9000',
      bucket,
      credentialsSecretRef: { name: 'site-credentials' },
      ...extra,
    },
  };
}

function filesystem(claimName: string, path?: string) {
  return { filesystem: { claimName, ...(path === undefined ? {} : { path }) } };
}

/** The smallest valid spec: an S3 bucket to another. */
function minimalSpec(): ReplicationJobSpec {
  return { source: s3('site-a'), destination: s3('site-b') };
}

let counter = 0;
function jobNamed(prefix: string, spec: unknown): ReplicationJob {
  return {
    apiVersion: `${group}/${version}`,
    kind: 'ReplicationJob',
    metadata: { name: `${prefix}-${Date.now()}-${counter++}`, namespace },
    spec: spec as ReplicationJobSpec,
  };
}

interface Rejection {
  code: number | undefined;
  message: string;
}

/** What the API server says when `action` fails; fails the test when it succeeds. */
async function rejectionOf(action: Promise<unknown>): Promise<Rejection> {
  try {
    await action;
  } catch (err) {
    const e = err as { code?: number; body?: unknown };
    let message = String(e.body);
    try {
      message = (JSON.parse(String(e.body)) as { message: string }).message;
    } catch {
      // not a Status: keep the raw body
    }
    return { code: e.code, message };
  }
  throw new Error('the API server accepted it');
}

describe('the ReplicationJob API served by kube-apiserver', () => {
  let kc: k8s.KubeConfig;
  let objects: k8s.CustomObjectsApi;

  const create = (body: ReplicationJob, dryRun?: 'All') =>
    objects.createNamespacedCustomObject({ group, version, namespace, plural, body, dryRun });
  const read = async (name: string) =>
    (await objects.getNamespacedCustomObject({ group, version, namespace, plural, name })) as ReplicationJob;
  const patchSpec = (name: string, spec: object) =>
    objects.patchNamespacedCustomObject(
      { group, version, namespace, plural, name, body: { spec } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
  const patchStatus = (name: string, status: object) =>
    objects.patchNamespacedCustomObjectStatus(
      { group, version, namespace, plural, name, body: { status } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
  const remove = (name: string) =>
    objects.deleteNamespacedCustomObject({ group, version, namespace, plural, name }).catch(() => undefined);

  beforeAll(async () => {
    kc = kubeConfigFor(bedEndpoints().kubeconfig);
    objects = kc.makeApiClient(k8s.CustomObjectsApi);
    await installCrds(kc);
  });

  describe('rejects an invalid spec with HTTP 422, naming the field and the problem', () => {
    const fs = filesystem('claim-a');
    const cases: { what: string; spec: object; says: string[] }[] = [
      {
        what: 'a job without a source',
        spec: { destination: s3('site-b') },
        says: ['spec.source: Required value'],
      },
      {
        what: 'a store with both s3 and filesystem',
        spec: { source: { ...s3('site-a'), ...fs }, destination: s3('site-b') },
        says: ['spec.source', 'exactly one of s3 or filesystem must be set'],
      },
      {
        what: 'a store with neither s3 nor filesystem',
        spec: { source: s3('site-a'), destination: {} },
        says: ['spec.destination', 'exactly one of s3 or filesystem must be set'],
      },
      {
        what: 'an s3 store without credentialsSecretRef',
        spec: { source: { s3: { endpoint: 'http://127.0.0.1:9000', bucket: 'site-a' } }, destination: fs },
        says: ['spec.source.s3.credentialsSecretRef: Required value'],
      },
      {
        what: 'an s3 endpoint that is not an http(s) URL',
        spec: { source: s3('site-a', { endpoint: 'ftp://example.com' }), destination: fs },
        says: ['spec.source.s3.endpoint', 'endpoint must be an http:// or https:// URL'],
      },
      {
        what: 'a bucket name S3 does not allow',
        spec: { source: s3('Site_A'), destination: fs },
        says: ['spec.source.s3.bucket', 'should match'],
      },
      {
        what: 'an unknown mode',
        spec: { ...minimalSpec(), mode: 'Mirror' },
        says: ['spec.mode: Unsupported value: "Mirror"', '"Copy", "Sync"'],
      },
      {
        what: 'a filesystem path with a ".." segment',
        spec: { source: s3('site-a'), destination: filesystem('claim-a', '/data/../etc') },
        says: ['spec.destination.filesystem.path', 'must not contain a ".." segment'],
      },
      {
        what: 'a filesystem path with a NUL character',
        spec: { source: s3('site-a'), destination: filesystem('claim-a', '/data\u0000x') },
        says: ['spec.destination.filesystem.path', 'must not contain a NUL character'],
      },
      {
        what: 'a relative filesystem path',
        spec: { source: s3('site-a'), destination: filesystem('claim-a', 'data') },
        says: ['spec.destination.filesystem.path', 'must start with "/"'],
      },
      {
        what: 'a claimName that is not a DNS-1123 name',
        spec: { source: s3('site-a'), destination: filesystem('Claim_A') },
        says: ['spec.destination.filesystem.claimName', 'should match'],
      },
      {
        what: 'filters.minSize greater than filters.maxSize',
        spec: { ...minimalSpec(), filters: { minSize: 2048, maxSize: 1024 } },
        says: ['spec.filters', 'filters.minSize must not be greater than filters.maxSize'],
      },
      {
        what: 'zero source workers',
        spec: { ...minimalSpec(), workers: { source: { replicas: 0 } } },
        says: ['spec.workers.source.replicas', 'greater than or equal to 1'],
      },
      {
        what: 'a worker concurrency above 256',
        spec: { ...minimalSpec(), workers: { destination: { concurrency: 1000 } } },
        says: ['spec.workers.destination.concurrency', 'less than or equal to 256'],
      },
      {
        what: 'the same S3 bucket and prefix as source and destination',
        spec: { source: s3('site-a', { prefix: 'p/' }), destination: s3('site-a', { prefix: 'p' }) },
        says: ['spec', 'source and destination overlap (one lies inside the other, or they are the same)'],
      },
      {
        what: 'a destination prefix inside the source prefix, in one bucket',
        spec: { source: s3('site-a', { prefix: 'data' }), destination: s3('site-a', { prefix: 'data/in/' }) },
        says: [
          'source and destination overlap (one lies inside the other, or they are the same)',
          'source s3 http://127.0.0.1:9000 bucket "site-a" prefix "data"',
          'destination s3 http://127.0.0.1:9000 bucket "site-a" prefix "data/in/"',
        ],
      },
      {
        what: 'a source prefix inside the destination prefix, in one bucket',
        spec: {
          source: s3('site-a', { prefix: 'data/in/' }),
          destination: s3('site-a', { prefix: 'data/' }),
        },
        says: [
          'source and destination overlap (one lies inside the other, or they are the same)',
          'prefix "data/in/"',
          'prefix "data/"',
        ],
      },
      {
        what: 'a destination prefix in a bucket whose whole is the source',
        spec: { source: s3('site-a'), destination: s3('site-a', { prefix: 'backup/' }) },
        says: ['source and destination overlap (one lies inside the other, or they are the same)'],
      },
      {
        what: 'an S3 prefix starting with "/"',
        spec: { source: s3('site-a', { prefix: '/data' }), destination: s3('site-b') },
        says: ['spec.source.s3.prefix', 'prefix must not start with "/"'],
      },
      {
        what: 'the same volume and directory as source and destination',
        spec: { source: filesystem('claim-a', '/'), destination: filesystem('claim-a') },
        says: [
          'spec',
          'source and destination overlap (one lies inside the other, or they are the same): source filesystem claim-a:/ and destination filesystem claim-a:/',
        ],
      },
      {
        what: 'a source directory inside the destination directory, on one volume',
        spec: { source: filesystem('claim-a', '/in'), destination: filesystem('claim-a', '/') },
        says: [
          'source and destination overlap (one lies inside the other, or they are the same): source filesystem claim-a:/in and destination filesystem claim-a:/',
        ],
      },
      {
        what: 'a destination directory inside the source directory, on one volume',
        spec: { source: filesystem('claim-a', '/data/'), destination: filesystem('claim-a', '/data/in') },
        says: [
          'source and destination overlap (one lies inside the other, or they are the same)',
          'claim-a:/data/in',
        ],
      },
      {
        what: 'retry.initialBackoffSeconds greater than retry.maxBackoffSeconds',
        spec: { ...minimalSpec(), retry: { initialBackoffSeconds: 600, maxBackoffSeconds: 60 } },
        says: ['spec.retry', 'retry.initialBackoffSeconds must not be greater than retry.maxBackoffSeconds'],
      },
      {
        what: 'a multipart partSize below 5 MiB',
        spec: { ...minimalSpec(), tasks: { partSize: 1024 } },
        says: ['spec.tasks.partSize', 'greater than or equal to 5242880'],
      },
      {
        what: 'a negative deletion.maxDeletes',
        spec: { ...minimalSpec(), mode: 'Sync', deletion: { maxDeletes: -1 } },
        says: ['spec.deletion.maxDeletes', 'greater than or equal to 0'],
      },
      {
        what: 'an unknown checksum algorithm',
        spec: { ...minimalSpec(), verify: { checksum: 'MD5' } },
        says: ['spec.verify.checksum: Unsupported value: "MD5"'],
      },
      {
        // Refused, not silently verified with SHA-256 instead: neither is built yet.
        what: 'a checksum other than SHA256 (CRC32C)',
        spec: { ...minimalSpec(), verify: { checksum: 'CRC32C' } },
        says: ['spec.verify.checksum: Unsupported value: "CRC32C"', 'supported values: "SHA256"'],
      },
      {
        what: 'skipping verification (None)',
        spec: { ...minimalSpec(), verify: { checksum: 'None' } },
        says: ['spec.verify.checksum: Unsupported value: "None"'],
      },
      {
        what: 'a bandwidthLimit that is not a quantity',
        spec: { ...minimalSpec(), bandwidthLimit: 'fast' },
        says: ['spec.bandwidthLimit', 'should match'],
      },
    ];

    it.each(cases)('$what', async ({ spec, says }) => {
      const rejection = await rejectionOf(create(jobNamed('invalid', spec), 'All'));
      expect(rejection.code).toBe(422);
      for (const text of says) expect(rejection.message).toContain(text);
    });
  });

  it.each([
    {
      what: 'sibling prefixes that share a string prefix',
      source: { prefix: 'backup' },
      destination: { prefix: 'backup-old/' },
    },
    {
      what: 'the same prefix in two buckets',
      source: { prefix: 'data/' },
      destination: { prefix: 'data/', bucket: 'site-b' },
    },
  ])('accepts stores that do not overlap: $what', async ({ source, destination }) => {
    const { bucket = 'site-a', ...rest } = destination as { bucket?: string; prefix: string };
    await create(jobNamed('apart', { source: s3('site-a', source), destination: s3(bucket, rest) }), 'All');
  });

  it('accepts sibling directories on one volume ("/in" and "/inbox")', async () => {
    await create(
      jobNamed('apart', {
        source: filesystem('claim-a', '/in'),
        destination: filesystem('claim-a', '/inbox'),
      }),
      'All',
    );
  });

  it('accepts a minimal spec and fills in every default', async () => {
    const body = jobNamed('minimal', minimalSpec());
    const name = body.metadata.name!;
    await create(body);
    try {
      const stored = await read(name);
      expect(stored.spec).toEqual({
        source: {
          s3: {
            endpoint: 'http://127.0.0.1:9000',
            bucket: 'site-a',
            region: 'us-east-1',
            forcePathStyle: true,
            credentialsSecretRef: {
              name: 'site-credentials',
              accessKeyIdKey: 'AWS_ACCESS_KEY_ID',
              secretAccessKeyKey: 'AWS_SECRET_ACCESS_KEY',
            },
          },
        },
        destination: expect.objectContaining({ s3: expect.objectContaining({ bucket: 'site-b' }) }),
        mode: 'Copy',
        deletion: { maxDeletes: 1000, dryRun: false, allowEmptySource: false },
        workers: { source: { replicas: 1, concurrency: 8 }, destination: { replicas: 1, concurrency: 8 } },
        tasks: { maxObjects: 1000, maxBytes: 67108864, partSize: 67108864 },
        retry: { maxAttempts: 5, initialBackoffSeconds: 5, maxBackoffSeconds: 300 },
        verify: { checksum: 'SHA256' },
        suspend: false,
      });
    } finally {
      await remove(name);
    }
  });

  it('accepts a full spec: filesystem stores, Sync with dryRun, filters, worker scheduling and limits', async () => {
    const spec = {
      source: filesystem('claim-a', '/exports/photos'),
      destination: { s3: { ...s3('site-b').s3, caBundleSecretRef: { name: 'private-ca' } } },
      mode: 'Sync',
      filters: { include: ['**/*.jpg'], exclude: ['tmp/**'], minSize: 1, maxSize: 1 << 30 },
      deletion: { maxDeletes: 10, dryRun: true },
      workers: {
        image: 'registry.example.com/ferry:1.0',
        imagePullPolicy: 'IfNotPresent',
        source: {
          replicas: 3,
          resources: { limits: { cpu: 2, memory: '1Gi' }, requests: { cpu: '250m' } },
          nodeSelector: { 'kubernetes.io/os': 'linux' },
          tolerations: [{ key: 'storage', operator: 'Exists', effect: 'NoSchedule' }],
          affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [] } },
          serviceAccountName: 'ferry-worker',
        },
      },
      bandwidthLimit: '100Mi',
      ttlSecondsAfterFinished: 3600,
      retryRequest: '2026-11-24T12:00:00Z',
    };
    const body = jobNamed('full', spec);
    await create(body);
    try {
      const stored = await read(body.metadata.name!);
      expect(stored.spec).toMatchObject(spec);
      expect(stored.spec.destination.s3?.caBundleSecretRef).toEqual({ name: 'private-ca', key: 'ca.crt' });
      expect(stored.spec.workers?.destination).toEqual({ replicas: 1, concurrency: 8 });
    } finally {
      await remove(body.metadata.name!);
    }
  });

  describe('once the job has started (status.startTime is set)', () => {
    let name: string;

    beforeAll(async () => {
      const body = jobNamed('started', { source: s3('site-a'), destination: filesystem('claim-b', '/in') });
      name = body.metadata.name!;
      await create(body);
      // Before the start, the stores may still change.
      await patchSpec(name, { source: { s3: { bucket: 'site-c' } } });
      expect((await read(name)).spec.source.s3?.bucket).toBe('site-c');
      await patchStatus(name, {
        startTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        phase: 'Running',
        progressPercent: 42,
        objects: { planned: 10, copied: 4 },
        bytes: { planned: 10240, copied: 4096 },
      });
    });

    afterAll(async () => {
      await remove(name);
    });

    it('rejects a change of the source', async () => {
      const rejection = await rejectionOf(patchSpec(name, { source: { s3: { bucket: 'site-d' } } }));
      expect(rejection.code).toBe(422);
      expect(rejection.message).toContain(
        'spec.source and spec.destination are immutable once the job has started',
      );
      expect((await read(name)).spec.source.s3?.bucket).toBe('site-c');
    });

    it('rejects a change of the destination', async () => {
      const rejection = await rejectionOf(
        patchSpec(name, { destination: { filesystem: { path: '/elsewhere' } } }),
      );
      expect(rejection.code).toBe(422);
      expect(rejection.message).toContain('immutable once the job has started');
    });

    it.each([
      { what: 'the mode', change: { mode: 'Sync' } },
      { what: 'a filter', change: { filters: { include: ['keep/**'] } } },
      { what: 'the delete guards', change: { deletion: { maxDeletes: 5 } } },
      { what: 'dryRun', change: { deletion: { dryRun: true } } },
      { what: 'the task sizes', change: { tasks: { maxObjects: 10 } } },
    ])('rejects a change of $what (an input of the plan), saying to create a new job', async ({ change }) => {
      const before = await read(name);
      const rejection = await rejectionOf(patchSpec(name, change));
      expect(rejection.code).toBe(422);
      expect(rejection.message).toContain(
        'spec.mode, spec.filters, spec.deletion and spec.tasks are immutable once the job has started',
      );
      expect(rejection.message).toContain('create a new job');
      const after = await read(name);
      expect(after.spec).toEqual(before.spec);
      expect(after.metadata.generation).toBe(before.metadata.generation);
    });

    it('accepts other changes, such as suspending it', async () => {
      const before = await read(name);
      await patchSpec(name, { suspend: true });
      const after = await read(name);
      expect(after.spec.suspend).toBe(true);
      expect(after.metadata.generation).toBe(before.metadata.generation! + 1);
    });

    it('lists it with its phase, progress, objects and bytes copied', () => {
      const out = execFileSync(
        toolPath('kubectl'),
        ['--kubeconfig', bedEndpoints().kubeconfig, 'get', 'rj', name, '-n', namespace],
        { encoding: 'utf8' },
      );
      const [header, row] = out.trim().split('\n');
      expect(header!.split(/\s+/)).toEqual(['NAME', 'PHASE', 'PROGRESS%', 'OBJECTS', 'BYTES', 'AGE']);
      expect(row!.split(/\s+/).slice(0, 5)).toEqual([name, 'Running', '42', '4', '4096']);
    });
  });

  it('documents every field for kubectl explain', async () => {
    const explain = (field: string) =>
      execFileSync(toolPath('kubectl'), ['--kubeconfig', bedEndpoints().kubeconfig, 'explain', field], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    let out = '';
    // The API server publishes a new CRD's OpenAPI a moment after it is established.
    await waitFor('kubectl explain to know spec.source.s3', async () => {
      try {
        out = explain('replicationjob.spec.source.s3');
        return out.includes('credentialsSecretRef');
      } catch {
        return false;
      }
    });
    expect(out).toContain('An S3-compatible bucket');
    expect(out).toMatch(/credentialsSecretRef\s+<Object> -required-/);
    expect(out).toContain('The Secret, in the job');
    expect(out).toContain('URL of the S3 endpoint');
    expect(out).toContain('Region used to sign requests');
    expect(out).toMatch(/forcePathStyle\s+<boolean>/);
    const prefix = explain('replicationjob.spec.source.s3.prefix').replace(/\s+/g, ' ');
    expect(prefix).toContain('"backup" and "backup/" both mean the directory backup/');
    expect(prefix).toContain('must not start with "/"');
    expect(explain('rj.spec.retryRequest')).toContain("to retry a Failed job's failed tasks");
    expect(explain('rj.status.conditions')).toMatch(/Complete: the job finished successfully/);
  });
});
