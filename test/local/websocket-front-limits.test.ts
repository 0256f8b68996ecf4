/**
 * The local WebSocket front's per-source limits (issue #15 item 6): a flood of bad handshakes from one
 * address is answered 429 before `$connect` runs, while a caller whose credential verified before keeps
 * connecting. `$connect` is a fake port here that counts its calls; test/local/websocket-front.test.ts
 * runs the real handlers.
 */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { WebSocketEvent } from '../../lambdas/shared/websocket';
import { createWebSocketFront, type WebSocketFront } from '../../local/websocket-front';

const GOOD = { 'asapp-api-id': 'app-1', 'asapp-api-secret': 'the-right-secret-000' };
let front: WebSocketFront;
let url: string;
let connectCalls = 0;

beforeAll(async () => {
  front = createWebSocketFront({
    routes: {
      $connect: async (event: WebSocketEvent) => {
        connectCalls++;
        const ok = event.headers?.['asapp-api-secret'] === GOOD['asapp-api-secret'];
        return ok ? { statusCode: 200 } : { statusCode: 401, body: 'Unauthorized' };
      },
      $disconnect: async () => ({ statusCode: 200 }),
      $default: async () => ({ statusCode: 200 }),
    },
    sourceLimits: { requests: { ratePerSec: 1000, burst: 1000 }, failures: { ratePerSec: 1, burst: 5 } },
  });
  await new Promise<void>((ok) => front.server.listen(0, '127.0.0.1', ok));
  url = `ws://127.0.0.1:${(front.server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await front?.close();
});

function handshake(headers: Record<string, string>): Promise<{ status: number; retryAfter?: string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => {
      ws.terminate();
      resolve({ status: 101 });
    });
    ws.once('unexpected-response', (_req, res) => {
      const retryAfter = res.headers['retry-after'];
      resolve({ status: res.statusCode ?? 0, ...(retryAfter !== undefined && { retryAfter }) });
      res.resume();
      ws.terminate();
    });
    ws.once('error', () => resolve({ status: 0 }));
  });
}

describe('local WebSocket front source limits', () => {
  it('answers a flood of bad handshakes 429 without running $connect, and lets a vouched caller in', async () => {
    expect((await handshake(GOOD)).status).toBe(101);
    const before = connectCalls;
    const flood = await Promise.all(
      Array.from({ length: 40 }, (_, i) => handshake({ 'asapp-api-id': 'app-1', 'asapp-api-secret': `guess-${i}` })),
    );
    const counts = new Map<number, number>();
    for (const f of flood) counts.set(f.status, (counts.get(f.status) ?? 0) + 1);
    expect(counts.get(401)).toBeLessThanOrEqual(5);
    expect(counts.get(429)).toBeGreaterThanOrEqual(35);
    expect(flood.find((f) => f.status === 429)?.retryAfter).toMatch(/^\d+$/);
    // Only the failures' burst reached the handler.
    expect(connectCalls - before).toBeLessThanOrEqual(5);
    expect((await handshake(GOOD)).status).toBe(101);
  });
});
