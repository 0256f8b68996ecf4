/**
 * The feed bucket (S3) and the export index as the feed export sees them (core/feeds/exporter.ts ports):
 * streamed gzip part uploads (multipart beyond one chunk, so memory per part is one chunk whatever the file
 * size), JSON state objects (manifests, checkpoints, export requests), listings, deletes, pre-signed GETs;
 * and {@link utteranceExportSource} over {@link UtterancesRepository.queryExportDay}.
 *
 * Files are stored with `Content-Type: application/gzip` and no `Content-Encoding`, so a pre-signed
 * download returns the exact bytes the manifest's SHA-256 describes (HTTP clients transparently gunzip a
 * body sent with `Content-Encoding: gzip`).
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createGzip, type Gzip } from 'node:zlib';
import {
  AbortMultipartUploadCommand,
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type {
  ExportCursor,
  ExportItem,
  ExportSource,
  ExportSourcePage,
  FeedObjectStore,
  PartUploadResult,
  PartWriter,
} from '../core/feeds/exporter';
import { errorName, toStoreError } from './errors';
import { EXPORT_SHARDS, exportDayKey, type UtterancesRepository } from './utterances';

/** Options of {@link createFeedsS3Client}. */
export interface FeedsS3ClientOptions {
  region?: string;
  /** A local S3 (s3rver) or another endpoint override. @default - the regional endpoint */
  endpoint?: string;
  /** Path-style URLs (`http://host/bucket/key`). @default true when `endpoint` is set */
  forcePathStyle?: boolean;
  credentials?: S3ClientConfig['credentials'];
}

/**
 * An S3 client for the feed bucket. With an endpoint override (s3rver) checksums are computed and validated
 * only where S3 requires them: s3rver predates the SDK's default CRC32 trailers and would store them as
 * part of the body.
 */
export function createFeedsS3Client(options: FeedsS3ClientOptions = {}): S3Client {
  const local = options.endpoint !== undefined;
  return new S3Client({
    ...(options.region !== undefined ? { region: options.region } : local ? { region: 'us-east-1' } : {}),
    ...(local && {
      endpoint: options.endpoint,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    }),
    forcePathStyle: options.forcePathStyle ?? local,
    ...(options.credentials !== undefined && { credentials: options.credentials }),
  });
}

/** Options of {@link S3FeedStore}. */
export interface S3FeedStoreOptions {
  bucket: string;
  /** Compressed bytes buffered before a multipart part is sent (S3's minimum part is 5 MiB). @default 8 MiB */
  chunkBytes?: number;
  /** zlib level. @default 6 */
  gzipLevel?: number;
  /** Uncompressed text gathered before it is handed to zlib. @default 64 KiB */
  writeBatchChars?: number;
  /** Wall clock for `expiresAt`. @default Date.now */
  now?: () => number;
}

/** A pre-signed download. */
export interface PresignedUrl {
  url: string;
  /** ISO-8601 time after which the URL no longer works. */
  expiresAt: string;
}

const MIN_CHUNK = 5 * 1024 * 1024;

