import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExportItem } from '../../core/feeds/exporter';
import { utteranceIdOf } from '../../core/transcript/utterance';
import { LOCAL_S3_CREDENTIALS, type LocalS3, startLocalS3 } from '../../local/s3';
import { createFeedsS3Client, S3FeedStore, utteranceExportSource } from '../../store/feeds';
import { EXPORT_SHARDS, exportShardOf, UtterancesRepository } from '../../store/utterances';
import { setupDynamoDb, type TestDynamoDb } from '../helpers/dynamodb';

let s3server: LocalS3;
let s3: S3Client;
let db: TestDynamoDb;
const bucket = 'feeds-test';

beforeAll(async () => {
  [s3server, db] = await Promise.all([startLocalS3(), setupDynamoDb()]);
  s3 = createFeedsS3Client({
    endpoint: s3server.endpoint,
    credentials: LOCAL_S3_CREDENTIALS,
  });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
afterAll(async () => {
  s3?.destroy();
  await Promise.all([s3server?.stop(), db?.stop()]);
});

async function objectBytes(key: string): Promise<Buffer> {
  const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
}

async function collect(it: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const k of it) out.push(k);
  return out;
}

describe('S3FeedStore', () => {
  it('round-trips JSON objects and reports a missing one as undefined', async () => {
    const store = new S3FeedStore(s3, { bucket });
    await store.putJson('state/a.json', { a: 1, b: ['x'] });
    expect(await store.getJson('state/a.json')).toEqual({ a: 1, b: ['x'] });
    expect(await store.getJson('state/missing.json')).toBeUndefined();
  });

  it('streams a gzip part whose manifest facts describe the stored bytes', async () => {
    const store = new S3FeedStore(s3, { bucket });
    const part = store.openPart('p/small.jsonl.gz');
    const lines = Array.from({ length: 500 }, (_, i) => `{"n":${i}}\n`);
    for (const l of lines) await part.write(l);
    const result = await part.finish();
    const bytes = await objectBytes('p/small.jsonl.gz');
    expect(result.bytes).toBe(bytes.length);
    expect(result.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(gunzipSync(bytes).toString('utf8')).toBe(lines.join(''));
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'p/small.jsonl.gz' }));
    expect(head.ContentType).toBe('application/gzip');
    expect(head.ContentEncoding).toBeUndefined();
  });

  it('switches to a multipart upload beyond one chunk and still stores the exact stream', async () => {
    const sent: string[] = [];
    const spy = new Proxy(s3, {
      get(target, prop, receiver) {
        if (prop !== 'send') return Reflect.get(target, prop, receiver);
        return (command: object) => {
          sent.push(command.constructor.name);
          return target.send(command as never);
        };
      },
    });
    const store = new S3FeedStore(spy, { bucket, chunkBytes: 5 * 1024 * 1024, gzipLevel: 1 });
    const part = store.openPart('p/large.jsonl.gz');
    // Random base64 barely compresses: ~12 MiB of text gives more than two 5 MiB chunks.
    const chunks: string[] = [];
    for (let i = 0; i < 12; i++) chunks.push(`${randomBytes(768 * 1024).toString('base64')}\n`);
    for (const c of chunks) await part.write(c);
    const result = await part.finish();
    const bytes = await objectBytes('p/large.jsonl.gz');
    expect(result.bytes).toBeGreaterThan(5 * 1024 * 1024);
    expect(sent).toEqual([
      'CreateMultipartUploadCommand',
      'UploadPartCommand',
      'UploadPartCommand',
      'CompleteMultipartUploadCommand',
    ]);
    expect(bytes.length).toBe(result.bytes);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(result.sha256);
    expect(gunzipSync(bytes).toString('utf8')).toBe(chunks.join(''));
  });

  it('creates nothing when a part is aborted', async () => {
    const store = new S3FeedStore(s3, { bucket });
    const part = store.openPart('p/aborted.jsonl.gz');
    await part.write('{"x":1}\n');
    await part.abort();
    expect(await collect(store.listKeys('p/aborted'))).toEqual([]);
  });

  it('lists keys and folders under a prefix and deletes keys', async () => {
    const store = new S3FeedStore(s3, { bucket });
    for (const k of ['l/dt=1/a', 'l/dt=1/b', 'l/dt=2/c', 'l/x']) await store.putJson(k, {});
    expect(await collect(store.listKeys('l/'))).toEqual(['l/dt=1/a', 'l/dt=1/b', 'l/dt=2/c', 'l/x']);
    expect(await store.listPrefixes('l/')).toEqual(['l/dt=1/', 'l/dt=2/']);
    await store.deleteKeys(['l/dt=1/a', 'l/x', 'l/never-existed']);
    expect(await collect(store.listKeys('l/'))).toEqual(['l/dt=1/b', 'l/dt=2/c']);
  });

  it('pre-signs a GET that downloads the exact bytes and says when it expires', async () => {
    const now = Date.now();
    const store = new S3FeedStore(s3, { bucket, now: () => now });
    const part = store.openPart('p/signed.jsonl.gz');
    await part.write('{"signed":true}\n');
    const { sha256 } = await part.finish();
    const signed = await store.presignGet('p/signed.jsonl.gz', 900);
    expect(signed.expiresAt).toBe(new Date(now + 900_000).toISOString());
    expect(signed.url).toContain('X-Amz-Expires=900');
    const res = await fetch(signed.url);
    expect(res.status).toBe(200);
    const body = Buffer.from(await res.arrayBuffer());
    expect(createHash('sha256').update(body).digest('hex')).toBe(sha256);
  });
});

