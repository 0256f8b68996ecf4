/**
 * The S3 adapter of {@link RecordingStore}: streams a spooled WAV file to the recordings bucket with
 * lib-storage's `Upload` (one PutObject below the part size, a multipart upload above it), so memory per
 * upload is bounded by one part whatever the length of the call.
 *
 * Encryption: with a KMS key configured every object is written `aws:kms` under that key; otherwise no
 * encryption header is sent and the bucket's default encryption applies (S3 encrypts every new object,
 * SSE-S3 unless the bucket says otherwise).
 */
import { createReadStream } from 'node:fs';
import { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { RecordingStore, RecordingUpload } from './recording-store';

/** Options of {@link createRecordingsS3Client}. */
export interface RecordingsS3ClientOptions {
  region?: string;
  /** A local S3 (s3rver) or another endpoint override. @default - the regional endpoint */
  endpoint?: string;
  /** @default - the SDK's credential chain (locally: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` set by npm start) */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/**
 * An S3 client for the recordings bucket. With an endpoint override it uses path-style URLs and computes
 * checksums only where S3 requires them: s3rver predates the SDK's default CRC32 trailers and would store
 * them as part of the body.
 */
export function createRecordingsS3Client(options: RecordingsS3ClientOptions = {}): S3Client {
  const local = options.endpoint !== undefined;
  return new S3Client({
    ...(options.region !== undefined ? { region: options.region } : local ? { region: 'us-east-1' } : {}),
    ...(local && {
      endpoint: options.endpoint,
      forcePathStyle: true,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    }),
    ...(options.credentials !== undefined && { credentials: options.credentials }),
  });
}

/** Options of {@link S3RecordingStore}. */
export interface S3RecordingStoreOptions {
  readonly client: S3Client;
  readonly bucket: string;
  /** KMS key id, alias or ARN for `aws:kms` encryption. @default - the bucket's default encryption */
  readonly kmsKeyId?: string;
  /** Multipart part size (S3's minimum is 5 MiB). @default 5 MiB */
  readonly partSizeBytes?: number;
}

/** Stores recordings as `audio/wav` objects in one bucket. */
export class S3RecordingStore implements RecordingStore {
  readonly bucket: string;
  readonly #client: S3Client;
  readonly #kmsKeyId: string | undefined;
  readonly #partSize: number;

  constructor(opts: S3RecordingStoreOptions) {
    this.bucket = opts.bucket;
    this.#client = opts.client;
    this.#kmsKeyId = opts.kmsKeyId;
    this.#partSize = opts.partSizeBytes ?? 5 * 1024 * 1024;
  }

  async put(upload: RecordingUpload): Promise<void> {
    const body = createReadStream(upload.filePath);
    try {
      const task = new Upload({
        client: this.#client,
        // One part in flight: recordings are not latency-sensitive, memory per upload is.
        queueSize: 1,
        partSize: this.#partSize,
        leavePartsOnError: false,
        params: {
          Bucket: this.bucket,
          Key: upload.key,
          Body: body,
          ContentType: 'audio/wav',
          Metadata: { ...upload.metadata },
          ...(this.#kmsKeyId !== undefined && { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: this.#kmsKeyId }),
        },
      });
      await task.done();
    } finally {
      body.destroy();
    }
  }
}
