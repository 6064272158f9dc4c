// The object-store library the operator and the workers share: the
// ObjectStore contract, its S3 and filesystem drivers, and how to open the
// store a configuration describes. It imports neither operator/ nor worker/.
import type { S3Credentials, S3StoreOptions, StoreConfig } from './config.ts';
import { FilesystemStore } from './filesystemStore.ts';
import type { ObjectStore } from './objectStore.ts';
import { S3Store } from './s3Store.ts';

export * from './objectStore.ts';
export type {
  FilesystemStoreConfig,
  S3Credentials,
  S3StoreConfig,
  S3StoreOptions,
  StoreConfig,
} from './config.ts';
export { FilesystemStore } from './filesystemStore.ts';
export { filesystemKeyProblem, keyToPath } from './filesystemRoot.ts';
export { S3Store } from './s3Store.ts';
export { checksumMetadataKey } from './s3Client.ts';
export { classifyS3Error } from './s3Errors.ts';

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
