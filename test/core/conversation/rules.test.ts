import { describe, expect, it } from 'vitest';
import type { ConversationMeta, StartParams } from '../../../core/conversation/conversation';
import {
  holderSilentSince,
  isHolderSilent,
  isSegmentOpen,
  mayAbandonSegment,
  mayRenewSegment,
  openSegmentContention,
  planRenewal,
  planStart,
  SEGMENT_HOLDER_SILENT_MS,
  segmentStopTransition,
  stoppedMeta,
  stopRefusal,
} from '../../../core/conversation/rules';
import { type SegmentRecord, ZERO_SUMMARY } from '../../../core/conversation/segment';

const PARAMS: StartParams = {
  language: 'en-US',
  redactionOutput: 'unredacted',
  detailedToken: false,
  audioRecordingAllowed: false,
  customerId: 'c-1',
  agentId: 'a-1',
};
const AT = '2026-12-07T10:00:00.000Z';
const LATER = '2026-12-07T10:05:00.000Z';

function meta(patch: Partial<ConversationMeta> = {}): ConversationMeta {
  return {
    conversationId: 'g',
    desired: 'off',
    desiredVersion: 0,
    status: 'idle',
    createdAt: AT,
    updatedAt: AT,
    ttl: 1,
    ...patch,
  };
}

function segment(patch: Partial<SegmentRecord> = {}): SegmentRecord {
  return {
    conversationId: 'g',
    segment: 1,
    state: 'active',
    streamIds: { customer: 'c1', agent: 'a1' },
    params: PARAMS,
    startedAt: AT,
    openedAt: AT,
    taskId: 'task-1',
    sessionId: 'ses-1',
    summary: { customer: { ...ZERO_SUMMARY }, agent: { ...ZERO_SUMMARY } },
    ttl: 1,
    ...patch,
  };
}

let minted = 0;
const newStreamIds = () => ({ customer: `c${++minted}`, agent: `a${minted}` });

