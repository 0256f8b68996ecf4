import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import type { ClientMessage, UnknownClientMessage } from '../../core/audiohook/messages';
import { type Connection, type ConnectionOptions, createConnection } from '../../fargate/src/audiohook/connection';
import { CaptureLogger } from '../helpers/capture-logger';
import { FakeTime } from './helpers/fake-time';

const SESSION_ID = '5ee0c4a6-9d3b-4f0c-8f0e-2b1f3c4d5e6f';

/** Records what the adapter feeds the session. */
class RecordingSession {
  messages: Array<ClientMessage | UnknownClientMessage> = [];
  invalid: string[] = [];
  audio: Uint8Array[] = [];
  closed: Array<{ code: number; reason: string }> = [];
  throwOn: 'message' | 'audio' | undefined;

  handleMessage(msg: ClientMessage | UnknownClientMessage): void {
    if (this.throwOn === 'message') throw new Error('session bug');
    this.messages.push(msg);
  }
  handleInvalid(reason: string): void {
    this.invalid.push(reason);
  }
  handleAudio(data: Uint8Array): void {
    if (this.throwOn === 'audio') throw new Error('session bug');
    this.audio.push(data);
  }
  handleTransportClosed(code: number, reason: string): void {
    this.closed.push({ code, reason });
  }
}

interface Pair {
  server: WebSocketServer;
  client: WebSocket;
  connection: Connection;
  session: RecordingSession;
  time: FakeTime;
  logger: CaptureLogger;
  onClosedCalls: number;
}

let pair: Pair | undefined;

async function open(opts: Partial<ConnectionOptions> & { autoPong?: boolean } = {}): Promise<Pair> {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false, maxPayload: 256 * 1024 });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const time = new FakeTime();
  const logger = new CaptureLogger();
  const session = new RecordingSession();
  const accepted = new Promise<Pair>((resolve) => {
    server.once('connection', (ws) => {
      const p: Pair = {
        server,
        client,
        session,
        time,
        logger,
        onClosedCalls: 0,
        connection: createConnection(ws, {
          logger,
          timers: time,
          onClosed: () => {
            p.onClosedCalls += 1;
          },
          ...opts,
        }),
      };
      p.connection.attach(session);
      resolve(p);
    });
  });
  const port = (server.address() as AddressInfo).port;
  const client = new WebSocket(`ws://127.0.0.1:${port}`, { autoPong: opts.autoPong ?? true });
  await new Promise<void>((resolve, reject) => {
    client.once('open', () => resolve());
    client.once('error', reject);
  });
  pair = await accepted;
  return pair;
}

afterEach(async () => {
  if (!pair) return;
  pair.client.terminate();
  await new Promise<void>((resolve) => pair?.server.close(() => resolve()));
  pair = undefined;
});