function isNoSuchKey(err: unknown): boolean {
  const name = errorName(err);
  const status = (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
  return name === 'NoSuchKey' || name === 'NotFound' || status === 404;
}

/** One part file: text → gzip → SHA-256 + S3 (one PutObject when small, multipart otherwise). */
class GzipPartUpload implements PartWriter {
  private readonly gzip: Gzip;
  private readonly hash = createHash('sha256');
  private chunks: Buffer[] = [];
  private buffered = 0;
  private total = 0;
  private uploadId: string | undefined;
  private readonly parts: CompletedPart[] = [];
  private readonly pump: Promise<void>;
  private pendingText: string[] = [];
  private pendingChars = 0;
  private settled = false;

  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly key: string,
    private readonly chunkBytes: number,
    level: number,
    private readonly batchChars: number,
  ) {
    this.gzip = createGzip({ level });
    this.pump = this.consume();
    this.pump.catch(() => undefined);
  }

  private async consume(): Promise<void> {
    for await (const chunk of this.gzip) {
      const buf = chunk as Buffer;
      this.hash.update(buf);
      this.chunks.push(buf);
      this.buffered += buf.length;
      this.total += buf.length;
      // While a part uploads, zlib's buffer fills and write() waits for drain: memory stays at one chunk.
      if (this.buffered >= this.chunkBytes) await this.sendPart();
    }
  }

  private async sendPart(): Promise<void> {
    const body = Buffer.concat(this.chunks);
    this.chunks = [];
    this.buffered = 0;
    try {
      if (this.uploadId === undefined) {
        const created = await this.s3.send(
          new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: this.key, ContentType: 'application/gzip' }),
        );
        this.uploadId = created.UploadId;
      }
      const partNumber = this.parts.length + 1;
      const out = await this.s3.send(
        new UploadPartCommand({
          Bucket: this.bucket,
          Key: this.key,
          UploadId: this.uploadId,
          PartNumber: partNumber,
          Body: body,
          ContentLength: body.length,
        }),
      );
      this.parts.push({ ETag: out.ETag, PartNumber: partNumber });
    } catch (err) {
      throw toStoreError(err, 'feeds.uploadPart');
    }
  }

  private async flushText(): Promise<void> {
    if (this.pendingChars === 0) return;
    const text = this.pendingText.join('');
    this.pendingText = [];
    this.pendingChars = 0;
    if (!this.gzip.write(text)) {
      await Promise.race([
        once(this.gzip, 'drain'),
        this.pump.then(() => {
          throw new Error('part upload ended while writing');
        }),
      ]);
    }
  }

  async write(text: string): Promise<void> {
    if (this.settled) throw new Error(`part ${this.key} is already finished`);
    this.pendingText.push(text);
    this.pendingChars += text.length;
    if (this.pendingChars >= this.batchChars) await this.flushText();
  }

  async finish(): Promise<PartUploadResult> {
    if (this.settled) throw new Error(`part ${this.key} is already finished`);
    await this.flushText();
    this.settled = true;
    this.gzip.end();
    await this.pump;
    try {
      if (this.uploadId === undefined) {
        const body = Buffer.concat(this.chunks);
        this.chunks = [];
        await this.s3.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: this.key,
            Body: body,
            ContentLength: body.length,
            ContentType: 'application/gzip',
          }),
        );
      } else {
        if (this.buffered > 0) await this.sendPart();
        await this.s3.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.bucket,
            Key: this.key,
            UploadId: this.uploadId,
            MultipartUpload: { Parts: this.parts },
          }),
        );
      }
    } catch (err) {
      await this.abort();
      throw toStoreError(err, 'feeds.putPart');
    }
    return { bytes: this.total, sha256: this.hash.digest('hex') };
  }

  async abort(): Promise<void> {
    this.settled = true;
    this.gzip.destroy();
    await this.pump.catch(() => undefined);
    this.chunks = [];
    if (this.uploadId === undefined) return;
    const uploadId = this.uploadId;
    this.uploadId = undefined;
    try {
      await this.s3.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.key, UploadId: uploadId }));
    } catch {
      // Best effort: the bucket's lifecycle rule aborts incomplete multipart uploads after a day.
    }
  }
}

/** The feed bucket. */
export class S3FeedStore implements FeedObjectStore {
  readonly bucket: string;
  private readonly chunkBytes: number;
  private readonly gzipLevel: number;
  private readonly batchChars: number;
  private readonly now: () => number;

  constructor(
    private readonly s3: S3Client,
    options: S3FeedStoreOptions,
  ) {
    this.bucket = options.bucket;
    this.chunkBytes = Math.max(MIN_CHUNK, options.chunkBytes ?? 8 * 1024 * 1024);
    this.gzipLevel = options.gzipLevel ?? 6;
    this.batchChars = options.writeBatchChars ?? 64 * 1024;
    this.now = options.now ?? Date.now;
  }

  /** Starts a streamed, gzip'd upload to `key`; nothing is visible until `finish()` resolves. */
  openPart(key: string): PartWriter {
    return new GzipPartUpload(this.s3, this.bucket, key, this.chunkBytes, this.gzipLevel, this.batchChars);
  }

  /** The parsed JSON object at `key`, or undefined when it does not exist. */
  async getJson(key: string): Promise<unknown> {
    let text: string;
    try {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      text = (await out.Body?.transformToString('utf8')) ?? '';
    } catch (err) {
      if (isNoSuchKey(err)) return undefined;
      throw toStoreError(err, 'feeds.getJson');
    }
    try {
      return JSON.parse(text) as unknown;
    } catch {
      // Not ours (or truncated): the callers' parsers report it as an unreadable state object.
      return { unreadable: true };
    }
  }

