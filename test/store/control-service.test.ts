import { describe, expect, it } from 'vitest';
import { type SegmentRecord, ZERO_SUMMARY } from '../../core/conversation/segment';
import type { SessionRecord } from '../../core/conversation/session';
import { notifyHoldingTasks, type StopSettlementPort, settleStop } from '../../store/control-service';

function session(taskId: string, sessionId: string): SessionRecord {
  return { conversationId: 'g', sessionId, taskId, state: 'open', openedAt: 't', ttl: 1 };
}

function segment(patch: Partial<SegmentRecord>): SegmentRecord {
  return {
    conversationId: 'g',
    segment: 1,
    state: 'active',
    streamIds: { customer: 'c', agent: 'a' },
    params: {
      language: 'en-US',
      redactionOutput: 'unredacted',
      detailedToken: false,
      audioRecordingAllowed: false,
      customerId: 'c-1',
      agentId: 'a-1',
    },
    startedAt: 't',
    summary: { customer: { ...ZERO_SUMMARY }, agent: { ...ZERO_SUMMARY } },
    ttl: 1,
    ...patch,
  };
}

/** A fake inbox that records every notification. */
function fakeInbox() {
  const calls: { version: number; tasks: string[]; desired?: string }[] = [];
  return {
    calls,
    async notifyTasks(_c: string, version: number, taskIds: Iterable<string>, options?: { desired?: 'on' | 'off' }) {
      const tasks = [...taskIds];
      calls.push({ version, tasks, desired: options?.desired });
      return { notified: tasks, skipped: [] as string[] };
    },
  };
}

describe('control service', () => {
  describe('notifyHoldingTasks', () => {
    it('writes one item per task holding an open session, once per task', async () => {
      const inbox = fakeInbox();
      const conversations = {
        listSessions: async () => [session('t1', 's1'), session('t1', 's2'), session('t2', 's3')],
      };
      const sent = await notifyHoldingTasks({ conversations, inbox }, 'g', 3, 'on');
      expect(sent.tasks.sort()).toEqual(['t1', 't2']);
      expect(inbox.calls).toEqual([{ version: 3, tasks: ['t1', 't2'], desired: 'on' }]);
    });

    it('adds the segment holder, leaves out the caller, and writes nothing when nobody is left', async () => {
      const inbox = fakeInbox();
      const conversations = { listSessions: async () => [session('me', 's1')] };
      const none = await notifyHoldingTasks({ conversations, inbox }, 'g', 3, 'on', { exceptTask: 'me' });
      expect(none).toEqual({ tasks: [], answer: undefined });
      expect(inbox.calls).toEqual([]);
      const held = await notifyHoldingTasks({ conversations, inbox }, 'g', 4, 'off', { alsoTask: 'holder' });
      expect(held.tasks.sort()).toEqual(['holder', 'me']);
    });
  });

  describe('settleStop', () => {
    function port(reads: (SegmentRecord | undefined)[], abandon: 'closed' | 'already-closed' | 'alive' = 'alive') {
      const seen = { waits: 0, abandoned: [] as number[] };
      const conversations: StopSettlementPort = {
        listSessions: async () => [session('t1', 's1')],
        getSegment: async () => reads.shift(),
        waitForSegmentClosed: async () => {
          seen.waits++;
          const s = reads.shift();
          return { closed: s?.state === 'closed', segment: s };
        },
        abandonSegment: async (_c, _s, _now, silentSince) => {
          seen.abandoned.push(silentSince);
          return abandon;
        },
      };
      return { conversations, seen };
    }
    const options = { timeoutMs: 100, now: () => 100_000 };
    const stop = { conversationId: 'g', segment: 1, version: 2 };

    it('settles at once, notifying nobody, when the stop itself closed the segment', async () => {
      const inbox = fakeInbox();
      const { conversations, seen } = port([segment({ state: 'closed' })]);
      const r = await settleStop({ conversations, inbox }, stop, options);
      expect(r).toMatchObject({ confirmed: true, holderLost: false, notified: 0 });
      expect(inbox.calls).toEqual([]);
      expect(seen.waits).toBe(0);
    });

    it('notifies the holders with desired off and waits for the close', async () => {
      const inbox = fakeInbox();
      const { conversations } = port([
        segment({ state: 'closing', taskId: 't9' }),
        segment({ state: 'closed', taskId: 't9' }),
      ]);
      const r = await settleStop({ conversations, inbox }, stop, options);
      expect(r).toMatchObject({ confirmed: true, holderLost: false, notified: 2 });
      expect(inbox.calls[0]).toMatchObject({ version: 2, desired: 'off' });
      expect(inbox.calls[0]?.tasks.sort()).toEqual(['t1', 't9']);
    });

    it('closes an unconfirmed segment as holder-lost when its holder is silent, and re-reads it', async () => {
      const inbox = fakeInbox();
      const { conversations, seen } = port(
        [segment({ state: 'closing' }), segment({ state: 'closing' }), segment({ state: 'closed' })],
        'closed',
      );
      const r = await settleStop({ conversations, inbox }, stop, options);
      expect(r).toMatchObject({ confirmed: false, holderLost: true });
      expect(r.record?.state).toBe('closed');
      expect(seen.abandoned).toEqual([100_000 - 30_000]);
    });

    it('leaves the segment to a holder that is alive after all', async () => {
      const inbox = fakeInbox();
      const { conversations } = port([segment({ state: 'closing' }), segment({ state: 'closing' })], 'alive');
      const r = await settleStop({ conversations, inbox }, stop, options);
      expect(r).toMatchObject({ confirmed: false, holderLost: false });
      expect(r.record?.state).toBe('closing');
    });
  });
});
