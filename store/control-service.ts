/**
 * The "tell every task holding this conversation" protocol (architecture.md §4), written once for both
 * runtimes: after META changed, write one inbox item per gateway task holding an open session of the
 * conversation (control-inbox.ts), and for a stop, await the holder's close of the segment (bounded),
 * closing it as `holder-lost` when its holder shows no sign of life. Used by the start and stop Lambdas
 * and by the gateway when the session that streamed a conversation ends.
 */
import type { DesiredState } from '../core/conversation/conversation';
import { holderSilentSince, mayAbandonSegment } from '../core/conversation/rules';
import type { SegmentRecord } from '../core/conversation/segment';
import type { SessionRecord } from '../core/conversation/session';

/** The session listing the protocol reads to find the holding tasks. */
export interface HolderLookupPort {
  listSessions(conversationId: string, options?: { openOnly?: boolean }): Promise<SessionRecord[]>;
}

/** The inbox writer (`ControlInbox.notifyTasks`); `R` is whatever it answers. */
export interface NotifyPort<R> {
  notifyTasks(
    conversationId: string,
    version: number,
    taskIds: Iterable<string>,
    options?: { desired?: DesiredState },
  ): Promise<R>;
}

/** Who the protocol addresses besides (or instead of) the open sessions' tasks. */
export interface NotifyScope {
  /** A task to notify even without an open session (the segment's holder, on stop). */
  alsoTask?: string;
  /** A task not to notify (the gateway task calling, which acts itself). */
  exceptTask?: string;
}

/**
 * Writes one inbox item about `version` for each task holding an open session of the conversation (within
 * `scope`). Nothing is written when no task is addressed. Returns the tasks addressed and the inbox's answer.
 */
export async function notifyHoldingTasks<R>(
  ports: { conversations: HolderLookupPort; inbox: NotifyPort<R> },
  conversationId: string,
  version: number,
  desired: DesiredState,
  scope: NotifyScope = {},
): Promise<{ tasks: string[]; answer: R | undefined }> {
  const sessions = await ports.conversations.listSessions(conversationId, { openOnly: true });
  const tasks = new Set(sessions.map((s) => s.taskId));
  if (scope.alsoTask !== undefined) tasks.add(scope.alsoTask);
  if (scope.exceptTask !== undefined) tasks.delete(scope.exceptTask);
  if (tasks.size === 0) return { tasks: [], answer: undefined };
  const answer = await ports.inbox.notifyTasks(conversationId, version, tasks, { desired });
  return { tasks: [...tasks], answer };
}

/** The segment reads and writes a stop's settlement needs (`ConversationsRepository`). */
export interface StopSettlementPort extends HolderLookupPort {
  getSegment(conversationId: string, segment: number): Promise<SegmentRecord | undefined>;
  waitForSegmentClosed(
    conversationId: string,
    segment: number,
    options: { timeoutMs: number; pollMs?: number },
  ): Promise<{ closed: boolean; segment: SegmentRecord | undefined }>;
  abandonSegment(
    conversationId: string,
    segment: number,
    now: number,
    silentSince: number,
  ): Promise<'closed' | 'already-closed' | 'alive'>;
}

/** How a stop's segment ended up. */
export interface StopSettlement {
  /** The segment as last read (its counters are the summary to answer with). */
  record: SegmentRecord | undefined;
  /** Closed by the store in the stop itself, or by its holder in time. */
  confirmed: boolean;
  /** Closed here because its holder had been silent too long. */
  holderLost: boolean;
  /** Tasks whose inbox now holds the stop. */
  notified: number;
  /** Time from the first segment read to the settlement, ms (notifying, waiting, the holder-lost check). */
  waitedMs: number;
}

/**
 * After a stop was recorded: a segment the stop closed itself (nothing streamed) is settled at once.
 * Otherwise notify the tasks holding the conversation and the segment's holder, poll the segment until
 * it is `closed` or `timeoutMs` passes, and if it is still open, close it as `holder-lost` when its holder
 * has been silent since `SEGMENT_HOLDER_SILENT_MS` (a holder alive after all keeps it).
 */
export async function settleStop(
  ports: { conversations: StopSettlementPort; inbox: NotifyPort<{ notified: readonly string[] }> },
  stop: { conversationId: string; segment: number; version: number },
  options: { timeoutMs: number; pollMs?: number; now: () => number },
): Promise<StopSettlement> {
  const { conversationId, segment } = stop;
  const { conversations } = ports;
  let record = await conversations.getSegment(conversationId, segment);
  let confirmed = record?.state === 'closed';
  let notified = 0;
  const waitStarted = options.now();
  if (!confirmed) {
    const sent = await notifyHoldingTasks(ports, conversationId, stop.version, 'off', { alsoTask: record?.taskId });
    notified = sent.answer?.notified.length ?? 0;
    const waited = await conversations.waitForSegmentClosed(conversationId, segment, {
      timeoutMs: options.timeoutMs,
      pollMs: options.pollMs,
    });
    confirmed = waited.closed;
    record = waited.segment ?? record;
  }
  // No confirmation: a holder silent for long is dead (its task ended without closing the segment).
  const abandoned = await abandonIfHolderLost(conversations, conversationId, segment, record, confirmed, options.now);
  return { ...abandoned, confirmed, notified, waitedMs: options.now() - waitStarted };
}

/**
 * A stop repeated after the conversation is already stopped (answered `409-201`) while its segment is
 * still open: the first stop's holder never confirmed. Without this step only the first stop could reach
 * the holder-lost rule, and a segment whose task died before that stop's wait ended stayed `closing`
 * forever. Nothing is notified or awaited again; a silent holder loses the segment.
 */
export async function settleRepeatedStop(
  conversations: Pick<StopSettlementPort, 'getSegment' | 'abandonSegment'>,
  stop: { conversationId: string; segment: number },
  now: () => number,
): Promise<{ record: SegmentRecord | undefined; holderLost: boolean }> {
  const record = await conversations.getSegment(stop.conversationId, stop.segment);
  return abandonIfHolderLost(conversations, stop.conversationId, stop.segment, record, false, now);
}

/** Closes an unconfirmed open segment as `holder-lost` when its holder is silent; re-reads it if it closed. */
async function abandonIfHolderLost(
  conversations: Pick<StopSettlementPort, 'getSegment' | 'abandonSegment'>,
  conversationId: string,
  segment: number,
  record: SegmentRecord | undefined,
  confirmed: boolean,
  now: () => number,
): Promise<{ record: SegmentRecord | undefined; holderLost: boolean }> {
  if (!mayAbandonSegment(record, confirmed)) return { record, holderLost: false };
  const at = now();
  const outcome = await conversations.abandonSegment(conversationId, segment, at, holderSilentSince(at));
  if (outcome === 'alive') return { record, holderLost: false };
  return {
    record: (await conversations.getSegment(conversationId, segment)) ?? record,
    holderLost: outcome === 'closed',
  };
}
