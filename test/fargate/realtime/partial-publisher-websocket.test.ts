/**
 * Live partials end to end on this machine: the gateway's publisher reads the real Subscriptions table on
 * DynamoDB Local and posts through the real management API client to the local WebSocket front, where
 * `ws` clients that subscribed (to the conversation, or to all of them) receive the `partial` frame.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { subscriptionsTableName } from '../../../contract/tables';
import { silentLogger, systemClock } from '../../../core/ports';
import { type PartialUtterance, utteranceIdOf } from '../../../core/transcript/utterance';
import { PipelineStats } from '../../../fargate/src/control/metrics';
import { PartialPublisher } from '../../../fargate/src/realtime/partial-publisher';
import { subscriberLookup } from '../../../fargate/src/realtime/subscriber-lookup';
import { credentialEntry } from '../../../lambdas/authorizer/hash-secret';
import { CredentialStore, inlineSource } from '../../../lambdas/shared/credential-store';
import { listenWebSocketApi, type WebSocketFront } from '../../../local/websocket-front';
import { ManagementApiPusher, managementClient } from '../../../store/connection-pusher';
import { SubscriptionsRepository } from '../../../store/subscriptions';
import { setupDynamoDb, type TestDynamoDb } from '../../helpers/dynamodb';
import { captureLogger, recordMetrics } from '../../lambdas/helpers/api';

const SECRET = 'partials-test-api-secret-01';

let db: TestDynamoDb;
let front: WebSocketFront;
let management: string;
let wsUrl: string;
let subscriptions: SubscriptionsRepository;
const sockets: WebSocket[] = [];

beforeAll(async () => {
  db = await setupDynamoDb();
  subscriptions = new SubscriptionsRepository(db.doc, { tableName: subscriptionsTableName(db.prefix) });
  const credentials = new CredentialStore(
    inlineSource({
      ...(await credentialEntry({ apiId: 'app-1', secret: SECRET, salt: 'partials-salt-1' })),
      ...(await credentialEntry({ apiId: 'boss', secret: SECRET, salt: 'partials-salt-2' })),
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
    supervisorApiIds: new Set(['boss']),
    logger: captureLogger(),
    metrics: recordMetrics(),
  }));
});

afterEach(() => {
  for (const s of sockets.splice(0)) s.terminate();
});

afterAll(async () => {
  await front?.close();
  await db?.stop();
});

/** A connected client; `next()` resolves with the next frame it receives. */
async function connect(apiId: string) {
  const ws = new WebSocket(wsUrl, { headers: { 'asapp-api-id': apiId, 'asapp-api-secret': SECRET } });
  sockets.push(ws);
  const frames: Record<string, unknown>[] = [];
  let waiting: ((f: Record<string, unknown>) => void) | undefined;
  ws.on('message', (data) => {
    const frame = JSON.parse(data.toString()) as Record<string, unknown>;
    if (waiting) {
      const w = waiting;
      waiting = undefined;
      w(frame);
    } else frames.push(frame);
  });
  await new Promise<void>((ok, fail) => {
    ws.once('open', () => ok());
    ws.once('error', fail);
  });
  return {
    send: (frame: unknown) => ws.send(JSON.stringify(frame)),
    next: (): Promise<Record<string, unknown>> => {
      const queued = frames.shift();
      if (queued) return Promise.resolve(queued);
      return new Promise((ok, fail) => {
        const timer = setTimeout(() => fail(new Error('no frame within 5 s')), 5000);
        waiting = (f) => {
          clearTimeout(timer);
          ok(f);
        };
      });
    },
  };
}

describe('live partials through the local WebSocket front', () => {
  it('reach the conversation’s subscribers and the supervisors, and no one else', async () => {
    const conversationId = `conv-${randomUUID()}`;
    const watcher = await connect('app-1');
    watcher.send({ action: 'subscribe', conversationId });
    expect(await watcher.next()).toMatchObject({ type: 'subscribed', conversationId });
    const boss = await connect('boss');
    boss.send({ action: 'subscribe', all: true });
    expect(await boss.next()).toMatchObject({ type: 'subscribed', all: true });
    const bystander = await connect('app-1');
    bystander.send({ action: 'subscribe', conversationId: `other-${randomUUID()}` });
    expect(await bystander.next()).toMatchObject({ type: 'subscribed' });

    const stats = new PipelineStats();
    const publisher = new PartialPublisher({
      subscribers: subscriberLookup(subscriptions, { clock: systemClock }),
      pusher: new ManagementApiPusher(managementClient(management)),
      clock: systemClock,
      logger: silentLogger,
      counters: stats,
    });
    const partial: PartialUtterance = {
      conversationId,
      segment: 1,
      streamId: 'stream-agent',
      role: 'agent',
      resultId: 'result-9',
      startMs: 400,
      endMs: 1250,
      text: 'thanks for calling',
      language: 'en-US',
    };
    publisher.partial(partial);

    const expected = {
      type: 'partial',
      externalConversationId: conversationId,
      streamId: 'stream-agent',
      sender: { role: 'agent' },
      utteranceId: utteranceIdOf(conversationId, 'stream-agent', 'result-9'),
      autotranscribeResponse: {
        message: 'partial',
        start: 400,
        end: 1250,
        utterance: [{ text: 'thanks for calling' }],
      },
      language: 'en-US',
    };
    expect(await watcher.next()).toMatchObject(expected);
    expect(await boss.next()).toMatchObject(expected);
    await publisher.settled();
    expect(stats.snapshot().counters).toMatchObject({ partialsSent: 2, partialsFailed: 0 });
    // Posts are written before they are answered: the bystander's next frame is the answer to this, not a partial.
    bystander.send({ action: 'dance' });
    expect(await bystander.next()).toMatchObject({ type: 'error', code: 'UNKNOWN_ACTION' });
  });
});