describe('conversation rules', () => {
  describe('start', () => {
    it('opens segment 1 as pending with fresh stream ids when the conversation is unknown', () => {
      const plan = planStart({ conversationId: 'g', meta: undefined, params: PARAMS, newStreamIds, at: LATER, ttl: 9 });
      expect(plan.kind).toBe('open');
      if (plan.kind !== 'open') return;
      expect(plan.fromVersion).toBeUndefined();
      expect(plan.meta).toMatchObject({
        desired: 'on',
        desiredVersion: 1,
        status: 'waiting-for-audio',
        currentSegment: 1,
      });
      expect(plan.meta.createdAt).toBe(LATER);
      expect(plan.segment).toMatchObject({ segment: 1, state: 'pending', streamIds: plan.meta.streamIds, ttl: 9 });
      expect(plan.segment.summary).toEqual({ customer: ZERO_SUMMARY, agent: ZERO_SUMMARY });
    });

    it('opens the next segment after a stop, keeping createdAt and bumping the version it read', () => {
      const stopped = meta({ desired: 'off', desiredVersion: 4, status: 'stopped', currentSegment: 2, stoppedAt: AT });
      const plan = planStart({ conversationId: 'g', meta: stopped, params: PARAMS, newStreamIds, at: LATER, ttl: 9 });
      if (plan.kind !== 'open') throw new Error('expected open');
      expect(plan.fromVersion).toBe(4);
      expect(plan.meta).toMatchObject({ desiredVersion: 5, currentSegment: 3, createdAt: AT, startedAt: LATER });
      expect(plan.meta).not.toHaveProperty('stoppedAt');
    });

    it('is idempotent while a segment runs: same segment and stream ids, nothing minted', () => {
      const running = meta({ desired: 'on', currentSegment: 2, streamIds: { customer: 'c', agent: 'a' } });
      const before = minted;
      const plan = planStart({ conversationId: 'g', meta: running, params: PARAMS, newStreamIds, at: LATER, ttl: 9 });
      expect(plan).toEqual({
        kind: 'already-active',
        meta: running,
        segment: 2,
        streamIds: { customer: 'c', agent: 'a' },
      });
      expect(minted).toBe(before);
    });
  });

  describe('stop', () => {
    it('refuses an unknown, a never-started and an already-stopped conversation', () => {
      expect(stopRefusal(undefined)).toBe('unknown');
      expect(stopRefusal(meta())).toBe('not-started');
      expect(stopRefusal(meta({ currentSegment: 1, desired: 'off' }))).toBe('already-stopped');
      expect(stopRefusal(meta({ currentSegment: 1, desired: 'on' }))).toBeUndefined();
    });

    it('moves META to off/stopped with the next version', () => {
      expect(stoppedMeta(meta({ desired: 'on', desiredVersion: 3 }), LATER, 7)).toMatchObject({
        desired: 'off',
        desiredVersion: 4,
        status: 'stopped',
        updatedAt: LATER,
        stoppedAt: LATER,
        ttl: 7,
      });
    });

    it('closes a pending segment at once, hands an active one to its holder, leaves others alone', () => {
      expect(segmentStopTransition('pending')).toEqual({ to: 'closed', write: true });
      expect(segmentStopTransition('active')).toEqual({ to: 'closing', write: true });
      expect(segmentStopTransition('closing')).toEqual({ to: 'closing', write: false });
      expect(segmentStopTransition('closed')).toEqual({ to: 'closed', write: false });
      expect(segmentStopTransition(undefined)).toEqual({ to: 'closed', write: false });
    });
  });

  describe('segment open', () => {
    const holder = { taskId: 'task-1', sessionId: 'ses-1' };

    it('tells the holder retrying from another holder and from a stopped segment', () => {
      expect(openSegmentContention(segment(), holder)).toBe('already-open');
      expect(openSegmentContention(segment({ sessionId: 'ses-2' }), holder)).toBe('taken');
      expect(openSegmentContention(segment({ state: 'closing', taskId: 'task-2' }), holder)).toBe('taken');
      expect(openSegmentContention(segment({ state: 'closing' }), holder)).toBe('stale');
      expect(openSegmentContention(segment({ state: 'closed' }), holder)).toBe('stale');
      expect(openSegmentContention(undefined, holder)).toBe('stale');
    });

    it('counts active and closing segments as open', () => {
      expect(['pending', 'active', 'closing', 'closed'].map((s) => isSegmentOpen(s as never))).toEqual([
        false,
        true,
        true,
        false,
      ]);
    });
  });

  describe('renewal after the streaming session ended', () => {
    it('is allowed only while on and still at the segment that ended', () => {
      const on = meta({ desired: 'on', currentSegment: 2, params: PARAMS });
      expect(mayRenewSegment(on, 2)).toBe(true);
      expect(mayRenewSegment(on, 1)).toBe(false);
      expect(mayRenewSegment({ ...on, desired: 'off' }, 2)).toBe(false);
      expect(mayRenewSegment(meta({ desired: 'on', currentSegment: 2 }), 2)).toBe(false);
      expect(mayRenewSegment(undefined, 2)).toBe(false);
    });

    it('opens the next segment active, held by the caller, with the version bumped', () => {
      const on = {
        ...meta({ desired: 'on', desiredVersion: 5, currentSegment: 2, status: 'transcribing' }),
        params: PARAMS,
      };
      const plan = planRenewal({
        meta: on,
        fromSegment: 2,
        holder: { taskId: 't', sessionId: 's' },
        newStreamIds,
        at: LATER,
        ttl: 9,
      });
      expect(plan.meta).toMatchObject({ desiredVersion: 6, currentSegment: 3, status: 'transcribing' });
      expect(plan.segment).toMatchObject({
        segment: 3,
        state: 'active',
        openedAt: LATER,
        taskId: 't',
        sessionId: 's',
        params: PARAMS,
        streamIds: plan.meta.streamIds,
      });
    });
  });

  describe('holder lost', () => {
    const now = Date.parse(LATER);

    it('is worth trying only for an unconfirmed open segment', () => {
      expect(mayAbandonSegment(segment(), false)).toBe(true);
      expect(mayAbandonSegment(segment({ state: 'closing' }), false)).toBe(true);
      expect(mayAbandonSegment(segment(), true)).toBe(false);
      expect(mayAbandonSegment(segment({ state: 'closed' }), false)).toBe(false);
      expect(mayAbandonSegment(undefined, false)).toBe(false);
    });

    it('calls a holder lost after SEGMENT_HOLDER_SILENT_MS without a heartbeat, else by its opening time', () => {
      const cut = holderSilentSince(now);
      expect(cut).toBe(now - SEGMENT_HOLDER_SILENT_MS);
      expect(isHolderSilent(segment({ heartbeatAt: new Date(cut - 1).toISOString() }), cut)).toBe(true);
      expect(isHolderSilent(segment({ heartbeatAt: new Date(cut + 1).toISOString() }), cut)).toBe(false);
      expect(isHolderSilent(segment({ openedAt: AT }), cut)).toBe(true);
      expect(isHolderSilent(segment({ openedAt: AT, heartbeatAt: LATER }), cut)).toBe(false);
      expect(isHolderSilent(segment({ state: 'closed' }), cut)).toBe(false);
    });
  });
});
