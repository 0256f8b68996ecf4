/**
 * The WebSocket route handlers ($connect, subscribe/unsubscribe, $disconnect, $default) and the token
 * route, on DynamoDB Local, with a pusher that records the frames instead of calling the management API.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subscriptionsTableName } from '../../contract/tables';
import { issueRealtimeToken, verifyRealtimeToken } from '../../core/delivery/realtime-token';
import { credentialEntry } from '../../lambdas/authorizer/hash-secret';
import { makeHandler as makeToken } from '../../lambdas/realtime-token/handler';
import { CredentialStore, inlineSource } from '../../lambdas/shared/credential-store';
import type { ConnectionPusher, WebSocketDeps, WebSocketEvent } from '../../lambdas/shared/websocket';
import { makeHandler as makeConnect } from '../../lambdas/websocket/connect/handler';
import { makeHandler as makeDefault } from '../../lambdas/websocket/default/handler';
import { makeHandler as makeDisconnect } from '../../lambdas/websocket/disconnect/handler';
import { makeHandler as makeSubscribe } from '../../lambdas/websocket/subscribe/handler';
import { StoreUnavailableError } from '../../store/errors';
import { ALL_CONVERSATIONS, SubscriptionsRepository } from '../../store/subscriptions';
import { setupDynamoDb, type TestDynamoDb } from '../helpers/dynamodb';
import { apiEvent, bodyOf, captureLogger, recordMetrics } from './helpers/api';

const TOKEN_KEY = 't'.repeat(40);
const SECRET = 'a-long-enough-api-secret';
let db: TestDynamoDb;
let credentials: CredentialStore;

beforeAll(async () => {
  db = await setupDynamoDb();
  credentials = new CredentialStore(
    inlineSource({
      ...(await credentialEntry({ apiId: 'app-agent', secret: SECRET, salt: 'salt-agent-1' })),
      ...(await credentialEntry({ apiId: 'app-super', secret: SECRET, salt: 'salt-super-1' })),
      'app-off': {
        ...(await credentialEntry({ apiId: 'app-off', secret: SECRET, salt: 'salt-off-12' }))['app-off'],
        disabled: true,
      },
    }),
    { ttlMs: 60_000 },
  );
});
afterAll(async () => {
  await db?.stop();
});

interface Sent {
  connectionId: string;
  frame: Record<string, unknown>;
}

function setup(overrides: Partial<WebSocketDeps> = {}) {
  const sent: Sent[] = [];
  const pusher: ConnectionPusher = {
    async post(connectionId, data) {
      sent.push({ connectionId, frame: JSON.parse(data) });
      return 'sent';
    },
    async disconnect() {},
  };
  const subscriptions = new SubscriptionsRepository(db.doc, {
    tableName: subscriptionsTableName(db.prefix),
    maxSubscriptionsPerConnection: 3,
  });
  const deps: WebSocketDeps = {
    subscriptions,
    pusherFor: () => pusher,
    credentials,
    tokenKey: TOKEN_KEY,
    supervisorApiIds: new Set(['app-super']),
    logger: captureLogger(),
    metrics: recordMetrics(),
    ...overrides,
  };
  return {
    deps,
    sent,
    subscriptions,
    connect: makeConnect(deps),
    subscribe: makeSubscribe(deps),
    disconnect: makeDisconnect(deps),
    fallback: makeDefault(deps),
  };
}

function event(routeKey: string, connectionId: string, extra: Partial<WebSocketEvent> = {}): WebSocketEvent {
  return {
    requestContext: {
      routeKey,
      eventType: routeKey === '$connect' ? 'CONNECT' : routeKey === '$disconnect' ? 'DISCONNECT' : 'MESSAGE',
      connectionId,
      domainName: 'ws.example.com',
      stage: 'test',
      requestId: randomUUID(),
    },
    isBase64Encoded: false,
    ...extra,
  };
}

const creds = (apiId: string, secret = SECRET) => ({ headers: { 'Asapp-Api-Id': apiId, 'asapp-api-secret': secret } });
const frame = (body: unknown) => ({ body: JSON.stringify(body) });
const newId = () => `${randomUUID().slice(0, 12)}=`;

describe('WebSocket API handlers', () => {
  describe('$connect', () => {
    it('accepts the REST credentials (headers, any case) and records what the connection may do', async () => {
      const t = setup();
      const id = newId();
      expect(await t.connect(event('$connect', id, creds('app-agent')))).toEqual({ statusCode: 200 });
      expect(await t.subscriptions.getConnection(id)).toMatchObject({ apiId: 'app-agent', grant: { kind: 'any' } });
      const sup = newId();
      await t.connect(event('$connect', sup, creds('app-super')));
      expect((await t.subscriptions.getConnection(sup))?.grant).toEqual({ kind: 'supervisor' });
    });

    it('refuses missing or wrong credentials with 401 and a disabled credential with 403, recording nothing', async () => {
      const t = setup();
      const ids = [newId(), newId(), newId(), newId()];
      expect((await t.connect(event('$connect', ids[0] as string))).statusCode).toBe(401);
      expect(
        (await t.connect(event('$connect', ids[1] as string, creds('app-agent', 'wrong-secret')))).statusCode,
      ).toBe(401);
      expect((await t.connect(event('$connect', ids[2] as string, creds('nobody')))).statusCode).toBe(401);
      expect((await t.connect(event('$connect', ids[3] as string, creds('app-off')))).statusCode).toBe(403);
      for (const id of ids) expect(await t.subscriptions.getConnection(id)).toBeUndefined();
      expect(JSON.stringify(t.deps.logger)).not.toContain(SECRET);
    });

    it('accepts a connect token and grants exactly its scope', async () => {
      const t = setup();
      const id = newId();
      const { token } = issueRealtimeToken(TOKEN_KEY, 'app-agent', { conversationId: 'c-1' }, Date.now() / 1000, 60);
      expect(await t.connect(event('$connect', id, { queryStringParameters: { token } }))).toEqual({ statusCode: 200 });
      expect((await t.subscriptions.getConnection(id))?.grant).toEqual({ kind: 'conversation', conversationId: 'c-1' });
    });

    it('refuses an expired or forged token (401), and an all-conversations token of a non-supervisor (403)', async () => {
      const t = setup();
      const now = Date.now() / 1000;
      const expired = issueRealtimeToken(TOKEN_KEY, 'app-agent', { conversationId: 'c' }, now - 120, 60).token;
      const forged = issueRealtimeToken('f'.repeat(40), 'app-agent', { conversationId: 'c' }, now, 60).token;
      const demoted = issueRealtimeToken(TOKEN_KEY, 'app-agent', { all: true }, now, 60).token;
      const status = async (token: string) =>
        (await t.connect(event('$connect', newId(), { queryStringParameters: { token } }))).statusCode;
      expect(await status(expired)).toBe(401);
      expect(await status(forged)).toBe(401);
      expect(await status(demoted)).toBe(403);
      const noTokens = setup({ tokenKey: undefined });
      const ok = issueRealtimeToken(TOKEN_KEY, 'app-agent', { conversationId: 'c' }, now, 60).token;
      expect(
        (await noTokens.connect(event('$connect', newId(), { queryStringParameters: { token: ok } }))).statusCode,
      ).toBe(401);
    });
  });

  describe('while the subscriptions store is throttled or unreachable', () => {
    /** The real repository, with one method failing as it does after the SDK's retries. */
    function unavailable(method: 'putConnection' | 'getConnection') {
      const t = setup();
      const failing = Object.create(t.subscriptions) as typeof t.subscriptions;
      failing[method] = async () => {
        throw new StoreUnavailableError('subscriptions.put: ThrottlingException');
      };
      return setup({ subscriptions: failing });
    }

    it('$connect answers 503 (retry), not an internal error, and records nothing', async () => {
      const t = unavailable('putConnection');
      const id = newId();
      expect(await t.connect(event('$connect', id, creds('app-agent')))).toEqual({
        statusCode: 503,
        body: 'Service Unavailable',
      });
      expect(await t.subscriptions.getConnection(id)).toBeUndefined();
    });

    it('subscribe answers an UNAVAILABLE error frame echoing the id, so the client retries', async () => {
      const t = unavailable('getConnection');
      const id = newId();
      const result = await t.subscribe(
        event('subscribe', id, frame({ action: 'subscribe', conversationId: 'c-9', id: '7' })),
      );
      expect(result.statusCode).toBe(503);
      expect(t.sent).toEqual([
        { connectionId: id, frame: expect.objectContaining({ type: 'error', code: 'UNAVAILABLE', id: '7' }) },
      ]);
    });
  });

  describe('subscribe / unsubscribe', () => {
    async function connected(t: ReturnType<typeof setup>, apiId = 'app-agent') {
      const id = newId();
      await t.connect(event('$connect', id, creds(apiId)));
      return id;
    }

    it('subscribes to a conversation, answers subscribed (echoing id), and the fan-out can find it', async () => {
      const t = setup();
      const id = await connected(t);
      const c = `conv-${randomUUID()}`;
      expect(
        await t.subscribe(event('subscribe', id, frame({ action: 'subscribe', conversationId: c, id: 'req-1' }))),
      ).toEqual({
        statusCode: 200,
      });
      expect(t.sent).toEqual([{ connectionId: id, frame: { type: 'subscribed', conversationId: c, id: 'req-1' } }]);
      expect(await t.subscriptions.subscribersOf(c)).toContain(id);
      await t.subscribe(event('unsubscribe', id, frame({ action: 'unsubscribe', conversationId: c })));
      expect(t.sent.at(-1)?.frame).toEqual({ type: 'unsubscribed', conversationId: c });
      expect(await t.subscriptions.subscribersOf(c)).not.toContain(id);
    });

    it('lets only a supervisor subscribe to all conversations', async () => {
      const t = setup();
      const agent = await connected(t);
      const sup = await connected(t, 'app-super');
      expect((await t.subscribe(event('subscribe', agent, frame({ action: 'subscribe', all: true })))).statusCode).toBe(
        403,
      );
      expect(t.sent.at(-1)?.frame).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
      expect((await t.subscribe(event('subscribe', sup, frame({ action: 'subscribe', all: true })))).statusCode).toBe(
        200,
      );
      expect(t.sent.at(-1)?.frame).toEqual({ type: 'subscribed', all: true });
      const anyConversation = `conv-${randomUUID()}`;
      const subscribers = await t.subscriptions.subscribersOf(anyConversation);
      expect(subscribers).toContain(sup);
      expect(subscribers).not.toContain(agent);
    });

    it('holds a token-scoped connection to its conversation', async () => {
      const t = setup();
      const id = newId();
      const { token } = issueRealtimeToken(TOKEN_KEY, 'app-agent', { conversationId: 'c-mine' }, Date.now() / 1000, 60);
      await t.connect(event('$connect', id, { queryStringParameters: { token } }));
      expect(
        (await t.subscribe(event('subscribe', id, frame({ action: 'subscribe', conversationId: 'c-other' }))))
          .statusCode,
      ).toBe(403);
      expect(
        (await t.subscribe(event('subscribe', id, frame({ action: 'subscribe', conversationId: 'c-mine' }))))
          .statusCode,
      ).toBe(200);
      expect(t.sent.map((s) => s.frame.type)).toEqual(['error', 'subscribed']);
    });

    it('refuses a connection it does not know, a malformed frame, and more than the subscription limit', async () => {
      const t = setup();
      expect(
        (await t.subscribe(event('subscribe', newId(), frame({ action: 'subscribe', conversationId: 'c' }))))
          .statusCode,
      ).toBe(403);
      const id = await connected(t);
      expect((await t.subscribe(event('subscribe', id, { body: 'not json' }))).statusCode).toBe(400);
      expect((await t.subscribe(event('subscribe', id, frame({ action: 'subscribe' })))).statusCode).toBe(400);
      expect(
        (await t.subscribe(event('subscribe', id, frame({ action: 'subscribe', conversationId: '*' })))).statusCode,
      ).toBe(400);
      for (const c of ['a', 'b', 'c'])
        await t.subscribe(event('subscribe', id, frame({ action: 'subscribe', conversationId: c })));
      expect(
        (await t.subscribe(event('subscribe', id, frame({ action: 'subscribe', conversationId: 'd' })))).statusCode,
      ).toBe(429);
      // Re-subscribing to one it holds is idempotent, not a fourth.
      expect(
        (await t.subscribe(event('subscribe', id, frame({ action: 'subscribe', conversationId: 'a' })))).statusCode,
      ).toBe(200);
      expect(t.sent.map((s) => s.frame.code ?? s.frame.type)).toEqual([
        'FORBIDDEN',
        'BAD_REQUEST',
        'BAD_REQUEST',
        'BAD_REQUEST',
        'subscribed',
        'subscribed',
        'subscribed',
        'TOO_MANY_SUBSCRIPTIONS',
        'subscribed',
      ]);
    });
  });

  it('$disconnect removes the connection and every subscription it held', async () => {
    const t = setup();
    const id = newId();
    await t.connect(event('$connect', id, creds('app-super')));
    const c = `conv-${randomUUID()}`;
    await t.subscribe(event('subscribe', id, frame({ action: 'subscribe', conversationId: c })));
    await t.subscribe(event('subscribe', id, frame({ action: 'subscribe', all: true })));
    expect(await t.subscriptions.subscriptionsOf(id)).toEqual(expect.arrayContaining([c, ALL_CONVERSATIONS]));
    expect(await t.disconnect(event('$disconnect', id))).toEqual({ statusCode: 200 });
    expect(await t.subscriptions.getConnection(id)).toBeUndefined();
    expect(await t.subscriptions.subscriptionsOf(id)).toEqual([]);
    expect(await t.subscriptions.subscribersOf(c)).not.toContain(id);
  });

  it('$default answers UNKNOWN_ACTION (or BAD_REQUEST for a frame that is not a JSON object)', async () => {
    const t = setup();
    await t.fallback(event('$default', 'x=', frame({ action: 'dance', id: 'q' })));
    await t.fallback(event('$default', 'x=', { body: '[1,2]' }));
    expect(t.sent.map((s) => s.frame)).toEqual([
      { type: 'error', code: 'UNKNOWN_ACTION', message: 'action must be subscribe or unsubscribe', id: 'q' },
      { type: 'error', code: 'BAD_REQUEST', message: 'frames must be JSON objects with an action' },
    ]);
  });
});

