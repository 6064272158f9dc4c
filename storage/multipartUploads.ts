// The multipart half of the ObjectStore contract (docs/adr/0006). Each driver
// keeps it in a file of its own (s3Multipart.ts, filesystemMultipart.ts) and
// inherits the forwarding of its ObjectStore methods from MultipartForwarding.
import type { ObjectStore } from './objectStore.ts';

export type MultipartUploads = Pick<
  ObjectStore,
  'createMultipart' | 'writePart' | 'listParts' | 'completeMultipart' | 'abortMultipart'
>;

/** ObjectStore's multipart methods, answered by the driver's `uploads`. */
export abstract class MultipartForwarding implements MultipartUploads {
  protected abstract readonly uploads: MultipartUploads;

  createMultipart(
    ...args: Parameters<ObjectStore['createMultipart']>
  ): ReturnType<ObjectStore['createMultipart']> {
    return this.uploads.createMultipart(...args);
  }

  writePart(...args: Parameters<ObjectStore['writePart']>): ReturnType<ObjectStore['writePart']> {
    return this.uploads.writePart(...args);
  }

  listParts(...args: Parameters<ObjectStore['listParts']>): ReturnType<ObjectStore['listParts']> {
    return this.uploads.listParts(...args);
  }

  completeMultipart(
    ...args: Parameters<ObjectStore['completeMultipart']>
  ): ReturnType<ObjectStore['completeMultipart']> {
    return this.uploads.completeMultipart(...args);
  }

  abortMultipart(
    ...args: Parameters<ObjectStore['abortMultipart']>
  ): ReturnType<ObjectStore['abortMultipart']> {
    return this.uploads.abortMultipart(...args);
  }
}
