import { randomUUID } from 'node:crypto';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StartParams } from '../../core/conversation/conversation';
import { ConversationsRepository } from '../../store/conversations';
import { InvalidArgumentError, NotFoundError, StoreRequestRejectedError } from '../../store/errors';
import { conversationPk, META_SK } from '../../store/keys';
import { setupDynamoDb, type TestDynamoDb } from '../helpers/dynamodb';

// DynamoDB Local really deletes items whose ttl has passed, so test times sit near the real clock.
const T0 = Math.floor(Date.now() / 1000) * 1000;
const SEVEN_DAYS = 7 * 24 * 3600;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const PARAMS: StartParams = {
  language: 'en-US',
  redactionOutput: 'redacted',
  detailedToken: false,
  audioRecordingAllowed: false,
  customerId: 'cust-0001',
  agentId: 'agent-0042',
};

describe('ConversationsRepository (DynamoDB Local)', () => {
  let db: TestDynamoDb;
  let repo: ConversationsRepository;
  const newId = () => `conv-${randomUUID()}`;

  beforeAll(async () => {
    db = await setupDynamoDb();
    repo = new ConversationsRepository(db.doc, { tableName: db.tables.conversations, maxAttempts: 50 });
  });

  afterAll(async () => {
    await db?.stop();
  });

  describe('start and stop', () => {
    it('runs start → start (idempotent) → stop → stop (already stopped) → start (new segment, new streamIds)', async () => {
      const id = newId();

      const first = await repo.requestStart(id, PARAMS, T0);
      expect(first.outcome).toBe('started');
      if (first.outcome === 'conflict') throw new Error('unexpected');
      expect(first.segment).toBe(1);
      expect(first.streamIds.customer).toMatch(UUID);
      expect(first.streamIds.agent).toMatch(UUID);
      expect(first.streamIds.customer).not.toBe(first.streamIds.agent);
      expect(first.meta).toMatchObject({
        desired: 'on',
        desiredVersion: 1,
        status: 'waiting-for-audio',
        params: PARAMS,
      });

      const again = await repo.requestStart(id, { ...PARAMS, agentId: 'someone-else', language: 'es-US' }, T0 + 1000);
      expect(again.outcome).toBe('already-active');
      if (again.outcome === 'conflict') throw new Error('unexpected');
      expect(again.segment).toBe(1);
      expect(again.streamIds).toEqual(first.streamIds);
      // The running segment keeps its params; the changed start is a no-op.
      expect(again.meta.params).toEqual(PARAMS);
      expect(again.meta.desiredVersion).toBe(1);

      const stop = await repo.requestStop(id, T0 + 60_000);
      expect(stop).toMatchObject({ outcome: 'stopped', segment: 1, segmentState: 'closed' });
      expect(await repo.getMeta(id)).toMatchObject({ desired: 'off', desiredVersion: 2, status: 'stopped' });

      const stopAgain = await repo.requestStop(id, T0 + 61_000);
      expect(stopAgain).toMatchObject({ outcome: 'already-stopped', segment: 1 });
      expect((await repo.getMeta(id))?.desiredVersion).toBe(2);

      const restart = await repo.requestStart(id, { ...PARAMS, agentId: 'agent-0077' }, T0 + 120_000);
      expect(restart.outcome).toBe('started');
      if (restart.outcome === 'conflict') throw new Error('unexpected');
      expect(restart.segment).toBe(2);
      expect(restart.streamIds.customer).not.toBe(first.streamIds.customer);
      expect(restart.streamIds.agent).not.toBe(first.streamIds.agent);
      expect(restart.meta).toMatchObject({ desiredVersion: 3, params: { agentId: 'agent-0077' } });

      const segments = await repo.listSegments(id);
      expect(segments.map((s) => [s.segment, s.state])).toEqual([
        [1, 'closed'],
        [2, 'pending'],
      ]);
      expect(segments[0]?.streamIds).toEqual(first.streamIds);
      expect(segments[0]?.endedAt).toBe(new Date(T0 + 60_000).toISOString());
    });

    it('writes the segment with zeroed per-role summaries and a ttl seven days out', async () => {
      const id = newId();
      await repo.requestStart(id, PARAMS, T0);
      const seg = await repo.getSegment(id, 1);
      expect(seg?.summary).toEqual({
        customer: { totalAudioBytes: 0, audioDurationMs: 0, streamingSeconds: 0, transcripts: 0 },
        agent: { totalAudioBytes: 0, audioDurationMs: 0, streamingSeconds: 0, transcripts: 0 },
      });
      expect(seg?.ttl).toBe(T0 / 1000 + SEVEN_DAYS);
      expect((await repo.getMeta(id))?.ttl).toBe(T0 / 1000 + SEVEN_DAYS);
    });

    it('honours a configured retention in the ttl', async () => {
      const short = new ConversationsRepository(db.doc, { tableName: db.tables.conversations, retentionSeconds: 3600 });
      const id = newId();
      await short.requestStart(id, PARAMS, T0);
      const { Item } = await db.doc.send(
        new GetCommand({ TableName: db.tables.conversations, Key: { pk: conversationPk(id), sk: META_SK } }),
      );
      expect(Item?.ttl).toBe(T0 / 1000 + 3600);
    });

    it('answers unknown for a conversation neither started nor seen', async () => {
      expect(await repo.requestStop(newId(), T0)).toEqual({ outcome: 'unknown' });
    });

    it('answers not-started for a conversation seen (session) but never started', async () => {
      const id = newId();
      await repo.registerSession({ conversationId: id, sessionId: randomUUID(), taskId: 'task-a' }, T0);
      expect(await repo.requestStop(id, T0)).toMatchObject({ outcome: 'not-started' });
    });

    it('keeps one segment and one set of streamIds when many starts race', async () => {
      const id = newId();
      const results = await Promise.all(Array.from({ length: 12 }, () => repo.requestStart(id, PARAMS, T0)));
      const started = results.filter((r) => r.outcome === 'started');
      expect(started).toHaveLength(1);
      expect(results.filter((r) => r.outcome === 'already-active')).toHaveLength(11);
      const ids = new Set(
        results.map((r) => (r.outcome === 'conflict' ? 'conflict' : `${r.streamIds.customer}/${r.streamIds.agent}`)),
      );
      expect(ids.size).toBe(1);
      expect(await repo.listSegments(id)).toHaveLength(1);
    });

    it('loses no update when starts and stops race (desiredVersion = accepted changes)', async () => {
      const id = newId();
      const ops = Array.from({ length: 24 }, (_, i) =>
        i % 2 === 0 ? repo.requestStart(id, PARAMS, T0 + i) : repo.requestStop(id, T0 + i),
      );
      const results = await Promise.all(ops);
      const started = results.filter((r) => r.outcome === 'started').length;
      const stopped = results.filter((r) => r.outcome === 'stopped').length;
      expect(started).toBeGreaterThanOrEqual(1);

      const meta = await repo.getMeta(id);
      expect(meta?.desiredVersion).toBe(started + stopped);
      // Changes alternate: on, off, on, … so their counts differ by at most one, and the state is the last one.
      expect(started - stopped).toBe(meta?.desired === 'on' ? 1 : 0);
      const segments = await repo.listSegments(id);
      expect(segments).toHaveLength(started);
      expect(meta?.currentSegment).toBe(started);
      // Every segment but a still-running last one was closed by its stop.
      for (const seg of segments.slice(0, meta?.desired === 'on' ? -1 : undefined)) expect(seg.state).toBe('closed');
    });

    it('stamps each start and stop with the time of the attempt that applied it, so a stop never predates its segment', async () => {
      const id = newId();
      // One clock for every request, read per attempt: a stop that lost a race to a start and retried is
      // stamped after that start (with a time fixed at the request's arrival it could be stamped before).
      let tick = T0;
      const clock = () => ++tick;
      await Promise.all(
        Array.from({ length: 24 }, (_, i) =>
          i % 2 === 0 ? repo.requestStart(id, PARAMS, clock) : repo.requestStop(id, clock),
        ),
      );
      // However the storm went (its stops may all have come first), one more start and stop make sure at
      // least one segment carries a stop, so the check below cannot pass on no stops at all.
      await repo.requestStart(id, PARAMS, clock);
      expect((await repo.requestStop(id, clock)).outcome).toBe('stopped');
      const segments = await repo.listSegments(id);
      expect(segments.length).toBeGreaterThanOrEqual(1);
      for (const seg of segments) {
        if (seg.stopRequestedAt !== undefined) expect(seg.stopRequestedAt >= seg.startedAt).toBe(true);
      }
      expect(segments.some((seg) => seg.stopRequestedAt !== undefined)).toBe(true);
    });

    it('rejects an empty conversation id with a typed error', async () => {
      await expect(repo.requestStart('', PARAMS, T0)).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(repo.requestStart('', PARAMS, T0)).rejects.toMatchObject({ code: 'STORE_INVALID_ARGUMENT' });
    });
  });

  describe('sessions', () => {
    it('creates an idle META at version 0 when a session registers before any start', async () => {
      const id = newId();
      const sessionId = randomUUID();
      const reg = await repo.registerSession(
        { conversationId: id, sessionId, taskId: 'task-a', channels: ['external', 'internal'], mediaFormat: 'PCMU' },
        T0,
      );
      expect(reg.outcome).toBe('registered');
      expect(reg.meta).toMatchObject({ conversationId: id, desired: 'off', desiredVersion: 0, status: 'idle' });
      const [session] = await repo.listSessions(id);
      expect(session).toMatchObject({
        conversationId: id,
        sessionId,
        taskId: 'task-a',
        state: 'open',
        channels: ['external', 'internal'],
        mediaFormat: 'PCMU',
        openedAt: new Date(T0).toISOString(),
        ttl: T0 / 1000 + SEVEN_DAYS,
      });

      const start = await repo.requestStart(id, PARAMS, T0 + 5000);
      expect(start).toMatchObject({ outcome: 'started', segment: 1, meta: { desiredVersion: 1 } });
    });

    it('returns the recorded start to a session that registers after it (start before audio)', async () => {
      const id = newId();
      const start = await repo.requestStart(id, PARAMS, T0);
      const reg = await repo.registerSession({ conversationId: id, sessionId: randomUUID(), taskId: 'task-b' }, T0 + 1);
      expect(reg.meta).toMatchObject({
        desired: 'on',
        desiredVersion: 1,
        currentSegment: 1,
        status: 'waiting-for-audio',
      });
      if (start.outcome === 'conflict') throw new Error('unexpected');
      expect(reg.meta.streamIds).toEqual(start.streamIds);
      // The upsert left the recorded start untouched.
      expect((await repo.getMeta(id))?.params).toEqual(PARAMS);
    });

    it('is idempotent for the same task and refuses a session id held by another task', async () => {
      const id = newId();
      const sessionId = randomUUID();
      await repo.registerSession({ conversationId: id, sessionId, taskId: 'task-a' }, T0);
      expect((await repo.registerSession({ conversationId: id, sessionId, taskId: 'task-a' }, T0 + 1)).outcome).toBe(
        'registered',
      );
      expect((await repo.registerSession({ conversationId: id, sessionId, taskId: 'task-z' }, T0 + 2)).outcome).toBe(
        'conflict',
      );
      const sessions = await repo.listSessions(id);
      expect(sessions).toHaveLength(1);
      expect(sessions[0]?.taskId).toBe('task-a');
      expect(sessions[0]?.openedAt).toBe(new Date(T0).toISOString());
    });

    it('closes a session once, and lists only open ones on request', async () => {
      const id = newId();
      const a = randomUUID();
      const b = randomUUID();
      await repo.registerSession({ conversationId: id, sessionId: a, taskId: 'task-a' }, T0);
      await repo.registerSession({ conversationId: id, sessionId: b, taskId: 'task-b' }, T0);
      expect(await repo.closeSession(id, a, T0 + 10, 'end')).toBe('closed');
      expect(await repo.closeSession(id, a, T0 + 11)).toBe('already-closed');
      expect(await repo.closeSession(id, randomUUID(), T0 + 12)).toBe('not-found');
      expect((await repo.listSessions(id, { openOnly: true })).map((s) => s.taskId)).toEqual(['task-b']);
      const closed = (await repo.listSessions(id)).find((s) => s.sessionId === a);
      expect(closed).toMatchObject({ state: 'closed', closeReason: 'end', closedAt: new Date(T0 + 10).toISOString() });
      // A closed session cannot be revived by a late, retried registration.
      expect(
        (await repo.registerSession({ conversationId: id, sessionId: a, taskId: 'task-a' }, T0 + 20)).outcome,
      ).toBe('conflict');
    });
  });

  describe('segments (gateway side)', () => {
    async function started(id: string) {
      const r = await repo.requestStart(id, PARAMS, T0);
      if (r.outcome !== 'started') throw new Error(`expected started, got ${r.outcome}`);
      return r;
    }

    it('opens a pending segment for one session; a retry is already-open, another session is refused', async () => {
      const id = newId();
      await started(id);
      const opened = await repo.openSegment(id, 1, { taskId: 'task-a', sessionId: 's1' }, T0 + 100);
      expect(opened.outcome).toBe('opened');
      expect(opened.segment).toMatchObject({ state: 'active', taskId: 'task-a', sessionId: 's1' });
      expect((await repo.getMeta(id))?.status).toBe('transcribing');
      expect((await repo.openSegment(id, 1, { taskId: 'task-a', sessionId: 's1' }, T0 + 200)).outcome).toBe(
        'already-open',
      );
      expect((await repo.openSegment(id, 1, { taskId: 'task-b', sessionId: 's2' }, T0 + 200)).outcome).toBe('taken');
    });

    it('refuses to open a segment that was stopped before any gateway opened it', async () => {
      const id = newId();
      await started(id);
      await repo.requestStop(id, T0 + 10);
      const r = await repo.openSegment(id, 1, { taskId: 'task-a', sessionId: 's1' }, T0 + 20);
      expect(r.outcome).toBe('stale');
      expect(r.segment?.state).toBe('closed');
      expect((await repo.openSegment(id, 7, { taskId: 'task-a', sessionId: 's1' }, T0 + 20)).outcome).toBe('stale');
    });

    it('moves an active segment to closing on stop; the gateway closes it with its final summary', async () => {
      const id = newId();
      await started(id);
      await repo.openSegment(id, 1, { taskId: 'task-a', sessionId: 's1' }, T0 + 100);
      const stop = await repo.requestStop(id, T0 + 60_000);
      expect(stop).toMatchObject({ outcome: 'stopped', segment: 1, segmentState: 'closing' });
      expect((await repo.getSegment(id, 1))?.state).toBe('closing');

      const summary = {
        customer: { totalAudioBytes: 960_000, audioDurationMs: 60_000, streamingSeconds: 61, transcripts: 7 },
        agent: { totalAudioBytes: 960_000, audioDurationMs: 60_000, streamingSeconds: 61, transcripts: 9 },
      };
      const [waited] = await Promise.all([
        repo.waitForSegmentClosed(id, 1, { timeoutMs: 5000, pollMs: 20 }),
        new Promise((r) => setTimeout(r, 150)).then(() => repo.closeSegment(id, 1, T0 + 60_500, summary)),
      ]);
      expect(waited.closed).toBe(true);
      expect(waited.segment?.summary).toEqual(summary);
      expect(waited.segment?.endedAt).toBe(new Date(T0 + 60_500).toISOString());
      expect(await repo.closeSegment(id, 1, T0 + 61_000)).toBe('already-closed');
    });

    it('lets the gateway close a segment itself (call ended) and a later stop still reports it', async () => {
      const id = newId();
      await started(id);
      await repo.openSegment(id, 1, { taskId: 'task-a', sessionId: 's1' }, T0 + 100);
      expect(await repo.closeSegment(id, 1, T0 + 5000)).toBe('closed');
      expect(await repo.requestStop(id, T0 + 6000)).toMatchObject({
        outcome: 'stopped',
        segment: 1,
        segmentState: 'closed',
      });
    });

    it('does not close a segment that was never opened', async () => {
      const id = newId();
      await started(id);
      expect(await repo.closeSegment(id, 1, T0)).toBe('not-open');
      await expect(repo.closeSegment(id, 2, T0)).rejects.toBeInstanceOf(NotFoundError);
    });

    it('times out waiting for a segment nobody closes and returns it as last read', async () => {
      const id = newId();
      await started(id);
      await repo.openSegment(id, 1, { taskId: 'task-a', sessionId: 's1' }, T0);
      await repo.requestStop(id, T0 + 1);
      const r = await repo.waitForSegmentClosed(id, 1, { timeoutMs: 60, pollMs: 20 });
      expect(r.closed).toBe(false);
      expect(r.segment?.state).toBe('closing');
    });

    it('lets a stop close a segment whose holder went silent, and only that one', async () => {
      const id = newId();
      await started(id);
      await repo.openSegment(id, 1, { taskId: 'task-a', sessionId: 's1' }, T0);
      expect(await repo.heartbeatSegment(id, 1, T0 + 10_000)).toBe('ok');
      expect((await repo.getSegment(id, 1))?.heartbeatAt).toBe(new Date(T0 + 10_000).toISOString());
      await repo.requestStop(id, T0 + 20_000);
      // Heard from after the cut-off: alive, the segment stays with its holder.
      expect(await repo.abandonSegment(id, 1, T0 + 20_000, T0 + 5_000)).toBe('alive');
      expect((await repo.getSegment(id, 1))?.state).toBe('closing');
      // Silent since before the cut-off: closed as holder-lost, counters kept.
      expect(await repo.abandonSegment(id, 1, T0 + 50_000, T0 + 20_000)).toBe('closed');
      const seg = await repo.getSegment(id, 1);
      expect(seg).toMatchObject({ state: 'closed', closeReason: 'holder-lost' });
      expect(seg?.endedAt).toBe(new Date(T0 + 50_000).toISOString());
      expect(await repo.abandonSegment(id, 1, T0 + 60_000, T0 + 60_000)).toBe('already-closed');
      // A late heartbeat of the lost holder does not reopen it.
      expect(await repo.heartbeatSegment(id, 1, T0 + 61_000)).toBe('not-open');
      await expect(repo.heartbeatSegment(id, 9, T0)).rejects.toBeInstanceOf(NotFoundError);
    });

    it('judges a segment never heartbeated by when it was opened', async () => {
      const id = newId();
      await started(id);
      await repo.openSegment(id, 1, { taskId: 'task-a', sessionId: 's1' }, T0);
      expect(await repo.abandonSegment(id, 1, T0 + 1000, T0 - 1000)).toBe('alive');
      expect(await repo.abandonSegment(id, 1, T0 + 40_000, T0 + 10_000)).toBe('closed');
    });

    it('counts concurrent ADDs per role exactly', async () => {
      const id = newId();
      await started(id);
      await Promise.all([
        ...Array.from({ length: 40 }, () =>
          repo.addSegmentCounters(id, 1, 'customer', { totalAudioBytes: 3200, audioDurationMs: 100 }),
        ),
        ...Array.from({ length: 25 }, () =>
          repo.addSegmentCounters(id, 1, 'agent', { totalAudioBytes: 1600, audioDurationMs: 50, transcripts: 1 }),
        ),
      ]);
      await repo.addSegmentCounters(id, 1, 'customer', { streamingSeconds: 4 });
      expect((await repo.getSegment(id, 1))?.summary).toEqual({
        customer: { totalAudioBytes: 128_000, audioDurationMs: 4000, streamingSeconds: 4, transcripts: 0 },
        agent: { totalAudioBytes: 40_000, audioDurationMs: 1250, streamingSeconds: 0, transcripts: 25 },
      });
    });

    it('flushes both roles and the heartbeat in one write, and still counts into a segment closed elsewhere', async () => {
      const id = newId();
      await started(id);
      await repo.openSegment(id, 1, { taskId: 'task-a', sessionId: 's1' }, T0);
      const flush = (at: number) =>
        repo.flushSegment(
          id,
          1,
          { customer: { totalAudioBytes: 3200, audioDurationMs: 100 }, agent: { transcripts: 1 } },
          at,
        );
      expect(await flush(T0 + 5_000)).toBe('ok');
      expect(await repo.flushSegment(id, 1, { customer: {}, agent: { transcripts: 0 } }, T0 + 10_000)).toBe('ok');
      let seg = await repo.getSegment(id, 1);
      expect(seg?.heartbeatAt).toBe(new Date(T0 + 10_000).toISOString());
      expect(seg?.summary).toEqual({
        customer: { totalAudioBytes: 3200, audioDurationMs: 100, streamingSeconds: 0, transcripts: 0 },
        agent: { totalAudioBytes: 0, audioDurationMs: 0, streamingSeconds: 0, transcripts: 1 },
      });
      await repo.requestStop(id, T0 + 11_000);
      expect(await repo.abandonSegment(id, 1, T0 + 60_000, T0 + 30_000)).toBe('closed');
      // The lost holder's late flush: its counts are the segment's all the same, but it is told `not-open`.
      expect(await flush(T0 + 61_000)).toBe('not-open');
      seg = await repo.getSegment(id, 1);
      expect(seg).toMatchObject({ state: 'closed', heartbeatAt: new Date(T0 + 10_000).toISOString() });
      expect(seg?.summary?.customer?.totalAudioBytes).toBe(6400);
      expect(await repo.flushSegment(id, 1, {}, T0 + 62_000)).toBe('not-open');
      await expect(repo.flushSegment(id, 9, {}, T0)).rejects.toBeInstanceOf(NotFoundError);
      await expect(repo.flushSegment(id, 9, { agent: { transcripts: 1 } }, T0)).rejects.toBeInstanceOf(NotFoundError);
    });

    it('refuses to count into a segment that does not exist', async () => {
      await expect(repo.addSegmentCounters(newId(), 1, 'agent', { transcripts: 1 })).rejects.toMatchObject({
        name: 'NotFoundError',
        code: 'STORE_NOT_FOUND',
      });
    });
  });

  describe('errors', () => {
    it('wraps SDK failures in typed store errors with the SDK error as cause', async () => {
      const missing = new ConversationsRepository(db.doc, { tableName: `${db.prefix}-missing` });
      const err = await missing.getMeta('x').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreRequestRejectedError);
      expect(err).toMatchObject({ code: 'STORE_REQUEST_REJECTED', retryable: false });
      expect((err as Error).cause).toMatchObject({ name: 'ResourceNotFoundException' });
    });
  });
});
