/**
 * The simulator CLIENT against a scripted server (test/local/simulator/scripted-server.ts). These use real
 * loopback sockets and real time — pacing is what is under test — with `speed` raised wherever the exact
 * wall-clock rate is not the subject, so the whole file runs in a few seconds.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { parseDurationSamples } from '../../../core/audiohook/duration';
import { NIL_UUID } from '../../../core/audiohook/messages';
import { verifyAudioHookSignature } from '../../../core/auth/signature';
import { toneSource } from '../../../local/simulator/audio-source';
import { runSimulatedSession } from '../../../local/simulator/client';
import { type SimulatedSessionOptions, SimulatorOptionsError } from '../../../local/simulator/options';
import {
  audioBytes,
  indexOfText,
  type ScriptedServer,
  type ScriptedServerOptions,
  startScriptedServer,
  type WireMessage,
} from './scripted-server';

const SECRET = 'TXlTdXBlclNlY3JldEtleVRlbGxOby0xITJAMyM0JDU=';
const API_KEY = 'SGVsbG8sIEkgYW0gdGhlIEFQSSBrZXkh';

let server: ScriptedServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function serve(opts: ScriptedServerOptions = {}): Promise<ScriptedServer> {
  server = await startScriptedServer(opts);
  return server;
}

function options(url: string, over: Partial<SimulatedSessionOptions> = {}): SimulatedSessionOptions {
  return {
    uri: url,
    apiKey: API_KEY,
    audio: toneSource({ format: 'PCMU', channels: 2, durationMs: 2000 }),
    speed: 10,
    ...over,
  };
}

/** Stereo PCMU: two bytes per sample position. */
const samplesOfStereoPcmu = (bytes: number) => bytes / 2;
const samples = (d: unknown) => parseDurationSamples(String(d));

