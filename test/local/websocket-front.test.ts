/**
 * The local WebSocket front with real `ws` clients, the real route handlers on DynamoDB Local, and the
 * fan-out pushing through the real `@aws-sdk/client-apigatewaymanagementapi` client pointed at the front's
 * secret management endpoint (and refused without it).
 */
import { randomUUID } from 'node:crypto';
import { type AddressInfo, connect as tcpConnect } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { subscriptionsTableName } from '../../contract/tables';
import { issueRealtimeToken } from '../../core/delivery/realtime-token';
import { credentialEntry } from '../../lambdas/authorizer/hash-secret';
import { makeHandler as makeFanout } from '../../lambdas/fanout/handler';
import { CredentialStore, inlineSource } from '../../lambdas/shared/credential-store';
import {
  createWebSocketFront,
  listenWebSocketApi,
  loadFrontListenConfig,
  type WebSocketFront,
} from '../../local/websocket-front';
import { ManagementApiPusher, managementClient } from '../../store/connection-pusher';
import { DeadLetterRepository, SubscriptionsRepository } from '../../store/subscriptions';
import { setupDynamoDb, type TestDynamoDb } from '../helpers/dynamodb';
import { insertRecord, storedItem, utteranceInput } from '../lambdas/fanout-helpers';
import { captureLogger, recordMetrics } from '../lambdas/helpers/api';

const SECRET = 'front-test-api-secret-0001';
const TOKEN_KEY = 'k'.repeat(40);

let db: TestDynamoDb;
let front: WebSocketFront;
/** The front's own URL (health, upgrades). */
let endpoint: string;
/** The management endpoint the SDK client is given: `endpoint` + `/_management/<secret>`. */
let management: string;
let wsUrl: string;
let subscriptions: SubscriptionsRepository;
const clients: WebSocket[] = [];

beforeAll(async () => {
  db = await setupDynamoDb();
  subscriptions = new SubscriptionsRepository(db.doc, { tableName: subscriptionsTableName(db.prefix) });
  const credentials = new CredentialStore(
    inlineSource({
      ...(await credentialEntry({ apiId: 'app-1', secret: SECRET, salt: 'front-salt-1' })),
      ...(await credentialEntry({ apiId: 'boss', secret: SECRET, salt: 'front-salt-2' })),
    }),
    { ttlMs: 60_000 },
  );
  ({
    front,
    url: wsUrl,
    managementEndpoint: management,
  } = await listenWebSocketApi({
    subscriptions,
    credentials,
    tokenKey: TOKEN_KEY,
    supervisorApiIds: new Set(['boss']),
    logger: captureLogger(),
    metrics: recordMetrics(),
  }));
  endpoint = wsUrl.replace(/^ws:/, 'http:');
});

afterEach(() => {
  for (const c of clients.splice(0)) c.terminate();
});

afterAll(async () => {
  await front?.close();
  await db?.stop();
});

/** A connected client that queues every frame it receives. */
interface Client {
  ws: WebSocket;
  next(timeoutMs?: number): Promise<Record<string, unknown>>;
  send(frame: unknown): void;
  frames: Record<string, unknown>[];
}

