/**
 * Upgrade authentication end to end (docs/audiohook-protocol.md §1.3, §1.4 `request` strategy): the
 * simulator signs like Genesys; the gateway answers HTTP 400/401 before any WebSocket exists, never sooner
 * than 500 ms after it started verifying, and remembers nonces.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIN_AUTH_FAILURE_DELAY_MS } from '../../../core/auth/authenticator';
import { toneSource } from '../../../local/simulator/audio-source';
import { runSimulatedSession } from '../../../local/simulator/client';
import type { SimulatedSessionOptions, SimulatedSessionResult } from '../../../local/simulator/options';
import { buildUpgradeHeaders } from '../../../local/simulator/upgrade';
import {
  sequencingViolations,
  startTestGateway,
  TEST_KEYS,
  type TestGateway,
  transcript,
  typesOf,
  waitFor,
} from '../../helpers/gateway';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway();
});

afterAll(async () => {
  await gw?.close();
});

const audio = toneSource({ format: 'PCMU', channels: 2, durationMs: 400 });

function simulate(overrides: Partial<SimulatedSessionOptions>): Promise<SimulatedSessionResult> {
  return runSimulatedSession({ uri: gw.url, ...TEST_KEYS.signed, audio, speed: 4, ...overrides });
}

/** Runs an attempt and measures it from before the TCP connection. */
async function timed(
  overrides: Partial<SimulatedSessionOptions>,
): Promise<{ result: SimulatedSessionResult; ms: number }> {
  const started = performance.now();
  const result = await simulate(overrides);
  return { result, ms: performance.now() - started };
}

function rejections(code: string): number {
  return gw.gateway.stats().upgradesRejected.byCode[code] ?? 0;
}

/** A refused upgrade: no WebSocket, so no message either way and no sink. */
function expectRefused(result: SimulatedSessionResult, status: number, sessionSeenBefore = false): void {
  expect(result.outcome).toBe('rejected');
  expect(result.httpStatus).toBe(status);
  expect(result.exchange).toEqual([]);
  if (!sessionSeenBefore) expect(gw.sinks.has(result.sessionId)).toBe(false);
}

