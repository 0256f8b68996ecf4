/**
 * The subscribe route's history and status replies (`"history": true`, `"status": true`), on DynamoDB
 * Local with the real repositories and a pusher that records frames: what a page opened mid-call or after
 * the call receives, in which order, paged under API Gateway's frame limit, and how refusals look.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subscriptionsTableName } from '../../contract/tables';
import { type SubscriberTranscriptMessage, toSubscriberMessage } from '../../core/delivery/transcript-message';
import { utteranceIdOf } from '../../core/transcript/utterance';
import { CredentialStore, inlineSource } from '../../lambdas/shared/credential-store';
import { loadWebSocketConfig } from '../../lambdas/shared/realtime-config';
import {
  type ConnectionPusher,
  type WebSocketDeps,
  type WebSocketEvent,
  webSocketDepsFromConfig,
} from '../../lambdas/shared/websocket';
import {
  HISTORY_MAX_FRAME_BYTES,
  HISTORY_MAX_ITEMS_PER_FRAME,
  makeHandler,
  packHistoryFrames,
} from '../../lambdas/websocket/subscribe/handler';
import { ConversationsRepository } from '../../store/conversations';
import { StoreUnavailableError } from '../../store/errors';
import { SubscriptionsRepository } from '../../store/subscriptions';
import { type StoredUtterance, UtterancesRepository } from '../../store/utterances';
import { setupDynamoDb, type TestDynamoDb } from '../helpers/dynamodb';
import { captureLogger, recordMetrics } from './helpers/api';

let db: TestDynamoDb;
let subscriptions: SubscriptionsRepository;
let utterances: UtterancesRepository;
let conversations: ConversationsRepository;

beforeAll(async () => {
  db = await setupDynamoDb();
  subscriptions = new SubscriptionsRepository(db.doc, { tableName: subscriptionsTableName(db.prefix) });
  utterances = new UtterancesRepository(db.doc, { tableName: db.tables.utterances });
  conversations = new ConversationsRepository(db.doc, { tableName: db.tables.conversations });
});
afterAll(async () => {
  await db?.stop();
});

type Frame = Record<string, unknown> & { type: string };

function setup(overrides: Partial<WebSocketDeps> = {}) {
  const sent: Frame[] = [];
  const raw: string[] = [];
  const pusher: ConnectionPusher = {
    async post(_connectionId, data) {
      raw.push(data);
      sent.push(JSON.parse(data));
      return 'sent';
    },
    async disconnect() {},
  };
  const deps: WebSocketDeps = {
    subscriptions,
    utterances,
    conversations,
    pusherFor: () => pusher,
    credentials: new CredentialStore(inlineSource({}), { ttlMs: 1000 }),
    supervisorApiIds: new Set(),
    logger: captureLogger(),
    metrics: recordMetrics(),
    ...overrides,
  };
  return { sent, raw, subscribe: makeHandler(deps) };
}

/** A connection opened with a token scoped to `conversationId` (what the page has). */
async function scopedConnection(conversationId: string): Promise<string> {
  const connectionId = `${randomUUID().slice(0, 12)}=`;
  await subscriptions.putConnection(
    { connectionId, apiId: 'page', grant: { kind: 'conversation', conversationId } },
    Date.now(),
  );
  return connectionId;
}

function frameEvent(connectionId: string, body: unknown): WebSocketEvent {
  return {
    requestContext: {
      routeKey: 'subscribe',
      eventType: 'MESSAGE',
      connectionId,
      domainName: 'ws.example.com',
      stage: 'test',
      requestId: randomUUID(),
    },
    body: JSON.stringify(body),
    isBase64Encoded: false,
  };
}

