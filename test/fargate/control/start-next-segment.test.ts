/**
 * ConversationsRepository.startNextSegment (added for the gateway's renewal policy; the rest of the
 * repository is specified in test/store/conversations.test.ts), on DynamoDB Local.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StartParams } from '../../../core/conversation/conversation';
import { ConversationsRepository } from '../../../store/conversations';
import { setupDynamoDb, type TestDynamoDb } from '../../helpers/dynamodb';

const PARAMS: StartParams = {
  language: 'en-US',
  redactionOutput: 'redacted',
  detailedToken: true,
  audioRecordingAllowed: false,
  customerId: 'c',
  agentId: 'a',
};
const A = { taskId: 'task-a', sessionId: 'session-a' };
const B = { taskId: 'task-b', sessionId: 'session-b' };

let db: TestDynamoDb;
let repo: ConversationsRepository;

beforeAll(async () => {
  db = await setupDynamoDb();
  repo = new ConversationsRepository(db.doc, { tableName: db.tables.conversations });
});

afterAll(async () => {
  await db?.stop();
});

/** Started, opened by A, and closed by A's session ending: META still on. */
async function endedWhileOn(): Promise<string> {
  const id = randomUUID();
  await repo.requestStart(id, PARAMS, Date.now());
  await repo.openSegment(id, 1, A, Date.now());
  await repo.closeSegment(id, 1, Date.now());
  return id;
}

describe('ConversationsRepository.startNextSegment', () => {
  it('opens the next segment for the caller with fresh streamIds, visible in META', async () => {
    const id = await endedWhileOn();
    const before = await repo.getMeta(id);
    const r = await repo.startNextSegment(id, 1, B, Date.now());
    expect(r.outcome).toBe('opened');
    const meta = await repo.getMeta(id);
    const seg = await repo.getSegment(id, 2);
    expect(meta).toMatchObject({
      desired: 'on',
      status: 'transcribing',
      currentSegment: 2,
      desiredVersion: (before?.desiredVersion ?? 0) + 1,
    });
    expect(meta?.streamIds).toEqual(seg?.streamIds);
    expect(seg?.streamIds.customer).not.toBe(before?.streamIds?.customer);
    expect(seg).toMatchObject({ state: 'active', taskId: 'task-b', sessionId: 'session-b', params: PARAMS });
    expect(seg?.summary.customer).toEqual({
      totalAudioBytes: 0,
      audioDurationMs: 0,
      streamingSeconds: 0,
      transcripts: 0,
    });
  });

  it('lets exactly one of several racing sessions renew', async () => {
    const id = await endedWhileOn();
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        repo.startNextSegment(id, 1, { taskId: 't', sessionId: `s${i}` }, Date.now()),
      ),
    );
    expect(results.filter((r) => r.outcome === 'opened')).toHaveLength(1);
    expect((await repo.listSegments(id)).map((s) => s.segment)).toEqual([1, 2]);
  });

  it('refuses while the segment is still held, after a stop, and for a superseded segment', async () => {
    const held = randomUUID();
    await repo.requestStart(held, PARAMS, Date.now());
    await repo.openSegment(held, 1, A, Date.now());
    expect((await repo.startNextSegment(held, 1, B, Date.now())).outcome).toBe('stale');

    const stopped = await endedWhileOn();
    await repo.requestStop(stopped, Date.now());
    expect((await repo.startNextSegment(stopped, 1, B, Date.now())).outcome).toBe('stale');

    const moved = await endedWhileOn();
    await repo.startNextSegment(moved, 1, B, Date.now());
    const late = await repo.startNextSegment(moved, 1, A, Date.now());
    expect(late).toMatchObject({ outcome: 'stale', meta: { currentSegment: 2 } });
  });

  it('makes a stop racing the renewal stop the new segment (the version moved)', async () => {
    const id = await endedWhileOn();
    await repo.startNextSegment(id, 1, B, Date.now());
    const stop = await repo.requestStop(id, Date.now());
    expect(stop).toMatchObject({ outcome: 'stopped', segment: 2, segmentState: 'closing' });
  });
});
