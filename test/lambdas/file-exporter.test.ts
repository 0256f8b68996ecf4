/**
 * The File Exporter routes (api-contract.md §4) over a real export in a local S3: the list chain, both
 * value forms (A11), pre-signed URLs that download the exact bytes, clear errors, the [EXT] export request
 * route, and every response checked against its schema in docs/openapi.yaml.
 */
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from '../../contract/routes';
import { exportFeed } from '../../core/feeds/exporter';
import { type FeedManifest, parseManifest } from '../../core/feeds/manifest';
import {
  EXPORT_REQUESTS_PREFIX,
  manifestKey,
  parseExportRequestKey,
  UTTERANCES_TABLE,
} from '../../core/feeds/partitions';
import { utteranceIdOf } from '../../core/transcript/utterance';
import { makeHandler as makeRequestExport } from '../../lambdas/file-exporter/request-export/handler';
import { makeHandler } from '../../lambdas/file-exporter/static/handler';
import type { FeedsAccess } from '../../lambdas/shared/deps';
import type { ApiResult } from '../../lambdas/shared/http';
import { LOCAL_S3_CREDENTIALS, type LocalS3, startLocalS3 } from '../../local/s3';
import { createFeedsS3Client, S3FeedStore, utteranceExportSource } from '../../store/feeds';
import { UtterancesRepository } from '../../store/utterances';
import { setupDynamoDb, type TestDynamoDb } from '../helpers/dynamodb';
import { apiEvent, captureLogger, recordMetrics } from './helpers/api';

const bucket = 'file-exporter-test';
const day = '2025-06-10';
const NOW = Date.parse('2025-06-12T08:00:00.000Z');
let s3server: LocalS3;
let s3: S3Client;
let db: TestDynamoDb;
let store: S3FeedStore;
let manifest: FeedManifest;

beforeAll(async () => {
  [s3server, db] = await Promise.all([startLocalS3(), setupDynamoDb()]);
  s3 = createFeedsS3Client({ endpoint: s3server.endpoint, credentials: LOCAL_S3_CREDENTIALS });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  store = new S3FeedStore(s3, { bucket, now: () => NOW });
  const repo = new UtterancesRepository(db.doc, {
    tableName: db.tables.utterances,
    retentionSeconds: 20 * 365 * 86_400,
  });
  const conversationId = randomUUID();
  // Hour 13: 3 rows (two parts at 2 per part); hour 14: 1 row.
  const times = ['13:00:01', '13:10:00', '13:20:00', '14:05:00'];
  for (const [i, t] of times.entries()) {
    await repo.putFinal({
      conversationId,
      segment: 1,
      streamId: 's',
      role: 'customer',
      resultId: `r${i}`,
      utteranceId: utteranceIdOf(conversationId, 's', `r${i}`),
      startMs: i * 1000,
      endMs: i * 1000 + 10,
      text: `hello ${i}`,
      language: 'en-US',
      createdAt: Date.parse(`${day}T${t}.000Z`),
    });
  }
  const budget = { maxRowsPerPart: 2, maxBytesPerPart: 1 << 20 };
  await exportFeed(utteranceExportSource(repo), store, { table: UTTERANCES_TABLE, day }, { budget });
  await exportFeed(utteranceExportSource(repo), store, { table: UTTERANCES_TABLE, day: '2025-06-11' }, { budget });
  manifest = parseManifest(await store.getJson(manifestKey(UTTERANCES_TABLE, day)));
});
afterAll(async () => {
  s3?.destroy();
  await Promise.all([s3server?.stop(), db?.stop()]);
});

const feeds = (): FeedsAccess => ({ store, urlTtlSec: 900 });
const results: [string, ApiResult][] = [];

async function call(
  operation: string,
  body?: unknown,
  withFeeds = true,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const handler = makeHandler({
    logger: captureLogger(),
    metrics: recordMetrics(),
    now: () => NOW,
    ...(withFeeds && { feeds: feeds() }),
  });
  const path = `/fileexporter/v1/static/${operation}`;
  const result = await handler(apiEvent({ path, ...(body !== undefined && { body }) }));
  results.push([path, result]);
  return { status: result.statusCode, body: JSON.parse(result.body) as Record<string, unknown> };
}