describe('POST /realtime/v1/token', () => {
  const settings = {
    tokenSecret: TOKEN_KEY,
    ttlSec: 120,
    supervisorApiIds: new Set(['app-super']),
    websocketUrl: 'wss://ws.example.com/prod',
  };
  const call = (body: unknown, apiId = 'app-agent', realtime: typeof settings | null = settings) => {
    const handler = makeToken({
      ...(realtime !== null && { realtime }),
      logger: captureLogger(),
      metrics: recordMetrics(),
      now: () => 1_737_000_000_000,
    });
    const e = apiEvent({ path: '/realtime/v1/token', body });
    (e.requestContext.authorizer as Record<string, unknown>).apiId = apiId;
    return handler(e);
  };

  it('issues a token scoped to a conversation, for the calling api id', async () => {
    const res = await call({ conversationId: 'c-1' });
    expect(res.statusCode).toBe(200);
    const body = bodyOf<{ token: string; expiresAt: string; expiresInSec: number; url: string }>(res);
    expect(body).toMatchObject({
      expiresAt: '2025-01-16T04:02:00.000Z',
      expiresInSec: 120,
      url: settings.websocketUrl,
    });
    expect(verifyRealtimeToken(TOKEN_KEY, body.token, 1_737_000_000)).toMatchObject({
      sub: 'app-agent',
      scope: { conversationId: 'c-1' },
    });
  });

  it('issues an all-conversations token to a supervisor only (403-01 otherwise)', async () => {
    expect((await call({ all: true }, 'app-super')).statusCode).toBe(200);
    const refused = await call({ all: true });
    expect(refused.statusCode).toBe(403);
    expect(bodyOf<{ error: { code: string } }>(refused).error.code).toBe('403-01');
  });

  it('answers 400-01 to a bad body and 404-01 when tokens are not enabled', async () => {
    expect(bodyOf<{ error: { code: string } }>(await call({})).error.code).toBe('400-01');
    expect(bodyOf<{ error: { code: string } }>(await call({ conversationId: '' })).error.code).toBe('400-01');
    expect(bodyOf<{ error: { code: string } }>(await call({ conversationId: 'c' }, 'app-agent', null)).error.code).toBe(
      '404-01',
    );
  });
});
