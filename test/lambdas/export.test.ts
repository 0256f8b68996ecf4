/**
 * The feed export against DynamoDB Local and a local S3 (s3rver): day membership by createdAt, hour
 * partitions, part budgets, empty days, resume after an injected failure and after a deadline,
 * deterministic re-runs that replace and clean up, hour runs, and the handler's triggers.
 */
import { createHash, randomUUID } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { CreateBucketCommand, GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ExportResult, exportFeed, type FeedObjectStore, type PartWriter } from '../../core/feeds/exporter';
import type { UtteranceFeedRow } from '../../core/feeds/feed-row';
import { type FeedManifest, parseManifest } from '../../core/feeds/manifest';
import {
  checkpointKey,
  dayPrefix,
  type ExportScope,
  exportRequestKey,
  manifestKey,
  UTTERANCES_TABLE,
} from '../../core/feeds/partitions';
import { utteranceIdOf } from '../../core/transcript/utterance';
import { type ExportDeps, exportUntilComplete, makeExportHandler, scopesOf } from '../../lambdas/export/handler';
import { LOCAL_S3_CREDENTIALS, type LocalS3, startLocalS3 } from '../../local/s3';
import { createFeedsS3Client, S3FeedStore, utteranceExportSource } from '../../store/feeds';
import { UtterancesRepository } from '../../store/utterances';
import { setupDynamoDb, type TestDynamoDb } from '../helpers/dynamodb';
import { captureLogger, recordMetrics } from './helpers/api';

const bucket = 'export-test';
let s3server: LocalS3;
let s3: S3Client;
let db: TestDynamoDb;
let repo: UtterancesRepository;
let store: S3FeedStore;

beforeAll(async () => {
  [s3server, db] = await Promise.all([startLocalS3(), setupDynamoDb()]);
  s3 = createFeedsS3Client({ endpoint: s3server.endpoint, credentials: LOCAL_S3_CREDENTIALS });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  // Historic createdAt times: a long retention keeps DynamoDB Local's TTL sweeper from deleting them.
  repo = new UtterancesRepository(db.doc, { tableName: db.tables.utterances, retentionSeconds: 20 * 365 * 86_400 });
  store = new S3FeedStore(s3, { bucket });
});
afterAll(async () => {
  s3?.destroy();
  await Promise.all([s3server?.stop(), db?.stop()]);
});

/** Stores one utterance per createdAt (ISO), spread over `conversations` conversations; returns their ids. */
async function seed(createdAts: string[], conversations = 5): Promise<string[]> {
  const convs = Array.from({ length: conversations }, () => randomUUID());
  const ids: string[] = [];
  const inputs = createdAts.map((at, i) => {
    const conversationId = convs[i % conversations] as string;
    const utteranceId = utteranceIdOf(conversationId, 'stream', `r${i}`);
    ids.push(utteranceId);
    return {
      conversationId,
      segment: 1,
      streamId: 'stream',
      role: (i % 2 === 0 ? 'customer' : 'agent') as 'customer' | 'agent',
      resultId: `r${i}`,
      utteranceId,
      senderExternalId: i % 2 === 0 ? 'cust-1' : 'agent-7',
      startMs: i * 100,
      endMs: i * 100 + 80,
      text: `utterance ${i} — "quoted"`,
      language: 'en-US',
      createdAt: Date.parse(at),
    };
  });
  for (let i = 0; i < inputs.length; i += 25) {
    await Promise.all(inputs.slice(i, i + 25).map((u) => repo.putFinal(u)));
  }
  return ids;
}

/** `n` createdAt times spread over the given hours of a day. */
function spread(day: string, hours: number[], perHour: number): string[] {
  const out: string[] = [];
  for (const h of hours) {
    for (let i = 0; i < perHour; i++) {
      const ms = Math.floor((i * 3_600_000) / perHour);
      out.push(new Date(Date.parse(`${day}T${String(h).padStart(2, '0')}:00:00.000Z`) + ms).toISOString());
    }
  }
  return out;
}

async function bytesOf(key: string): Promise<Buffer> {
  const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
}

async function rowsOf(key: string): Promise<UtteranceFeedRow[]> {
  return gunzipSync(await bytesOf(key))
    .toString('utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as UtteranceFeedRow);
}

async function keysUnder(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const k of store.listKeys(prefix)) keys.push(k);
  return keys;
}

