import { randomUUID } from 'node:crypto';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StartParams } from '../../core/conversation/conversation';
import { ControlInbox } from '../../store/control-inbox';
import { ConversationsRepository } from '../../store/conversations';
import { inboxSk, taskPk } from '../../store/keys';
import { setupDynamoDb, type TestDynamoDb } from '../helpers/dynamodb';

// DynamoDB Local deletes items whose ttl has passed, so the fake clock sits at the real time.
const T0 = Math.floor(Date.now() / 1000) * 1000;

const PARAMS: StartParams = {
  language: 'en-US',
  redactionOutput: 'unredacted',
  detailedToken: true,
  audioRecordingAllowed: false,
  customerId: 'cust-1',
  agentId: 'agent-1',
};

describe('ControlInbox (DynamoDB Local)', () => {
  let db: TestDynamoDb;
  let inbox: ControlInbox;
  let conversations: ConversationsRepository;
  const task = () => `task-${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    db = await setupDynamoDb();
    inbox = new ControlInbox(db.doc, { tableName: db.tables.conversations, clock: { now: () => T0 } });
    conversations = new ConversationsRepository(db.doc, { tableName: db.tables.conversations });
  });

  afterAll(async () => {
    await db?.stop();
  });

  it('delivers a notification to each named task, and only to it', async () => {
    const [a, b, other] = [task(), task(), task()];
    const r = await inbox.notifyTasks('conv-1', 3, [a, b, a], { desired: 'on' });
    expect(r.notified.sort()).toEqual([a, b].sort());
    expect(r.skipped).toEqual([]);
    expect(await inbox.poll(a)).toEqual([
      { taskId: a, conversationId: 'conv-1', version: 3, desired: 'on', createdAt: new Date(T0).toISOString() },
    ]);
    expect(await inbox.poll(b)).toHaveLength(1);
    expect(await inbox.poll(other)).toEqual([]);
  });

  it('holds one item per conversation and never moves it backwards', async () => {
    const t = task();
    await inbox.notifyTasks('conv-2', 5, [t]);
    expect((await inbox.notifyTasks('conv-2', 4, [t])).skipped).toEqual([t]);
    expect((await inbox.notifyTasks('conv-2', 5, [t])).skipped).toEqual([t]);
    expect((await inbox.notifyTasks('conv-2', 6, [t])).notified).toEqual([t]);
    await inbox.notifyTasks('conv-3', 1, [t]);
    const items = await inbox.poll(t);
    expect(items.map((i) => [i.conversationId, i.version])).toEqual([
      ['conv-2', 6],
      ['conv-3', 1],
    ]);
  });

  it('keeps an item when acked with an older version than the one pending, removes it otherwise', async () => {
    const t = task();
    await inbox.notifyTasks('conv-4', 2, [t]);
    await inbox.notifyTasks('conv-4', 3, [t]);
    expect(await inbox.ack(t, 'conv-4', 2)).toBe('superseded');
    expect((await inbox.poll(t)).map((i) => i.version)).toEqual([3]);
    expect(await inbox.ack(t, 'conv-4', 3)).toBe('acked');
    expect(await inbox.poll(t)).toEqual([]);
    expect(await inbox.ack(t, 'conv-4', 3)).toBe('acked');
  });

  it('gives inbox items a short ttl so a dead task does not leave them forever', async () => {
    const t = task();
    await inbox.notifyTasks('conv-5', 1, [t]);
    const { Item } = await db.doc.send(
      new GetCommand({ TableName: db.tables.conversations, Key: { pk: taskPk(t), sk: inboxSk('conv-5') } }),
    );
    expect(Item?.ttl).toBe(T0 / 1000 + 3600);
  });

  it('reaches the task holding a session: register, start, list sessions, notify, poll, ack', async () => {
    const gatewayTask = task();
    const conversationId = `conv-${randomUUID()}`;
    const sessionId = randomUUID();
    // Gateway: session opens first and sees nothing to do.
    const reg = await conversations.registerSession({ conversationId, sessionId, taskId: gatewayTask }, T0);
    expect(reg.meta.desired).toBe('off');

    // Lambda: write META, then find the sessions and notify their tasks.
    const start = await conversations.requestStart(conversationId, PARAMS, T0 + 10);
    if (start.outcome !== 'started') throw new Error(start.outcome);
    const tasks = (await conversations.listSessions(conversationId, { openOnly: true })).map((s) => s.taskId);
    expect(tasks).toEqual([gatewayTask]);
    await inbox.notifyTasks(conversationId, start.meta.desiredVersion, tasks, { desired: 'on' });

    // Gateway poll loop: sees the change, re-reads META, applies it, acks.
    const [item] = await inbox.poll(gatewayTask);
    expect(item).toMatchObject({ conversationId, version: 1, desired: 'on' });
    const meta = await conversations.getMeta(conversationId);
    expect(meta?.desiredVersion).toBe(item?.version);
    const opened = await conversations.openSegment(
      conversationId,
      meta?.currentSegment ?? 0,
      { taskId: gatewayTask, sessionId },
      T0 + 20,
    );
    expect(opened.outcome).toBe('opened');
    expect(await inbox.ack(gatewayTask, conversationId, 1)).toBe('acked');
    expect(await inbox.poll(gatewayTask)).toEqual([]);
  });
});
