/**
 * Property-based fuzz of the WebSocket API (issue #14) against the real local front
 * (local/websocket-front.ts) and the real route handlers on DynamoDB Local: malformed connect
 * credentials and tokens, then random frames after connect (non-JSON, wrong or prototype actions, wrong
 * types, binary, invalid UTF-8, oversized). The properties: a handshake is accepted only for valid
 * credentials and otherwise refused with a documented status (docs/realtime.md §5: 401, 403); every frame
 * is answered with one documented frame (`subscribed`, `unsubscribed`, or an `error` with a documented
 * code), never the gateway's "Internal server error"; a protocol violation closes only that connection;
 * the server never fails and other connections keep working. Fixed seed, bounded runs.
 */
import { randomUUID } from 'node:crypto';
import { type AddressInfo, connect } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { subscriptionsTableName } from '../../contract/tables';
import { issueRealtimeToken } from '../../core/delivery/realtime-token';
import { credentialEntry } from '../../lambdas/authorizer/hash-secret';
import { CredentialStore, inlineSource } from '../../lambdas/shared/credential-store';
import type { WebSocketDeps } from '../../lambdas/shared/websocket';
import { createWebSocketFront, lazyPusher, type WebSocketFront, webSocketRoutes } from '../../local/websocket-front';
import { SubscriptionsRepository } from '../../store/subscriptions';
import { setupDynamoDb, type TestDynamoDb } from '../helpers/dynamodb';
import { anyJson, nastyString } from '../helpers/openapi-fuzz';
import { captureLogger, recordMetrics } from '../lambdas/helpers/api';

const SEED = 20_261_214;
const SECRET = 'ws-fuzz-api-secret-00000001';
const TOKEN_KEY = 't'.repeat(40);
/** Codes of `error` frames (docs/realtime.md §5 and §8). */
const ERROR_CODES = new Set([
  'BAD_REQUEST',
  'FORBIDDEN',
  'TOO_MANY_SUBSCRIPTIONS',
  'UNKNOWN_ACTION',
  'UNAVAILABLE',
  'INTERNAL',
]);
const MAX_PAYLOAD = 128 * 1024;

let db: TestDynamoDb;
let front: WebSocketFront;
let endpoint: string;
let wsUrl: string;
const handlerErrors: unknown[] = [];
const open: WebSocket[] = [];

beforeAll(async () => {
  db = await setupDynamoDb();
  const entries: Record<string, Record<string, unknown>> = {
    ...(await credentialEntry({ apiId: 'app-1', secret: SECRET })),
    ...(await credentialEntry({ apiId: 'boss', secret: SECRET })),
    ...(await credentialEntry({ apiId: 'app-off', secret: SECRET })),
  };
  (entries['app-off'] as Record<string, unknown>).disabled = true;
  const credentials = new CredentialStore(inlineSource(entries), { ttlMs: 300_000 });
  // The handlers' replies go through the management API under the front's secret prefix.
  const pusher = lazyPusher(() => `${endpoint}${front.managementPath}`);
  const deps: WebSocketDeps = {
    subscriptions: new SubscriptionsRepository(db.doc, { tableName: subscriptionsTableName(db.prefix) }),
    pusherFor: () => pusher,
    credentials,
    tokenKey: TOKEN_KEY,
    supervisorApiIds: new Set(['boss']),
    logger: captureLogger(),
    metrics: recordMetrics(),
  };
  front = createWebSocketFront({ routes: webSocketRoutes(deps), onError: (err) => handlerErrors.push(err) });
  await new Promise<void>((ok) => front.server.listen(0, '127.0.0.1', ok));
  const { port } = front.server.address() as AddressInfo;
  endpoint = `http://127.0.0.1:${port}`;
  wsUrl = `ws://127.0.0.1:${port}`;
});

afterAll(async () => {
  for (const ws of open.splice(0)) ws.terminate();
  await front?.close();
  await db?.stop();
});