async function manifestOf(day: string): Promise<FeedManifest> {
  return parseManifest(await store.getJson(manifestKey(UTTERANCES_TABLE, day)));
}

const scopeOf = (day: string, hour?: string): ExportScope => ({
  table: UTTERANCES_TABLE,
  day,
  ...(hour !== undefined && { hour }),
});

function run(
  day: string,
  budgetRows: number,
  overrides: { store?: FeedObjectStore; hour?: string; remainingMs?: () => number } = {},
) {
  return exportFeed(
    utteranceExportSource(repo, { pageSize: 7 }),
    overrides.store ?? store,
    scopeOf(day, overrides.hour),
    {
      budget: { maxRowsPerPart: budgetRows, maxBytesPerPart: 1024 * 1024 },
      safetyMs: 1000,
      ...(overrides.remainingMs !== undefined && { remainingMs: overrides.remainingMs }),
    },
  );
}

describe('export of a day', () => {
  const day = '2025-01-15';
  let ids: string[];
  let result: ExportResult;
  beforeAll(async () => {
    ids = await seed(spread(day, [0, 13, 14, 23], 12), 6);
    result = await run(day, 5);
  });

  it('writes every utterance of the day exactly once, in hour partitions, 5 rows per part', async () => {
    expect(result.status).toBe('complete');
    expect(result.rows).toBe(48);
    const manifest = await manifestOf(day);
    expect(manifest.complete).toBe(true);
    expect(manifest.rows).toBe(48);
    // 12 rows per hour at 5 per part: 5 + 5 + 2.
    expect(manifest.files.map((f) => `${f.hour}/${f.fileName}:${f.rows}`)).toEqual(
      ['00', '13', '14', '23'].flatMap((h) => [
        `${h}/part-00000.jsonl.gz:5`,
        `${h}/part-00001.jsonl.gz:5`,
        `${h}/part-00002.jsonl.gz:2`,
      ]),
    );
    const seen: string[] = [];
    for (const f of manifest.files) {
      expect(f.key).toBe(`feeds/utterances/version=1/format=jsonl/dt=${day}/hr=${f.hour}/${f.fileName}`);
      const rows = await rowsOf(f.key);
      expect(rows).toHaveLength(f.rows);
      for (const r of rows) {
        expect(r.dt).toBe(day);
        expect(r.hr).toBe(f.hour);
        expect(r.created_ts.slice(11, 13)).toBe(f.hour);
      }
      seen.push(...rows.map((r) => r.event_uuid));
    }
    expect(seen.sort()).toEqual([...ids].sort());
  });

  it('orders rows by created_ts across shards and parts', async () => {
    const manifest = await manifestOf(day);
    const all: string[] = [];
    for (const f of manifest.files) all.push(...(await rowsOf(f.key)).map((r) => r.created_ts));
    expect(all).toEqual([...all].sort());
  });

  it('records sizes and SHA-256 checksums of the stored objects', async () => {
    const manifest = await manifestOf(day);
    for (const f of manifest.files) {
      const bytes = await bytesOf(f.key);
      expect(f.bytes).toBe(bytes.length);
      expect(f.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    }
  });

  it('maps the columns of docs/feeds.md', async () => {
    const manifest = await manifestOf(day);
    const [first] = await rowsOf((manifest.files[0] as { key: string }).key);
    expect(Object.keys(first as object)).toEqual(manifest.columns);
    expect(first).toMatchObject({
      instance_ts: `${day}T00:00:00.000Z`,
      sender_role: 'customer',
      sender_id: 'cust-1',
      agent_id: null,
      language: 'en-US',
      confidence: null,
      company_marker: null,
      dt: day,
      hr: '00',
    });
  });

  it('leaves no checkpoint behind once complete', async () => {
    expect(await store.getJson(checkpointKey(UTTERANCES_TABLE, day))).toBeUndefined();
  });
});

describe('day membership', () => {
  it('puts each utterance of a conversation crossing midnight in the day of its createdAt', async () => {
    const [before, after] = await seed(['2025-02-01T23:59:50.000Z', '2025-02-02T00:00:10.000Z'], 1);
    await run('2025-02-01', 100);
    await run('2025-02-02', 100);
    const first = await manifestOf('2025-02-01');
    const second = await manifestOf('2025-02-02');
    expect(first.files.map((f) => f.hour)).toEqual(['23']);
    expect(second.files.map((f) => f.hour)).toEqual(['00']);
    const firstRows = await rowsOf((first.files[0] as { key: string }).key);
    const secondRows = await rowsOf((second.files[0] as { key: string }).key);
    expect(firstRows.map((r) => r.event_uuid)).toEqual([before]);
    expect(secondRows.map((r) => r.event_uuid)).toEqual([after]);
    expect(firstRows[0]?.conversation_id).toBe(secondRows[0]?.conversation_id);
  });

  it('writes a zero-row manifest and no files for an empty day', async () => {
    const result = await run('2025-02-10', 100);
    expect(result).toMatchObject({ status: 'complete', rows: 0, files: 0 });
    const manifest = await manifestOf('2025-02-10');
    expect(manifest).toMatchObject({ complete: true, rows: 0, files: [], date: '2025-02-10' });
    expect(manifest.hours).toHaveLength(24);
    expect(await keysUnder(dayPrefix(UTTERANCES_TABLE, '2025-02-10'))).toEqual([]);
  });
});

/** The real store, whose `n`-th part (1-based) fails when it is finished. */
function failingStore(n: number): FeedObjectStore & { opened: number } {
  const wrapper = {
    opened: 0,
    openPart(key: string): PartWriter {
      wrapper.opened++;
      const real = store.openPart(key);
      if (wrapper.opened !== n) return real;
      return {
        write: (t) => real.write(t),
        abort: () => real.abort(),
        finish: async () => {
          await real.abort();
          throw new Error('injected failure');
        },
      };
    },
    getJson: (k: string) => store.getJson(k),
    putJson: (k: string, v: unknown) => store.putJson(k, v),
    listKeys: (p: string) => store.listKeys(p),
    deleteKeys: (k: readonly string[]) => store.deleteKeys(k),
  };
  return wrapper;
}

describe('resume', () => {
  it('continues after an injected failure where it stopped, and writes what an uninterrupted run writes', async () => {
    const day = '2025-03-01';
    const ids = await seed(spread(day, [8, 9], 20), 7);
    await expect(run(day, 6, { store: failingStore(4) })).rejects.toThrow('injected failure');
    const checkpoint = (await store.getJson(checkpointKey(UTTERANCES_TABLE, day))) as { files: unknown[] };
    expect(checkpoint.files).toHaveLength(3);
    expect(await store.getJson(manifestKey(UTTERANCES_TABLE, day))).toBeUndefined();

    const resumed = await run(day, 6);
    expect(resumed).toMatchObject({ status: 'complete', resumed: true, invocations: 2, rows: 40 });
    // Three parts of 6 rows were done: the resumed run reads (about) the rest, not the whole day again.
    expect(resumed.rowsRead).toBeLessThan(40);
    const manifest = await manifestOf(day);
    const seen: string[] = [];
    for (const f of manifest.files) seen.push(...(await rowsOf(f.key)).map((r) => r.event_uuid));
    expect(seen.sort()).toEqual([...ids].sort());

    const again = await run(day, 6);
    expect(again.resumed).toBe(false);
    const fresh = await manifestOf(day);
    expect(fresh.files.map((f) => [f.key, f.sha256])).toEqual(manifest.files.map((f) => [f.key, f.sha256]));
  });

  it('stops cleanly before the deadline and continues in the next invocation', async () => {
    const day = '2025-03-02';
    await seed(spread(day, [10], 30), 4);
    let budget = 2;
    // The deadline is checked after each completed part: two parts fit in the first invocation.
    const remainingMs = () => (budget-- > 0 ? 60_000 : 10);
    const first = await run(day, 4, { remainingMs });
    expect(first.status).toBe('incomplete');
    expect(first.files).toBeGreaterThan(0);
    expect(await store.getJson(manifestKey(UTTERANCES_TABLE, day))).toBeUndefined();
    const second = await run(day, 4);
    expect(second).toMatchObject({ status: 'complete', resumed: true, rows: 30 });
    expect((await manifestOf(day)).files).toHaveLength(8);
  });
});

describe('re-runs', () => {
  it('replace the same keys and remove the parts of an earlier, larger export', async () => {
    const day = '2025-04-01';
    await seed(spread(day, [5], 10), 3);
    await run(day, 2);
    expect(await keysUnder(dayPrefix(UTTERANCES_TABLE, day))).toHaveLength(5);
    const second = await run(day, 100);
    expect(second.staleRemoved).toBe(4);
    expect(await keysUnder(dayPrefix(UTTERANCES_TABLE, day))).toEqual([
      `feeds/utterances/version=1/format=jsonl/dt=${day}/hr=05/part-00000.jsonl.gz`,
    ]);
    expect((await manifestOf(day)).rows).toBe(10);
  });

  it('export one hour into the day manifest, keeping the other hours', async () => {
    const day = '2025-04-02';
    await seed(spread(day, [1, 2, 3], 4), 3);
    const hourOnly = await run(day, 100, { hour: '02' });
    expect(hourOnly).toMatchObject({ status: 'complete', rows: 4 });
    let manifest = await manifestOf(day);
    expect(manifest).toMatchObject({ complete: false, hours: ['02'], rows: 4 });
    await run(day, 100);
    await seed(spread(day, [2], 3), 1);
    await run(day, 100, { hour: '02' });
    manifest = await manifestOf(day);
    expect(manifest.complete).toBe(true);
    expect(manifest.files.map((f) => `${f.hour}:${f.rows}`)).toEqual(['01:4', '02:7', '03:4']);
  });
});

describe('export handler', () => {
  function deps(): ExportDeps & { continued: ExportScope[] } {
    const continued: ExportScope[] = [];
    return {
      continued,
      source: utteranceExportSource(repo),
      store,
      budget: { maxRowsPerPart: 1000, maxBytesPerPart: 1024 * 1024 },
      safetyMs: 1000,
      logger: captureLogger(),
      metrics: recordMetrics(),
      now: () => Date.parse('2025-05-02T02:00:07.000Z'),
      continueLater: async (scope) => {
        continued.push(scope);
      },
    };
  }

  it('exports the previous UTC day of the scheduled time', async () => {
    await seed(spread('2025-05-01', [12], 3), 1);
    const summary = await makeExportHandler(deps())({
      source: 'schedule',
      scheduledTime: '2025-05-02T02:00:00Z',
    });
    expect(summary.exports).toMatchObject([{ day: '2025-05-01', status: 'complete', rows: 3 }]);
  });

  it('serves S3 export requests, deletes them, and ignores other objects', async () => {
    const key = exportRequestKey(scopeOf('2025-05-01', '12'), 'req-1');
    await store.putJson(key, {});
    const summary = await makeExportHandler(deps())({
      Records: [
        { s3: { object: { key: encodeURIComponent(key).replace(/%2F/g, '/') } } },
        { s3: { object: { key: 'feeds/other.json' } } },
      ],
    });
    expect(summary.exports).toMatchObject([{ day: '2025-05-01', hour: '12', status: 'complete' }]);
    expect(summary.ignored).toEqual(['feeds/other.json']);
    expect(await store.getJson(key)).toBeUndefined();
  });

  it('asks for a continuation when the invocation nears its deadline', async () => {
    const day = '2025-05-03';
    await seed(spread(day, [7], 250), 16);
    const d = deps();
    d.budget = { maxRowsPerPart: 100, maxBytesPerPart: 1024 * 1024 };
    const summary = await makeExportHandler(d)({ date: day }, { getRemainingTimeInMillis: () => 500 });
    expect(summary.exports[0]?.status).toBe('incomplete');
    expect(d.continued).toEqual([scopeOf(day)]);
    const done = await exportUntilComplete(d, scopeOf(day));
    expect(done).toMatchObject({ status: 'complete', rows: 250, files: 3, resumed: true });
  });

  it('reads direct invocations and rejects what it does not understand', () => {
    const now = Date.parse('2025-05-02T02:00:00Z');
    expect(scopesOf({ date: 'dt=2025-01-02', hour: 'hr=7' }, now).scopes).toEqual([
      { scope: scopeOf('2025-01-02', '07') },
    ]);
    expect(scopesOf({ 'detail-type': 'Scheduled Event', time: '2025-01-01T02:00:00Z' }, now).scopes[0]?.scope.day).toBe(
      '2024-12-31',
    );
    expect(() => scopesOf({ date: '2025-02-30' }, now)).toThrow(/YYYY-MM-DD/);
    expect(() => scopesOf({ date: '2025-02-03', hour: 24 }, now)).toThrow(/hour/);
    expect(() => scopesOf({ hello: 1 }, now)).toThrow(/unrecognized/);
  });
});
