import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConnectionInfo, SessionHooks } from '../../core/audiohook/ports';
import { ApiKeyStore } from '../../core/auth/api-keys';
import { Authenticator, MIN_AUTH_FAILURE_DELAY_MS } from '../../core/auth/authenticator';
import { type Logger, systemClock, systemTimers } from '../../core/ports';
import { createAdminServer } from '../../fargate/src/admin';
import { createGateway, type Gateway, type GatewayDeps } from '../../fargate/src/gateway';
import { createLogger } from '../../fargate/src/logger';
import { NullSink } from '../../fargate/src/sinks/null-sink';
import { CaptureLogger } from '../helpers/capture-logger';
import {
  AudioHookTestClient,
  attemptUpgrade,
  audiohookHeaders,
  newIds,
  ORG_ID,
  type UpgradeIds,
} from './helpers/audiohook-client';

const PATH = '/api/v1/audiohook/ws';
const SECRET = Buffer.from('gateway-test-client-secret-32by!').toString('base64');
const SIGNED_KEY = 'signed-key-0001';
const UNSIGNED_KEY = 'unsigned-key-02';
const ORG_BOUND_KEY = 'orgbound-key-03';
const OTHER_ORG = '0b1f1b7c-3e7a-4a38-9a51-2f1c5d6e7a8b';

interface Harness {
  gateway: Gateway;
  logger: CaptureLogger;
  keys: ApiKeyStore;
  sinks: Map<string, NullSink>;
  url: string;
  authority: string;
}

let harness: Harness | undefined;
const clients: AudioHookTestClient[] = [];

async function start(overrides: Partial<GatewayDeps> & { logger?: Logger } = {}): Promise<Harness> {
  const logger = new CaptureLogger();
  const keys = ApiKeyStore.fromJson({
    [SIGNED_KEY]: SECRET,
    [UNSIGNED_KEY]: '',
    [ORG_BOUND_KEY]: { secret: SECRET, organizationIds: [OTHER_ORG] },
  });
  const sinks = new Map<string, NullSink>();
  const gateway = createGateway({
    paths: [PATH],
    maxSessions: 100,
    authenticator: new Authenticator({ keys, clock: systemClock }),
    sinkFactory: ({ sessionId }) => {
      const sink = new NullSink();
      sinks.set(sessionId, sink);
      return sink;
    },
    sessionOptions: { supportedLanguages: ['en-US', 'es-US'] },
    clock: systemClock,
    timers: systemTimers,
    logger,
    ...overrides,
  });
  await new Promise<void>((resolve) => gateway.server.listen(0, '127.0.0.1', resolve));
  const port = (gateway.server.address() as AddressInfo).port;
  const authority = `127.0.0.1:${port}`;
  harness = { gateway, logger, keys, sinks, url: `ws://${authority}`, authority };
  return harness;
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  if (harness) {
    const { gateway } = harness;
    harness = undefined;
    await gateway.closeAll('test over');
    await new Promise<void>((resolve) => {
      gateway.server.close(() => resolve());
      gateway.server.closeAllConnections();
    });
  }
});

function headersFor(h: Harness, opts: { apiKey?: string; secret?: string | null; ids?: UpgradeIds; target?: string }) {
  const apiKey = opts.apiKey ?? SIGNED_KEY;
  const secret = opts.secret === null ? undefined : (opts.secret ?? SECRET);
  return audiohookHeaders({
    apiKey,
    secretBase64: secret,
    authority: h.authority,
    target: opts.target ?? PATH,
    ids: opts.ids ?? newIds(),
  });
}

async function connect(h: Harness, ids: UpgradeIds = newIds()): Promise<AudioHookTestClient> {
  const result = await attemptUpgrade(`${h.url}${PATH}`, headersFor(h, { ids }));
  if (result.kind !== 'open') throw new Error(`upgrade rejected: ${result.status} ${result.body}`);
  const client = new AudioHookTestClient(result.ws, ids);
  clients.push(client);
  return client;
}

