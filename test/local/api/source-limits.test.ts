/**
 * The local REST front's per-source limits in front of the authorizer (local/api/server.ts, issue #15
 * item 6): every caller here is 127.0.0.1, as in `npm start`, so the flood and the legitimate caller
 * share one source. The adapter's clock is frozen, so no bucket refills and the counts are exact.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createLocalApi, LOCAL_SOURCE_LIMITS, type LocalApiOptions } from '../../../local/api/server';

const GOOD = { 'asapp-api-id': 'app-good', 'asapp-api-secret': 'the-right-secret-000001' };

let server: Server | undefined;
afterEach(async () => {
  const s = server;
  server = undefined;
  s?.closeAllConnections();
  await new Promise<void>((ok) => (s ? s.close(() => ok()) : ok()));
});

/** A server whose authorizer accepts only {@link GOOD} and counts its calls (the scrypt it would spend). */
async function serve(extra: Partial<LocalApiOptions> = {}) {
  let authorizerCalls = 0;
  const frozen = Date.now();
  server = createLocalApi({
    routes: [{ method: 'GET', path: '/ping', handler: async () => ({ statusCode: 200, body: '{"ok":true}' }) }],
    authorizer: async (event) => {
      authorizerCalls += 1;
      const h = event.headers ?? {};
      if (h['asapp-api-id'] !== GOOD['asapp-api-id'] || h['asapp-api-secret'] !== GOOD['asapp-api-secret']) {
        throw new Error('Unauthorized');
      }
      return {
        principalId: 'app-good',
        policyDocument: {
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: 'execute-api:Invoke', Resource: '*' }],
        },
      };
    },
    now: () => frozen,
    ...extra,
  });
  await new Promise<void>((ok) => server?.listen(0, '127.0.0.1', ok));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, authorizerCalls: () => authorizerCalls };
}

function bad(i: number): Record<string, string> {
  return { 'asapp-api-id': `guess-${i % 7}`, 'asapp-api-secret': `wrong-secret-${i}` };
}

async function flood(base: string, count: number, concurrency: number): Promise<Response[]> {
  const out: Response[] = [];
  for (let sent = 0; sent < count; sent += concurrency) {
    const n = Math.min(concurrency, count - sent);
    out.push(
      ...(await Promise.all(Array.from({ length: n }, (_, i) => fetch(`${base}/ping`, { headers: bad(sent + i) })))),
    );
  }
  return out;
}

function countByStatus(responses: Response[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of responses) out[r.status] = (out[r.status] ?? 0) + 1;
  return out;
}

describe('local API per-source limits', () => {
  it('answers a flood of bad credentials 429 while a verified caller on the same address keeps its 2xx', async () => {
    const { base, authorizerCalls } = await serve({ sourceLimits: LOCAL_SOURCE_LIMITS });
    expect((await fetch(`${base}/ping`, { headers: GOOD })).status).toBe(200);

    let flooding = true;
    const legitimate: number[] = [];
    const caller = (async () => {
      while (flooding) {
        legitimate.push((await fetch(`${base}/ping`, { headers: GOOD })).status);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const responses = await flood(base, 300, 30);
    flooding = false;
    await caller;

    const burst = LOCAL_SOURCE_LIMITS.failures.burst;
    expect(countByStatus(responses)).toEqual({ 401: burst, 429: 300 - burst });
    // The authorizer ran for the verified caller's requests and for the failure burst only.
    expect(authorizerCalls()).toBe(1 + legitimate.length + burst);
    expect(legitimate.length).toBeGreaterThan(0);
    expect(new Set(legitimate)).toEqual(new Set([200]));
  });

  it('answers 429 with the contract envelope and Retry-After, without running the authorizer', async () => {
    const { base, authorizerCalls } = await serve({
      sourceLimits: { requests: { ratePerSec: 1, burst: 2 }, failures: { ratePerSec: 1, burst: 100 } },
    });
    const statuses: number[] = [];
    for (let i = 0; i < 2; i++) statuses.push((await fetch(`${base}/ping`, { headers: bad(i) })).status);
    expect(statuses).toEqual([401, 401]);
    const res = await fetch(`${base}/ping`, { headers: bad(3) });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('1');
    const body = (await res.json()) as { error: { code: string; requestId: string } };
    expect(body.error.code).toBe('429-01');
    expect(body.error.requestId).toBe(res.headers.get('x-amzn-requestid'));
    expect(authorizerCalls()).toBe(2);
  });

  it('stops vouching for a credential the authorizer starts refusing (rotated out)', async () => {
    const limits = { requests: { ratePerSec: 1, burst: 1 }, failures: { ratePerSec: 1, burst: 1 } };
    let accept = true;
    const { base } = await serve({
      sourceLimits: limits,
      authorizer: async () => {
        if (!accept) throw new Error('Unauthorized');
        return {
          principalId: 'app-good',
          policyDocument: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] },
        };
      },
    });
    expect((await fetch(`${base}/ping`, { headers: GOOD })).status).toBe(200); // spends the one request token
    expect((await fetch(`${base}/ping`, { headers: GOOD })).status).toBe(200); // vouched: no token needed
    accept = false;
    expect((await fetch(`${base}/ping`, { headers: GOOD })).status).toBe(401);
    expect((await fetch(`${base}/ping`, { headers: GOOD })).status).toBe(429);
  });

  it('limits nothing unless asked to (tests and the fuzz use the adapter bare)', async () => {
    const { base } = await serve();
    expect(countByStatus(await flood(base, 60, 30))).toEqual({ 401: 60 });
  });
});
