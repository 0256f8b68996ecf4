/**
 * The fan-out handler against real local HTTP(S) receivers and DynamoDB Local (dead letters): every
 * receiver authentication mode, retries, deferral with per-conversation order, dead letters and redrive.
 * Backoff sleeps are recorded instead of slept, and record age is driven by an injected clock.
 */
import type { DynamoDBRecord } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { subscriptionsTableName } from '../../contract/tables';
import type { RetryPolicy } from '../../core/delivery/retry-policy';
import { verifySignature } from '../../core/delivery/signature';
import type { FanoutDeps, WebhookSender } from '../../lambdas/fanout/deps';
import { makeHandler } from '../../lambdas/fanout/handler';
import { redrive } from '../../lambdas/fanout/redrive';
import { WebhookClient } from '../../lambdas/shared/webhook-client';
import { parseWebhookTargets, type WebhookTarget } from '../../lambdas/shared/webhook-targets';
import { StoreUnavailableError } from '../../store/errors';
import { DeadLetterRepository } from '../../store/subscriptions';
import { setupDynamoDb, type TestDynamoDb } from '../helpers/dynamodb';
import {
  insertRecord,
  makeCertificates,
  type Receiver,
  startReceiver,
  storedItem,
  type TestCertificates,
  utteranceInput,
} from './fanout-helpers';
import { captureLogger, metricTotal, recordMetrics } from './helpers/api';

const POLICY: RetryPolicy = {
  maxAttemptsPerRun: 3,
  baseDelayMs: 100,
  maxDelayMs: 1000,
  maxRetryAgeMs: 60_000,
  requestTimeoutMs: 2000,
};

let db: TestDynamoDb;
let certs: TestCertificates;
const open: { close(): Promise<void> | void }[] = [];

beforeAll(async () => {
  db = await setupDynamoDb();
  certs = makeCertificates();
});
afterAll(async () => {
  certs?.cleanup();
  await db?.stop();
});
afterEach(async () => {
  for (const o of open.splice(0)) await o.close();
});

async function receiver(options?: Parameters<typeof startReceiver>[0]): Promise<Receiver> {
  const r = await startReceiver(options);
  open.push(r);
  return r;
}

function client(
  target: Omit<WebhookTarget, 'id' | 'auth'> & Partial<Pick<WebhookTarget, 'id' | 'auth'>>,
  now?: () => number,
) {
  const [parsed] = parseWebhookTargets([{ id: 'primary', auth: { type: 'none' }, ...target }]);
  const c = new WebhookClient(parsed as WebhookTarget, {
    defaultTimeoutMs: POLICY.requestTimeoutMs,
    ...(now && { now }),
  });
  open.push(c);
  return c;
}

interface Harness {
  deps: FanoutDeps & { logger: ReturnType<typeof captureLogger>; metrics: ReturnType<typeof recordMetrics> };
  sleeps: number[];
  clock: { offsetMs: number };
  deadLetters: DeadLetterRepository;
}

function harness(webhooks: WebhookSender[], overrides: Partial<FanoutDeps> = {}): Harness {
  const sleeps: number[] = [];
  const clock = { offsetMs: 0 };
  const deadLetters = new DeadLetterRepository(db.doc, { tableName: subscriptionsTableName(db.prefix) });
  return {
    deps: {
      webhooks,
      deadLetters,
      retry: POLICY,
      concurrency: 4,
      timeBudgetMs: 20_000,
      now: () => Date.now() + clock.offsetMs,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      random: () => 0.5,
      ...overrides,
      logger: captureLogger(),
      metrics: recordMetrics(),
    },
    sleeps,
    clock,
    deadLetters,
  };
}

const conv = () => `conv-${Math.random().toString(36).slice(2, 10)}`;

function records(conversationId: string, from: number, to: number): DynamoDBRecord[] {
  const out: DynamoDBRecord[] = [];
  for (let i = from; i < to; i++) out.push(insertRecord(storedItem(utteranceInput(conversationId, i)) as never));
  return out;
}

const seqOf = (r: DynamoDBRecord) => r.dynamodb?.SequenceNumber as string;
const bodies = (rx: Receiver) => rx.requests.map((r) => JSON.parse(r.body));