const base = { feed: 'utterances', version: '1', format: 'jsonl' };

describe('File Exporter: listing', () => {
  it('walks feeds → versions → formats → dates → intervals → files with bare values', async () => {
    expect((await call('listfeeds')).body).toEqual({ feeds: ['utterances'] });
    expect((await call('listfeedversions', { feed: 'utterances' })).body).toEqual({
      feed: 'utterances',
      versions: ['1'],
    });
    expect((await call('listfeedformats', { feed: 'utterances', version: '1' })).body).toEqual({
      feed: 'utterances',
      version: '1',
      formats: ['jsonl'],
    });
    expect((await call('listfeeddates', base)).body).toEqual({ ...base, dates: [day, '2025-06-11'] });
    expect((await call('listfeedintervals', { ...base, date: day })).body).toEqual({
      ...base,
      date: day,
      intervals: ['hr=13', 'hr=14'],
    });
    expect((await call('listfeedfiles', { ...base, date: day, interval: 'hr=13' })).body).toEqual({
      ...base,
      date: day,
      interval: 'hr=13',
      files: ['part-00000.jsonl.gz', 'part-00001.jsonl.gz'],
    });
  });

  it('accepts the prefixed forms of the guide (version=1, format=jsonl, dt=…) and a bare hour', async () => {
    const res = await call('listfeedfiles', {
      feed: 'utterances',
      version: 'version=1',
      format: 'format=jsonl',
      date: `dt=${day}`,
      interval: '14',
    });
    expect(res.body).toEqual({ ...base, date: day, interval: 'hr=14', files: ['part-00000.jsonl.gz'] });
  });

  it('lists a whole day with names qualified by their interval', async () => {
    const res = await call('listfeedfiles', { ...base, date: day });
    expect(res.body.files).toEqual([
      'hr=13/part-00000.jsonl.gz',
      'hr=13/part-00001.jsonl.gz',
      'hr=14/part-00000.jsonl.gz',
    ]);
    expect(res.body).not.toHaveProperty('interval');
  });

  it('lists an exported empty day with no intervals, and an empty hour of it with no files', async () => {
    expect((await call('listfeedintervals', { ...base, date: '2025-06-11' })).body.intervals).toEqual([]);
    expect((await call('listfeedfiles', { ...base, date: '2025-06-11', interval: 'hr=05' })).body.files).toEqual([]);
  });
});

describe('File Exporter: getfeedfile', () => {
  it('returns a pre-signed URL (900 s) that downloads exactly the bytes of the manifest checksum', async () => {
    const res = await call('getfeedfile', { ...base, date: day, interval: 'hr=13', fileName: 'part-00001.jsonl.gz' });
    expect(res.status).toBe(200);
    const file = manifest.files.find((f) => f.hour === '13' && f.fileName === 'part-00001.jsonl.gz');
    expect(res.body).toMatchObject({
      ...base,
      date: day,
      interval: 'hr=13',
      fileName: 'part-00001.jsonl.gz',
      expiresAt: new Date(NOW + 900_000).toISOString(),
      rows: 1,
      sha256: file?.sha256,
    });
    const url = res.body.url as string;
    expect(url).toContain('X-Amz-Expires=900');
    const download = Buffer.from(await (await fetch(url)).arrayBuffer());
    expect(createHash('sha256').update(download).digest('hex')).toBe(file?.sha256);
  });

  it('accepts `file` for fileName and a name qualified by its interval', async () => {
    const res = await call('getfeedfile', { ...base, date: day, file: 'hr=14/part-00000.jsonl.gz' });
    expect(res.body).toMatchObject({ interval: 'hr=14', fileName: 'part-00000.jsonl.gz', rows: 1 });
  });

  it('asks for the interval when a bare name exists in several hours', async () => {
    const res = await call('getfeedfile', { ...base, date: day, fileName: 'part-00000.jsonl.gz' });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: { code: '400-01' } });
    expect(JSON.stringify(res.body)).toContain('interval');
  });
});

