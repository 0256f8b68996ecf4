/**
 * ConversationController against the real store (DynamoDB Local, shared by the run), with the recognizer
 * stream replaced by a recording fake and the AudioHook session driven directly through the hooks and
 * sink the gateway would use. Time is real but nothing waits on it: the inbox is polled with `pollNow()`
 * and counters are flushed with `flushCountersNow()`.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Role } from '../../../core/audio/roles';
import type { MediaParameter } from '../../../core/audiohook/messages';
import type { AudioSink, OpenDecision, SessionHooks } from '../../../core/audiohook/ports';
import type { StartParams } from '../../../core/conversation/conversation';
import type { ConversationController } from '../../../fargate/src/control/conversation-controller';
import { ControlInbox } from '../../../store/control-inbox';
import { ConversationsRepository } from '../../../store/conversations';
import { frameOf } from '../../helpers/audio-frames';
import { setupDynamoDb, type TestDynamoDb } from '../../helpers/dynamodb';
import { until } from '../transcribe/helpers';
import { FakeSession, FakeStreamer, fakeController } from './controller-fakes';

const TASK = 'task-under-test';
const FRAME = 1600;
const PARAMS: StartParams = {
  language: 'en-US',
  redactionOutput: 'unredacted',
  detailedToken: false,
  audioRecordingAllowed: false,
  customerId: 'cust-1',
  agentId: 'agent-1',
};
const MEDIA: MediaParameter = { type: 'audio', format: 'PCMU', channels: ['external', 'internal'], rate: 8000 };

let db: TestDynamoDb;
let conversations: ConversationsRepository;
let inbox: ControlInbox;
let controller: ConversationController;
let streamers: FakeStreamer[];
let registry: Map<string, FakeSession>;

beforeAll(async () => {
  db = await setupDynamoDb();
  conversations = new ConversationsRepository(db.doc, { tableName: db.tables.conversations });
  inbox = new ControlInbox(db.doc, { tableName: db.tables.conversations });
});

afterAll(async () => {
  await db?.stop();
});

function newController(taskId: string): ConversationController {
  return fakeController({
    taskId,
    db,
    conversations,
    inbox,
    onStreamer: (s) => streamers.push(s),
    sessions: () => registry,
  });
}

beforeEach(() => {
  FakeStreamer.endGate = undefined;
  streamers = [];
  registry = new Map();
  controller = newController(TASK);
});

/** One AudioHook session as the gateway drives the controller's hooks and sink. */
function connect(conversationId: string, on: ConversationController = controller) {
  const controller = on;
  const sessionId = randomUUID();
  const hooks: SessionHooks = controller.hooksFactory({
    sessionId,
    connection: { sessionId, organizationId: randomUUID(), correlationId: randomUUID(), apiKeyLabel: 'test' },
  });
  const sink: AudioSink = controller.sinkFactory({ sessionId });
  const control = new FakeSession(sessionId);
  registry.set(sessionId, control);
  let position = 0;
  return {
    sessionId,
    control,
    async open(): Promise<OpenDecision> {
      const decision = await (hooks.onOpen as NonNullable<SessionHooks['onOpen']>)({
        sessionId,
        organizationId: randomUUID(),
        conversationId,
        participantId: randomUUID(),
        media: MEDIA,
        roles: ['customer', 'agent'],
        position: 0,
      });
      sink.start({ sessionId, conversationId, media: MEDIA, roles: ['customer', 'agent'], channels: MEDIA.channels });
      return decision;
    },
    /** Writes `frames` 200 ms frames (what the session forwards; the sink decides what reaches Transcribe). */
    write(frames: number) {
      for (let i = 0; i < frames; i++) {
        sink.write(frameOf(position, FRAME, {}));
        position += FRAME;
      }
    },
    async end() {
      await sink.end('close');
      hooks.onEnd?.({ reason: 'closed', stats: control.stats() });
      await controller.idle();
    },
  };
}

async function start(conversationId: string) {
  const r = await conversations.requestStart(conversationId, PARAMS, Date.now());
  if (r.outcome === 'conflict') throw new Error('conflict');
  const tasks = (await conversations.listSessions(conversationId, { openOnly: true })).map((s) => s.taskId);
  if (tasks.length > 0) await inbox.notifyTasks(conversationId, r.meta.desiredVersion, tasks, { desired: 'on' });
  return r;
}

