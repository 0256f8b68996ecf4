/**
 * The soak's webhook receiver (bench/soak/webhook-sink.ts), driven with real `fetch` calls shaped like
 * the fan-out's POSTs (docs/realtime.md §1): what it records and how each failure mode looks to a sender.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startWebhookSink, type WebhookSink } from '../../bench/soak/webhook-sink';

let sink: WebhookSink | undefined;

afterEach(async () => {
  await sink?.close();
  sink = undefined;
});

const BODY = {
  type: 'transcript',
  externalConversationId: '6d0f5c3e-2a4b-4f1e-9c7d-1b2a3c4d5e6f',
  streamId: 'a1b2c3d4-0000-4000-8000-000000000001',
  sender: { externalId: 'cust-0001', role: 'customer' },
  autotranscribeResponse: { message: 'transcript', start: 1200, end: 3450, utterance: [{ text: 'hello there' }] },
};

function post(url: string, key: string, init: { attempt?: number; redrive?: boolean; signal?: AbortSignal } = {}) {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'audiohook-transcribe-webhook/1',
    'idempotency-key': key,
    'x-delivery-attempt': String(init.attempt ?? 1),
    'x-transcript-signature': `t=1700000000,v1=${'ab'.repeat(32)}`,
  };
  if (init.redrive) headers['x-delivery-redrive'] = '1';
  return fetch(url, { method: 'POST', headers, body: JSON.stringify(BODY), signal: init.signal });
}

/** The network error code under fetch's generic `TypeError: fetch failed`. */
async function networkCodeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (err) {
    return ((err as { cause?: { code?: string } }).cause ?? (err as { code?: string })).code;
  }
  throw new Error('expected the request to fail');
}