/** A connected client that queues every frame it receives, and its close. */
interface Client {
  ws: WebSocket;
  next(): Promise<string>;
  closed: Promise<number>;
}

type Handshake = { ok: true; client: Client } | { ok: false; status: number };

function handshake(path: string, headers: Record<string, string | string[]>): Promise<Handshake> {
  const ws = new WebSocket(`${wsUrl}${path}`, { headers, maxPayload: 4 * MAX_PAYLOAD });
  open.push(ws);
  const frames: string[] = [];
  const waiting: ((f: string) => void)[] = [];
  ws.on('message', (data) => {
    const text = data.toString('utf8');
    const waiter = waiting.shift();
    if (waiter) waiter(text);
    else frames.push(text);
  });
  const closed = new Promise<number>((ok) => ws.once('close', (code) => ok(code)));
  const client: Client = {
    ws,
    closed,
    next: () => {
      const queued = frames.shift();
      if (queued !== undefined) return Promise.resolve(queued);
      return new Promise((ok, fail) => {
        waiting.push(ok);
        void closed.then((code) => fail(new Error(`closed (${code}) before answering`)));
      });
    },
  };
  return new Promise((ok, fail) => {
    ws.once('open', () => ok({ ok: true, client }));
    ws.once('unexpected-response', (_req, res) => {
      ok({ ok: false, status: res.statusCode ?? 0 });
      res.resume();
      ws.terminate();
    });
    ws.once('error', (err) => fail(err));
  });
}

async function connected(apiId = 'app-1'): Promise<Client> {
  const h = await handshake('/', { 'asapp-api-id': apiId, 'asapp-api-secret': SECRET });
  if (!h.ok) throw new Error(`handshake refused: ${h.status}`);
  return h.client;
}

/** Problems of one answer frame against docs/realtime.md §5 (empty when it is a documented frame). */
function frameProblems(text: string): string[] {
  let frame: Record<string, unknown>;
  try {
    frame = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return [`not JSON: ${text.slice(0, 120)}`];
  }
  if (frame.type === 'subscribed' || frame.type === 'unsubscribed') {
    const target = typeof frame.conversationId === 'string' || frame.all === true;
    return target ? [] : [`${frame.type} without conversationId or all: ${text}`];
  }
  if (frame.type !== 'error') return [`undocumented frame: ${text.slice(0, 160)}`];
  const problems: string[] = [];
  if (typeof frame.code !== 'string' || !ERROR_CODES.has(frame.code)) problems.push(`undocumented code: ${text}`);
  if (typeof frame.message !== 'string') problems.push(`error without message: ${text}`);
  if (frame.id !== undefined && typeof frame.id !== 'string') problems.push(`non-string id: ${text}`);
  return problems;
}

/** A frame as sent: text or binary, with a short form for counterexample reports. */
interface Frame {
  data: string | Buffer;
  binary: boolean;
}

const actions = fc.oneof(
  fc.constantFrom('subscribe', 'unsubscribe', '$default', '$connect', '$disconnect', '__proto__', 'constructor'),
  fc.constantFrom('toString', 'hasOwnProperty', 'SUBSCRIBE', ''),
  anyJson,
);

const frameArbitrary: fc.Arbitrary<Frame> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .record(
        {
          action: actions,
          conversationId: fc.oneof(fc.uuid(), nastyString, anyJson),
          all: fc.oneof(fc.constant(true), anyJson),
          id: fc.oneof(nastyString, fc.constant('i'.repeat(129)), anyJson),
          extra: anyJson,
        },
        { requiredKeys: [] },
      )
      .map((o) => ({ data: JSON.stringify(o), binary: false })),
  },
  {
    weight: 2,
    arbitrary: fc
      .oneof(
        fc.string({ maxLength: 40 }),
        anyJson.map((v) => JSON.stringify(v) ?? 'x'),
      )
      .map((data) => ({ data, binary: false })),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => ({ data: Buffer.from(b), binary: true })) },
);

