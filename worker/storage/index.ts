// Opens the object store a worker's configuration describes.
import type { StoreConfig } from '../config.ts';
import { FilesystemStore } from './filesystemStore.ts';
import type { ObjectStore } from './objectStore.ts';
import { S3Store, type S3Credentials, type S3StoreOptions } from './s3Store.ts';

export * from './objectStore.ts';
export { FilesystemStore, filesystemKeyProblem, keyToPath } from './filesystemStore.ts';
export { S3Store, classifyS3Error, checksumMetadataKey } from './s3Store.ts';
export type { S3Credentials, S3StoreOptions } from './s3Store.ts';

/**
 * The store of `config`. S3 credentials default to the SDK's chain (the
 * worker's AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) when not given; they are
 * ignored for a filesystem store. Throws a permanent StorageError for an
 * unusable configuration (an unreadable CA bundle, a path with "..").
 */
export function openObjectStore(
  config: StoreConfig,
  credentials?: S3Credentials,
  options: Omit<S3StoreOptions, 'credentials'> = {},
): ObjectStore {
  if ('s3' in config) return new S3Store(config.s3, { ...options, ...(credentials ? { credentials } : {}) });
  return new FilesystemStore(config.filesystem);
}