describe('File Exporter: errors', () => {
  it.each([
    ['listfeedversions', { feed: 'nope' }, "Unknown feed 'nope'"],
    ['listfeedformats', { feed: 'utterances', version: '9' }, "no version '9'"],
    ['listfeeddates', { ...base, format: 'csv' }, "no format 'csv'"],
    ['listfeedintervals', { ...base, date: '2025-06-01' }, 'No utterances feed files for date 2025-06-01'],
    ['listfeedfiles', { ...base, date: day, interval: 'hr=01/mi=15' }, "No interval 'hr=01/mi=15'"],
    [
      'getfeedfile',
      { ...base, date: day, interval: 'hr=13', fileName: 'part-00009.jsonl.gz' },
      "No file 'part-00009.jsonl.gz'",
    ],
  ])('%s answers 404-01 for an unknown selector (%j)', async (operation, body, message) => {
    const res = await call(operation, body);
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ error: { code: '404-01' } });
    expect((res.body.error as { message: string }).message).toContain(message);
  });

  it.each([
    ['listfeedversions', {}, 'feed is required'],
    ['listfeeddates', { ...base, version: 1 }, 'version must be a string'],
    ['listfeedintervals', { ...base, date: '2025-02-30' }, 'date must be'],
    ['getfeedfile', { ...base, date: day, fileName: '../secret' }, 'fileName must be'],
  ])('%s answers 400-01 for a malformed selector (%j)', async (operation, body, message) => {
    const res = await call(operation, body);
    expect(res.status).toBe(400);
    expect((res.body.error as { message: string }).message).toContain(message);
  });

  it.each(['constructor', '__proto__', 'hasOwnProperty', 'toString'])(
    'answers 404-01 or 400-01, never 500 or a listing, to the prototype key %s as a selector',
    async (key) => {
      for (const [operation, body] of [
        ['listfeedversions', { feed: key }],
        ['listfeedformats', { feed: key, version: '1' }],
        ['listfeedformats', { feed: 'utterances', version: key }],
        ['listfeeddates', { ...base, version: key }],
        ['listfeeddates', { ...base, format: key }],
      ] as const) {
        const res = await call(operation, body);
        // Unknown (404) or, where the selector's syntax already excludes it, malformed (400).
        expect([400, 404], `${operation} ${JSON.stringify(body)}`).toContain(res.status);
        expect(res.body).toMatchObject({ error: { code: `${res.status}-01` } });
      }
    },
  );

  it('answers 403-01 when no feed bucket is configured', async () => {
    const res = await call('listfeeddates', base, false);
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ error: { code: '403-01' } });
  });
});

describe('[EXT] export request route', () => {
  const handler = () =>
    makeRequestExport({ logger: captureLogger(), metrics: recordMetrics(), now: () => NOW, feeds: feeds() });
  const path = '/fileexporter/v1/admin/exportfeed';

  it('records an export request for the export function and answers 202', async () => {
    const result = await handler()(apiEvent({ path, body: { date: `dt=${day}`, hour: 'hr=13' } }));
    results.push([path, result]);
    expect(result.statusCode).toBe(202);
    const body = JSON.parse(result.body) as Record<string, unknown>;
    expect(body).toMatchObject({ ...base, date: day, interval: 'hr=13', status: 'accepted' });
    const keys: string[] = [];
    for await (const k of store.listKeys(EXPORT_REQUESTS_PREFIX)) keys.push(k);
    expect(keys).toHaveLength(1);
    expect(parseExportRequestKey(keys[0] as string)).toEqual({ table: UTTERANCES_TABLE, day, hour: '13' });
    await store.deleteKeys(keys);
  });

  it('refuses a prototype key as feed, version or format and records nothing', async () => {
    for (const body of [
      { date: day, feed: 'constructor' },
      { date: day, version: '__proto__' },
      { date: day, format: 'hasOwnProperty' },
    ]) {
      const result = await handler()(apiEvent({ path, body }));
      results.push([path, result]);
      expect([400, 404], JSON.stringify(body)).toContain(result.statusCode);
    }
    const keys: string[] = [];
    for await (const k of store.listKeys(EXPORT_REQUESTS_PREFIX)) keys.push(k);
    expect(keys).toEqual([]);
  });

  it('refuses a future date and a malformed hour', async () => {
    for (const body of [{ date: '2025-06-13' }, { date: day, hour: '25' }, {}]) {
      const result = await handler()(apiEvent({ path, body }));
      results.push([path, result]);
      expect(result.statusCode).toBe(400);
    }
  });
});