/** Writes raw bytes on a fresh connection to the front and reads until the server closes it. */
function rawExchange(text: string): Promise<string> {
  const { port } = front.server.address() as AddressInfo;
  return new Promise((ok, fail) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(text));
    const chunks: Buffer[] = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('close', () => ok(Buffer.concat(chunks).toString('utf8')));
    socket.on('error', fail);
  });
}

describe('WebSocket API fuzz (the real local front and handlers)', () => {
  it('survives unparseable request targets on the handshake and on the management API', async () => {
    const upgrade = 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n';
    const requests = [
      'GET http://[ HTTP/1.1\r\nHost: x\r\n\r\n',
      'POST http://[/@connections/x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n',
      `GET http://[ HTTP/1.1\r\nHost: x\r\n${upgrade}Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
      'GET /@connections/%ZZ HTTP/1.1\r\nHost: x\r\n\r\n',
      `GET ${front.managementPath}/@connections/%ZZ HTTP/1.1\r\nHost: x\r\n\r\n`,
    ];
    for (const text of requests) {
      const answer = await rawExchange(text);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);
      // Answered with a client error, or the connection dropped without an answer; never a 5xx.
      expect(status === 0 || (status >= 400 && status < 500), answer.slice(0, 120)).toBe(true);
    }
    const client = await connected();
    client.ws.send('not json');
    expect(frameProblems(await client.next())).toEqual([]);
  });

  it('accepts only valid connect credentials or tokens, and refuses the rest with 401 or 403', async () => {
    const now = Math.floor(Date.now() / 1000);
    const good = issueRealtimeToken(TOKEN_KEY, 'app-1', { conversationId: 'c-1' }, now, 60).token;
    const expired = issueRealtimeToken(TOKEN_KEY, 'app-1', { conversationId: 'c-1' }, now - 3600, 60).token;
    const forged = issueRealtimeToken('f'.repeat(40), 'app-1', { all: true }, now, 60).token;
    const notSupervisor = issueRealtimeToken(TOKEN_KEY, 'app-1', { all: true }, now, 60).token;
    type Attempt = { path: string; headers: Record<string, string | string[]>; expect: 'open' | 'refused' };
    const attempt: fc.Arbitrary<Attempt> = fc.oneof(
      fc.constantFrom<Attempt>(
        { path: '/', headers: { 'asapp-api-id': 'app-1', 'asapp-api-secret': SECRET }, expect: 'open' },
        { path: `/?token=${good}`, headers: {}, expect: 'open' },
        { path: '/', headers: {}, expect: 'refused' },
        { path: '/', headers: { 'asapp-api-id': 'app-1' }, expect: 'refused' },
        { path: '/', headers: { 'asapp-api-id': 'app-off', 'asapp-api-secret': SECRET }, expect: 'refused' },
        { path: '/', headers: { 'asapp-api-id': '__proto__', 'asapp-api-secret': SECRET }, expect: 'refused' },
        { path: '/', headers: { 'asapp-api-id': 'app-1', 'asapp-api-secret': 'sécret-ÿ' }, expect: 'refused' },
        { path: `/?token=${expired}`, headers: {}, expect: 'refused' },
        { path: `/?token=${forged}`, headers: {}, expect: 'refused' },
        { path: `/?token=${notSupervisor}`, headers: {}, expect: 'refused' },
        { path: `/?token=${good}&token=x`, headers: {}, expect: 'refused' },
        { path: `/?__proto__=x&constructor=y&token=${good}`, headers: {}, expect: 'open' },
        { path: '/?token=%ZZ%C3%28', headers: {}, expect: 'refused' },
      ),
      fc.tuple(nastyString, fc.boolean()).map(
        ([junk, asToken]): Attempt =>
          asToken
            ? {
                path: `/?token=${encodeURIComponent(`rt1.${junk.replace(/[\ud800-\udfff]/g, '')}`)}`,
                headers: {},
                expect: 'refused',
              }
            : {
                path: '/',
                headers: { 'asapp-api-id': 'app-1', 'asapp-api-secret': `x${junk.replace(/[^\x20-\x7e]/g, '')}` },
                expect: 'refused',
              },
      ),
    );
    await fc.assert(
      fc.asyncProperty(attempt, async (a) => {
        const result = await handshake(a.path, a.headers);
        if (result.ok) {
          result.client.ws.terminate();
          if (a.expect !== 'open') throw new Error('handshake accepted');
        } else if (a.expect === 'open' || ![401, 403].includes(result.status)) {
          throw new Error(`handshake refused with ${result.status}`);
        }
      }),
      { seed: SEED, numRuns: 40 },
    );
    expect(handlerErrors).toEqual([]);
  });

  it('answers every frame with one documented frame and keeps the connection', async () => {
    const client = await connected();
    const witness = await connected('boss');
    await fc.assert(
      fc.asyncProperty(frameArbitrary, async (frame) => {
        client.ws.send(frame.data, { binary: frame.binary });
        const problems = frameProblems(await client.next());
        if (problems.length > 0) throw new Error(problems.join('; '));
      }),
      {
        seed: SEED,
        numRuns: 150,
        // Always tried, whatever the seed: storage-hostile ids, a prototype action, both targets at once.
        examples: [
          [{ data: JSON.stringify({ action: 'subscribe', conversationId: '\ud800', id: '\udfff' }), binary: false }],
          [{ data: JSON.stringify({ action: 'subscribe', conversationId: '\u0000'.repeat(255) }), binary: false }],
          [{ data: JSON.stringify({ action: 'unsubscribe', conversationId: '😀'.repeat(200) }), binary: false }],
          [{ data: JSON.stringify({ action: 'constructor', id: '1' }), binary: false }],
          [{ data: '{"action":"subscribe","__proto__":{"conversationId":"x"}}', binary: false }],
          [{ data: JSON.stringify({ action: 'subscribe', all: true, conversationId: 'c' }), binary: false }],
          [{ data: JSON.stringify({ action: 'subscribe', all: true }), binary: false }],
          [{ data: Buffer.from('{"action":"subscribe","conversationId":"c"}'), binary: true }],
        ],
      },
    );
    expect(client.ws.readyState).toBe(WebSocket.OPEN);
    witness.ws.send(JSON.stringify({ action: 'subscribe', all: true, id: 'w' }));
    expect(JSON.parse(await witness.next())).toEqual({ type: 'subscribed', all: true, id: 'w' });
    expect(handlerErrors).toEqual([]);
  });

  it('closes only the offending connection on invalid UTF-8 (1007) or an oversized frame (1009)', async () => {
    const witness = await connected();
    const conversationId = `conv-${randomUUID()}`;
    const cases: [Frame, number][] = [
      [{ data: Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d]), binary: false }, 1007],
      [{ data: Buffer.from([0xed, 0xa0, 0x80]), binary: false }, 1007],
      [{ data: JSON.stringify({ action: 'subscribe', conversationId: 'x'.repeat(MAX_PAYLOAD) }), binary: false }, 1009],
      [{ data: Buffer.alloc(MAX_PAYLOAD + 1), binary: true }, 1009],
    ];
    for (const [frame, code] of cases) {
      const victim = await connected();
      victim.ws.send(frame.data, { binary: frame.binary });
      expect(await victim.closed).toBe(code);
      witness.ws.send(JSON.stringify({ action: 'subscribe', conversationId, id: String(code) }));
      expect(JSON.parse(await witness.next())).toEqual({ type: 'subscribed', conversationId, id: String(code) });
    }
    // New connections are still accepted once the offenders are gone.
    const late = await connected();
    late.ws.send('not json');
    expect(frameProblems(await late.next())).toEqual([]);
    expect(handlerErrors).toEqual([]);
  });
});
