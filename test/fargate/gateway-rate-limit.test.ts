/**
 * The gateway's per-source limits and sampled rejection logs (fargate/src/upgrade-guard.ts, issue #15
 * item 6), against a real server on port 0. Clients bind distinct loopback addresses (127.0.0.2, .3, …)
 * so each test controls its "source IP". The gateway's monotonic clock is frozen, so buckets never
 * refill during a test and every count below is exact.
 */
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ApiKeyStore } from '../../core/auth/api-keys';
import { Authenticator, type AuthRequest } from '../../core/auth/authenticator';
import { type Clock, systemClock, systemTimers } from '../../core/ports';
import { createGateway, type Gateway, type GatewayDeps } from '../../fargate/src/gateway';
import { NullSink } from '../../fargate/src/sinks/null-sink';
import { DEFAULT_SOURCE_LIMITS } from '../../fargate/src/upgrade-guard';
import { CaptureLogger } from '../helpers/capture-logger';
import { audiohookHeaders, newIds } from './helpers/audiohook-client';

const PATH = '/api/v1/audiohook/ws';
const SECRET = Buffer.from('rate-limit-test-client-secret-32').toString('base64');
const SIGNED_KEY = 'signed-key-rl-01';
const UNSIGNED_KEY = 'unsigned-key-rl-02';

interface Harness {
  gateway: Gateway;
  logger: CaptureLogger;
  authority: string;
  /** Calls of the authenticator: the verification work done. */
  verifications: () => number;
  refused: string[];
}

let harness: Harness | undefined;

afterEach(async () => {
  const h = harness;
  harness = undefined;
  if (!h) return;
  await h.gateway.closeAll('test over');
  await new Promise<void>((resolve) => {
    h.gateway.server.close(() => resolve());
    h.gateway.server.closeAllConnections();
  });
});

async function start(overrides: Partial<GatewayDeps> = {}): Promise<Harness> {
  const logger = new CaptureLogger();
  const authenticator = new Authenticator({
    keys: ApiKeyStore.fromJson({ [SIGNED_KEY]: SECRET, [UNSIGNED_KEY]: '' }),
    clock: systemClock,
  });
  let verifications = 0;
  const frozen = systemClock.monotonic();
  const clock: Clock = { now: () => Date.now(), monotonic: () => frozen };
  const refused: string[] = [];
  const gateway = createGateway({
    paths: [PATH],
    maxSessions: 100,
    authenticator: {
      authenticate(req: AuthRequest) {
        verifications += 1;
        return authenticator.authenticate(req);
      },
    },
    sinkFactory: () => new NullSink(),
    sessionOptions: { supportedLanguages: ['en-US'] },
    clock,
    timers: systemTimers,
    logger,
    onUpgradeRefused: (code) => refused.push(code),
    ...overrides,
  });
  await new Promise<void>((resolve) => gateway.server.listen(0, '127.0.0.1', resolve));
  const authority = `127.0.0.1:${(gateway.server.address() as AddressInfo).port}`;
  harness = { gateway, logger, authority, verifications: () => verifications, refused };
  return harness;
}

type Answer = { kind: 'open' } | { kind: 'rejected'; status: number; retryAfter: string | undefined };