describe('fan-out webhook delivery', () => {
  describe('receiver authentication (api-contract §3.2)', () => {
    it('none: POSTs the §3.3 body as JSON with the idempotency key and the attempt number', async () => {
      const rx = await receiver();
      const c = conv();
      const input = utteranceInput(c, 0);
      const h = harness([client({ url: rx.url })]);
      const out = await makeHandler(h.deps)({ Records: [insertRecord(storedItem(input) as never)] });
      expect(out).toEqual({ batchItemFailures: [] });
      const [req] = rx.requests;
      expect(req?.method).toBe('POST');
      expect(req?.headers['content-type']).toBe('application/json');
      expect(req?.headers['idempotency-key']).toBe(input.utteranceId);
      expect(req?.headers['x-delivery-attempt']).toBe('1');
      expect(req?.headers['x-transcript-signature']).toBeUndefined();
      expect(JSON.parse(req?.body ?? '')).toEqual({
        type: 'transcript',
        externalConversationId: c,
        streamId: 'stream-customer',
        sender: { externalId: 'cust-0001', role: 'customer' },
        autotranscribeResponse: {
          message: 'transcript',
          start: 0,
          end: 800,
          utterance: [{ text: 'utterance number 0' }],
        },
      });
    });

    it('secret as a header, under the configured name', async () => {
      const rx = await receiver();
      const h = harness([
        client({ url: rx.url, auth: { type: 'secret', name: 'X-Api-Token', value: 's3cr3t', placement: 'header' } }),
      ]);
      await makeHandler(h.deps)({ Records: records(conv(), 0, 1) });
      expect(rx.requests[0]?.headers['x-api-token']).toBe('s3cr3t');
      expect(rx.requests[0]?.url).toBe('/hook');
    });

    it('secret as a URL query parameter, under the configured name', async () => {
      const rx = await receiver();
      const h = harness([
        client({
          url: `${rx.url}?tenant=t1`,
          auth: { type: 'secret', name: 'code', value: 'a b&c', placement: 'query' },
        }),
      ]);
      await makeHandler(h.deps)({ Records: records(conv(), 0, 1) });
      const url = new URL(rx.requests[0]?.url ?? '', 'http://x');
      expect(url.searchParams.get('code')).toBe('a b&c');
      expect(url.searchParams.get('tenant')).toBe('t1');
      expect(rx.requests[0]?.headers.code).toBeUndefined();
    });

    it('HMAC: the receiver verifies the signature over the raw body it got', async () => {
      const rx = await receiver();
      const secret = 'whsec-test-0123456789';
      const h = harness([client({ url: rx.url, signingSecrets: [secret] })]);
      await makeHandler(h.deps)({ Records: records(conv(), 0, 1) });
      const req = rx.requests[0];
      const header = req?.headers['x-transcript-signature'] as string;
      expect(verifySignature(header, req?.body ?? '', secret, Math.floor(Date.now() / 1000)).ok).toBe(true);
      expect(verifySignature(header, `${req?.body} `, secret, Math.floor(Date.now() / 1000)).ok).toBe(false);
    });

    it('OAuth2 client credentials: one token for many POSTs, refreshed once on a 401', async () => {
      const tokens = await receiver({ path: '/oauth/token' });
      let issued = 0;
      tokens.answer(() => ({
        status: 200,
        body: JSON.stringify({ access_token: `tok-${++issued}`, expires_in: 3600 }),
      }));
      const rx = await receiver();
      // The receiver revokes the first token after two calls.
      rx.answer((req) => (req.headers.authorization === 'Bearer tok-1' && rx.requests.length > 2 ? 401 : 200));
      const auth = {
        type: 'oauth2' as const,
        tokenUrl: tokens.url,
        clientId: 'client:1',
        clientSecret: 'sec ret',
        scope: 'transcripts.write',
        audience: 'https://receiver.example.com',
        clientAuth: 'basic' as const,
      };
      const h = harness([client({ url: rx.url, auth })]);
      const out = await makeHandler(h.deps)({ Records: records(conv(), 0, 3) });
      expect(out.batchItemFailures).toEqual([]);
      expect(tokens.requests).toHaveLength(2);
      const form = new URLSearchParams(tokens.requests[0]?.body);
      expect(Object.fromEntries(form)).toEqual({
        grant_type: 'client_credentials',
        scope: 'transcripts.write',
        audience: 'https://receiver.example.com',
      });
      expect(tokens.requests[0]?.headers.authorization).toBe(
        `Basic ${Buffer.from('client%3A1:sec%20ret').toString('base64')}`,
      );
      expect(rx.requests.map((r) => [r.headers.authorization, r.headers['x-delivery-attempt']])).toEqual([
        ['Bearer tok-1', '1'],
        ['Bearer tok-1', '1'],
        ['Bearer tok-1', '1'],
        ['Bearer tok-2', '1'],
      ]);
    });

    it('OAuth2: a cached token is refreshed shortly before it expires; client_secret_post sends the secret in the form', async () => {
      const tokens = await receiver({ path: '/token' });
      let issued = 0;
      tokens.answer(() => ({ status: 200, body: JSON.stringify({ access_token: `t${++issued}`, expires_in: 120 }) }));
      const rx = await receiver();
      let now = Date.parse('2025-01-15T14:00:00Z');
      const c = client(
        {
          url: rx.url,
          auth: { type: 'oauth2', tokenUrl: tokens.url, clientId: 'id', clientSecret: 'sec', clientAuth: 'body' },
        },
        () => now,
      );
      await c.post('{}', { idempotencyKey: 'k', attempt: 1 });
      now += 80_000; // 40 s left: still outside the 30 s refresh margin
      await c.post('{}', { idempotencyKey: 'k', attempt: 1 });
      now += 15_000; // 25 s left: refresh
      await c.post('{}', { idempotencyKey: 'k', attempt: 1 });
      expect(rx.requests.map((r) => r.headers.authorization)).toEqual(['Bearer t1', 'Bearer t1', 'Bearer t2']);
      expect(new URLSearchParams(tokens.requests[0]?.body).get('client_secret')).toBe('sec');
      expect(tokens.requests[0]?.headers.authorization).toBeUndefined();
    });

    it('OAuth2: a token endpoint that refuses us is a retryable WEBHOOK_OAUTH_FAILED', async () => {
      const tokens = await receiver({ path: '/token' });
      tokens.answer(() => 401);
      const rx = await receiver();
      const c = client({
        url: rx.url,
        auth: { type: 'oauth2', tokenUrl: tokens.url, clientId: 'id', clientSecret: 'bad', clientAuth: 'basic' },
      });
      expect(await c.post('{}', { idempotencyKey: 'k', attempt: 1 })).toEqual({
        kind: 'retryable',
        code: 'WEBHOOK_OAUTH_FAILED',
        status: 401,
      });
      expect(rx.requests).toHaveLength(0);
    });

    it('custom CA: trusts a receiver whose certificate chains to the configured CA, and only that', async () => {
      const rx = await receiver({ tls: { key: certs.serverKey, cert: certs.serverCert } });
      const trusted = client({ url: rx.url, tls: { caPem: certs.caCert } });
      expect(await trusted.post('{}', { idempotencyKey: 'k', attempt: 1 })).toEqual({ kind: 'delivered', status: 200 });
      const other = client({ id: 'other', url: rx.url, tls: { caPem: certs.otherCaCert } });
      expect(await other.post('{}', { idempotencyKey: 'k', attempt: 1 })).toEqual({
        kind: 'retryable',
        code: 'WEBHOOK_NETWORK',
      });
      const systemOnly = client({ id: 'system', url: rx.url });
      expect((await systemOnly.post('{}', { idempotencyKey: 'k', attempt: 1 })).kind).toBe('retryable');
      expect(rx.requests).toHaveLength(1);
    });

    it('mTLS: presents the client certificate the receiver requires', async () => {
      const rx = await receiver({
        tls: { key: certs.serverKey, cert: certs.serverCert, ca: certs.caCert, requestCert: true },
      });
      const h = harness([
        client({ url: rx.url, tls: { caPem: certs.caCert, certPem: certs.clientCert, keyPem: certs.clientKey } }),
      ]);
      expect(await makeHandler(h.deps)({ Records: records(conv(), 0, 1) })).toEqual({ batchItemFailures: [] });
      expect(rx.requests[0]?.clientCertCn).toBe('client');
      const anonymous = client({ id: 'anon', url: rx.url, tls: { caPem: certs.caCert } });
      expect((await anonymous.post('{}', { idempotencyKey: 'k', attempt: 1 })).kind).toBe('retryable');
      expect(rx.requests).toHaveLength(1);
    });
  });

  describe('failures', () => {
    it('retries a failing receiver with backoff within the invocation, same idempotency key, rising attempt', async () => {
      const rx = await receiver();
      rx.answer((_r, i) => (i < 2 ? { status: 503, headers: { 'Retry-After': '0' } } : 200));
      const h = harness([client({ url: rx.url })]);
      const [rec] = records(conv(), 0, 1);
      expect(await makeHandler(h.deps)({ Records: [rec as DynamoDBRecord] })).toEqual({ batchItemFailures: [] });
      expect(rx.requests.map((r) => r.headers['x-delivery-attempt'])).toEqual(['1', '2', '3']);
      expect(new Set(rx.requests.map((r) => r.headers['idempotency-key'])).size).toBe(1);
      // full jitter at random() = 0.5 over 100, 200 ms ceilings
      expect(h.sleeps).toEqual([50, 100]);
      expect(metricTotal(h.deps.metrics, 'WebhookRetried')).toBe(2);
    });

    it('times out a receiver that never answers (WEBHOOK_TIMEOUT, retryable)', async () => {
      const rx = await receiver();
      rx.answer(() => 'hang');
      const c = client({ url: rx.url, timeoutMs: 200 });
      const started = Date.now();
      expect(await c.post('{}', { idempotencyKey: 'k', attempt: 1 })).toEqual({
        kind: 'retryable',
        code: 'WEBHOOK_TIMEOUT',
      });
      expect(Date.now() - started).toBeLessThan(2000);
    });

    it('a receiver down for the whole invocation defers its record and every later record of that conversation, not the others', async () => {
      const rx = await receiver();
      const down = conv();
      const up = conv();
      rx.answer((req) => (JSON.parse(req.body).externalConversationId === down ? 503 : 200));
      const h = harness([client({ url: rx.url })]);
      const a = records(down, 0, 3);
      const b = records(up, 0, 2);
      const batch = [a[0], b[0], a[1], b[1], a[2]] as DynamoDBRecord[];
      const out = await makeHandler(h.deps)({ Records: batch });
      expect(out.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(a.map(seqOf));
      // Only the first record of the blocked conversation was attempted (3 attempts); later ones waited.
      const downBodies = bodies(rx).filter((m) => m.externalConversationId === down);
      expect(downBodies.map((m) => m.autotranscribeResponse.start)).toEqual([0, 0, 0]);
      expect(bodies(rx).filter((m) => m.externalConversationId === up)).toHaveLength(2);
      expect(metricTotal(h.deps.metrics, 'WebhookDeferred')).toBe(1);
    });

    it('a receiver that fails then recovers gets everything, in order per conversation, each accepted once', async () => {
      const rx = await receiver();
      let healthy = false;
      const accepted: { conversationId: string; start: number; key: string }[] = [];
      rx.answer((req) => {
        if (!healthy) return 502;
        const m = JSON.parse(req.body);
        accepted.push({
          conversationId: m.externalConversationId,
          start: m.autotranscribeResponse.start,
          key: req.headers['idempotency-key'] as string,
        });
        return 200;
      });
      const h = harness([client({ url: rx.url })]);
      const handle = makeHandler(h.deps);
      const c1 = conv();
      const c2 = conv();
      const a = records(c1, 0, 4);
      const b = records(c2, 0, 4);
      const batch = [a[0], b[0], a[1], a[2], b[1], b[2], a[3], b[3]] as DynamoDBRecord[];
      // What Lambda does with a partial batch response: hand back everything from the lowest failure.
      let pending = batch;
      let rounds = 0;
      for (; rounds < 6 && pending.length > 0; rounds++) {
        if (rounds === 2) healthy = true;
        const out = await handle({ Records: pending });
        const failed = new Set(out.batchItemFailures.map((f) => f.itemIdentifier));
        const first = pending.findIndex((r) => failed.has(seqOf(r)));
        pending = first < 0 ? [] : pending.slice(first);
      }
      expect(pending).toEqual([]);
      expect(rounds).toBe(3);
      for (const c of [c1, c2]) {
        expect(accepted.filter((x) => x.conversationId === c).map((x) => x.start)).toEqual([0, 1000, 2000, 3000]);
      }
      expect(new Set(accepted.map((x) => x.key)).size).toBe(8);
      expect(accepted).toHaveLength(8);
      expect(metricTotal(h.deps.metrics, 'WebhookDelivered')).toBe(8);
    });

    it('a receiver that never recovers: records end in the dead-letter store with the exact body, and redrive delivers them', async () => {
      const rx = await receiver();
      rx.answer(() => 503);
      const h = harness([client({ url: rx.url })]);
      const handle = makeHandler(h.deps);
      const c = conv();
      const batch = records(c, 0, 3);
      const first = await handle({ Records: batch });
      expect(first.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(batch.map(seqOf));
      // Time passes beyond WEBHOOK_MAX_RETRY_SEC: the next delivery attempt gives up into the DLQ.
      h.clock.offsetMs = POLICY.maxRetryAgeMs + 1;
      const second = await handle({ Records: batch });
      expect(second).toEqual({ batchItemFailures: [] });
      const { items } = await h.deadLetters.list('primary');
      const mine = items.filter((d) => d.conversationId === c);
      expect(mine.map((d) => JSON.parse(d.body).autotranscribeResponse.start)).toEqual([0, 1000, 2000]);
      expect(mine.every((d) => d.reason === 'expired' && d.status === 503 && d.code === 'WEBHOOK_HTTP_STATUS')).toBe(
        true,
      );
      expect(metricTotal(h.deps.metrics, 'WebhookDeadLettered')).toBe(3);
      const logs = JSON.stringify(h.deps.logger.lines);
      expect(logs).not.toContain('utterance number');

      rx.answer(() => 200);
      const before = rx.requests.length;
      const report = await redrive(h.deps);
      expect(report.targets).toEqual([{ targetId: 'primary', redriven: 3, failed: 0, stoppedEarly: false }]);
      const redriven = rx.requests.slice(before);
      expect(redriven.map((r) => r.headers['x-delivery-redrive'])).toEqual(['1', '1', '1']);
      expect(redriven.map((r) => r.body)).toEqual(mine.map((d) => d.body));
      expect((await h.deadLetters.list('primary')).items.filter((d) => d.conversationId === c)).toEqual([]);
    });

    it('a permanent refusal (400) is dead-lettered at once and does not hold back the conversation', async () => {
      const rx = await receiver();
      rx.answer((req) => (JSON.parse(req.body).autotranscribeResponse.start === 0 ? 400 : 200));
      const h = harness([client({ id: 'strict', url: rx.url })]);
      const c = conv();
      const out = await makeHandler(h.deps)({ Records: records(c, 0, 2) });
      expect(out).toEqual({ batchItemFailures: [] });
      expect(rx.requests).toHaveLength(2);
      const { items } = await h.deadLetters.list('strict');
      expect(items.filter((d) => d.conversationId === c).map((d) => [d.reason, d.status, d.attempts])).toEqual([
        ['permanent', 400, 1],
      ]);
    });

    it('redrive stops at the first failure of a target and counts it', async () => {
      const rx = await receiver();
      rx.answer(() => 400);
      const h = harness([client({ id: 'stubborn', url: rx.url })]);
      await makeHandler(h.deps)({ Records: records(conv(), 0, 2) });
      rx.answer(() => 500);
      const report = await redrive(h.deps, { targetId: 'stubborn' });
      expect(report.targets).toEqual([{ targetId: 'stubborn', redriven: 0, failed: 1, stoppedEarly: true }]);
      const { items } = await h.deadLetters.list('stubborn');
      expect(items.map((d) => d.redriveFailures ?? 0).sort()).toEqual([0, 1]);
      await expect(redrive(h.deps, { targetId: 'nope' })).rejects.toMatchObject({ code: 'DELIVERY_INVALID_TARGET' });
    });

    it('skips records that are not new utterances, without failing the batch', async () => {
      const rx = await receiver();
      const h = harness([client({ url: rx.url })]);
      const [good] = records(conv(), 0, 1);
      const bad = insertRecord({ conversationId: 'c', sk: 'x', role: 'robot' });
      const removed = { ...insertRecord({ conversationId: 'c', sk: 'y' }), eventName: 'REMOVE' as const };
      const out = await makeHandler(h.deps)({ Records: [bad, removed, good as DynamoDBRecord] });
      expect(out).toEqual({ batchItemFailures: [] });
      expect(rx.requests).toHaveLength(1);
      expect(metricTotal(h.deps.metrics, 'FanoutInvalidRecord')).toBe(1);
    });

    it('delivers to every target; a target that defers does not make the healthy one re-receive on the retry', async () => {
      const good = await receiver();
      const bad = await receiver();
      bad.answer(() => 503);
      const h = harness([client({ id: 'good', url: good.url }), client({ id: 'bad', url: bad.url })]);
      const handle = makeHandler(h.deps);
      const batch = records(conv(), 0, 1);
      expect((await handle({ Records: batch })).batchItemFailures).toHaveLength(1);
      bad.answer(() => 200);
      expect((await handle({ Records: batch })).batchItemFailures).toHaveLength(0);
      expect(good.requests).toHaveLength(1);
      expect(bad.requests.at(-1)?.headers['x-delivery-attempt']).toBe('4');
    });
  });
});

describe('fan-out WebSocket delivery while the subscribers cannot be read', () => {
  /** Subscriptions that fail `failures` times (as after the SDK's retries), then list one connection. */
  function flakySubscriptions(failures: number) {
    const state = { failures, reads: 0 };
    return {
      state,
      subscriptions: {
        async connectionsOf(target: string) {
          state.reads++;
          if (state.failures > 0) {
            state.failures--;
            throw new StoreUnavailableError('subscriptions.connectionsOf: ThrottlingException');
          }
          return target === '*' ? [] : ['conn-1'];
        },
        async removeConnection() {
          return 0;
        },
      },
    };
  }

  function pusher() {
    const posted: string[] = [];
    return {
      posted,
      pusher: {
        post: async (_id: string, data: string) => {
          posted.push(data);
          return 'sent' as const;
        },
        disconnect: async () => {},
      },
    };
  }

  it('hands a young record back to the stream, then pushes it once, with its webhook POSTed once', async () => {
    const rx = await receiver();
    const flaky = flakySubscriptions(1);
    const p = pusher();
    const h = harness([client({ url: rx.url })], {
      websocket: { subscriptions: flaky.subscriptions, pusher: p.pusher },
    });
    const handler = makeHandler(h.deps);
    const batch = records(conv(), 0, 1);
    const first = await handler({ Records: batch });
    expect(first.batchItemFailures).toEqual([{ itemIdentifier: seqOf(batch[0] as DynamoDBRecord) }]);
    expect(p.posted).toHaveLength(0);
    expect(await handler({ Records: batch })).toEqual({ batchItemFailures: [] });
    expect(p.posted).toHaveLength(1);
    expect(rx.requests).toHaveLength(1);
  });

  it('gives up on the push of a record stored more than a minute ago, without holding the stream', async () => {
    const flaky = flakySubscriptions(10);
    const p = pusher();
    const h = harness([], { websocket: { subscriptions: flaky.subscriptions, pusher: p.pusher } });
    h.clock.offsetMs = 61_000;
    expect(await makeHandler(h.deps)({ Records: records(conv(), 0, 1) })).toEqual({ batchItemFailures: [] });
    expect(p.posted).toHaveLength(0);
    expect(flaky.state.reads).toBeGreaterThan(0);
  });
});