describe('utteranceExportSource', () => {
  const day = '2025-03-04';
  let repo: UtterancesRepository;
  beforeAll(async () => {
    repo = new UtterancesRepository(db.doc, { tableName: db.tables.utterances, retentionSeconds: 20 * 365 * 86_400 });
    // One conversation (one shard), three hours.
    const conversationId = randomUUID();
    for (const [i, hh] of ['09', '10', '10', '11'].entries()) {
      await repo.putFinal({
        conversationId,
        segment: 1,
        streamId: 's1',
        role: 'customer',
        resultId: `r${i}`,
        utteranceId: utteranceIdOf(conversationId, 's1', `r${i}`),
        startMs: i * 1000,
        endMs: i * 1000 + 500,
        text: `t${i}`,
        language: 'en-US',
        createdAt: Date.parse(`${day}T${hh}:0${i}:00.000Z`),
      });
    }
    (globalThis as { shardOfTest?: number }).shardOfTest = exportShardOf(conversationId);
  });

  async function read(shard: number, options: Parameters<ReturnType<typeof utteranceExportSource>['pages']>[2]) {
    const source = utteranceExportSource(repo, { pageSize: 2 });
    const items: ExportItem[] = [];
    for await (const page of source.pages(day, shard, options)) items.push(...page.items);
    return { source, items };
  }

  it('starts an hour run at the first row of that hour', async () => {
    const shard = (globalThis as { shardOfTest?: number }).shardOfTest as number;
    const { items } = await read(shard, { fromHour: '10' });
    expect(items.map((i) => i.createdAt.slice(11, 13))).toEqual(['10', '10', '11']);
  });

  it('resumes after the row a cursor names', async () => {
    const shard = (globalThis as { shardOfTest?: number }).shardOfTest as number;
    const all = await read(shard, {});
    expect(all.items).toHaveLength(4);
    const cursor = all.source.cursorOf(all.items[1] as ExportItem);
    const rest = await read(shard, { exclusiveStartKey: cursor });
    expect(rest.items.map((i) => i.text)).toEqual(['t2', 't3']);
    expect(all.source.shards).toBe(EXPORT_SHARDS);
  });
});