/** Stores utterances (in the order given) and returns them as stored. */
async function store(
  conversationId: string,
  specs: Array<{ role: 'customer' | 'agent'; startMs: number; text?: string }>,
): Promise<StoredUtterance[]> {
  const stored: StoredUtterance[] = [];
  for (let i = 0; i < specs.length; i += 25) {
    const batch = specs.slice(i, i + 25).map(async (s, j) => {
      const streamId = `${s.role}-stream`;
      const resultId = `r-${i + j}`;
      const put = await utterances.putFinal({
        conversationId,
        segment: 1,
        streamId,
        role: s.role,
        resultId,
        utteranceId: utteranceIdOf(conversationId, streamId, resultId),
        startMs: s.startMs,
        endMs: s.startMs + 800,
        text: s.text ?? `${s.role} at ${s.startMs}`,
        language: 'en-US',
        senderExternalId: s.role === 'customer' ? 'cust-1' : 'agent-7',
      });
      if (put.outcome !== 'created') throw new Error('duplicate test utterance');
      return put.item;
    });
    stored.push(...(await Promise.all(batch)));
  }
  return stored;
}

const historyItems = (sent: Frame[]) =>
  sent.filter((f) => f.type === 'history').flatMap((f) => f.items as SubscriberTranscriptMessage[]);

describe('subscribe with history', () => {
  it('answers subscribed, then the stored utterances oldest first as transcript messages, then the status', async () => {
    const conversationId = randomUUID();
    // Stored out of call order (the recognizer finalizes each channel at its own pace).
    const stored = await store(conversationId, [
      { role: 'customer', startMs: 4500 },
      { role: 'agent', startMs: 800 },
      { role: 'agent', startMs: 2500 },
    ]);
    const t = setup();
    const connectionId = await scopedConnection(conversationId);
    const result = await t.subscribe(
      frameEvent(connectionId, { action: 'subscribe', conversationId, history: true, id: 'h1' }),
    );

    expect(result).toEqual({ statusCode: 200 });
    expect(t.sent.map((f) => f.type)).toEqual(['subscribed', 'history', 'status']);
    expect(t.sent[1]).toMatchObject({ conversationId, complete: true, id: 'h1' });
    const byOffset = [...stored].sort((a, b) => a.startMs - b.startMs);
    // Exactly what the fan-out pushes for the same stored items: the page renders both the same way.
    expect(historyItems(t.sent)).toEqual(byOffset.map((u) => toSubscriberMessage(u)));
    expect(historyItems(t.sent).map((m) => m.autotranscribeResponse.start)).toEqual([800, 2500, 4500]);
    expect(t.sent[2]).toEqual({ type: 'status', conversationId, state: 'unknown', callEnded: false, id: 'h1' });
    expect(await subscriptions.connectionsOf(conversationId)).toContain(connectionId);
  });

  it('pages a long conversation: every frame within the item and byte limits, only the last one complete', async () => {
    const conversationId = randomUUID();
    const count = 520; // more than one DynamoDB read page (500) and several frames
    await store(
      conversationId,
      Array.from({ length: count }, (_, i) => ({ role: i % 2 ? 'customer' : 'agent', startMs: i * 1000 }) as const),
    );
    const t = setup();
    const connectionId = await scopedConnection(conversationId);
    await t.subscribe(frameEvent(connectionId, { action: 'subscribe', conversationId, history: true }));

    const frames = t.sent.filter((f) => f.type === 'history');
    expect(frames.length).toBe(Math.ceil(count / HISTORY_MAX_ITEMS_PER_FRAME));
    expect(frames.map((f) => f.complete)).toEqual(frames.map((_, i) => i === frames.length - 1));
    for (const f of frames) expect((f.items as unknown[]).length).toBeLessThanOrEqual(HISTORY_MAX_ITEMS_PER_FRAME);
    for (const r of t.raw) expect(Buffer.byteLength(r)).toBeLessThanOrEqual(HISTORY_MAX_FRAME_BYTES);
    const starts = historyItems(t.sent).map((m) => m.autotranscribeResponse.start);
    expect(starts).toEqual(Array.from({ length: count }, (_, i) => i * 1000));
    expect(t.sent.at(-1)?.type).toBe('status');
  });

  it('sends one empty, complete history frame for a conversation with nothing stored yet', async () => {
    const conversationId = randomUUID();
    const t = setup();
    await t.subscribe(
      frameEvent(await scopedConnection(conversationId), { action: 'subscribe', conversationId, history: true }),
    );
    expect(t.sent.filter((f) => f.type === 'history')).toEqual([
      { type: 'history', conversationId, items: [], complete: true },
    ]);
  });
});

