/**
 * The conversation's control rules as pure functions of what was read: start idempotency, the segment
 * lifecycle (open, stop, renew, close) and the holder-lost decision. The store reads, asks these rules
 * what to write, and makes the write conditional on what it read (docs/data-model.md, "start/stop
 * race"); a lost race re-reads and asks again. No I/O here.
 */
import type { ConversationMeta, StartParams, StreamIds } from './conversation';
import { type SegmentHolder, type SegmentRecord, type SegmentState, ZERO_SUMMARY } from './segment';

/**
 * How long a gateway task holding a segment may be silent (no counter flush, no heartbeat) before a stop
 * that it did not confirm closes the segment for it as `holder-lost`. Gateways heartbeat every counter
 * flush period (5 s by default), so 30 s is six missed beats: a task that is alive but slow keeps its
 * segment, a task that died (killed, out of memory, lost its network) does not leave it active forever.
 */
export const SEGMENT_HOLDER_SILENT_MS = 30_000;

/** A zeroed counter set for each role. */
export function zeroSummaries(): SegmentRecord['summary'] {
  return { customer: { ...ZERO_SUMMARY }, agent: { ...ZERO_SUMMARY } };
}

/** Whether a gateway streams (or is finishing) the segment: `active` or `closing`. */
export function isSegmentOpen(state: SegmentState | undefined): boolean {
  return state === 'active' || state === 'closing';
}

/** What a start asks the store to write, decided from the META read. */
export type StartPlan =
  /** A segment is running: a repeated start changes nothing and answers its stream ids. */
  | { kind: 'already-active'; meta: ConversationMeta; segment: number; streamIds: StreamIds }
  /** Open segment `currentSegment + 1` as `pending`, conditional on `fromVersion` (absent: META absent). */
  | { kind: 'open'; fromVersion: number | undefined; meta: ConversationMeta; segment: SegmentRecord };

/**
 * Start idempotency: a start while a segment is running changes nothing (not even params: stop, then
 * start, to change them). Otherwise the next segment opens `pending` with fresh stream ids and META
 * moves to `on`, `waiting-for-audio`, version + 1.
 */
export function planStart(input: {
  conversationId: string;
  meta: ConversationMeta | undefined;
  params: StartParams;
  newStreamIds: () => StreamIds;
  at: string;
  ttl: number;
}): StartPlan {
  const { conversationId, meta, params, at, ttl } = input;
  if (meta?.desired === 'on' && meta.currentSegment !== undefined && meta.streamIds) {
    return { kind: 'already-active', meta, segment: meta.currentSegment, streamIds: meta.streamIds };
  }
  const segment = (meta?.currentSegment ?? 0) + 1;
  const streamIds = input.newStreamIds();
  return {
    kind: 'open',
    fromVersion: meta?.desiredVersion,
    meta: {
      conversationId,
      desired: 'on',
      desiredVersion: (meta?.desiredVersion ?? 0) + 1,
      status: 'waiting-for-audio',
      params: { ...params },
      currentSegment: segment,
      streamIds,
      createdAt: meta?.createdAt ?? at,
      updatedAt: at,
      startedAt: at,
      ttl,
    },
    segment: {
      conversationId,
      segment,
      state: 'pending',
      streamIds,
      params: { ...params },
      startedAt: at,
      summary: zeroSummaries(),
      ttl,
    },
  };
}

/** Why a stop has nothing to stop, decided from META alone. */
export type StopRefusalOutcome = 'unknown' | 'not-started' | 'already-stopped';

/** The refusal a stop gets from META, or undefined when META has a running segment to stop. */
export function stopRefusal(meta: ConversationMeta | undefined): StopRefusalOutcome | undefined {
  if (!meta) return 'unknown';
  if (meta.currentSegment === undefined) return 'not-started';
  if (meta.desired === 'off') return 'already-stopped';
  return undefined;
}

/** META after an accepted stop: `off`, `stopped`, version + 1. */
export function stoppedMeta(meta: ConversationMeta, at: string, ttl: number): ConversationMeta {
  return {
    ...meta,
    desired: 'off',
    desiredVersion: meta.desiredVersion + 1,
    status: 'stopped',
    updatedAt: at,
    stoppedAt: at,
    ttl,
  };
}

