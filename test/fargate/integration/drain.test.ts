/**
 * Draining a gateway that is carrying a call (architecture §5: Genesys cannot resume a session, so a
 * deploy lets live calls end): health turns 503, new upgrades get a fast 503 with Retry-After, the live
 * call streams to its normal end, and the drain then resolves 'idle'.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIN_AUTH_FAILURE_DELAY_MS } from '../../../core/auth/authenticator';
import { toneSource } from '../../../local/simulator/audio-source';
import { runSimulatedSession } from '../../../local/simulator/client';
import { buildUpgradeHeaders } from '../../../local/simulator/upgrade';
import {
  AUDIOHOOK_PATH,
  httpGet,
  pcmMismatches,
  rawUpgrade,
  sequencingViolations,
  startTestGateway,
  TEST_KEYS,
  type TestGateway,
  timelineProblems,
  typesOf,
  waitFor,
} from '../../helpers/gateway';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway({ retryAfterSec: 7 });
});

afterAll(async () => {
  await gw?.close();
});

function signedHeaders(): Record<string, string> {
  return buildUpgradeHeaders({
    uri: new URL(gw.url),
    apiKey: TEST_KEYS.signed.apiKey,
    clientSecret: TEST_KEYS.signed.clientSecret,
    sessionId: randomUUID(),
    correlationId: randomUUID(),
    organizationId: randomUUID(),
    signing: {},
  });
}

describe('gateway ⇄ simulator: drain', () => {
  it('refuses new calls with 503 + Retry-After while a live call streams to its normal end, then resolves idle', async () => {
    expect(await httpGet(gw.httpUrl, '/health')).toEqual({ status: 200, body: { status: 'ok' } });
    // A valid upgrade is accepted before the drain (101), so the 503 below is the drain's doing.
    expect((await rawUpgrade(gw.httpUrl, AUDIOHOOK_PATH, signedHeaders())).status).toBe(101);
    await waitFor(() => gw.gateway.activeSessions() === 0, 5000, 'the first test upgrade to be forgotten');

    const sessionId = randomUUID();
    const audio = toneSource({ format: 'PCMU', channels: 2, durationMs: 4000, hz: [1000, 400] });
    const call = runSimulatedSession({ uri: gw.url, ...TEST_KEYS.signed, sessionId, audio, speed: 4 });
    await waitFor(() => (gw.sinks.get(sessionId)?.counts().frames ?? 0) >= 2, 5000, 'the call to stream');

    gw.gateway.startDrain();
    let drainResult: 'idle' | 'deadline' | undefined;
    const drained = gw.gateway.drain(20_000).then((r) => {
      drainResult = r;
      return r;
    });

    const health = await httpGet(gw.httpUrl, '/health');
    expect(health.status).toBe(503);
    expect(health.body).toMatchObject({ status: 'draining' });

    const refused = await rawUpgrade(gw.httpUrl, AUDIOHOOK_PATH, signedHeaders());
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('7');
    // Refused before authenticating: no 500 ms failure delay.
    expect(refused.elapsedMs).toBeLessThan(MIN_AUTH_FAILURE_DELAY_MS);

    const late = await runSimulatedSession({ uri: gw.url, ...TEST_KEYS.signed, audio, speed: 4 });
    expect(late.outcome).toBe('rejected');
    expect(late.httpStatus).toBe(503);
    expect(gw.sinks.has(late.sessionId)).toBe(false);

    // The live call is still going and holds the drain open.
    expect(gw.gateway.sessions().has(sessionId)).toBe(true);
    expect(drainResult).toBeUndefined();

    const result = await call;
    expect(result.outcome, result.failure).toBe('closed');
    expect(result.protocolErrors).toEqual([]);
    expect(sequencingViolations(result)).toEqual([]);
    expect(typesOf(result, 'in', false)).toEqual(['opened', 'closed']);
    expect(typesOf(result, 'out', false)).toEqual(['open', 'close']);
    const sink = gw.sink(sessionId);
    expect(sink.counts()).toMatchObject({ samples: { customer: 32_000, agent: 32_000 }, ended: 'close' });
    expect(timelineProblems(sink, 32_000)).toEqual([]);
    expect(pcmMismatches(sink, audio, ['external', 'internal'])).toEqual([]);

    expect(await drained).toBe('idle');
    expect(gw.gateway.activeSessions()).toBe(0);
    expect((await httpGet(gw.httpUrl, '/health')).status).toBe(503);
    expect(gw.gateway.stats().upgradesRejected.byCode.draining).toBe(2);
  });
});
