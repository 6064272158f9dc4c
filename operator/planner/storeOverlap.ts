// Whether a job's source and destination overlap: one lies inside the other,
// or they are the same (docs/adr/0034). A Sync between overlapping stores
// deletes what it copies, or copies into what it lists; it is refused before
// anything is listed, copied or deleted. The CRD's CEL rules refuse what they
// can see in the spec's own strings; this check sees the same stores in one
// spelling: S3 endpoints as the service they name, prefixes and paths as
// directories.
import { directoriesNest, directoryPath, directoryPrefix } from '../../api/storePaths.ts';
import type { ReplicationJob, Store } from '../../api/v1alpha1/index.ts';

/** The job's failure reason when its stores overlap. */
export const storesOverlapReason = 'StoresOverlap';

/** A job refused because its stores overlap; the message names both stores. */
export class StoresOverlapError extends Error {
  readonly reason = storesOverlapReason;
}

/** Throws StoresOverlapError when the job's source and destination overlap. */
export function refuseOverlappingStores(job: ReplicationJob): void {
  const namespace = job.metadata?.namespace ?? 'default';
  const { source, destination } = job.spec;
  const why = overlap(source, destination, namespace);
  if (why === undefined) return;
  throw new StoresOverlapError(
    `source ${describeStore(source)} and destination ${describeStore(destination)} overlap: ${why}; ` +
      'a job between them would copy into what it lists or delete what it copies. ' +
      'Use a destination outside the source, and the source outside the destination',
  );
}

/** Why the two stores overlap, or undefined when they are apart. */
export function overlap(source: Store, destination: Store, namespace: string): string | undefined {
  if (source.s3 && destination.s3) {
    const [a, b] = [source.s3, destination.s3];
    if (a.bucket !== b.bucket) return undefined;
    const service = sameService(a.endpoint, b.endpoint, namespace);
    if (service === undefined) return undefined;
    const [pa, pb] = [directoryPrefix(a.prefix), directoryPrefix(b.prefix)];
    if (!directoriesNest(pa, pb)) return undefined;
    return `both are bucket "${a.bucket}" of ${service}, and ${nesting(pa || '(the whole bucket)', pb || '(the whole bucket)')}`;
  }
  if (source.filesystem && destination.filesystem) {
    const [a, b] = [source.filesystem, destination.filesystem];
    if (a.claimName !== b.claimName) return undefined;
    const [pa, pb] = [directoryPath(a.path), directoryPath(b.path)];
    if (!directoriesNest(pa, pb)) return undefined;
    return `both are on claim ${a.claimName}, and ${nesting(pa, pb)}`;
  }
  return undefined;
}

function nesting(source: string, destination: string): string {
  if (source === destination) return `both are the directory ${source}`;
  return source.startsWith(destination)
    ? `the source ${source} lies inside the destination ${destination}`
    : `the destination ${destination} lies inside the source ${source}`;
}

function describeStore(store: Store): string {
  if (store.s3) {
    const { endpoint, bucket, prefix } = store.s3;
    return `s3 ${endpoint} bucket "${bucket}" prefix "${prefix ?? ''}"`;
  }
  return `filesystem ${store.filesystem!.claimName}:${store.filesystem!.path ?? '/'}`;
}

/**
 * The service two endpoints both name, when the operator can tell from their
 * spellings alone (no DNS): undefined when it cannot. See endpointSpellings.
 */
export function sameService(a: string, b: string, namespace: string): string | undefined {
  const spellings = new Set(endpointSpellings(a, namespace));
  return endpointSpellings(b, namespace).find((s) => spellings.has(s));
}

/**
 * The spellings of the service an endpoint URL names: scheme and host in
 * lower case (the URL parser's), the default port of the scheme dropped,
 * trailing dots of the host and slashes of the path dropped; a loopback host
 * as "loopback"; AWS S3's regional and dual-stack hosts as one (bucket names
 * are global); and a Kubernetes Service name ("minio", "minio.ns",
 * "minio.ns.svc", "minio.ns.svc.cluster.local") also as "<name>.<ns>.svc",
 * a bare name in the job's namespace, as a pod resolves it.
 */
export function endpointSpellings(endpoint: string, namespace: string): string[] {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return [endpoint]; // the CRD admits only URLs; compare anything else literally
  }
  const port = url.port === '' ? '' : `:${url.port}`;
  const path = url.pathname.replace(/\/+$/, '');
  const spell = (host: string) => `${url.protocol}//${host}${port}${path}`;
  const host = url.hostname.replace(/\.+$/, '');
  return [...new Set(hostSpellings(host, namespace).map(spell))];
}

function hostSpellings(host: string, namespace: string): string[] {
  if (host === 'localhost' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host)) return ['loopback'];
  const aws = /(^|\.)s3([.-][a-z0-9-]+)*\.amazonaws\.com(\.cn)?$/.exec(host);
  if (aws) return [`s3.amazonaws.com${aws[3] ?? ''}`]; // one partition, one bucket namespace
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.startsWith('[')) return [host];
  const labels = host.split('.');
  if (labels.length === 1) return [host, `${host}.${namespace}.svc`];
  if (labels.length === 2) return [host, `${host}.svc`];
  if (labels[2] === 'svc') return [host, labels.slice(0, 3).join('.')];
  return [host];
}