async function connect(options: { apiId?: string; secret?: string; token?: string } = {}): Promise<Client> {
  const headers =
    options.token === undefined
      ? { 'asapp-api-id': options.apiId ?? 'app-1', 'asapp-api-secret': options.secret ?? SECRET }
      : undefined;
  const url = options.token === undefined ? wsUrl : `${wsUrl}/?token=${encodeURIComponent(options.token)}`;
  const ws = new WebSocket(url, { headers });
  clients.push(ws);
  const frames: Record<string, unknown>[] = [];
  const waiting: ((f: Record<string, unknown>) => void)[] = [];
  let read = 0;
  ws.on('message', (data) => {
    frames.push(JSON.parse(data.toString()) as Record<string, unknown>);
    waiting.shift()?.(frames[frames.length - 1] as Record<string, unknown>);
  });
  await new Promise<void>((ok, fail) => {
    ws.once('open', () => ok());
    ws.once('unexpected-response', (_req, res) => fail(new Error(`handshake refused: ${res.statusCode}`)));
    ws.once('error', fail);
  });
  return {
    ws,
    frames,
    send: (frame) => ws.send(JSON.stringify(frame)),
    next(timeoutMs = 5000) {
      if (read < frames.length) return Promise.resolve(frames[read++] as Record<string, unknown>);
      return new Promise((ok, fail) => {
        const timer = setTimeout(() => fail(new Error('no frame')), timeoutMs);
        waiting.push((f) => {
          clearTimeout(timer);
          read++;
          ok(f);
        });
      });
    },
  };
}

function fanout() {
  return makeFanout({
    webhooks: [],
    websocket: { subscriptions, pusher: new ManagementApiPusher(managementClient(management)) },
    deadLetters: new DeadLetterRepository(db.doc, { tableName: subscriptionsTableName(db.prefix) }),
    retry: { maxAttemptsPerRun: 1, baseDelayMs: 1, maxDelayMs: 1, maxRetryAgeMs: 1000, requestTimeoutMs: 1000 },
    concurrency: 4,
    timeBudgetMs: 5000,
    logger: captureLogger(),
    metrics: recordMetrics(),
  });
}

const record = (conversationId: string, i: number) =>
  insertRecord(storedItem(utteranceInput(conversationId, i)) as never);