/** One upgrade from `localAddress`; an accepted socket is closed at once. */
function upgrade(h: Harness, localAddress: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${h.authority}${PATH}`, { headers, localAddress, perMessageDeflate: false });
    ws.once('open', () => {
      ws.terminate();
      resolve({ kind: 'open' });
    });
    ws.once('unexpected-response', (_req, res: IncomingMessage) => {
      res.resume();
      res.on('end', () => {
        const retry = res.headers['retry-after'];
        resolve({ kind: 'rejected', status: res.statusCode ?? 0, retryAfter: retry });
      });
    });
    ws.once('error', reject);
  });
}

function signed(h: Harness): Record<string, string> {
  return audiohookHeaders({
    apiKey: SIGNED_KEY,
    secretBase64: SECRET,
    authority: h.authority,
    target: PATH,
    ids: newIds(),
  });
}

function unknownKey(h: Harness): Record<string, string> {
  return audiohookHeaders({ apiKey: 'attacker-key-000', authority: h.authority, target: PATH, ids: newIds() });
}

/** `count` upgrades, `concurrency` at a time. */
async function flood(count: number, concurrency: number, one: () => Promise<Answer>): Promise<Answer[]> {
  const answers: Answer[] = [];
  for (let sent = 0; sent < count; sent += concurrency) {
    const batch = Array.from({ length: Math.min(concurrency, count - sent) }, one);
    answers.push(...(await Promise.all(batch)));
  }
  return answers;
}

function statuses(answers: Answer[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of answers) {
    const k = a.kind === 'open' ? 'open' : String(a.status);
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

async function until(predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('gateway per-source limits', () => {
  it('answers a flood of bad upgrades from one address with 429 and no verification, and still admits good callers', async () => {
    const h = await start({ sourceLimits: DEFAULT_SOURCE_LIMITS });
    // Genesys has called before from the address the flood will share (a load-balancer node, say).
    expect(await upgrade(h, '127.0.0.2', signed(h))).toEqual({ kind: 'open' });
    const before = h.verifications();

    const answers = await flood(500, 50, () => upgrade(h, '127.0.0.2', unknownKey(h)));
    const burst = DEFAULT_SOURCE_LIMITS.failures.burst;
    expect(statuses(answers)).toEqual({ '401': burst, '429': 500 - burst });
    expect(h.verifications() - before).toBe(burst);
    for (const a of answers)
      if (a.kind === 'rejected' && a.status === 429) expect(Number(a.retryAfter)).toBeGreaterThan(0);
    expect(h.gateway.stats().upgradesRejected.byCode['rate-limited']).toBe(500 - burst);
    expect(h.refused.filter((c) => c === 'rate-limited')).toHaveLength(500 - burst);

    // The key that verified before is vouched for; a caller on another address has its own budget.
    expect(await upgrade(h, '127.0.0.2', signed(h))).toEqual({ kind: 'open' });
    const unsigned = audiohookHeaders({ apiKey: UNSIGNED_KEY, authority: h.authority, target: PATH, ids: newIds() });
    expect(await upgrade(h, '127.0.0.3', unsigned)).toEqual({ kind: 'open' });
    // The flooding address without a vouched key stays refused, before any verification.
    const verified = h.verifications();
    expect(await upgrade(h, '127.0.0.2', unknownKey(h))).toMatchObject({ kind: 'rejected', status: 429 });
    expect(h.verifications()).toBe(verified);
  });

  it('logs a 500-upgrade flood in a handful of lines that still count every rejection', async () => {
    const h = await start({ sourceLimits: DEFAULT_SOURCE_LIMITS });
    const linesBefore = h.logger.lines.length;
    await flood(500, 50, () => upgrade(h, '127.0.0.4', unknownKey(h)));
    h.gateway.startDrain(); // flushes the pending summary
    const lines = h.logger.lines.slice(linesBefore).filter((e) => e.msg !== 'gateway draining: refusing new sessions');
    expect(lines.length).toBeLessThanOrEqual(3);
    const detailed = lines.filter((e) => e.msg === 'upgrade rejected');
    expect(detailed.map((e) => e.obj.code).sort()).toEqual(['rate-limited', 'unknown-api-key']);
    expect(detailed.every((e) => e.level === 'warn' && e.obj.source === '127.0.0.4')).toBe(true);
    const [summary] = lines.filter((e) => e.msg === 'upgrades rejected (summary)');
    const burst = DEFAULT_SOURCE_LIMITS.failures.burst;
    expect(summary?.obj).toMatchObject({
      rejected: 500,
      suppressed: 498,
      byReason: { 'unknown-api-key': burst, 'rate-limited': 500 - burst },
      topSources: [{ source: '127.0.0.4', count: 500 }],
    });
    expect(h.logger.text()).not.toContain('attacker-key-000');
  });

  it('writes the summary on its own once the interval ends', async () => {
    const h = await start({ sourceLimits: DEFAULT_SOURCE_LIMITS, rejectionLogIntervalMs: 200 });
    await flood(30, 30, () => upgrade(h, '127.0.0.5', unknownKey(h)));
    // The 429s are answered at once, the 401s after the failure delay: a few intervals' summaries.
    const summaries = () => h.logger.find('upgrades rejected (summary)');
    const counted = () => summaries().reduce((n, e) => n + (e.obj.rejected as number), 0);
    await until(() => counted() === 30);
    expect(summaries().length).toBeLessThanOrEqual(3);
    expect(summaries().reduce((n, e) => n + (e.obj.suppressed as number), 0)).toBe(28);
    expect(h.logger.find('upgrade rejected')).toHaveLength(2);
  });

  it('refuses attempts beyond the upgrade burst even when none of them failed yet', async () => {
    const h = await start({
      sourceLimits: { upgrades: { ratePerSec: 1, burst: 3 }, failures: { ratePerSec: 1, burst: 50 } },
    });
    const answers = await flood(4, 4, () => upgrade(h, '127.0.0.6', unknownKey(h)));
    expect(statuses(answers)).toEqual({ '401': 3, '429': 1 });
    expect(h.verifications()).toBe(3);
  });

  it('limits nothing without source limits (the composition root opts in)', async () => {
    const h = await start();
    const answers = await flood(30, 30, () => upgrade(h, '127.0.0.7', unknownKey(h)));
    expect(statuses(answers)).toEqual({ '401': 30 });
    expect(h.verifications()).toBe(30);
  });
});
