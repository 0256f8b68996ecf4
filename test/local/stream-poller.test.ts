/**
 * The local stream poller against DynamoDB Local's real stream: utterances written with the real
 * repository reach the handler in order, partial batch failures are retried from the lowest failed
 * record by a fresh read (so records written since come along and other conversations are not held
 * back), with a growing and capped pause, a throwing handler is bisected and finally sent to the
 * on-failure destination, checkpoints survive a restart (at the failing record when there is one), and,
 * end to end with the real fan-out, a webhook receiver that fails then recovers gets every utterance in
 * order per conversation.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { subscriptionsTableName } from '../../contract/tables';
import { batchItemFailures } from '../../core/delivery/ordering';
import { makeHandler as makeFanout } from '../../lambdas/fanout/handler';
import { WebhookClient } from '../../lambdas/shared/webhook-client';
import { backoffDelay, type StreamFailure, StreamPoller, type StreamPollerOptions } from '../../local/stream-poller';
import { DeadLetterRepository } from '../../store/subscriptions';
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
const seqOf = (r: DynamoDBRecord) => r.dynamodb?.SequenceNumber ?? '';

/**
 * Reports `failing` records as the fan-out does: each one and every later record of its conversation
 * (core/delivery/ordering.ts).
 */
function failuresFor(records: DynamoDBRecord[], failing: (r: DynamoDBRecord) => boolean) {
  const ordered = records.map((r) => ({ sequenceNumber: seqOf(r), conversationId: convOf(r) ?? '' }));
  const failed = new Set(records.filter(failing).map(seqOf));
  return { batchItemFailures: batchItemFailures(ordered, failed).map((itemIdentifier) => ({ itemIdentifier })) };
}

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
    // Wait for the retry itself: the batch that failed may already have ended with 4000.
    await eventually(
      () => failedOnce && calls.flat().filter((s) => s === 2000).length >= 2 && calls.at(-1)?.at(-1) === 4000,
    );
    const delivered = calls.flat();
    // 2000 and everything after it come again; nothing before it does.
    expect(delivered.filter((s) => s === 0)).toHaveLength(1);
    expect(delivered.filter((s) => s === 2000)).toHaveLength(2);
    expect(calls.some((batch) => batch[0] === 2000)).toBe(true);
  });

  it('does not hold back another conversation behind a failing record: the retry reads records written since', async () => {
    const a = conv();
    const b = conv();
    let aDown = true;
    const aFailures: number[] = [];
    const delivered: { c: string; start: number; aDown: boolean }[] = [];
    await poller(
      async (event) => {
        const response = failuresFor(event.Records, (r) => aDown && convOf(r) === a && startOf(r) === 0);
        const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
        for (const r of event.Records) {
          const c = convOf(r);
          if (c !== a && c !== b) continue;
          if (failed.has(seqOf(r))) {
            if (c === a && startOf(r) === 0) aFailures.push(Date.now());
          } else {
            delivered.push({ c, start: startOf(r), aDown });
          }
        }
        return response;
      },
      { retryDelayMs: 10, maxRetryDelayMs: 40 },
    );
    await write(a, 0, 3);
    // B is written only once A's head record has failed, i.e. after the batch holding it was read.
    await eventually(() => aFailures.length >= 1);
    await write(b, 0, 3);
    const ofB = () => [...new Set(delivered.filter((d) => d.c === b).map((d) => d.start))];
    await eventually(() => ofB().length === 3, 5000);
    expect(ofB()).toEqual([0, 1000, 2000]);
    expect(delivered.filter((d) => d.c === b).every((d) => d.aDown)).toBe(true);
    expect(delivered.filter((d) => d.c === a)).toEqual([]);
    aDown = false;
    await eventually(() => delivered.filter((d) => d.c === a).length === 3);
    // Once A recovers its records come in order, each once: none overtook the failing one.
    expect(delivered.filter((d) => d.c === a).map((d) => d.start)).toEqual([0, 1000, 2000]);
  });

  it('pauses longer before each retry of the same record, up to maxRetryDelayMs', async () => {
    const c = conv();
    const attempts: number[] = [];
    const base = 25;
    const cap = 200;
    const failFor = 7;
    await poller(
      async (event) => {
        const head = event.Records.find((r) => convOf(r) === c && startOf(r) === 0);
        if (!head) return { batchItemFailures: [] };
        attempts.push(Date.now());
        return failuresFor(event.Records, (r) => r === head && attempts.length <= failFor);
      },
      { retryDelayMs: base, maxRetryDelayMs: cap },
    );
    await write(c, 0, 1);
    await eventually(() => attempts.length === failFor + 1);
    const gaps = attempts.slice(1).map((t, i) => t - (attempts[i] as number));
    const expected = [25, 50, 100, 200, 200, 200, 200];
    expect(Array.from({ length: failFor }, (_, i) => backoffDelay(i + 1, base, cap))).toEqual(expected);
    // Timers never fire early (1 ms of rounding aside); a doubling past the cap would show 400, 800, 1600 ms.
    gaps.forEach((gap, i) => {
      expect(gap).toBeGreaterThanOrEqual((expected[i] as number) - 1);
    });
    expect(Math.max(...gaps.slice(3))).toBeLessThan(2 * cap);
  });

  it('computes the retry pause as a doubling from the base, capped', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, 50, 2000))).toEqual([50, 100, 200, 400, 800, 1600]);
    expect(backoffDelay(7, 50, 2000)).toBe(2000);
    expect(backoffDelay(10_000, 50, 2000)).toBe(2000);
  });

  it('logs a record being retried once, then at most once per retryLogIntervalMs', async () => {
    const c = conv();
    let failing = true;
    let tries = 0;
    const lines: { message: string; attributes?: Record<string, unknown> }[] = [];
    await poller(
      async (event) => {
        const head = event.Records.find((r) => convOf(r) === c && startOf(r) === 0);
        if (head) tries++;
        return failuresFor(event.Records, (r) => failing && r === head);
      },
      {
        retryDelayMs: 5,
        maxRetryDelayMs: 5,
        retryLogIntervalMs: 60_000,
        log: (message, attributes) => void lines.push({ message, ...(attributes && { attributes }) }),
      },
    );
    await write(c, 0, 1);
    await eventually(() => tries >= 10);
    failing = false;
    await eventually(() => lines.some((l) => l.message === 'stream record retries ended'));
    expect(lines.filter((l) => l.message === 'stream record failed; retrying from it')).toHaveLength(1);
    const ended = lines.find((l) => l.message === 'stream record retries ended');
    expect(Number(ended?.attributes?.attempts)).toBeGreaterThanOrEqual(10);
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
    // A later record of the same conversation (same shard, in order): once it is seen, any record read
    // twice would have come before it.
    await write(c, 4, 5);
    await eventually(() => seen.includes(4000));
    expect(seen).toEqual([0, 1000, 2000, 3000, 4000]);
  });

  it('restarted while a record is being retried, resumes at that record (not after it, not at LATEST)', async () => {
    const file = join(dir, 'checkpoints-retry.json');
    const c = conv();
    const ok: number[] = [];
    let failures = 0;
    const first = await poller(
      async (event) => {
        const mine = event.Records.filter((r) => convOf(r) === c);
        const response = failuresFor(mine, (r) => startOf(r) === 1000);
        const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
        if (failed.size > 0) failures++;
        ok.push(...mine.filter((r) => !failed.has(seqOf(r))).map(startOf));
        return response;
      },
      { checkpointFile: file, maxRetryAttempts: -1, retryDelayMs: 5, maxRetryDelayMs: 1000 },
    );
    await write(c, 0, 3);
    await eventually(() => failures >= 3);
    await first.stop();
    expect(ok).toEqual([0]);
    const after: number[] = [];
    await poller(
      async (event) => {
        after.push(...event.Records.filter((r) => convOf(r) === c).map(startOf));
        return { batchItemFailures: [] };
      },
      { checkpointFile: file, startingPosition: 'LATEST' },
    );
    await eventually(() => after.length >= 2);
    // A later record of the same conversation (same shard, in order): once it is seen, any record read
    // twice would have come before it.
    await write(c, 3, 4);
    await eventually(() => after.includes(3000));
    expect(after).toEqual([1000, 2000, 3000]);
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
    await poller(handler, { batchSize: 20, retryDelayMs: 20, maxRetryDelayMs: 200 });
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