describe('gateway ⇄ simulator: upgrade authentication', () => {
  it('a signed upgrade with a known key opens and closes normally', async () => {
    const result = await simulate({ sessionId: randomUUID() });
    expect(result.outcome, result.failure).toBe('closed');
    expect(sequencingViolations(result)).toEqual([]);
    expect(typesOf(result, 'in', false)).toEqual(['opened', 'closed']);
  });

  it('refuses an unknown API key with HTTP 401, answered no sooner than 500 ms', async () => {
    const before = rejections('unknown-api-key');
    const { result, ms } = await timed({ apiKey: 'no-such-key-0000', sessionId: randomUUID() });
    expectRefused(result, 401);
    expect(result.httpBody).toBe('Unauthorized');
    expect(ms).toBeGreaterThanOrEqual(MIN_AUTH_FAILURE_DELAY_MS);
    expect(rejections('unknown-api-key')).toBe(before + 1);
  });

  it('refuses a bad signature with HTTP 401, answered no sooner than 500 ms', async () => {
    const before = rejections('signature-mismatch');
    const { result, ms } = await timed({ signing: { tamperSignature: true }, sessionId: randomUUID() });
    expectRefused(result, 401);
    expect(ms).toBeGreaterThanOrEqual(MIN_AUTH_FAILURE_DELAY_MS);
    expect(rejections('signature-mismatch')).toBe(before + 1);
  });

  it('refuses a replayed nonce: the same signed headers work once, then get HTTP 401', async () => {
    const created = Math.floor(Date.now() / 1000);
    const same: Partial<SimulatedSessionOptions> = {
      sessionId: randomUUID(),
      organizationId: randomUUID(),
      correlationId: randomUUID(),
      signing: { nonce: randomUUID().replaceAll('-', ''), created, expires: created + 30 },
    };
    // Same inputs, same request: the headers are byte for byte identical.
    const headersOf = () =>
      buildUpgradeHeaders({
        uri: new URL(gw.url),
        apiKey: TEST_KEYS.signed.apiKey,
        clientSecret: TEST_KEYS.signed.clientSecret,
        sessionId: same.sessionId as string,
        correlationId: same.correlationId as string,
        organizationId: same.organizationId as string,
        signing: same.signing ?? {},
      });
    expect(headersOf()).toEqual(headersOf());

    const first = await simulate(same);
    expect(first.outcome, first.failure).toBe('closed');
    const firstSink = gw.sink(first.sessionId);
    const before = rejections('nonce-replayed');
    const { result: second, ms } = await timed(same);
    expectRefused(second, 401, true);
    // No second session was set up for the replay.
    expect(gw.sinks.get(second.sessionId)).toBe(firstSink);
    expect(ms).toBeGreaterThanOrEqual(MIN_AUTH_FAILURE_DELAY_MS);
    expect(rejections('nonce-replayed')).toBe(before + 1);
  });

  it('refuses an upgrade without Audiohook-Session-Id with HTTP 400', async () => {
    const before = rejections('missing-header');
    const { result, ms } = await timed({
      sessionId: randomUUID(),
      signing: { omitHeaders: ['audiohook-session-id'] },
    });
    expect(result.outcome).toBe('rejected');
    expect(result.httpStatus).toBe(400);
    expect(result.httpBody).toBe('Bad Request');
    expect(ms).toBeGreaterThanOrEqual(MIN_AUTH_FAILURE_DELAY_MS);
    expect(rejections('missing-header')).toBe(before + 1);
  });

  it('refuses an unsigned upgrade for a key that has a client secret with HTTP 401', async () => {
    const before = rejections('signature-required');
    const started = performance.now();
    // The signed key, but no client secret on the simulator: it sends X-API-KEY only.
    const result = await runSimulatedSession({ uri: gw.url, apiKey: TEST_KEYS.signed.apiKey, audio, speed: 4 });
    const ms = performance.now() - started;
    expectRefused(result, 401);
    expect(ms).toBeGreaterThanOrEqual(MIN_AUTH_FAILURE_DELAY_MS);
    expect(rejections('signature-required')).toBe(before + 1);
  });

  it('accepts an unsigned upgrade for a key configured without a secret', async () => {
    const sessionId = randomUUID();
    const result = await runSimulatedSession({
      uri: gw.url,
      apiKey: TEST_KEYS.unsigned.apiKey,
      sessionId,
      audio,
      speed: 4,
    });
    expect(result.outcome, result.failure).toBe('closed');
    expect(result.httpStatus).toBeUndefined();
    expect(sequencingViolations(result)).toEqual([]);
    expect(typesOf(result, 'in', false)).toEqual(['opened', 'closed']);
    expect(gw.sink(sessionId).counts().samples).toEqual({ customer: 3200, agent: 3200 });
  });

  it('an open for another organization than the upgrade header → disconnect{unauthorized}, then closed', async () => {
    const sessionId = randomUUID();
    // Unsigned, so the header can be swapped after the fact without breaking a signature.
    const result = await runSimulatedSession({
      uri: gw.url,
      apiKey: TEST_KEYS.unsigned.apiKey,
      sessionId,
      organizationId: randomUUID(),
      signing: { extraHeaders: { 'Audiohook-Organization-Id': randomUUID() } },
      audio,
      speed: 4,
    });

    expect(result.outcome).toBe('disconnected');
    expect(transcript(result)).toEqual([
      'out open seq=1 serverseq=0',
      'in disconnect seq=1 clientseq=1',
      'out close seq=2 serverseq=1',
      'in closed seq=2 clientseq=2',
    ]);
    expect(result.disconnect).toEqual({ reason: 'unauthorized', info: 'organization not authorized' });
    expect(result.opened).toBeUndefined();
    expect(result.audioBytesSent).toBe(0);
    // Nothing was opened, so nothing reached the sink.
    await waitFor(() => gw.ends.has(sessionId), 5000, 'the session to end');
    expect(gw.sink(sessionId).events).toEqual([]);
  });
});