  /** Writes a JSON object (pretty enough to read in a console). */
  async putJson(key: string, value: unknown): Promise<void> {
    const body = `${JSON.stringify(value, null, 1)}\n`;
    try {
      await this.s3.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: 'application/json' }),
      );
    } catch (err) {
      throw toStoreError(err, 'feeds.putJson');
    }
  }

  /** Every key under `prefix`, in key order. */
  async *listKeys(prefix: string): AsyncGenerator<string> {
    let token: string | undefined;
    do {
      let out: ListObjectsV2CommandOutput;
      try {
        out = await this.s3.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
        );
      } catch (err) {
        throw toStoreError(err, 'feeds.listKeys');
      }
      for (const o of out.Contents ?? []) if (o.Key !== undefined) yield o.Key;
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
  }

  /** The "folders" directly under `prefix` (common prefixes with delimiter `/`), in key order. */
  async listPrefixes(prefix: string): Promise<string[]> {
    const found: string[] = [];
    let token: string | undefined;
    do {
      try {
        const out = await this.s3.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, Delimiter: '/', ContinuationToken: token }),
        );
        for (const p of out.CommonPrefixes ?? []) if (p.Prefix !== undefined) found.push(p.Prefix);
        token = out.IsTruncated ? out.NextContinuationToken : undefined;
      } catch (err) {
        throw toStoreError(err, 'feeds.listPrefixes');
      }
    } while (token);
    return found;
  }

  /** Deletes keys (1,000 per request); missing keys are not an error. */
  async deleteKeys(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      try {
        const out = await this.s3.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
          }),
        );
        const failed = (out.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
        if (failed.length > 0) {
          throw new Error(`could not delete ${failed.length} object(s): ${failed[0]?.Code ?? 'unknown'}`);
        }
      } catch (err) {
        throw toStoreError(err, 'feeds.deleteKeys');
      }
    }
  }

  /** A pre-signed GET of `key`, valid `expiresInSec` seconds. */
  async presignGet(key: string, expiresInSec: number): Promise<PresignedUrl> {
    const issuedAt = this.now();
    try {
      const url = await getSignedUrl(this.s3, new GetObjectCommand({ Bucket: this.bucket, Key: key }), {
        expiresIn: expiresInSec,
      });
      return { url, expiresAt: new Date(issuedAt + expiresInSec * 1000).toISOString() };
    } catch (err) {
      throw toStoreError(err, 'feeds.presignGet');
    }
  }
}

/** Options of {@link utteranceExportSource}. */
export interface UtteranceExportSourceOptions {
  /** Items per index query. Two pages per shard are held at once. @default 1000 */
  pageSize?: number;
}

/**
 * The export index as an {@link ExportSource}. An hour run starts each shard at that hour with a start key
 * that sorts just before the hour's first row (`exportSk` = `<day>T<HH>`, a prefix of every createdAt of
 * the hour): DynamoDB accepts any well-formed key as `ExclusiveStartKey`, the item need not exist.
 */
export function utteranceExportSource(
  repository: UtterancesRepository,
  options: UtteranceExportSourceOptions = {},
): ExportSource {
  const pageSize = options.pageSize ?? 1000;
  return {
    shards: EXPORT_SHARDS,
    pages(day, shard, { exclusiveStartKey, fromHour }) {
      let start: ExportCursor | undefined = exclusiveStartKey;
      if (start === undefined && fromHour !== undefined && fromHour !== '00') {
        start = { exportDay: exportDayKey(day, shard), exportSk: `${day}T${fromHour}`, conversationId: '#', sk: '#' };
      }
      const pages = repository.queryExportDay(day, shard, {
        ...(start !== undefined && { exclusiveStartKey: start }),
        pageSize,
      });
      return pages as AsyncIterable<ExportSourcePage>;
    },
    cursorOf(item: ExportItem): ExportCursor {
      const u = item as ExportItem & { exportDay: string; sk: string };
      return { exportDay: u.exportDay, exportSk: u.exportSk, conversationId: u.conversationId, sk: u.sk };
    },
  };
}