async function until(predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function httpGet(h: Harness, path: string) {
  const res = await fetch(`http://${h.authority}${path}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('gateway', () => {
  describe('HTTP routes', () => {
    it('answers GET /health with 200 and a constant body, with or without sessions', async () => {
      const h = await start();
      await expect(httpGet(h, '/health')).resolves.toEqual({ status: 200, body: { status: 'ok' } });
      const c = await connect(h);
      c.sendOpen();
      await c.waitFor('opened');
      await expect(httpGet(h, '/health')).resolves.toEqual({ status: 200, body: { status: 'ok' } });
      await expect(httpGet(h, '/health?probe=nlb')).resolves.toEqual({ status: 200, body: { status: 'ok' } });
      const head = await fetch(`http://${h.authority}/health`, { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(head.headers.get('cache-control')).toBe('no-store');
    });

    it('answers GET /health with 503 once draining', async () => {
      const h = await start();
      h.gateway.startDrain();
      await expect(httpGet(h, '/health')).resolves.toEqual({ status: 503, body: { status: 'draining' } });
    });

    it('answers any other request with a 404 JSON body', async () => {
      const h = await start();
      await expect(httpGet(h, '/nope')).resolves.toMatchObject({ status: 404, body: { error: 'not_found' } });
      await expect(httpGet(h, PATH)).resolves.toMatchObject({ status: 404 });
    });
  });

  describe('upgrade', () => {
    it('refuses an unknown path with 404 before authenticating', async () => {
      const h = await start();
      const r = await attemptUpgrade(`${h.url}/elsewhere`, headersFor(h, { target: '/elsewhere' }));
      expect(r).toMatchObject({ kind: 'rejected', status: 404 });
      expect(r.elapsedMs).toBeLessThan(MIN_AUTH_FAILURE_DELAY_MS);
      expect(h.gateway.stats().upgradesRejected.byCode).toEqual({ 'unknown-path': 1 });
    });

    it('matches the path without its query string', async () => {
      const h = await start();
      const ids = newIds();
      const target = `${PATH}?tenant=a`;
      const r = await attemptUpgrade(`${h.url}${target}`, headersFor(h, { ids, target }));
      expect(r.kind).toBe('open');
      if (r.kind === 'open') r.ws.terminate();
    });

    it('refuses a request without AudioHook headers with 400 after the failure delay', async () => {
      const h = await start();
      const r = await attemptUpgrade(`${h.url}${PATH}`, { 'X-API-KEY': SIGNED_KEY });
      expect(r).toMatchObject({ kind: 'rejected', status: 400, body: 'Bad Request' });
      expect(r.elapsedMs).toBeGreaterThanOrEqual(MIN_AUTH_FAILURE_DELAY_MS - 5);
    });

    it('refuses an unknown API key with 401, logging the code but never the key', async () => {
      const h = await start();
      const ids = newIds();
      const r = await attemptUpgrade(`${h.url}${PATH}`, headersFor(h, { apiKey: 'no-such-key-999', ids }));
      expect(r).toMatchObject({ kind: 'rejected', status: 401, body: 'Unauthorized' });
      const [entry] = h.logger.find('upgrade rejected');
      expect(entry?.level).toBe('warn');
      expect(entry?.obj).toMatchObject({
        code: 'unknown-api-key',
        sessionId: ids.sessionId,
        correlationId: ids.correlationId,
        remoteAddress: '127.0.0.1',
      });
      expect(h.logger.text()).not.toContain('no-such-key-999');
    });

    it('refuses a bad signature with 401 no sooner than 500 ms after verification started', async () => {
      const h = await start();
      const wrongSecret = Buffer.from('not-the-secret-the-server-knows!').toString('base64');
      const r = await attemptUpgrade(`${h.url}${PATH}`, headersFor(h, { secret: wrongSecret }));
      expect(r).toMatchObject({ kind: 'rejected', status: 401, body: 'Unauthorized' });
      expect(r.elapsedMs).toBeGreaterThanOrEqual(MIN_AUTH_FAILURE_DELAY_MS);
      expect(h.logger.find('upgrade rejected')[0]?.obj.code).toBe('signature-mismatch');
      expect(h.logger.text()).not.toContain(SECRET);
    });

    it('refuses an unsigned request for a key that has a secret with 401', async () => {
      const h = await start();
      const r = await attemptUpgrade(`${h.url}${PATH}`, headersFor(h, { secret: null }));
      expect(r).toMatchObject({ kind: 'rejected', status: 401 });
    });

    it('accepts an unsigned request for a key configured without a secret', async () => {
      const h = await start();
      const r = await attemptUpgrade(`${h.url}${PATH}`, headersFor(h, { apiKey: UNSIGNED_KEY, secret: null }));
      expect(r.kind).toBe('open');
      if (r.kind === 'open') r.ws.terminate();
    });

    it('refuses an organization the key is not allowed for with 403', async () => {
      const h = await start();
      const r = await attemptUpgrade(`${h.url}${PATH}`, headersFor(h, { apiKey: ORG_BOUND_KEY }));
      expect(r).toMatchObject({ kind: 'rejected', status: 403, body: 'Forbidden' });
      expect(h.logger.find('upgrade rejected')[0]?.obj.code).toBe('organization-not-allowed');
    });

    it('refuses new upgrades with 503 and Retry-After while draining', async () => {
      const h = await start({ retryAfterSec: 7 });
      h.gateway.startDrain();
      const r = await attemptUpgrade(`${h.url}${PATH}`, headersFor(h, {}));
      expect(r).toMatchObject({ kind: 'rejected', status: 503 });
      if (r.kind === 'rejected') expect(r.headers['retry-after']).toBe('7');
      expect(r.elapsedMs).toBeLessThan(MIN_AUTH_FAILURE_DELAY_MS);
    });

    it('refuses upgrades beyond MAX_SESSIONS with 503 and Retry-After, and tells the refusal observer', async () => {
      const refused: string[] = [];
      const h = await start({ maxSessions: 1, onUpgradeRefused: (code) => refused.push(code) });
      await connect(h);
      const r = await attemptUpgrade(`${h.url}${PATH}`, headersFor(h, {}));
      expect(r).toMatchObject({ kind: 'rejected', status: 503 });
      if (r.kind === 'rejected') expect(r.headers['retry-after']).toBe('5');
      expect(h.gateway.stats().upgradesRejected.byCode['at-capacity']).toBe(1);
      expect(refused).toEqual(['at-capacity']);
    });

    it('does not count upgrades waiting out the failure delay against MAX_SESSIONS', async () => {
      // The failure delay is the only timer the gateway sets before a session exists: once it is set, the
      // bad upgrade has been verified and is waiting out its delay.
      let timersSet = 0;
      const h = await start({
        maxSessions: 1,
        timers: {
          setTimeout: (fn, ms) => {
            timersSet += 1;
            return systemTimers.setTimeout(fn, ms);
          },
        },
      });
      const failing = attemptUpgrade(`${h.url}${PATH}`, headersFor(h, { apiKey: 'no-such-key-999' }));
      await until(() => timersSet === 1);
      const good = await attemptUpgrade(`${h.url}${PATH}`, headersFor(h, {}));
      expect(good.kind).toBe('open');
      await expect(failing).resolves.toMatchObject({ kind: 'rejected', status: 401 });
      if (good.kind === 'open') good.ws.terminate();
    });

    it('refuses a second live socket with the same session id with 409', async () => {
      const h = await start();
      const ids = newIds();
      await connect(h, ids);
      const r = await attemptUpgrade(`${h.url}${PATH}`, headersFor(h, { ids }));
      expect(r).toMatchObject({ kind: 'rejected', status: 409 });
      expect(h.gateway.activeSessions()).toBe(1);
    });

    it('reloads the keys once and retries when an unknown key is presented', async () => {
      let reloads = 0;
      const h = await start({
        onUnknownApiKey: async () => {
          reloads += 1;
          harness?.keys.replaceAll(ApiKeyStore.parseJson({ 'rotated-key-004': SECRET }));
          return true;
        },
      });
      const r = await attemptUpgrade(`${h.url}${PATH}`, headersFor(h, { apiKey: 'rotated-key-004' }));
      expect(r.kind).toBe('open');
      expect(reloads).toBe(1);
      if (r.kind === 'open') r.ws.terminate();
    });

    it('never crashes on a client that resets the socket mid-handshake', async () => {
      const h = await start();
      const { connect: tcpConnect } = await import('node:net');
      const port = (h.gateway.server.address() as AddressInfo).port;
      await new Promise<void>((resolve) => {
        const s = tcpConnect(port, '127.0.0.1', () => {
          s.write(`GET ${PATH} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`);
          s.write(
            `X-API-KEY: ${SIGNED_KEY}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
          );
          s.resetAndDestroy();
          resolve();
        });
      });
      // Its refusal has been written to the reset socket (after the failure delay): the gateway survived it.
      await until(() => h.gateway.stats().upgradesRejected.total === 1);
      await expect(httpGet(h, '/health')).resolves.toMatchObject({ status: 200 });
    });
  });

  describe('sessions', () => {
    it('runs a signed session end to end: open → opened, close → closed, then forgets it', async () => {
      const seen: Array<{ sessionId: string; connection: ConnectionInfo }> = [];
      const ended: string[] = [];
      const h = await start({
        hooksFactory: (ctx) => {
          seen.push(ctx);
          const hooks: SessionHooks = { onEnd: (s) => ended.push(s.reason) };
          return hooks;
        },
      });
      const ids = newIds();
      const c = await connect(h, ids);
      expect(h.gateway.sessions().has(ids.sessionId)).toBe(true);
      expect(seen[0]?.connection).toMatchObject({
        sessionId: ids.sessionId,
        organizationId: ORG_ID,
        correlationId: ids.correlationId,
        apiKeyLabel: 'sign…',
        remoteAddress: '127.0.0.1',
      });

      c.sendOpen();
      const opened = await c.waitFor('opened');
      expect(opened).toMatchObject({ id: ids.sessionId, seq: 1, clientseq: 1 });
      expect(h.gateway.sessions().get(ids.sessionId)?.state).toBe('active');

      c.ws.send(Buffer.alloc(1600, 0xff)); // 100 ms of stereo PCMU silence
      c.sendClose('PT0.1S');
      const closed = await c.waitFor('closed');
      expect(closed).toMatchObject({ seq: 2, clientseq: 2 });
      expect(h.sinks.get(ids.sessionId)?.counts().samples.customer).toBe(800);

      c.ws.close(1000);
      await until(() => h.gateway.activeSessions() === 0);
      expect(ended).toEqual(['closed']);
      expect(h.gateway.stats()).toMatchObject({ sessionsTotal: 1, openLatencyMs: { count: 1 } });
    });

    it('forgets a connection probe as soon as its socket closes', async () => {
      const h = await start({ endGraceMs: 60_000 });
      const c = await connect(h);
      c.sendOpen({
        conversationId: '00000000-0000-0000-0000-000000000000',
        participantId: '00000000-0000-0000-0000-000000000000',
      });
      await c.waitFor('opened');
      c.sendClose();
      await c.waitFor('closed');
      c.ws.close(1000);
      await until(() => h.gateway.activeSessions() === 0, 2000);
    });

    it('disconnects a client that sends a text message over 65 535 characters', async () => {
      const h = await start();
      const c = await connect(h);
      c.sendOpen();
      await c.waitFor('opened');
      c.ws.send(JSON.stringify({ padding: 'x'.repeat(70_000) }));
      const d = await c.waitFor('disconnect');
      expect(d.parameters).toMatchObject({ reason: 'error' });
    });

    it('disconnects a client that sends malformed JSON', async () => {
      const h = await start();
      const c = await connect(h);
      c.ws.send('{"version":"2",');
      const d = await c.waitFor('disconnect');
      expect(d.parameters).toMatchObject({ reason: 'error' });
    });

    it('keeps sessions isolated: one misbehaving client does not disturb another', async () => {
      const h = await start();
      const good = await connect(h);
      const bad = await connect(h);
      good.sendOpen();
      bad.sendOpen();
      await Promise.all([good.waitFor('opened'), bad.waitFor('opened')]);

      bad.ws.send('not json at all');
      bad.ws.send(Buffer.alloc(70_000));
      await bad.waitFor('disconnect');
      bad.ws.terminate();

      good.send('ping', {});
      await good.waitFor('pong');
      expect(good.received.some((m) => m.type === 'disconnect')).toBe(false);
      expect(h.gateway.sessions().get(good.ids.sessionId)?.state).toBe('active');
      good.sendClose();
      await good.waitFor('closed');
    });

    it('closes the socket (1011) when the sink factory throws, without affecting other sessions', async () => {
      let calls = 0;
      const h = await start({
        sinkFactory: () => {
          calls += 1;
          if (calls === 1) throw new Error('sink exploded');
          return new NullSink();
        },
      });
      const broken = await connect(h);
      await expect(broken.closed).resolves.toMatchObject({ code: 1011 });
      const fine = await connect(h);
      fine.sendOpen();
      await fine.waitFor('opened');
      expect(h.logger.find('session setup failed')).toHaveLength(1);
    });
  });

  describe('drain', () => {
    it("resolves 'idle' when the last session ends", async () => {
      const h = await start();
      const c = await connect(h);
      c.sendOpen();
      await c.waitFor('opened');
      const drained = h.gateway.drain(10_000);
      await new Promise((r) => setTimeout(r, 50));
      c.sendClose();
      await c.waitFor('closed');
      c.ws.close(1000);
      await expect(drained).resolves.toBe('idle');
    });

    it("resolves 'idle' at once when no session is live", async () => {
      const h = await start();
      await expect(h.gateway.drain(10_000)).resolves.toBe('idle');
    });

    it("resolves 'deadline' when sessions outlive it, and closeAll then ends them", async () => {
      const h = await start();
      const c = await connect(h);
      c.sendOpen();
      await c.waitFor('opened');
      const t0 = performance.now();
      await expect(h.gateway.drain(200)).resolves.toBe('deadline');
      expect(performance.now() - t0).toBeGreaterThanOrEqual(190);
      expect(h.gateway.activeSessions()).toBe(1);

      // A well-behaved client answers the disconnect with close and then closes the socket.
      c.ws.on('message', (data) => {
        const msg = JSON.parse(String(data)) as { type: string };
        if (msg.type === 'disconnect') c.sendClose();
        if (msg.type === 'closed') c.ws.close(1000);
      });
      await h.gateway.closeAll('service shutting down');
      expect(c.received.find((m) => m.type === 'disconnect')?.parameters).toEqual({
        reason: 'error',
        info: 'service shutting down',
      });
      expect(h.gateway.activeSessions()).toBe(0);
    });
  });

  describe('logging through the real logger', () => {
    it('redacts credentials even if a caller logs headers', async () => {
      const lines: string[] = [];
      const destination = new Writable({
        write(chunk, _enc, cb) {
          lines.push(String(chunk));
          cb();
        },
      });
      const logger = createLogger({ level: 'debug', destination });
      logger.warn({ headers: { 'x-api-key': SIGNED_KEY, signature: 'sig1=:abc:', host: 'h' } }, 'headers');
      const h = await start({ logger });
      await attemptUpgrade(`${h.url}${PATH}`, headersFor(h, { apiKey: 'no-such-key-999' }));
      const all = lines.join('');
      expect(all).toContain('"code":"unknown-api-key"');
      expect(all).toContain('"host":"h"');
      expect(all).not.toContain(SIGNED_KEY);
      expect(all).not.toContain('no-such-key-999');
      expect(all).not.toContain('sig1=:abc:');
    });
  });
});

describe('admin server', () => {
  const admins: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    for (const a of admins.splice(0)) await a.close();
  });

  async function startAdmin(h: Harness) {
    const admin = createAdminServer({ gateway: h.gateway, logger: h.logger });
    admins.push(admin);
    await new Promise<void>((resolve) => admin.server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(admin.server.address() as AddressInfo).port}`;
    return { admin, base };
  }

  it('serves GET /metrics with session, rejection, process and latency figures', async () => {
    const h = await start();
    const { base } = await startAdmin(h);
    const c = await connect(h);
    c.sendOpen();
    await c.waitFor('opened');
    await attemptUpgrade(`${h.url}/elsewhere`, {});

    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    const m = (await res.json()) as Record<string, unknown>;
    expect(m).toMatchObject({
      sessions: 1,
      sessionsTotal: 1,
      upgradesRejected: { total: 1, byCode: { 'unknown-path': 1 } },
      openLatencyMs: { count: 1 },
    });
    for (const k of ['cpuUserMs', 'cpuSystemMs', 'rssBytes', 'heapUsedBytes']) expect(typeof m[k]).toBe('number');
    expect(m.rssBytes as number).toBeGreaterThan(0);
    expect(Object.keys(m.eventLoopDelayMs as object).sort()).toEqual(['max', 'p50', 'p99']);
  });

  it('zeroes the counters on POST /metrics/reset, keeping live sessions', async () => {
    const h = await start();
    const { base } = await startAdmin(h);
    await connect(h);
    await attemptUpgrade(`${h.url}/elsewhere`, {});
    expect((await fetch(`${base}/metrics/reset`, { method: 'POST' })).status).toBe(200);
    const m = (await (await fetch(`${base}/metrics`)).json()) as Record<string, unknown>;
    expect(m).toMatchObject({ sessions: 1, sessionsTotal: 0, upgradesRejected: { total: 0, byCode: {} } });
  });

  it('answers 405 for a known path with the wrong method and 404 otherwise', async () => {
    const h = await start();
    const { base } = await startAdmin(h);
    expect((await fetch(`${base}/metrics`, { method: 'DELETE' })).status).toBe(405);
    expect((await fetch(`${base}/nothing`)).status).toBe(404);
  });

  it('answers 500 when a route throws, and keeps serving', async () => {
    const h = await start();
    const { admin, base } = await startAdmin(h);
    admin.route('GET', '/boom', () => {
      throw new Error('route bug');
    });
    expect((await fetch(`${base}/boom`)).status).toBe(500);
    expect((await fetch(`${base}/metrics`)).status).toBe(200);
  });
});