describe('simulated AudioHook client', () => {
  describe('a normal monitored call (§9.4, client side)', () => {
    it('upgrades with the Genesys headers and no signature when there is no client secret', async () => {
      const s = await serve();
      const result = await runSimulatedSession(options(s.url, { probe: true }));
      const conn = s.connections[0];
      const open = conn?.texts('open')[0];
      expect(conn?.headers).toMatchObject({
        'x-api-key': API_KEY,
        'audiohook-session-id': result.sessionId,
        'audiohook-organization-id': open?.parameters.organizationId,
        'user-agent': 'GenesysCloud-AudioHook-Client',
      });
      expect(conn?.headers['audiohook-correlation-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(conn?.headers.signature).toBeUndefined();
      expect(conn?.headers['signature-input']).toBeUndefined();
      expect(conn?.target).toBe('/api/v1/audiohook/ws');
    });

    it('opens with the common fields and a Genesys-like offer, streams only after opened, pings and closes', async () => {
      const s = await serve();
      const result = await runSimulatedSession(options(s.url, { language: 'en-US', speed: 5 }));
      expect(result.outcome).toBe('closed');
      const conn = s.connections[0];
      if (!conn) throw new Error('no connection');
      const received = conn.received;

      const open = received[0]?.message as WireMessage;
      expect(open).toMatchObject({
        version: '2',
        id: result.sessionId,
        type: 'open',
        seq: 1,
        serverseq: 0,
        position: 'PT0S',
      });
      expect(open.parameters.media).toEqual([
        { type: 'audio', format: 'PCMU', channels: ['external', 'internal'], rate: 8000 },
        { type: 'audio', format: 'PCMU', channels: ['external'], rate: 8000 },
        { type: 'audio', format: 'PCMU', channels: ['internal'], rate: 8000 },
      ]);
      expect(open.parameters).toMatchObject({ language: 'en-US', participant: { ani: expect.any(String) } });
      expect(open.parameters.conversationId).not.toBe(NIL_UUID);

      // Audio: 200 ms stereo PCMU frames (3200 bytes), all of the 2 s call, none before `opened`.
      const frames = received.filter((r) => r.kind === 'binary');
      expect(frames.map((f) => f.bytes)).toEqual(Array(10).fill(3200));
      const firstOut = result.exchange.findIndex((e) => e.dir === 'out' && e.kind === 'binary');
      const opened = result.exchange.findIndex((e) => e.dir === 'in' && (e.message as WireMessage)?.type === 'opened');
      expect(opened).toBeGreaterThan(0);
      expect(firstOut).toBeGreaterThan(opened);
      expect(result.audioBytesSent).toBe(32_000);
      expect(result.audioMsSent).toBe(2000);

      // Sequencing: seq 1..n without gaps; serverseq = last server seq processed; position = audio so far.
      const texts = received.map((r, i) => ({ ...r, i })).filter((r) => r.kind === 'text');
      expect(texts.map((t) => t.message?.seq)).toEqual(texts.map((_, i) => i + 1));
      let lastServerSeq = 0;
      for (const e of result.exchange) {
        const m = e.message as WireMessage | undefined;
        if (e.dir === 'in' && m) lastServerSeq = m.seq;
        if (e.dir === 'out' && m) expect(m.serverseq).toBe(lastServerSeq);
      }
      for (const t of texts) {
        expect(samples(t.message?.position)).toBe(samplesOfStereoPcmu(audioBytes(received, 0, t.i)));
      }

      // Pings: the first without rtt, the second right after the first pong and carrying the rtt.
      const pings = conn.texts('ping');
      expect(pings.length).toBeGreaterThanOrEqual(2);
      expect(pings[0]?.parameters).toEqual({});
      expect(pings[1]?.parameters.rtt).toMatch(/^PT\d+(\.\d+)?S$/);
      const secondPingAt = received[indexOfText(received, 'ping', 1)]?.atMs ?? 0;
      const firstPingAt = received[indexOfText(received, 'ping', 0)]?.atMs ?? 0;
      expect(secondPingAt - firstPingAt).toBeLessThan(100);

      const close = conn.texts('close')[0];
      expect(close).toMatchObject({ parameters: { reason: 'end' }, position: 'PT2S' });
      expect(await conn.closed).toBe(1000);
      expect(result.closeCode).toBe(1000);
      expect(result.protocolErrors).toEqual([]);
      expect(result.opened?.media).toEqual([open.parameters.media[0]]);
      expect(result.openLatencyMs).toBeGreaterThanOrEqual(0);
    });

    it('records the full exchange in both directions', async () => {
      const s = await serve();
      const result = await runSimulatedSession(options(s.url));
      const inTypes = result.exchange.filter((e) => e.dir === 'in').map((e) => (e.message as WireMessage).type);
      expect(inTypes[0]).toBe('opened');
      expect(inTypes.at(-1)).toBe('closed');
      expect(result.serverMessages.map((m) => (m as WireMessage).type)).toEqual(inTypes);
      expect(result.exchange.filter((e) => e.kind === 'binary').length).toBe(10);
      const times = result.exchange.map((e) => e.atMs);
      expect(times).toEqual([...times].sort((a, b) => a - b));
    });

    it('keeps only text messages when asked to (long calls, benchmarks)', async () => {
      const s = await serve();
      const result = await runSimulatedSession(options(s.url, { record: 'text' }));
      expect(result.exchange.some((e) => e.kind === 'binary')).toBe(false);
      expect(result.audioBytesSent).toBe(32_000);
    });
  });

  describe('signed upgrade (§1.3)', () => {
    it('sends Signature-Input and Signature that verify with the shared secret', async () => {
      const s = await serve();
      await runSimulatedSession(options(s.url, { probe: true, clientSecret: SECRET }));
      const conn = s.connections[0];
      if (!conn) throw new Error('no connection');
      const verdict = verifyAudioHookSignature({
        signatureInput: String(conn.headers['signature-input']),
        signature: String(conn.headers.signature),
        request: { target: conn.target, authority: conn.headers.host, headers: conn.headers },
        secret: Buffer.from(SECRET, 'base64'),
        nowMs: Date.now(),
      });
      expect(verdict).toMatchObject({ ok: true, value: { keyid: API_KEY } });
    });

    it('honours fixed nonce/created/expires and can tamper the MAC, omit or add headers', async () => {
      const s = await serve();
      const created = Math.floor(Date.now() / 1000);
      await runSimulatedSession(
        options(s.url, {
          probe: true,
          clientSecret: SECRET,
          signing: {
            nonce: 'VGhpc0lzQVVuaXF1ZU5vbmNl',
            created,
            expires: created + 5,
            tamperSignature: true,
            omitHeaders: ['audiohook-correlation-id'],
            extraHeaders: { 'X-Test': 'yes' },
          },
        }),
      );
      const conn = s.connections[0];
      if (!conn) throw new Error('no connection');
      expect(conn.headers['signature-input']).toContain(
        `nonce="VGhpc0lzQVVuaXF1ZU5vbmNl";alg="hmac-sha256";created=${created};expires=${created + 5}`,
      );
      expect(conn.headers['audiohook-correlation-id']).toBeUndefined();
      expect(conn.headers['x-test']).toBe('yes');
      const verdict = verifyAudioHookSignature({
        signatureInput: String(conn.headers['signature-input']),
        signature: String(conn.headers.signature),
        // Put the omitted header back so only the tampered MAC can make verification fail.
        request: {
          target: conn.target,
          authority: conn.headers.host,
          headers: { ...conn.headers, 'audiohook-correlation-id': conn.headers['audiohook-session-id'] },
        },
        secret: Buffer.from(SECRET, 'base64'),
        nowMs: Date.now(),
      });
      expect(verdict.ok).toBe(false);
    });
  });

  describe('rejected upgrade', () => {
    it('reports outcome rejected with the HTTP status and body', async () => {
      const s = await serve({ onUpgrade: () => ({ status: 401, body: 'unknown API key' }) });
      const result = await runSimulatedSession(options(s.url));
      expect(result).toMatchObject({ outcome: 'rejected', httpStatus: 401, httpBody: 'unknown API key' });
      expect(result.opened).toBeUndefined();
      expect(result.audioBytesSent).toBe(0);
    });

    it('reports a refused TCP connection as a socket error', async () => {
      const s = await serve();
      const url = s.url;
      await s.close();
      server = undefined;
      const result = await runSimulatedSession(options(url));
      expect(result.outcome).toBe('socket-error');
      expect(result.failure).toMatch(/ECONNREFUSED/);
    });
  });

  describe('opened parameters (§4.3.1)', () => {
    it('startPaused: sends paused right after opened and streams nothing until resume', async () => {
      const s = await serve({
        opened: (open) => ({ startPaused: true, media: [open.parameters.media[0]] }),
        onMessage: (conn, m) => {
          if (m.type === 'paused') setTimeout(() => conn.send('resume'), 300);
          return false;
        },
      });
      const result = await runSimulatedSession(options(s.url, { speed: 2 }));
      const conn = s.connections[0];
      if (!conn) throw new Error('no connection');
      const r = conn.received;
      expect(r[1]?.message).toMatchObject({ type: 'paused', seq: 2, serverseq: 1, position: 'PT0S' });
      const resumedAt = indexOfText(r, 'resumed');
      expect(audioBytes(r, 0, resumedAt)).toBe(0);
      const resumed = r[resumedAt]?.message as WireMessage;
      expect(resumed.parameters.start).toBe('PT0S');
      const gap = samples(resumed.parameters.discarded) ?? 0;
      // 300 ms of wall time at speed 2 is ~600 ms of timeline, in whole 200 ms frames.
      expect(gap).toBeGreaterThanOrEqual(3200);
      expect(gap % 1600).toBe(0);
      expect(samples(resumed.position)).toBe(gap);
      expect(result.audioMsSent).toBe(2000 - gap / 8);
      expect(conn.texts('close')[0]?.position).toBe('PT2S');
      expect(result.outcome).toBe('closed');
    });

    it('discardTo: sends discarded rounded down to the frame grid, then streams from there', async () => {
      const s = await serve({ opened: (open) => ({ discardTo: 'PT1.3S', media: [open.parameters.media[0]] }) });
      const result = await runSimulatedSession(options(s.url));
      const conn = s.connections[0];
      if (!conn) throw new Error('no connection');
      const r = conn.received;
      expect(r[1]?.message).toMatchObject({
        type: 'discarded',
        position: 'PT1.2S',
        parameters: { start: 'PT0S', discarded: 'PT1.2S' },
      });
      expect(audioBytes(r, 0, 2)).toBe(0);
      expect(result.audioMsSent).toBe(800);
      expect(result.positionMs).toBe(2000);
    });

    it('discardTo with startPaused: discards first, then pauses', async () => {
      const s = await serve({
        opened: (open) => ({ discardTo: 'PT1S', startPaused: true, media: [open.parameters.media[0]] }),
        onMessage: (conn, m) => {
          if (m.type === 'paused') setTimeout(() => conn.send('resume'), 50);
          return false;
        },
      });
      await runSimulatedSession(options(s.url));
      const types = s.connections[0]?.texts().map((m) => m.type);
      expect(types?.slice(0, 4)).toEqual(['open', 'discarded', 'paused', 'resumed']);
      expect(s.connections[0]?.texts('resumed')[0]?.parameters.start).toBe('PT1S');
    });

    it('runs without audio when the server selects no media', async () => {
      const s = await serve({ opened: () => ({ media: [] }) });
      const result = await runSimulatedSession(options(s.url));
      expect(result.outcome).toBe('closed');
      expect(result.audioBytesSent).toBe(0);
      expect(s.connections[0]?.texts('close')[0]?.position).toBe('PT2S');
    });

    it('streams the mono channel the server picked', async () => {
      const s = await serve({ opened: (open) => ({ media: [open.parameters.media[2]] }) });
      const result = await runSimulatedSession(
        options(s.url, { audio: toneSource({ format: 'PCMU', channels: 2, durationMs: 1000, hz: [1000, 0] }) }),
      );
      expect(result.opened?.media[0]?.channels).toEqual(['internal']);
      expect(s.connections[0]?.received.filter((r) => r.kind === 'binary').map((r) => r.bytes)).toEqual(
        Array(5).fill(1600),
      );
    });

    it('offers the inverted channel order and a mono source’s single channel', async () => {
      const s = await serve();
      await runSimulatedSession(options(s.url, { probe: true, channelOrder: ['internal', 'external'] }));
      await runSimulatedSession(
        options(s.url, {
          probe: true,
          channelOrder: ['internal'],
          audio: toneSource({ format: 'L16', channels: 1, durationMs: 500 }),
        }),
      );
      const [inverted, mono] = s.connections.map((c) => c.texts('open')[0]?.parameters.media);
      expect(inverted?.map((m: WireMessage) => m.channels)).toEqual([
        ['internal', 'external'],
        ['internal'],
        ['external'],
      ]);
      expect(mono).toEqual([{ type: 'audio', format: 'L16', channels: ['internal'], rate: 8000 }]);
    });
  });

  describe('server pause and resume (§4.3.3)', () => {
    it('answers pause with paused, stops audio, and answers resume with resumed{start, discarded}', async () => {
      const s = await serve({
        onMessage: (conn, m) => {
          if (m.type === 'open') setTimeout(() => conn.send('pause'), 60);
          if (m.type === 'paused') setTimeout(() => conn.send('resume'), 100);
          return false;
        },
      });
      const result = await runSimulatedSession(options(s.url, { speed: 5 }));
      const conn = s.connections[0];
      if (!conn) throw new Error('no connection');
      const r = conn.received;
      const pausedAt = indexOfText(r, 'paused');
      const resumedAt = indexOfText(r, 'resumed');
      expect(pausedAt).toBeGreaterThan(0);
      expect(resumedAt).toBeGreaterThan(pausedAt);
      const paused = r[pausedAt]?.message as WireMessage;
      const resumed = r[resumedAt]?.message as WireMessage;
      // Everything before `paused` is exactly the audio up to its position; nothing flows while paused.
      expect(samples(paused.position)).toBe(samplesOfStereoPcmu(audioBytes(r, 0, pausedAt)));
      expect(audioBytes(r, pausedAt, resumedAt)).toBe(0);
      expect(resumed.parameters.start).toBe(paused.position);
      const gap = samples(resumed.parameters.discarded) ?? 0;
      expect(gap).toBeGreaterThan(0);
      expect(samples(resumed.position)).toBe((samples(paused.position) ?? 0) + gap);
      expect(result.audioMsSent + gap / 8).toBe(2000);
      expect(result.outcome).toBe('closed');
    });

    it('answers resume with paused while its own pause is in force', async () => {
      const s = await serve({
        onMessage: (conn, m) => {
          if (m.type === 'paused' && conn.texts('paused').length === 1) conn.send('resume');
          return false;
        },
      });
      await runSimulatedSession(
        options(s.url, {
          actions: [
            { atMs: 200, action: 'pause' },
            { atMs: 600, action: 'resume' },
          ],
        }),
      );
      const types = s.connections[0]?.texts().map((m) => m.type);
      expect(types?.filter((t) => t === 'paused' || t === 'resumed')).toEqual(['paused', 'paused', 'resumed']);
      expect(s.connections[0]?.texts('resumed')[0]?.parameters).toEqual({ start: 'PT0.2S', discarded: 'PT0.4S' });
    });
  });

  describe('scripted client actions on the audio timeline', () => {
    it('pauses, resumes, discards, updates the language, reports an error and closes at the given positions', async () => {
      const s = await serve();
      const result = await runSimulatedSession(
        options(s.url, {
          speed: 4,
          actions: [
            { atMs: 400, action: 'pause' },
            { atMs: 800, action: 'resume' },
            { atMs: 1000, action: 'discard', ms: 200 },
            { atMs: 1200, action: 'update', language: 'fr-CA' },
            { atMs: 1400, action: 'error', code: 429, message: 'slow down', retryAfterMs: 1500 },
            { atMs: 1600, action: 'close' },
          ],
        }),
      );
      const texts = s.connections[0]?.texts() ?? [];
      const pick = (type: string) => texts.find((m) => m.type === type);
      expect(pick('paused')).toMatchObject({ position: 'PT0.4S', parameters: {} });
      expect(pick('resumed')).toMatchObject({
        position: 'PT0.8S',
        parameters: { start: 'PT0.4S', discarded: 'PT0.4S' },
      });
      expect(pick('discarded')).toMatchObject({
        position: 'PT1.2S',
        parameters: { start: 'PT1S', discarded: 'PT0.2S' },
      });
      expect(pick('update')).toMatchObject({ position: 'PT1.2S', parameters: { language: 'fr-CA' } });
      expect(pick('error')).toMatchObject({ parameters: { code: 429, message: 'slow down', retryAfter: 'PT1.5S' } });
      expect(pick('close')).toMatchObject({ position: 'PT1.6S', parameters: { reason: 'end' } });
      // 0–0.4 s, 0.8–1.0 s and 1.2–1.6 s were streamed.
      expect(result.audioMsSent).toBe(1000);
      expect(result.outcome).toBe('closed');
    });

    it('ends gracefully with close{end} when aborted', async () => {
      const s = await serve();
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 300);
      const result = await runSimulatedSession(
        options(s.url, {
          speed: 1,
          audio: toneSource({ format: 'PCMU', channels: 2, durationMs: 10_000 }),
          signal: controller.signal,
        }),
      );
      expect(result.outcome).toBe('closed');
      expect(s.connections[0]?.texts('close')[0]?.parameters.reason).toBe('end');
      expect(result.positionMs).toBeLessThan(1000);
    });
  });

  describe('server-initiated end (§4.3.9)', () => {
    it('answers disconnect with close{reason: disconnect} and reports it', async () => {
      const s = await serve({
        onMessage: (conn, m) => {
          if (m.type === 'ping') conn.send('disconnect', { reason: 'completed', info: 'enough audio' });
          return false;
        },
      });
      const result = await runSimulatedSession(options(s.url));
      expect(result.outcome).toBe('disconnected');
      expect(result.disconnect).toEqual({ reason: 'completed', info: 'enough audio' });
      const close = s.connections[0]?.texts('close')[0];
      expect(close?.parameters).toEqual({ reason: 'disconnect' });
      expect(result.serverMessages.at(-1)).toMatchObject({ type: 'closed' });
    });

    it('answers a disconnect sent before open with close as its second message', async () => {
      const s = await serve({
        onConnection: (conn) => conn.send('disconnect', { reason: 'unauthorized' }, { clientseq: 0 }),
        onMessage: (_conn, m) => m.type === 'open',
      });
      const result = await runSimulatedSession(options(s.url));
      expect(result.outcome).toBe('disconnected');
      expect(s.connections[0]?.texts().map((m) => [m.type, m.seq])).toEqual([
        ['open', 1],
        ['close', 2],
      ]);
    });
  });

  describe('pacing', () => {
    it('streams in real time at speed 1: 1 s of audio takes about 1 s', async () => {
      const s = await serve();
      const result = await runSimulatedSession(
        options(s.url, { speed: 1, audio: toneSource({ format: 'PCMU', channels: 2, durationMs: 1000 }) }),
      );
      const r = s.connections[0]?.received ?? [];
      const openedToClose = (r[indexOfText(r, 'close')]?.atMs ?? 0) - (r[0]?.atMs ?? 0);
      expect(openedToClose).toBeGreaterThanOrEqual(800);
      expect(openedToClose).toBeLessThanOrEqual(1600);
      expect(r.filter((x) => x.kind === 'binary')).toHaveLength(5);
      expect(result.outcome).toBe('closed');
    });

    it('keeps 100 ms frames on schedule', async () => {
      const s = await serve();
      await runSimulatedSession(
        options(s.url, {
          speed: 1,
          frameMs: 100,
          audio: toneSource({ format: 'PCMU', channels: 2, durationMs: 1000 }),
        }),
      );
      const frames = (s.connections[0]?.received ?? []).filter((x) => x.kind === 'binary');
      expect(frames.map((f) => f.bytes)).toEqual(Array(10).fill(1600));
      const span = (frames.at(-1)?.atMs ?? 0) - (frames[0]?.atMs ?? 0);
      // Nine intervals of 100 ms; absolute scheduling keeps the sum from drifting.
      expect(span).toBeGreaterThanOrEqual(700);
      expect(span).toBeLessThanOrEqual(1300);
    });

    it('streams as fast as possible at speed 0', async () => {
      const s = await serve();
      const result = await runSimulatedSession(
        options(s.url, { speed: 0, audio: toneSource({ format: 'PCMU', channels: 2, durationMs: 60_000 }) }),
      );
      expect(result.outcome).toBe('closed');
      expect(result.audioMsSent).toBe(60_000);
      expect(result.durationMs).toBeLessThan(5000);
    });
  });

  describe('timeouts (§4.4)', () => {
    it('gives up on a server that never answers open: error 408, close{error}, outcome timeout', async () => {
      const s = await serve({ onMessage: (_c, m) => m.type === 'open' });
      const result = await runSimulatedSession(options(s.url, { openTimeoutMs: 300 }));
      expect(result.outcome).toBe('timeout');
      expect(result.failure).toMatch(/opened/);
      const texts = s.connections[0]?.texts() ?? [];
      expect(texts.map((m) => m.type)).toEqual(['open', 'error', 'close']);
      expect(texts[1]?.parameters).toEqual({ code: 408, message: 'Open transaction timeout' });
      expect(texts[2]?.parameters).toEqual({ reason: 'error' });
    });

    it('gives up on a server that never answers close, and closes the socket', async () => {
      const s = await serve({ onMessage: (_c, m) => m.type === 'close' });
      const result = await runSimulatedSession(options(s.url, { closeTimeoutMs: 200 }));
      expect(result.outcome).toBe('timeout');
      expect(s.connections[0]?.texts('error')[0]?.parameters).toEqual({
        code: 408,
        message: 'Close transaction timeout',
      });
      expect(await s.connections[0]?.closed).toBe(1000);
    });

    it('treats an unanswered ping as fatal when the next one is due', async () => {
      const s = await serve({ onMessage: (_c, m) => m.type === 'ping' });
      const result = await runSimulatedSession(
        options(s.url, { speed: 10, audio: toneSource({ format: 'PCMU', channels: 2, durationMs: 20_000 }) }),
      );
      expect(result.outcome).toBe('timeout');
      const texts = s.connections[0]?.texts() ?? [];
      expect(texts.find((m) => m.type === 'error')?.parameters).toEqual({
        code: 408,
        message: 'Timeout waiting for pong',
      });
      expect(texts.at(-1)?.parameters).toEqual({ reason: 'error' });
    });
  });

  describe('server protocol violations', () => {
    it('rejects an opened that selects media it did not offer (error 400, close{error})', async () => {
      const s = await serve({
        opened: () => ({ media: [{ type: 'audio', format: 'PCMU', channels: ['internal', 'external'], rate: 8000 }] }),
      });
      const result = await runSimulatedSession(options(s.url));
      expect(result.outcome).toBe('protocol-error');
      expect(result.protocolErrors[0]).toMatch(/not offered/);
      const texts = s.connections[0]?.texts() ?? [];
      expect(texts.map((m) => m.type)).toEqual(['open', 'error', 'close']);
      expect(texts[1]?.parameters.code).toBe(400);
      expect(result.audioBytesSent).toBe(0);
    });

    it('rejects an opened that selects more than one media', async () => {
      const s = await serve({ opened: (open) => ({ media: open.parameters.media.slice(0, 2) }) });
      const result = await runSimulatedSession(options(s.url));
      expect(result.outcome).toBe('protocol-error');
      expect(result.protocolErrors[0]).toMatch(/2 media/);
    });

    it('flags a gap in the server seq as fatal (error 500)', async () => {
      const s = await serve({
        onMessage: (conn, m) => {
          if (m.type !== 'ping') return false;
          conn.send('pong', {}, { seq: 7 });
          return true;
        },
      });
      const result = await runSimulatedSession(options(s.url, { closeTimeoutMs: 3000 }));
      expect(result.outcome).toBe('protocol-error');
      expect(result.protocolErrors).toEqual(["'pong' has seq 7, expected 2"]);
      expect(s.connections[0]?.texts('error')[0]?.parameters.code).toBe(500);
      // The client resynchronizes on the bad seq, so the close transaction still completes.
      expect(result.serverMessages.at(-1)).toMatchObject({ type: 'closed', seq: 8 });
    });

    it('flags malformed JSON, a missing parameters object and a foreign session id', async () => {
      for (const bad of [
        (conn: { sendRaw(d: string): void }) => conn.sendRaw('{"version":"2",'),
        (conn: { send(t: string, p?: object, o?: object): void }) => conn.send('pong', {}, { parameters: undefined }),
        (conn: { send(t: string, p?: object, o?: object): void }) => conn.send('pong', {}, { id: NIL_UUID }),
      ]) {
        const s = await startScriptedServer({
          onMessage: (conn, m) => {
            if (m.type !== 'ping') return false;
            bad(conn);
            return true;
          },
        });
        const result = await runSimulatedSession(options(s.url, { closeTimeoutMs: 3000 }));
        await s.close();
        expect(result.outcome).toBe('protocol-error');
        expect(result.protocolErrors).toHaveLength(1);
        expect(s.connections[0]?.texts('error')[0]?.parameters.code).toBe(400);
        expect(s.connections[0]?.texts('close')[0]?.parameters.reason).toBe('error');
      }
    });

    it('flags a binary frame from the server (error 415)', async () => {
      const s = await serve({
        onMessage: (conn, m) => {
          if (m.type === 'ping') conn.sendRaw(Buffer.from([1, 2, 3]));
          return false;
        },
      });
      const result = await runSimulatedSession(options(s.url));
      expect(result.outcome).toBe('protocol-error');
      expect(s.connections[0]?.texts('error')[0]?.parameters.code).toBe(415);
    });

    it('reports a non-fatal violation (pong without ping) and finishes the call', async () => {
      const s = await serve({
        onMessage: (conn, m) => {
          if (m.type === 'open') setTimeout(() => conn.send('pong'), 50);
          return false;
        },
      });
      const result = await runSimulatedSession(options(s.url));
      expect(result.outcome).toBe('protocol-error');
      expect(result.protocolErrors).toEqual(["'pong' without an outstanding ping"]);
      expect(s.connections[0]?.texts('error')[0]?.parameters.code).toBe(409);
      expect(s.connections[0]?.texts('close')[0]?.parameters.reason).toBe('end');
      expect(result.audioMsSent).toBe(2000);
    });

    it('reports a socket dropped mid-call as a socket error', async () => {
      const s = await serve({
        onMessage: (conn, m) => {
          if (m.type === 'ping') conn.terminate();
          return false;
        },
      });
      const result = await runSimulatedSession(options(s.url));
      expect(result.outcome).toBe('socket-error');
      expect(result.opened).toBeDefined();
    });
  });

  describe('connection probe (§6.2)', () => {
    it('opens with nil ids and empty strings, closes right after opened, sends no audio', async () => {
      const s = await serve();
      const result = await runSimulatedSession(options(s.url, { probe: true, supportedLanguages: true }));
      const texts = s.connections[0]?.texts() ?? [];
      expect(texts.map((m) => m.type)).toEqual(['open', 'error', 'close']);
      expect(texts[0]?.parameters).toMatchObject({
        conversationId: NIL_UUID,
        participant: { id: NIL_UUID, ani: '', aniName: '', dnis: '' },
        supportedLanguages: true,
      });
      // The scripted server omitted supportedLanguages although they were asked for: reported, not fatal.
      expect(result.protocolErrors[0]).toMatch(/supportedLanguages/);
      expect(result.audioBytesSent).toBe(0);
    });

    it('is a clean close when the server answers properly', async () => {
      const s = await serve({ opened: () => ({ media: [], supportedLanguages: ['en-US'] }) });
      const result = await runSimulatedSession(options(s.url, { probe: true, supportedLanguages: true }));
      expect(result.outcome).toBe('closed');
      expect(result.opened?.supportedLanguages).toEqual(['en-US']);
    });
  });

  describe('faults for negative tests', () => {
    it('skips a seq, breaks JSON, swaps the session id, oversizes a message, or sends audio before open', async () => {
      const s = await serve({ onMessage: (_c, m) => m.type === 'close' });
      const run = (faults: SimulatedSessionOptions['faults']) =>
        runSimulatedSession(options(s.url, { probe: true, faults, closeTimeoutMs: 100 }));
      await run({ seqGapAt: 2 });
      await run({ malformedJsonAt: 2 });
      await run({ wrongSessionIdAt: 2 });
      await run({ oversizedMessageAt: 2 });
      await run({ binaryBeforeOpen: true });
      const [gap, malformed, wrongId, oversized, early] = s.connections;
      expect(gap?.texts().map((m) => m.seq)).toEqual([1, 3, 4]);
      expect(malformed?.received[1]?.kind).toBe('text');
      expect(malformed?.received[1]?.message).toBeUndefined();
      expect(malformed?.received[1]?.raw).toMatch(/^\{"version":"2"/);
      expect(wrongId?.texts()[1]?.id).not.toBe(wrongId?.texts()[0]?.id);
      expect(JSON.stringify(oversized?.texts()[1]).length).toBeGreaterThan(65_535);
      expect(early?.received[0]).toMatchObject({ kind: 'binary', bytes: 3200 });
    });
  });

  describe('options', () => {
    it('rejects invalid options with SimulatorOptionsError', async () => {
      const audio = toneSource({ format: 'PCMU', channels: 2, durationMs: 100 });
      await expect(runSimulatedSession({ uri: 'http://x', apiKey: 'k', audio })).rejects.toThrow(SimulatorOptionsError);
      await expect(runSimulatedSession({ uri: 'ws://x', apiKey: 'k', audio, frameMs: 0.01 })).rejects.toMatchObject({
        code: 'SIM_INVALID_OPTIONS',
      });
      await expect(
        runSimulatedSession({ uri: 'ws://x', apiKey: 'k', audio, channelOrder: ['external'] }),
      ).rejects.toThrow(/channelOrder/);
    });
  });
});