describe('webhook sink', () => {
  describe('when up', () => {
    it('answers 200 and records the delivery with its headers and parsed body', async () => {
      sink = await startWebhookSink();
      const before = Date.now();
      const res = await post(sink.url, 'key-1', { attempt: 3, redrive: true });
      const after = Date.now();
      expect(res.status).toBe(200);
      const [d, ...rest] = sink.deliveries();
      expect(rest).toEqual([]);
      expect(d).toMatchObject({
        status: 200,
        method: 'POST',
        path: '/webhook',
        idempotencyKey: 'key-1',
        attempt: 3,
        redrive: true,
        signature: `t=1700000000,v1=${'ab'.repeat(32)}`,
        body: BODY,
        rawBody: JSON.stringify(BODY),
      });
      expect(d?.headers['user-agent']).toBe('audiohook-transcribe-webhook/1');
      expect(d?.receivedAt).toBeGreaterThanOrEqual(before);
      expect(d?.answeredAt).toBeLessThanOrEqual(after);
      expect(sink.refused()).toEqual([]);
    });

    it('records a first try without redrive as attempt 1, redrive false', async () => {
      sink = await startWebhookSink();
      await post(sink.url, 'key-2');
      expect(sink.deliveries()).toMatchObject([{ idempotencyKey: 'key-2', attempt: 1, redrive: false }]);
    });

    it('answers 400 to a body that is not JSON and does not count it as delivered', async () => {
      sink = await startWebhookSink();
      const res = await fetch(sink.url, { method: 'POST', body: '{"type":' });
      expect(res.status).toBe(400);
      expect(sink.deliveries()).toEqual([]);
      expect(sink.refused()).toMatchObject([{ status: 400, reason: 'bad-json', rawBody: '{"type":' }]);
    });
  });

  describe('in status mode', () => {
    it('answers the given status and records a refusal, not a delivery', async () => {
      sink = await startWebhookSink();
      await sink.setMode({ kind: 'status', status: 503 });
      const res = await post(sink.url, 'key-503');
      expect(res.status).toBe(503);
      await sink.setMode({ kind: 'status', status: 429, retryAfterSec: 7 });
      const limited = await post(sink.url, 'key-429');
      expect(limited.status).toBe(429);
      expect(limited.headers.get('retry-after')).toBe('7');
      expect(sink.deliveries()).toEqual([]);
      expect(sink.refused()).toMatchObject([
        { status: 503, reason: 'status', idempotencyKey: 'key-503', body: BODY },
        { status: 429, reason: 'status', idempotencyKey: 'key-429' },
      ]);
      await sink.setMode({ kind: 'up' });
      expect((await post(sink.url, 'key-503', { attempt: 2 })).status).toBe(200);
      expect(sink.deliveries()).toMatchObject([{ idempotencyKey: 'key-503', attempt: 2 }]);
    });
  });

  describe('in slow mode', () => {
    it('answers 200 no sooner than the delay', async () => {
      sink = await startWebhookSink();
      const delayMs = 400;
      await sink.setMode({ kind: 'slow', delayMs });
      const started = performance.now();
      const res = await post(sink.url, 'key-slow');
      const elapsed = performance.now() - started;
      expect(res.status).toBe(200);
      // Node timers run on a millisecond loop clock that can lag the real one by ~1 ms.
      expect(elapsed).toBeGreaterThanOrEqual(delayMs - 2);
      const [d] = sink.deliveries();
      expect((d?.answeredAt ?? 0) - (d?.receivedAt ?? 0)).toBeGreaterThanOrEqual(delayMs - 2);
    });

    it('records a sender that gave up before the answer as an unanswered refusal', async () => {
      sink = await startWebhookSink();
      await sink.setMode({ kind: 'slow', delayMs: 5_000 });
      const controller = new AbortController();
      const pending = post(sink.url, 'key-gave-up', { signal: controller.signal });
      // Give up once the sink holds the request (its body has arrived), as a timing-out sender would.
      await vi.waitFor(() => expect(sink?.held()).toBe(1));
      controller.abort();
      await expect(pending).rejects.toThrow();
      await vi.waitFor(() => expect(sink?.refused()).toHaveLength(1));
      expect(sink.held()).toBe(0);
      expect(sink.refused()).toMatchObject([{ status: 0, reason: 'client-closed', idempotencyKey: 'key-gave-up' }]);
      expect(sink.deliveries()).toEqual([]);
    });
  });

  describe('when down', () => {
    it('refuses connections, then listens again on the same port', async () => {
      sink = await startWebhookSink();
      const { url, port } = sink;
      expect((await post(url, 'before')).status).toBe(200);
      await sink.setMode({ kind: 'down' });
      expect(await networkCodeOf(post(url, 'while-down'))).toBe('ECONNREFUSED');
      await sink.setMode({ kind: 'up' });
      expect(sink.port).toBe(port);
      expect((await post(url, 'after')).status).toBe(200);
      expect(sink.deliveries().map((d) => d.idempotencyKey)).toEqual(['before', 'after']);
      expect(sink.refused()).toEqual([]);
    });

    it('drops a request it was answering slowly, unanswered', async () => {
      sink = await startWebhookSink();
      await sink.setMode({ kind: 'slow', delayMs: 10_000 });
      const outcome = post(sink.url, 'cut-off').then(
        () => 'answered',
        () => 'failed',
      );
      await vi.waitFor(() => expect(sink?.held()).toBe(1));
      await sink.setMode({ kind: 'down' });
      expect(await outcome).toBe('failed');
      expect(sink.refused()).toMatchObject([{ status: 0, reason: 'sink-down', idempotencyKey: 'cut-off', body: BODY }]);
      expect(sink.deliveries()).toEqual([]);
      expect(sink.held()).toBe(0);
    });
  });

  describe('on bad input', () => {
    it('rejects impossible modes and options with a message that says what is expected', async () => {
      sink = await startWebhookSink();
      await expect(sink.setMode({ kind: 'status', status: 200 })).rejects.toThrow(/non-2xx status/);
      await expect(sink.setMode({ kind: 'slow', delayMs: -5 })).rejects.toThrow(/delayMs/);
      await expect(sink.setMode({ kind: 'status', status: 503, retryAfterSec: 1.5 })).rejects.toThrow(/retryAfterSec/);
      await expect(sink.setMode({ kind: 'offline' } as never)).rejects.toThrow(/unknown webhook sink mode/);
      expect(sink.mode()).toEqual({ kind: 'up' });
      await expect(startWebhookSink({ port: -1 })).rejects.toThrow(/0\.\.65535/);
      await expect(startWebhookSink({ path: 'hook' })).rejects.toThrow(/start with '\/'/);
    });
  });
});