describe('the status frame', () => {
  it('anchors the timeline at the first session and says when every session of the call has closed', async () => {
    const conversationId = randomUUID();
    const opened = Date.parse('2026-12-08T03:14:00.000Z');
    await conversations.registerSession({ conversationId, sessionId: randomUUID(), taskId: 'task-1' }, opened);
    const t = setup();
    const connectionId = await scopedConnection(conversationId);

    await t.subscribe(frameEvent(connectionId, { action: 'subscribe', conversationId, status: true }));
    expect(t.sent).toEqual([
      { type: 'subscribed', conversationId },
      {
        type: 'status',
        conversationId,
        state: 'idle',
        callEnded: false,
        timelineStartedAt: new Date(opened).toISOString(),
      },
    ]);

    const [session] = await conversations.listSessions(conversationId);
    await conversations.closeSession(conversationId, session?.sessionId as string, opened + 95_000, 'end');
    t.sent.length = 0;
    await t.subscribe(frameEvent(connectionId, { action: 'subscribe', conversationId, status: true, id: 's2' }));
    expect(t.sent.at(-1)).toEqual({
      type: 'status',
      conversationId,
      state: 'idle',
      callEnded: true,
      timelineStartedAt: new Date(opened).toISOString(),
      endedAt: new Date(opened + 95_000).toISOString(),
      id: 's2',
    });
  });

  it('reports the transcription state of the conversation (stopped after stop-streaming)', async () => {
    const conversationId = randomUUID();
    const now = Date.now();
    await conversations.registerSession({ conversationId, sessionId: randomUUID(), taskId: 'task-1' }, now);
    const params = {
      language: 'en-US',
      redactionOutput: 'unredacted',
      detailedToken: false,
      audioRecordingAllowed: false,
      customerId: 'cust-1',
      agentId: 'agent-7',
    } as const;
    await conversations.requestStart(conversationId, params, now);
    const t = setup();
    const connectionId = await scopedConnection(conversationId);
    await t.subscribe(frameEvent(connectionId, { action: 'subscribe', conversationId, status: true }));
    expect(t.sent.at(-1)).toMatchObject({ state: 'waiting-for-audio', callEnded: false });
    await conversations.requestStop(conversationId, now + 1000);
    await t.subscribe(frameEvent(connectionId, { action: 'subscribe', conversationId, status: true }));
    expect(t.sent.at(-1)).toMatchObject({ state: 'stopped', callEnded: false });
  });
});

describe('refusals', () => {
  it.each([
    [{ all: true, history: true }, 'history and status need a conversationId, not all: true'],
    [{ conversationId: 'c', history: 'yes' }, 'history must be true or false'],
    [{ conversationId: 'c', status: 1 }, 'status must be true or false'],
  ])('answers BAD_REQUEST to %j', async (fields, message) => {
    const t = setup();
    await t.subscribe(frameEvent(await scopedConnection('c'), { action: 'subscribe', ...fields }));
    expect(t.sent).toEqual([{ type: 'error', code: 'BAD_REQUEST', message }]);
  });

  it('sends no history of a conversation the connection may not subscribe to', async () => {
    const other = randomUUID();
    await store(other, [{ role: 'agent', startMs: 100, text: 'not yours' }]);
    const t = setup();
    await t.subscribe(
      frameEvent(await scopedConnection(randomUUID()), { action: 'subscribe', conversationId: other, history: true }),
    );
    expect(t.sent).toEqual([
      { type: 'error', code: 'FORBIDDEN', message: 'this connection may not subscribe to that conversation' },
    ]);
  });

  it('keeps the subscription and says UNSUPPORTED where no utterance reader is configured', async () => {
    const conversationId = randomUUID();
    const t = setup({ utterances: undefined });
    const connectionId = await scopedConnection(conversationId);
    await t.subscribe(frameEvent(connectionId, { action: 'subscribe', conversationId, history: true, id: 'x' }));
    expect(t.sent).toEqual([
      { type: 'subscribed', conversationId, id: 'x' },
      { type: 'error', code: 'UNSUPPORTED', message: 'this deployment does not serve history; live only', id: 'x' },
    ]);
    expect(await subscriptions.connectionsOf(conversationId)).toContain(connectionId);
  });

  it('keeps the subscription and says UNAVAILABLE (ask again) when the history cannot be read', async () => {
    const conversationId = randomUUID();
    const t = setup({
      utterances: {
        listByConversation: () => Promise.reject(new StoreUnavailableError('utterances.listByConversation throttled')),
      },
    });
    const connectionId = await scopedConnection(conversationId);
    await t.subscribe(frameEvent(connectionId, { action: 'subscribe', conversationId, history: true }));
    expect(t.sent.map((f) => [f.type, f.code])).toEqual([
      ['subscribed', undefined],
      ['error', 'UNAVAILABLE'],
    ]);
    expect(await subscriptions.connectionsOf(conversationId)).toContain(connectionId);
  });
});