async function eventually(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('local WebSocket front', () => {
  it('subscribe, receive each transcript, unsubscribe, then receive nothing more', async () => {
    const client = await connect();
    const c = `conv-${randomUUID()}`;
    client.send({ action: 'subscribe', conversationId: c, id: '1' });
    expect(await client.next()).toEqual({ type: 'subscribed', conversationId: c, id: '1' });

    const handle = fanout();
    await handle({ Records: [record(c, 0), record(`other-${randomUUID()}`, 0), record(c, 1)] });
    const first = await client.next();
    const second = await client.next();
    expect([first.type, second.type]).toEqual(['transcript', 'transcript']);
    expect(first).toMatchObject({
      externalConversationId: c,
      sender: { role: 'customer', externalId: 'cust-0001' },
      autotranscribeResponse: {
        message: 'transcript',
        start: 0,
        end: 800,
        utterance: [{ text: 'utterance number 0' }],
      },
    });
    expect((second.autotranscribeResponse as { start: number }).start).toBe(1000);
    expect(typeof first.utteranceId).toBe('string');

    client.send({ action: 'unsubscribe', conversationId: c });
    expect(await client.next()).toEqual({ type: 'unsubscribed', conversationId: c });
    // The fan-out resolves only after its pushes were written to the socket; a frame sent after it is
    // answered after anything it pushed, so the next frame is that answer, not a transcript.
    await handle({ Records: [record(c, 2)] });
    client.send({ action: 'dance' });
    expect(await client.next()).toMatchObject({ type: 'error', code: 'UNKNOWN_ACTION' });
  });

  it('refuses the handshake without valid credentials (401)', async () => {
    await expect(connect({ secret: 'wrong-secret-value' })).rejects.toThrow('handshake refused: 401');
    await expect(connect({ token: 'rt1.bad.token' })).rejects.toThrow('handshake refused: 401');
  });

  it('refuses an unauthorised subscribe: another conversation on a scoped token, all conversations without supervisor', async () => {
    const { token } = issueRealtimeToken(TOKEN_KEY, 'app-1', { conversationId: 'c-mine' }, Date.now() / 1000, 60);
    const scoped = await connect({ token });
    scoped.send({ action: 'subscribe', conversationId: 'c-theirs' });
    expect(await scoped.next()).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
    scoped.send({ action: 'subscribe', all: true });
    expect(await scoped.next()).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
    scoped.send({ action: 'subscribe', conversationId: 'c-mine' });
    expect(await scoped.next()).toEqual({ type: 'subscribed', conversationId: 'c-mine' });

    const boss = await connect({ apiId: 'boss' });
    boss.send({ action: 'subscribe', all: true });
    expect(await boss.next()).toEqual({ type: 'subscribed', all: true });
    const c = `conv-${randomUUID()}`;
    await fanout()({ Records: [record(c, 0)] });
    expect(await boss.next()).toMatchObject({ type: 'transcript', externalConversationId: c });
  });

  it('routes unknown actions to $default and keeps the connection', async () => {
    const client = await connect();
    client.send({ action: 'dance' });
    expect(await client.next()).toMatchObject({ type: 'error', code: 'UNKNOWN_ACTION' });
    client.ws.send('not json');
    expect(await client.next()).toMatchObject({ type: 'error', code: 'BAD_REQUEST' });
    expect(client.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('cleans up on disconnect: the connection and its subscriptions are gone', async () => {
    const client = await connect();
    const c = `conv-${randomUUID()}`;
    client.send({ action: 'subscribe', conversationId: c });
    await client.next();
    const [connectionId] = await subscriptions.subscribersOf(c);
    expect(connectionId).toBeDefined();
    client.ws.close();
    await eventually(async () => (await subscriptions.subscribersOf(c)).length === 0);
    expect(await subscriptions.getConnection(connectionId as string)).toBeUndefined();
  });

  it('the fan-out deletes a subscription whose connection is gone (410 from the management API)', async () => {
    const c = `conv-${randomUUID()}`;
    const ghost = 'R2hvc3RDb25uZWN0aW9u';
    await subscriptions.putConnection({ connectionId: ghost, apiId: 'app-1', grant: { kind: 'any' } }, Date.now());
    expect(await subscriptions.subscribe(ghost, c, Date.now())).toBe('subscribed');
    await fanout()({ Records: [record(c, 0)] });
    expect(await subscriptions.subscribersOf(c)).toEqual([]);
    expect(await subscriptions.getConnection(ghost)).toBeUndefined();
  });

  it('answers 400 to an unparseable request target or connection id, and keeps serving', async () => {
    const { port } = front.server.address() as AddressInfo;
    const exchange = (text: string) =>
      new Promise<string>((ok, fail) => {
        const socket = tcpConnect(port, '127.0.0.1', () => socket.end(text));
        const chunks: Buffer[] = [];
        socket.on('data', (c) => chunks.push(c));
        socket.on('close', () => ok(Buffer.concat(chunks).toString('utf8')));
        socket.on('error', fail);
      });
    expect(await exchange('GET http://[ HTTP/1.1\r\nHost: x\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 /);
    expect(await exchange(`GET ${front.managementPath}/@connections/%ZZ HTTP/1.1\r\nHost: x\r\n\r\n`)).toMatch(
      /^HTTP\/1\.1 400 /,
    );
    const health = await fetch(`${endpoint}/health`);
    expect(health.status).toBe(200);
  });

  it('serves getConnection and deleteConnection of the management API', async () => {
    const client = await connect();
    const c = `conv-${randomUUID()}`;
    client.send({ action: 'subscribe', conversationId: c });
    await client.next();
    const [id] = await subscriptions.subscribersOf(c);
    const info = await fetch(`${management}/@connections/${encodeURIComponent(id as string)}`);
    expect(info.status).toBe(200);
    expect(await info.json()).toMatchObject({ Identity: { SourceIp: expect.any(String) } });
    const closed = new Promise<number>((ok) => client.ws.once('close', (code) => ok(code)));
    await new ManagementApiPusher(managementClient(management)).disconnect(id as string);
    expect(await closed).toBe(1000);
    const after = await fetch(`${management}/@connections/${encodeURIComponent(id as string)}`, {
      method: 'POST',
      body: '{}',
    });
    expect(after.status).toBe(410);
    expect(after.headers.get('x-amzn-errortype')).toBe('GoneException');
  });
});

describe('local WebSocket front: management API secret', () => {
  /** A live subscribed client and its connection id. */
  async function subscribed(): Promise<{ client: Client; id: string }> {
    const client = await connect();
    const c = `conv-${randomUUID()}`;
    client.send({ action: 'subscribe', conversationId: c });
    await client.next();
    const [id] = await subscriptions.subscribersOf(c);
    return { client, id: encodeURIComponent(id as string) };
  }

  it('answers 403 to every management call without the secret or with a wrong one, and delivers nothing', async () => {
    const { client, id } = await subscribed();
    const secret = front.managementPath.slice('/_management/'.length);
    const wrong = `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;
    const paths = [
      `/@connections/${id}`,
      `/local/@connections/${id}`,
      `/_management/${wrong}/@connections/${id}`,
      `/_management//@connections/${id}`,
      `/_management/${secret}/x/@connections/${id}`,
    ];
    for (const path of paths) {
      for (const method of ['POST', 'GET', 'DELETE']) {
        const res = await fetch(`${endpoint}${path}`, { method, ...(method === 'POST' && { body: '{"fake":1}' }) });
        expect(res.status, `${method} ${path}`).toBe(403);
        expect(await res.json()).toEqual({ message: 'Forbidden' });
      }
    }
    // The connection survived every DELETE, and the first frame it gets is the authorized push below.
    const pushed = await fetch(`${management}/@connections/${id}`, { method: 'POST', body: '{"real":1}' });
    expect(pushed.status).toBe(200);
    expect(await client.next()).toEqual({ real: 1 });
    expect(client.ws.readyState).toBe(WebSocket.OPEN);
  });

  it("the fan-out's SDK client keeps the endpoint's secret prefix; without it the push is refused", async () => {
    const { client, id } = await subscribed();
    await new ManagementApiPusher(managementClient(management)).post(decodeURIComponent(id), '{"via":"sdk"}');
    expect(await client.next()).toEqual({ via: 'sdk' });
    const refused = await new ManagementApiPusher(managementClient(endpoint))
      .post(decodeURIComponent(id), '{"via":"nosecret"}')
      .then(
        () => undefined,
        (err: unknown) => err as { $metadata?: { httpStatusCode?: number } },
      );
    expect(refused?.$metadata?.httpStatusCode).toBe(403);
  });

  it('still serves upgrades and health outside the management prefix (404 elsewhere)', async () => {
    const client = await connect();
    expect(client.ws.readyState).toBe(WebSocket.OPEN);
    expect((await fetch(`${endpoint}/health`)).status).toBe(200);
    expect((await fetch(`${endpoint}/nothing-here`)).status).toBe(404);
  });

  it('refuses a weak management secret, a non-loopback host and a bad LOCAL_WS_MANAGEMENT_SECRET', () => {
    const ok = async () => ({ statusCode: 200 });
    const routes = { $connect: ok, $disconnect: ok, $default: ok };
    expect(() => createWebSocketFront({ routes, managementSecret: 'short' })).toThrow(
      /managementSecret must be at least 32 characters/,
    );
    expect(() => loadFrontListenConfig({ LOCAL_WS_HOST: '0.0.0.0' })).toThrow(/LOCAL_WS_HOST must be a loopback/);
    expect(() => loadFrontListenConfig({ LOCAL_WS_MANAGEMENT_SECRET: 'a/b' })).toThrow(/LOCAL_WS_MANAGEMENT_SECRET/);
    const good = 'x'.repeat(43);
    expect(loadFrontListenConfig({ LOCAL_WS_HOST: '127.0.0.2', LOCAL_WS_MANAGEMENT_SECRET: good })).toEqual({
      host: '127.0.0.2',
      port: 8083,
      managementSecret: good,
    });
  });
});