async function until(predicate: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Pings the server and resolves on its pong: everything sent before has been read by then. */
function roundTrip(ws: WebSocket): Promise<void> {
  return new Promise((resolve) => {
    ws.once('pong', () => resolve());
    ws.ping();
  });
}

function nextClose(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
}

const ping = (seq: number) =>
  JSON.stringify({ version: '2', id: SESSION_ID, type: 'ping', seq, serverseq: 0, position: 'PT0S', parameters: {} });

describe('connection adapter', () => {
  describe('text frames', () => {
    it('decodes a valid message and hands it to the session', async () => {
      const p = await open();
      p.client.send(ping(1));
      await until(() => p.session.messages.length === 1);
      expect(p.session.messages[0]).toMatchObject({ type: 'ping', seq: 1, id: SESSION_ID });
      expect(p.session.invalid).toEqual([]);
    });

    it('reports malformed JSON as invalid', async () => {
      const p = await open();
      p.client.send('{"version":');
      await until(() => p.session.invalid.length === 1);
      expect(p.session.messages).toEqual([]);
    });

    it('reports a message over 65 535 characters as too large without decoding it', async () => {
      const p = await open();
      p.client.send(`${ping(1).slice(0, -1)},"pad":"${'x'.repeat(65_600)}"}`);
      await until(() => p.session.invalid.length === 1);
      expect(p.session.invalid).toEqual(['message too large']);
      expect(p.session.messages).toEqual([]);
    });

    it('counts characters, not bytes: 65 535 multi-byte characters are not too large', async () => {
      const p = await open();
      p.client.send('é'.repeat(65_535)); // 131 070 bytes of UTF-8
      await until(() => p.session.invalid.length === 1);
      expect(p.session.invalid[0]).not.toBe('message too large');
    });
  });

  describe('binary frames', () => {
    it('hands audio over as a Uint8Array with the same bytes', async () => {
      const p = await open();
      const frame = Buffer.from(Array.from({ length: 320 }, (_, i) => i % 256));
      p.client.send(frame);
      await until(() => p.session.audio.length === 1);
      const got = p.session.audio[0] as Uint8Array;
      expect(got).toBeInstanceOf(Uint8Array);
      expect(Buffer.isBuffer(got)).toBe(false);
      expect(Buffer.from(got).equals(frame)).toBe(true);
    });

    it('accepts a frame of exactly 65 536 bytes and refuses a larger one', async () => {
      const p = await open();
      p.client.send(Buffer.alloc(65_536));
      p.client.send(Buffer.alloc(65_537));
      await until(() => p.session.invalid.length === 1);
      expect(p.session.audio).toHaveLength(1);
      expect(p.session.invalid).toEqual(['message too large']);
    });
  });

  describe('transport', () => {
    it('sends text to the client while open', async () => {
      const p = await open();
      const got = new Promise<string>((resolve) => p.client.once('message', (d) => resolve(String(d))));
      p.connection.transport.sendText('{"type":"pong"}');
      await expect(got).resolves.toBe('{"type":"pong"}');
    });

    it('drops text once the socket is closed instead of throwing', async () => {
      const p = await open();
      p.client.close(1000);
      await until(() => p.connection.closed);
      expect(() => p.connection.transport.sendText('{}')).not.toThrow();
    });

    it('closes with the given code and a reason cut to the WebSocket limit', async () => {
      const p = await open();
      const closed = nextClose(p.client);
      p.connection.transport.close(1008, 'é'.repeat(100));
      const { code, reason } = await closed;
      expect(code).toBe(1008);
      expect(Buffer.byteLength(reason)).toBeLessThanOrEqual(123);
    });
  });

  describe('socket end', () => {
    it('tells the session exactly once, with the close code and reason', async () => {
      const p = await open();
      p.client.close(1000, 'bye');
      await until(() => p.onClosedCalls === 1);
      expect(p.session.closed).toEqual([{ code: 1000, reason: 'bye' }]);
      expect(p.connection.closed).toBe(true);
    });

    it('closes with 1009 and tells the session once when a frame exceeds the hard payload cap', async () => {
      const p = await open();
      const closed = nextClose(p.client);
      p.client.send(Buffer.alloc(300 * 1024));
      await expect(closed).resolves.toMatchObject({ code: 1009 });
      await until(() => p.onClosedCalls === 1);
      // Our side never reads the peer's closing frame after a protocol error, so it records 1006.
      expect(p.session.closed).toHaveLength(1);
      expect(p.session.audio).toEqual([]);
      expect(p.logger.find('websocket error')).toHaveLength(1);
    });

    it('tells the session when the peer vanishes without a closing handshake', async () => {
      const p = await open();
      p.client.terminate();
      await until(() => p.session.closed.length === 1);
      expect(p.session.closed[0]?.code).toBe(1006);
      expect(p.onClosedCalls).toBe(1);
    });
  });

  describe('a session that throws', () => {
    it('closes that socket with 1011 and logs the error', async () => {
      const p = await open();
      p.session.throwOn = 'audio';
      const closed = nextClose(p.client);
      p.client.send(Buffer.alloc(160));
      await expect(closed).resolves.toMatchObject({ code: 1011 });
      expect(p.logger.find('session threw; closing its socket')).toHaveLength(1);
    });
  });

  describe('heartbeat', () => {
    it('pings every interval and keeps a peer that answers', async () => {
      const p = await open({ heartbeatIntervalMs: 30_000 });
      let pings = 0;
      p.client.on('ping', () => {
        pings += 1;
      });
      for (let i = 1; i <= 4; i++) {
        p.time.advance(30_000);
        await until(() => pings === i);
        // The automatic pong went out before the 'ping' event: once our own ping is answered, the server
        // has read that pong. (A control frame, not a message: any message would count as alive too.)
        await roundTrip(p.client);
      }
      expect(p.client.readyState).toBe(WebSocket.OPEN);
      expect(p.session.closed).toEqual([]);
    });

    it('terminates a peer after two unanswered pings', async () => {
      const p = await open({ heartbeatIntervalMs: 30_000, autoPong: false });
      let pings = 0;
      p.client.on('ping', () => {
        pings += 1;
      });
      p.time.advance(30_000);
      await until(() => pings === 1);
      p.time.advance(30_000);
      await until(() => pings === 2);
      expect(p.session.closed).toEqual([]);
      p.time.advance(30_000);
      await until(() => p.session.closed.length === 1);
      expect(p.session.closed[0]?.code).toBe(1006);
      expect(p.logger.find(/stopped answering pings/)).toHaveLength(1);
    });

    it('counts any incoming frame as a sign of life', async () => {
      const p = await open({ heartbeatIntervalMs: 30_000, autoPong: false });
      for (let i = 1; i <= 4; i++) {
        p.time.advance(30_000);
        p.client.send(Buffer.alloc(160));
        await until(() => p.session.audio.length === i);
      }
      expect(p.session.closed).toEqual([]);
    });

    it('stops pinging once the socket is closed', async () => {
      const p = await open({ heartbeatIntervalMs: 30_000 });
      p.client.close(1000);
      await until(() => p.connection.closed);
      expect(p.time.pendingCount).toBe(0);
    });
  });
});
