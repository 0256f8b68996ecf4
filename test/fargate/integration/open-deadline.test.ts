/**
 * The open deadline end to end (issue #16): the real gateway process (fargate/src/main.ts, configured by
 * `OPEN_TIMEOUT_MS` and `MAX_SESSIONS=1`) ends a WebSocket connection that sends no `open` with
 * `disconnect{error}`, closes it, frees its session slot for the next call and counts it on the admin port.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { AudioHookTestClient, attemptUpgrade, audiohookHeaders, newIds } from '../helpers/audiohook-client';
import { eventually, type GatewayChild, startGatewayChild } from '../helpers/gateway-child';

const API_KEY = 'open-deadline-itest-key-0001';
const OPEN_TIMEOUT_MS = 1500;
const PATH = '/api/v1/audiohook/ws';

let gw: GatewayChild;

beforeAll(async () => {
  gw = await startGatewayChild({
    env: {
      AUDIOHOOK_API_KEYS: JSON.stringify({ [API_KEY]: '' }),
      MAX_SESSIONS: '1',
      OPEN_TIMEOUT_MS: String(OPEN_TIMEOUT_MS),
      LOG_LEVEL: 'info',
    },
  });
}, 60_000);

afterAll(async () => {
  await gw?.stop();
});

type Upgrade = Awaited<ReturnType<typeof attemptUpgrade>>;

function upgrade(): Promise<Upgrade> {
  const headers = audiohookHeaders({ apiKey: API_KEY, authority: `127.0.0.1:${gw.port}`, target: PATH, ids: newIds() });
  return attemptUpgrade(gw.url, headers);
}

/** Upgrades and returns a protocol client; fails the test on a refused upgrade. */
async function connect(): Promise<AudioHookTestClient> {
  const ids = newIds();
  const headers = audiohookHeaders({ apiKey: API_KEY, authority: `127.0.0.1:${gw.port}`, target: PATH, ids });
  const result = await attemptUpgrade(gw.url, headers);
  if (result.kind !== 'open') throw new Error(`upgrade refused: ${result.status} ${result.body}`);
  return new AudioHookTestClient(result.ws as WebSocket, ids);
}

async function openTimeouts(): Promise<number> {
  const res = await fetch(`${gw.adminUrl}/metrics`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { sessionsEndedByOpenTimeout: number }).sessionsEndedByOpenTimeout;
}

async function slotFreed(): Promise<void> {
  await eventually(async () => (await gw.metrics()).sessions === 0, 5000, 'the session slot to be freed');
}

/** A full call on the freed slot: the next connection upgrades and is opened. */
async function nextCallOpens(): Promise<void> {
  const next = await connect();
  next.sendOpen();
  expect((await next.waitFor('opened')).parameters).toMatchObject({ startPaused: false });
  next.sendClose();
  await next.waitFor('closed');
  next.ws.close();
  await next.closed;
  await slotFreed();
}

describe('open deadline (real gateway process, MAX_SESSIONS=1)', () => {
  it('a connection that sends nothing gets disconnect{error} at the deadline; answering close frees its slot', async () => {
    const before = await openTimeouts();
    const silent = await connect();
    const connectedAt = performance.now();

    // The silent connection holds the only slot: the next call is turned away while it lasts.
    const refused = await upgrade();
    expect(refused).toMatchObject({ kind: 'rejected', status: 503 });

    const disconnect = await silent.waitFor('disconnect', OPEN_TIMEOUT_MS + 5000);
    expect(performance.now() - connectedAt).toBeGreaterThanOrEqual(OPEN_TIMEOUT_MS - 100);
    expect(disconnect).toMatchObject({
      type: 'disconnect',
      seq: 1,
      clientseq: 0,
      parameters: { reason: 'error', info: 'no open received within 1.5 s' },
    });

    // Genesys answers a disconnect with the close transaction, then closes the socket.
    silent.sendClose();
    expect((await silent.waitFor('closed')).clientseq).toBe(1);
    silent.ws.close();
    await silent.closed;
    await slotFreed();
    await nextCallOpens();

    expect(await openTimeouts()).toBe(before + 1);
    const logged = gw.lines.filter((l) => l.msg === 'audiohook open deadline passed: ending the session');
    expect(logged.at(-1)).toMatchObject({ level: 'info', code: 'AUDIOHOOK_OPEN_TIMEOUT', timeoutMs: OPEN_TIMEOUT_MS });
  }, 30_000);

  it('a connection that does not even answer the disconnect is closed by the gateway, freeing its slot', async () => {
    const before = await openTimeouts();
    const silent = await connect();
    await silent.waitFor('disconnect', OPEN_TIMEOUT_MS + 5000);
    // No close from the client: the gateway closes the socket after its 10 s disconnect grace.
    expect(await silent.closed).toEqual({ code: 1000, reason: 'no close after disconnect' });
    await slotFreed();
    await nextCallOpens();
    expect(await openTimeouts()).toBe(before + 1);
  }, 40_000);

  it('audio before open ends the connection at once, without waiting for the deadline', async () => {
    const before = await openTimeouts();
    const early = await connect();
    const sentAt = performance.now();
    early.ws.send(new Uint8Array(3200).fill(0xff), { binary: true });
    const disconnect = await early.waitFor('disconnect', OPEN_TIMEOUT_MS + 5000);
    expect(disconnect.parameters).toEqual({ reason: 'error', info: 'audio received before open' });
    expect(performance.now() - sentAt).toBeLessThan(OPEN_TIMEOUT_MS);
    early.sendClose();
    await early.waitFor('closed');
    early.ws.close();
    await early.closed;
    await slotFreed();
    await nextCallOpens();
    // Not a deadline end: the counter is for connections that sent nothing usable in time.
    expect(await openTimeouts()).toBe(before);
  }, 30_000);
});