describe('docs/openapi.yaml', () => {
  type Schema = Record<string, unknown>;
  const text = readFileSync(join(import.meta.dirname, '../../docs/openapi.yaml'), 'utf8');
  const spec = JSON.parse(
    text
      .split('\n')
      .filter((l) => !/^\s*#/.test(l))
      .join('\n'),
  ) as {
    paths: Record<
      string,
      { post?: { operationId: string; responses: Record<string, { content?: Record<string, { schema: Schema }> }> } }
    >;
    components: { schemas: Record<string, Schema> };
  };

  // The subset of JSON Schema the document uses (the same keywords test/lambdas/openapi.test.ts checks).
  function validate(schema: Schema, value: unknown, path = '$'): string[] {
    if (typeof schema.$ref === 'string') {
      const target = spec.components.schemas[schema.$ref.replace('#/components/schemas/', '')];
      return target ? validate(target, value, path) : [`${path}: dangling ${schema.$ref}`];
    }
    const t =
      value === null ? 'null' : Array.isArray(value) ? 'array' : Number.isInteger(value) ? 'integer' : typeof value;
    if (schema.type !== undefined && schema.type !== t && !(schema.type === 'number' && t === 'integer')) {
      return [`${path}: expected ${String(schema.type)}, got ${t}`];
    }
    const errors: string[] = [];
    if (schema.enum && !(schema.enum as unknown[]).includes(value)) errors.push(`${path}: not in enum`);
    if (t === 'string' && typeof schema.pattern === 'string' && !new RegExp(schema.pattern).test(value as string)) {
      errors.push(`${path}: pattern ${schema.pattern}`);
    }
    if (t === 'object') {
      const obj = value as Record<string, unknown>;
      const props = (schema.properties ?? {}) as Record<string, Schema>;
      for (const r of (schema.required ?? []) as string[]) if (!(r in obj)) errors.push(`${path}: missing ${r}`);
      for (const [k, v] of Object.entries(obj)) {
        const p = props[k];
        if (p) errors.push(...validate(p, v, `${path}.${k}`));
        else if (schema.additionalProperties === false) errors.push(`${path}: unexpected property ${k}`);
      }
    }
    if (t === 'array' && schema.items) {
      (value as unknown[]).forEach((v, i) => {
        errors.push(...validate(schema.items as Schema, v, `${path}[${i}]`));
      });
    }
    return errors;
  }

  it('declares every File Exporter route with its operationId', () => {
    for (const r of ROUTES.filter((x) => x.path.startsWith('/fileexporter/'))) {
      expect(spec.paths[r.path]?.post?.operationId, r.path).toBe(r.operationId);
    }
  });

  it('describes every response the tests above received', () => {
    expect(results.length).toBeGreaterThan(20);
    const statuses = new Set(results.map(([, r]) => r.statusCode));
    expect([...statuses].sort()).toEqual([200, 202, 400, 403, 404]);
    for (const [path, result] of results) {
      const schema =
        spec.paths[path]?.post?.responses[String(result.statusCode)]?.content?.['application/json']?.schema;
      expect(schema, `${path} ${result.statusCode}`).toBeDefined();
      expect(
        validate(schema as Schema, JSON.parse(result.body)),
        `${path} ${result.statusCode}: ${result.body}`,
      ).toEqual([]);
    }
  });
});