describe('packHistoryFrames', () => {
  const message = (i: number, text: string, tokens = false): SubscriberTranscriptMessage => ({
    type: 'transcript',
    externalConversationId: 'c',
    streamId: 's',
    sender: { externalId: null, role: 'agent' },
    autotranscribeResponse: {
      message: 'transcript',
      start: i,
      end: i + 1,
      utterance: [
        {
          text,
          ...(tokens && {
            tokens: Array.from({ length: 4000 }, (_, k) => ({ content: 'word', start: k, end: k + 1 })),
          }),
        },
      ],
    },
    utteranceId: `u${i}`,
    createdTimestamp: '2026-12-08T03:14:04.000Z',
  });

  it('splits by bytes before the item limit when utterances are long', () => {
    const items = Array.from({ length: 30 }, (_, i) => message(i, 'x'.repeat(10_000)));
    const frames = packHistoryFrames('c', items, { last: true });
    expect(frames.length).toBeGreaterThan(1);
    for (const f of frames) expect(Buffer.byteLength(JSON.stringify(f))).toBeLessThanOrEqual(HISTORY_MAX_FRAME_BYTES);
    expect(frames.flatMap((f) => f.items)).toEqual(items);
  });

  it('sends an utterance too large for a frame without its word tokens, and marks no frame complete unless last', () => {
    const frames = packHistoryFrames('c', [message(1, 'short'), message(2, 'huge', true)], { last: false });
    expect(frames.every((f) => !f.complete)).toBe(true);
    const items = frames.flatMap((f) => f.items);
    expect(items.map((m) => m.autotranscribeResponse.utterance[0].text)).toEqual(['short', 'huge']);
    expect(items[1]?.autotranscribeResponse.utterance[0].tokens).toBeUndefined();
    expect(packHistoryFrames('c', [], { last: false })).toEqual([]);
  });
});

describe('configuration', () => {
  const base = { SUBSCRIPTIONS_TABLE: 'subs', API_CREDENTIALS_JSON: '{}', METRICS_ENABLED: 'false' };

  it('reads the history tables only when named, and builds their readers', () => {
    const config = loadWebSocketConfig({ ...base, UTTERANCES_TABLE: 'utt', CONVERSATIONS_TABLE: 'conv' });
    expect(config).toMatchObject({ utterancesTable: 'utt', conversationsTable: 'conv' });
    const deps = webSocketDepsFromConfig(config, 'ws-test');
    expect(deps.utterances).toBeInstanceOf(UtterancesRepository);
    expect(deps.conversations).toBeInstanceOf(ConversationsRepository);

    const liveOnly = loadWebSocketConfig(base);
    expect(liveOnly.utterancesTable).toBeUndefined();
    const plain = webSocketDepsFromConfig(liveOnly, 'ws-test');
    expect(plain.utterances).toBeUndefined();
    expect(plain.conversations).toBeUndefined();
  });
});
