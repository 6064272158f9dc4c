// How a store is described: what a worker is told in FERRY_STORE, what the
// operator lists with, and the S3 driver's connection options. Plain data,
// validated at the edge (the CRD schema, the worker's start-up).

/** Which store, and where. */
export type StoreConfig = { s3: S3StoreConfig } | { filesystem: FilesystemStoreConfig };

export interface S3StoreConfig {
  endpoint: string;
  region?: string;
  bucket: string;
  /**
   * A directory (api/storePaths.ts): "data" and "data/" are the same, and key "a"
   * is the S3 key "data/a" in both; "" or unset is the whole bucket.
   */
  prefix?: string;
  /** Default true (as in the CRD). */
  forcePathStyle?: boolean;
  /** PEM CA certificates trusted for the endpoint in addition to the system ones. */
  caBundleFile?: string;
  /** The same as PEM text (what the operator reads from the job's CA Secret). */
  caBundle?: string;
}

export interface FilesystemStoreConfig {
  claimName: string;
  /** The directory inside the volume, "/" (the default) for its root. */
  path?: string;
  mountPath: string;
}

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface S3StoreOptions {
  /** Without them, the SDK's default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, …). */
  credentials?: S3Credentials;
  /** Keys per ListObjectsV2 page, and parts per ListParts page, 1–1000 (default 1000). */
  listPageSize?: number;
  /** Concurrent connections to the endpoint (default 64). */
  maxSockets?: number;
  /** Default 10 s. */
  connectionTimeoutMs?: number;
  /** A socket idle this long fails the request (default 120 s). */
  socketTimeoutMs?: number;
  /** Attempts of the SDK for non-streaming requests (default 3). */
  maxAttempts?: number;
  /** Concurrent HEADs of `list(…, { checksums: true })` (default 8). */
  headConcurrency?: number;
}
