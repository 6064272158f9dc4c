// The operator's overlap check: the stores in one spelling (docs/adr/0034).
import type { ReplicationJob, Store } from '../../../../api/v1alpha1/index.ts';
import {
  endpointSpellings,
  overlap,
  refuseOverlappingStores,
  sameService,
  StoresOverlapError,
} from '../../../../operator/planner/storeOverlap.ts';

const s3 = (endpoint: string, bucket: string, prefix?: string): Store => ({
  s3: { endpoint, bucket, ...(prefix === undefined ? {} : { prefix }), credentialsSecretRef: { name: 'c' } },
});
const fs = (claimName: string, path?: string): Store => ({
  filesystem: { claimName, ...(path === undefined ? {} : { path }) },
});

describe('sameService: endpoints the operator can tell are one', () => {
  it.each([
    ['http://minio:9000', 'http://minio:9000/', 'a trailing slash'],
    ['HTTP://MinIO:9000', 'http://minio:9000', 'scheme and host case'],
    ['https://s3.example.com:443', 'https://s3.example.com', 'the default https port'],
    ['http://s3.example.com:80/', 'http://s3.example.com', 'the default http port'],
    ['http://s3.example.com.', 'http://s3.example.com', 'a trailing dot'],
    ['http://minio:9000', 'http://minio.jobs:9000', 'a Service name and name.namespace'],
    ['http://minio:9000', 'http://minio.jobs.svc.cluster.local:9000', 'a Service name and its FQDN'],
    ['http://minio.store.svc:9000', 'http://minio.store.svc.cluster.local:9000', 'name.ns.svc and its FQDN'],
    ['http://minio.store:9000', 'http://minio.store.svc.example.org:9000', 'another cluster domain'],
    ['http://localhost:9000', 'http://127.0.0.1:9000', 'loopback'],
    ['https://s3.eu-west-1.amazonaws.com', 'https://s3.amazonaws.com', 'AWS regions (global bucket names)'],
  ])('%s and %s (%s)', (a, b) => {
    expect(sameService(a, b, 'jobs')).toBeDefined();
  });

  it.each([
    ['http://minio:9000', 'http://minio:9001', 'another port'],
    ['http://minio:9000', 'https://minio:9000', 'another scheme'],
    ['http://minio:9000', 'http://minio.other:9000', 'a Service of another namespace'],
    ['http://a.example.com', 'http://b.example.com', 'another host'],
    ['http://gw/s3', 'http://gw/other', 'another path'],
    ['https://s3.amazonaws.com', 'https://s3.cn-north-1.amazonaws.com.cn', 'another AWS partition'],
  ])('not %s and %s (%s)', (a, b) => {
    expect(sameService(a, b, 'jobs')).toBeUndefined();
  });

  it('spells a Service name in the job namespace as a pod resolves it', () => {
    expect(endpointSpellings('http://minio:9000', 'jobs')).toEqual([
      'http://minio:9000',
      'http://minio.jobs.svc:9000',
    ]);
  });
});

describe('overlap: stores one of which lies inside the other', () => {
  const e = 'http://minio:9000';
  it.each([
    ['the same prefix, spelled with and without "/"', s3(e, 'b', 'data'), s3(`${e}/`, 'b', 'data/')],
    ['a destination inside the source', s3(e, 'b', 'data/'), s3(e, 'b', 'data/in/')],
    ['a source inside the destination', s3(e, 'b', 'data/in'), s3(e, 'b', 'data')],
    ['a whole bucket and a prefix of it', s3(e, 'b'), s3(e, 'b', 'x/')],
    ['one claim, /in and /', fs('c', '/in'), fs('c', '/')],
    ['one claim, / and /in', fs('c'), fs('c', '/in/')],
    ['one claim, // and /in', fs('c', '//'), fs('c', '/in')],
  ])('%s', (_, source, destination) => {
    expect(overlap(source, destination, 'jobs')).toBeDefined();
  });

  it.each([
    ['sibling prefixes sharing a string prefix', s3(e, 'b', 'backup'), s3(e, 'b', 'backup-old/')],
    ['another bucket', s3(e, 'b', 'data/'), s3(e, 'other', 'data/')],
    ['another endpoint', s3(e, 'b'), s3('http://other:9000', 'b')],
    ['sibling directories', fs('c', '/in'), fs('c', '/inbox')],
    ['another claim', fs('c'), fs('d')],
    ['S3 to a filesystem', s3(e, 'b'), fs('b')],
  ])('not %s', (_, source, destination) => {
    expect(overlap(source, destination, 'jobs')).toBeUndefined();
  });
});

describe('refuseOverlappingStores', () => {
  const job = (source: Store, destination: Store): ReplicationJob => ({
    apiVersion: 'ferry.dev/v1alpha1',
    kind: 'ReplicationJob',
    metadata: { name: 'j', namespace: 'jobs' },
    spec: { source, destination },
  });

  it('names both stores and how they nest', () => {
    const refuse = () =>
      refuseOverlappingStores(
        job(s3('http://minio:9000', 'b', 'data/in/'), s3('http://MINIO:9000/', 'b', 'data')),
      );
    expect(refuse).toThrow(StoresOverlapError);
    expect(refuse).toThrow(
      'source s3 http://minio:9000 bucket "b" prefix "data/in/" and destination s3 http://MINIO:9000/ bucket "b" ' +
        'prefix "data" overlap: both are bucket "b" of http://minio:9000, and the source data/in/ lies inside ' +
        'the destination data/',
    );
  });

  it('lets stores that are apart through', () => {
    expect(() => refuseOverlappingStores(job(fs('c', '/a'), fs('c', '/b')))).not.toThrow();
  });
});