async function stop(conversationId: string) {
  const r = await conversations.requestStop(conversationId, Date.now());
  if (r.outcome !== 'stopped') throw new Error(r.outcome);
  await inbox.notifyTasks(conversationId, r.meta.desiredVersion, [TASK], { desired: 'off' });
  return r;
}

describe('ConversationController', () => {
  describe('on open', () => {
    it('registers the session and opens paused while transcription is off', async () => {
      const conv = randomUUID();
      const s = connect(conv);
      expect(await s.open()).toEqual({ startPaused: true });
      const sessions = await conversations.listSessions(conv);
      expect(sessions).toMatchObject([{ sessionId: s.sessionId, taskId: TASK, state: 'open' }]);
      expect(await conversations.getMeta(conv)).toMatchObject({ desired: 'off', status: 'idle', desiredVersion: 0 });
      s.write(5);
      expect(streamers).toHaveLength(0);
    });

    it('honours a start recorded before the session: opens unpaused and claims the segment', async () => {
      const conv = randomUUID();
      const started = await start(conv);
      const s = connect(conv);
      expect(await s.open()).toEqual({ startPaused: false });
      // The decision travels in `opened`: no pause/resume message on the wire.
      expect(s.control.calls).toEqual([]);
      expect(await conversations.getSegment(conv, 1)).toMatchObject({
        state: 'active',
        taskId: TASK,
        sessionId: s.sessionId,
      });
      expect(await conversations.getMeta(conv)).toMatchObject({ status: 'transcribing' });
      expect(streamers).toHaveLength(1);
      expect(streamers[0]?.opts.segment).toMatchObject({
        conversationId: conv,
        segment: 1,
        streamIds: started.streamIds,
        params: { language: 'en-US', redactionOutput: 'unredacted', detailedToken: false },
      });
    });
  });

  describe('through the control inbox', () => {
    it('starts and stops a live session; audio while off never reaches the recognizer', async () => {
      const conv = randomUUID();
      const s = connect(conv);
      await s.open();
      s.write(3); // off: dropped by the sink
      await start(conv);
      await controller.pollNow();
      expect(s.control.calls).toEqual(['resume']);
      expect(streamers).toHaveLength(1);
      s.write(4);
      const stopped = await stop(conv);
      expect(stopped.segmentState).toBe('closing');
      await controller.pollNow();
      s.write(2); // off again: dropped
      expect(s.control.calls).toEqual(['resume', 'pause']);
      const streamer = streamers[0] as FakeStreamer;
      expect(streamer.ended).toBe(true);
      expect(streamer.samples).toBe(4 * FRAME);
      expect(streamer.frames.map((f) => f.position)).toEqual([3, 4, 5, 6].map((i) => i * FRAME));
      const seg = await conversations.getSegment(conv, 1);
      expect(seg?.state).toBe('closed');
      for (const role of ['customer', 'agent'] as Role[]) {
        expect(seg?.summary[role]).toEqual({
          totalAudioBytes: 4 * FRAME * 2,
          audioDurationMs: 800,
          streamingSeconds: 1,
          transcripts: 0,
        });
      }
      expect(await inbox.poll(TASK)).toEqual([]);
      expect(controller.stats().counters).toMatchObject({ segmentsOpened: 1, segmentsClosed: 1, inboxItemsApplied: 2 });
    });

    it('is idempotent under redelivery and harmless under reordering (it converges to META as it is now)', async () => {
      const conv = randomUUID();
      const s = connect(conv);
      await s.open();
      const started = await start(conv);
      await controller.pollNow();
      // Redelivered start (same version): nothing more happens.
      await inbox.notifyTasks(conv, started.meta.desiredVersion, [TASK], { desired: 'on' });
      await controller.pollNow();
      expect(s.control.calls).toEqual(['resume']);
      expect(streamers).toHaveLength(1);
      const stopped = await stop(conv);
      await controller.pollNow();
      // A late, older notification (the start) arrives after the stop was applied: still stopped.
      await inbox.notifyTasks(conv, stopped.meta.desiredVersion - 1, [TASK], { desired: 'on' });
      await controller.pollNow();
      expect(s.control.calls).toEqual(['resume', 'pause']);
      expect(streamers).toHaveLength(1);
      expect(await inbox.poll(TASK)).toEqual([]);
    });
  });

  describe('a short hold (stop, then start while the first segment still flushes)', () => {
    it('applies the start at once and closes each segment with its own summary', async () => {
      const conv = randomUUID();
      const s = connect(conv);
      await s.open();
      await start(conv);
      await controller.pollNow();
      s.write(2);
      let finishFlush: () => void = () => {};
      FakeStreamer.endGate = new Promise((resolve) => {
        finishFlush = resolve;
      });
      await stop(conv);
      const stopping = controller.pollNow(); // settles once segment 1 is flushed and closed
      await until(() => s.control.calls.length === 2, 5_000, 'the pause');
      await start(conv);
      const starting = controller.pollNow();
      await until(() => s.control.calls.length === 3 && streamers.length === 2, 5_000, 'the resume');
      expect(s.control.calls).toEqual(['resume', 'pause', 'resume']);
      expect((await conversations.getSegment(conv, 1))?.state).toBe('closing');
      s.write(3);
      FakeStreamer.endGate = undefined;
      finishFlush();
      await Promise.all([stopping, starting]);
      const seg1 = await conversations.getSegment(conv, 1);
      expect(seg1).toMatchObject({ state: 'closed' });
      expect(seg1?.summary.customer.totalAudioBytes).toBe(2 * FRAME * 2);
      await stop(conv);
      await controller.pollNow();
      const seg2 = await conversations.getSegment(conv, 2);
      expect(seg2).toMatchObject({ state: 'closed' });
      expect(seg2?.summary.customer.totalAudioBytes).toBe(3 * FRAME * 2);
      expect(streamers.map((x) => x.ended)).toEqual([true, true]);
    });

    it('ends the current segment, not the flushing one, when the session ends during the flush', async () => {
      const conv = randomUUID();
      const s = connect(conv);
      await s.open();
      await start(conv);
      await controller.pollNow();
      let finishFlush: () => void = () => {};
      FakeStreamer.endGate = new Promise((resolve) => {
        finishFlush = resolve;
      });
      await stop(conv);
      const stopping = controller.pollNow();
      await until(() => s.control.calls.length === 2, 5_000, 'the pause');
      await start(conv);
      const starting = controller.pollNow();
      await until(() => streamers.length === 2, 5_000, 'segment 2');
      s.write(4);
      FakeStreamer.endGate = undefined;
      const ending = s.end();
      finishFlush();
      await Promise.all([stopping, starting, ending]);
      expect(streamers.map((x) => x.ended)).toEqual([true, true]);
      const seg2 = await conversations.getSegment(conv, 2);
      expect(seg2).toMatchObject({ state: 'closed' });
      expect(seg2?.summary.agent.totalAudioBytes).toBe(4 * FRAME * 2);
    });
  });

  describe('sessions ending and several sessions of one conversation', () => {
    it('closes the segment with its summary when the streaming session ends, and renews it for the next session', async () => {
      const conv = randomUUID();
      await start(conv);
      const first = connect(conv);
      await first.open();
      first.write(5);
      await first.end();
      const seg1 = await conversations.getSegment(conv, 1);
      expect(seg1).toMatchObject({ state: 'closed' });
      expect(seg1?.summary.customer.totalAudioBytes).toBe(5 * FRAME * 2);
      expect((await conversations.listSessions(conv))[0]?.state).toBe('closed');

      // Still on: a new session (a reconnect) finds segment 1 closed and gets a fresh segment 2.
      const second = connect(conv);
      expect(await second.open()).toEqual({ startPaused: false });
      const meta = await conversations.getMeta(conv);
      const seg2 = await conversations.getSegment(conv, 2);
      expect(meta).toMatchObject({ desired: 'on', currentSegment: 2, status: 'transcribing' });
      expect(seg2).toMatchObject({ state: 'active', sessionId: second.sessionId, params: PARAMS });
      expect(meta?.streamIds).toEqual(seg2?.streamIds);
      expect(seg2?.streamIds.customer).not.toBe(seg1?.streamIds.customer);
      expect(streamers[1]?.opts.segment.streamIds).toEqual(seg2?.streamIds);
      // A stop now stops segment 2.
      await stop(conv);
      await controller.pollNow();
      expect(await conversations.getSegment(conv, 2)).toMatchObject({ state: 'closed' });
    });

    it('lets only one session of a conversation stream; another takes over when it ends', async () => {
      const conv = randomUUID();
      await start(conv);
      const a = connect(conv);
      const b = connect(conv);
      expect(await a.open()).toEqual({ startPaused: false });
      // A second AudioHook integration on the same call: the segment is taken, it stays paused.
      expect(await b.open()).toEqual({ startPaused: true });
      expect(streamers).toHaveLength(1);
      a.write(2);
      b.write(2);
      expect((streamers[0] as FakeStreamer).samples).toBe(2 * FRAME);
      await a.end();
      expect(b.control.calls).toEqual(['resume']);
      expect(streamers).toHaveLength(2);
      expect(await conversations.getSegment(conv, 2)).toMatchObject({ state: 'active', sessionId: b.sessionId });
      expect(controller.stats().counters.segmentsRenewed).toBe(1);
    });

    it('across tasks: the other task stays paused while one streams, and is notified to take over', async () => {
      const conv = randomUUID();
      const other = newController('other-task');
      await start(conv);
      const a = connect(conv);
      const b = connect(conv, other);
      expect(await a.open()).toEqual({ startPaused: false });
      expect(await b.open()).toEqual({ startPaused: true });
      expect(other.stats().counters.segmentsTakenElsewhere).toBe(1);
      await a.end();
      // The ending holder notified the other task's inbox; its next poll renews transcription there.
      expect((await inbox.poll('other-task')).map((i) => i.conversationId)).toEqual([conv]);
      await other.pollNow();
      expect(b.control.calls).toEqual(['resume']);
      expect(await conversations.getSegment(conv, 2)).toMatchObject({
        state: 'active',
        taskId: 'other-task',
        sessionId: b.sessionId,
      });
      await other.stop();
    });
  });

  describe('counters', () => {
    it('adds per-role deltas while streaming; the close writes the authoritative totals', async () => {
      const conv = randomUUID();
      await start(conv);
      const s = connect(conv);
      await s.open();
      s.write(3);
      await controller.flushCountersNow();
      expect((await conversations.getSegment(conv, 1))?.summary.agent.totalAudioBytes).toBe(3 * FRAME * 2);
      s.write(2);
      await controller.flushCountersNow();
      await controller.flushCountersNow(); // nothing new: no double count
      const mid = await conversations.getSegment(conv, 1);
      expect(mid?.summary.customer).toEqual({
        totalAudioBytes: 5 * FRAME * 2,
        audioDurationMs: 1000,
        streamingSeconds: 1,
        transcripts: 0,
      });
      (streamers[0] as FakeStreamer).transcripts = { customer: 2, agent: 1 };
      await stop(conv);
      await controller.pollNow();
      const closed = await conversations.getSegment(conv, 1);
      expect(closed?.summary.customer.transcripts).toBe(2);
      expect(closed?.summary.agent.transcripts).toBe(1);
      expect(closed?.summary.agent.totalAudioBytes).toBe(5 * FRAME * 2);
    });

    it('heartbeats the segment on every flush, even when nothing new was counted', async () => {
      const conv = randomUUID();
      await start(conv);
      const s = connect(conv);
      await s.open();
      expect((await conversations.getSegment(conv, 1))?.heartbeatAt).toBeUndefined();
      await controller.flushCountersNow();
      const first = (await conversations.getSegment(conv, 1))?.heartbeatAt;
      expect(first).toBeDefined();
      await new Promise((r) => setTimeout(r, 5));
      await controller.flushCountersNow();
      const second = (await conversations.getSegment(conv, 1))?.heartbeatAt;
      expect(Date.parse(second as string)).toBeGreaterThan(Date.parse(first as string));
      await stop(conv);
      await controller.pollNow();
    });
  });
});
