/**
 * The local stream poller against DynamoDB Local's real stream: utterances written with the real
 * repository reach the handler in order, partial batch failures are retried from the lowest failed
 * record, a throwing handler is bisected and finally sent to the on-failure destination, checkpoints
 * survive a restart, and, end to end with the real fan-out, a webhook receiver that fails then recovers
 * gets every utterance in order per conversation.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeHandler as makeFanout } from '../../lambdas/fanout/handler';
import { WebhookClient } from '../../lambdas/shared/webhook-client';
import { type StreamFailure, StreamPoller, type StreamPollerOptions } from '../../local/stream-poller';
import { DeadLetterRepository } from '../../store/subscriptions';
import { subscriptionsTableName } from '../../store/tables';
import { UtterancesRepository } from '../../store/utterances';
import { setupDynamoDb, type TestDynamoDb } from '../helpers/dynamodb';
import { startReceiver, utteranceInput } from '../lambdas/fanout-helpers';
import { captureLogger, recordMetrics } from '../lambdas/helpers/api';

let db: TestDynamoDb;
let utterances: UtterancesRepository;
const pollers: StreamPoller[] = [];
let dir: string;

beforeAll(async () => {
  db = await setupDynamoDb();
  utterances = new UtterancesRepository(db.doc, { tableName: db.tables.utterances });
  dir = mkdtempSync(join(tmpdir(), 'aht-poller-'));
});
afterEach(async () => {
  for (const p of pollers.splice(0)) await p.stop();
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await db?.stop();
});

async function poller(handler: StreamPollerOptions['handler'], options: Partial<StreamPollerOptions> = {}) {
  const p = new StreamPoller({
    endpoint: db.endpoint,
    tableName: db.tables.utterances,
    client: db.client,
    handler,
    pollIntervalMs: 20,
    retryDelayMs: 5,
    startingPosition: 'LATEST',
    ...options,
  });
  pollers.push(p);
  await p.start();
  return p;
}

async function eventually(check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const conv = () => `conv-${Math.random().toString(36).slice(2, 10)}`;
const startOf = (r: DynamoDBRecord) => Number(r.dynamodb?.NewImage?.startMs?.N);
const convOf = (r: DynamoDBRecord) => r.dynamodb?.NewImage?.conversationId?.S;

async function write(conversationId: string, from: number, to: number): Promise<void> {
  for (let i = from; i < to; i++) await utterances.putFinal(utteranceInput(conversationId, i));
}

describe('local stream poller', () => {
  it('hands every new utterance to the handler as a Lambda DynamoDB stream event, in write order', async () => {
    const seen: DynamoDBRecord[] = [];
    const p = await poller(async (event: DynamoDBStreamEvent) => {
      seen.push(...event.Records);
      return { batchItemFailures: [] };
    });
    const c = conv();
    await write(c, 0, 5);
    await eventually(() => seen.filter((r) => convOf(r) === c).length === 5);
    const mine = seen.filter((r) => convOf(r) === c);
    expect(mine.map(startOf)).toEqual([0, 1000, 2000, 3000, 4000]);
    expect(mine[0]).toMatchObject({
      eventName: 'INSERT',
      eventSource: 'aws:dynamodb',
      dynamodb: { StreamViewType: 'NEW_IMAGE' },
    });
    expect(mine[0]?.eventSourceARN).toContain(db.tables.utterances);
    expect(p.stats.retries).toBe(0);
  });

  it('retries from the lowest reported failure, handing back every later record too', async () => {
    const calls: number[][] = [];
    let failedOnce = false;
    const c = conv();
    await poller(
      async (event) => {
        const mine = event.Records.filter((r) => convOf(r) === c);
        if (mine.length > 0) calls.push(mine.map(startOf));
        const target = mine.find((r) => startOf(r) === 2000);
        if (target && !failedOnce) {
          failedOnce = true;
          return { batchItemFailures: [{ itemIdentifier: target.dynamodb?.SequenceNumber as string }] };
        }
        return { batchItemFailures: [] };
      },
      { batchSize: 10 },
    );
    await write(c, 0, 5);
    await eventually(
      () => calls.flat().filter((s) => s === 4000).length >= 1 && failedOnce && calls.at(-1)?.at(-1) === 4000,
    );
    const delivered = calls.flat();
    // 2000 and everything after it come again; nothing before it does.
    expect(delivered.filter((s) => s === 0)).toHaveLength(1);
    expect(delivered.filter((s) => s === 2000)).toHaveLength(2);
    expect(calls.some((batch) => batch[0] === 2000)).toBe(true);
  });

  it('bisects a batch whose handler throws and sends the poisoned record to the on-failure destination', async () => {
    const c = conv();
    const failures: StreamFailure[] = [];
    const ok: number[] = [];
    const p = await poller(
      async (event) => {
        const mine = event.Records.filter((r) => convOf(r) === c);
        if (mine.some((r) => startOf(r) === 1000)) throw new Error('poison');
        ok.push(...mine.map(startOf));
        return { batchItemFailures: [] };
      },
      { batchSize: 10, maxRetryAttempts: 2, onFailure: (f) => void failures.push(f) },
    );
    // One put per batch is not guaranteed; write them together so the poller sees a multi-record batch.
    await Promise.all([0, 1, 2, 3].map((i) => utterances.putFinal(utteranceInput(c, i))));
    await eventually(() => failures.length === 1 && ok.length === 3);
    expect(ok.sort((a, b) => a - b)).toEqual([0, 2000, 3000]);
    expect(failures[0]).toMatchObject({ batchSize: 1, reason: 'RetryAttemptsExhausted', retryAttempts: 2 });
    expect(p.stats.sentToOnFailure).toBe(1);
  });

  it('keeps its checkpoint in a file and resumes after it on restart', async () => {
    const file = join(dir, 'checkpoints.json');
    const c = conv();
    const seen: number[] = [];
    const handler = async (event: DynamoDBStreamEvent) => {
      seen.push(...event.Records.filter((r) => convOf(r) === c).map(startOf));
      return { batchItemFailures: [] };
    };
    const first = await poller(handler, { checkpointFile: file });
    await write(c, 0, 2);
    await eventually(() => seen.length === 2);
    await first.stop();
    await write(c, 2, 4);
    await poller(handler, { checkpointFile: file, startingPosition: 'TRIM_HORIZON' });
    await eventually(() => seen.length >= 4);
    await new Promise((r) => setTimeout(r, 200));
    expect(seen).toEqual([0, 1000, 2000, 3000]);
  });

  it('end to end: a webhook that fails then recovers receives every utterance, in order per conversation', async () => {
    const rx = await startReceiver();
    let healthy = false;
    const accepted: { c: string; start: number }[] = [];
    rx.answer((req) => {
      if (!healthy) return 503;
      const m = JSON.parse(req.body);
      accepted.push({ c: m.externalConversationId, start: m.autotranscribeResponse.start });
      return 200;
    });
    const webhook = new WebhookClient({ id: 'e2e', url: rx.url, auth: { type: 'none' } }, { defaultTimeoutMs: 1000 });
    const handler = makeFanout({
      webhooks: [webhook],
      deadLetters: new DeadLetterRepository(db.doc, { tableName: subscriptionsTableName(db.prefix) }),
      retry: { maxAttemptsPerRun: 2, baseDelayMs: 5, maxDelayMs: 20, maxRetryAgeMs: 60_000, requestTimeoutMs: 1000 },
      concurrency: 4,
      timeBudgetMs: 5000,
      logger: captureLogger(),
      metrics: recordMetrics(),
    });
    await poller(handler, { batchSize: 20, retryDelayMs: 20 });
    const c1 = conv();
    const c2 = conv();
    await Promise.all([write(c1, 0, 6), write(c2, 0, 6)]);
    await eventually(() => rx.requests.length >= 4);
    healthy = true;
    await eventually(() => new Set(accepted.map((a) => `${a.c}/${a.start}`)).size === 12);
    for (const c of [c1, c2]) {
      const firsts = [...new Set(accepted.filter((a) => a.c === c).map((a) => a.start))];
      expect(firsts).toEqual([0, 1000, 2000, 3000, 4000, 5000]);
    }
    webhook.close();
    await rx.close();
  });
});
