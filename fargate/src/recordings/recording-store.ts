/**
 * The port through which finished segment recordings leave the gateway. The S3 adapter
 * (`S3RecordingStore`) implements it; unit tests pass a fake.
 */

/** Where a recording is (or will be) stored. */
export interface RecordingTarget {
  readonly bucket: string;
  readonly key: string;
}

/** One finished recording to store. */
export interface RecordingUpload {
  /** Object key (core/transcript/recording-key.ts). */
  readonly key: string;
  /** A complete WAV file on local disk; the store streams it and leaves the file alone. */
  readonly filePath: string;
  /** Size of the file in bytes. */
  readonly contentLength: number;
  /** User metadata (sent as `x-amz-meta-*`). */
  readonly metadata: Readonly<Record<string, string>>;
}

/** Stores recordings in one bucket. */
export interface RecordingStore {
  readonly bucket: string;
  /** Stores the file under `upload.key`, replacing any earlier object; rejects when it could not. */
  put(upload: RecordingUpload): Promise<void>;
}
