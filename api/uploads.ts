// The multipart uploads both sides speak of: destination workers record them
// in a NATS KV bucket (worker/transfer/uploadRegistry.ts); the operator reads
// those records to abort what a deleted job left open (operator/external/openUploads.ts).

export type UploadState = 'open' | 'completed' | 'discarded';

export interface UploadRecord {
  uploadId: string;
  /** The object's key, so that the operator can abort an upload a deleted job left open. */
  key: string;
  state: UploadState;
  /** The whole object's size, as planned. */
  size: number;
  /** Why the upload was discarded (state `discarded`). */
  reason?: string;
  /**
   * The part whose task completed the object (state `completed`): that task,
   * and only that one (also when delivered again), counts the object as copied.
   */
  completedBy?: number;
  /** The source version every part of this upload was read from (docs/adr/0033). */
  sourceVersion?: string;
  /** The part whose task restarted the upload for a new source version: that task sends every part. */
  restartedBy?: number;
  /**
   * Written just before the upload is completed: what its parts prove about
   * the object (the part size, and the SHA-256 over the parts' SHA-256s in
   * order), so that a completion whose record was never written can be
   * verified against the object it left.
   */
  completing?: { partSize: number; partsSha256: string };
}

/** A multipart upload a deleted job left open at its destination. */
export interface UploadToAbort {
  key: string;
  uploadId: string;
}