/**
 * Segment lifecycle on stop: a `pending` segment closes at once (nothing was streamed); an `active` one
 * moves to `closing` (its gateway finishes the stream and writes the final summary). Any other state is
 * left as it is (`write: false`); an absent segment reads as `closed`.
 */
export function segmentStopTransition(state: SegmentState | undefined): { to: SegmentState; write: boolean } {
  if (state === 'pending') return { to: 'closed', write: true };
  if (state === 'active') return { to: 'closing', write: true };
  return { to: state ?? 'closed', write: false };
}

/** Outcome of a segment open that lost its conditional write, decided from the segment as re-read. */
export function openSegmentContention(
  seen: SegmentRecord | undefined,
  holder: SegmentHolder,
): 'already-open' | 'taken' | 'stale' {
  if (seen && isSegmentOpen(seen.state)) {
    const mine = seen.taskId === holder.taskId && seen.sessionId === holder.sessionId;
    if (mine && seen.state === 'active') return 'already-open';
    if (!mine) return 'taken';
  }
  return 'stale';
}

/**
 * Whether a session may renew transcription after the segment `fromSegment` it followed was closed:
 * only while the desired state is still `on` and META still points at that segment.
 */
export function mayRenewSegment(
  meta: ConversationMeta | undefined,
  fromSegment: number,
): meta is ConversationMeta & { params: StartParams } {
  return meta?.desired === 'on' && meta.currentSegment === fromSegment && meta.params !== undefined;
}

/**
 * The renewal of a conversation whose segment `fromSegment` ended with its session: META moves to
 * `fromSegment + 1` with fresh stream ids, `transcribing`, version + 1 (so a racing stop re-reads and
 * stops the new segment instead of reporting the old one); the new segment starts `active`, held by
 * `holder`, with META's params.
 */
export function planRenewal(input: {
  meta: ConversationMeta & { params: StartParams };
  fromSegment: number;
  holder: SegmentHolder;
  newStreamIds: () => StreamIds;
  at: string;
  ttl: number;
}): { meta: ConversationMeta; segment: SegmentRecord } {
  const { meta, holder, at, ttl } = input;
  const segment = input.fromSegment + 1;
  const streamIds = input.newStreamIds();
  return {
    meta: {
      ...meta,
      desiredVersion: meta.desiredVersion + 1,
      status: 'transcribing',
      currentSegment: segment,
      streamIds,
      updatedAt: at,
      ttl,
    },
    segment: {
      conversationId: meta.conversationId,
      segment,
      state: 'active',
      streamIds,
      params: { ...meta.params },
      startedAt: at,
      openedAt: at,
      taskId: holder.taskId,
      sessionId: holder.sessionId,
      summary: zeroSummaries(),
      ttl,
    },
  };
}

/**
 * Holder-lost decision after a stop waited in vain for the gateway's close: worth trying only for a
 * segment still `active`/`closing`. The store's conditional write then closes it only if its holder has
 * been silent (no `heartbeatAt`, else `openedAt`) since {@link holderSilentSince}, so a holder alive
 * after all keeps its segment.
 */
export function mayAbandonSegment(record: SegmentRecord | undefined, confirmed: boolean): record is SegmentRecord {
  return !confirmed && record !== undefined && isSegmentOpen(record.state);
}

/** The instant before which a holder's last sign of life makes it lost (see {@link SEGMENT_HOLDER_SILENT_MS}). */
export function holderSilentSince(now: number): number {
  return now - SEGMENT_HOLDER_SILENT_MS;
}

/** Whether the holder of `record` shows no sign of life since `silentSince` (the store's condition, as data). */
export function isHolderSilent(record: SegmentRecord, silentSince: number): boolean {
  if (!isSegmentOpen(record.state)) return false;
  const last = record.heartbeatAt ?? record.openedAt;
  return last !== undefined && Date.parse(last) < silentSince;
}
