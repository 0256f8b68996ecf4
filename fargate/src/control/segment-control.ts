/**
 * Segment control: brings a conversation's local sessions to META's desired state. On → one session
 * claims the current segment (the conditional `openSegment`, or `startNextSegment` when its holder ended
 * while transcription stayed on) and resumes; the others stay paused. Off → pause, flush, and
 * `closeSegment` with the streamer's final summary. Every call runs inside the conversation's chain
 * (conversation-queue.ts).
 */
import type { Role } from '../../../core/audio/roles';
import type { ConversationMeta } from '../../../core/conversation/conversation';
import { type RoleSummary, type SegmentRecord, ZERO_SUMMARY } from '../../../core/conversation/segment';
import { describeError } from '../../../core/errors';
import type { CloseSegmentOutcome } from '../../../store/segment-writes';
import { type SegmentSummary, TranscriptionSinkError } from '../transcribe/transcription-sink';
import type { ControlContext } from './controller-ports';
import type { ConversationEntry } from './conversation-queue';
import type { LocalSession } from './local-session';

/** Segment summary fields of a role, as stored. */
type Summary = Partial<Record<Role, RoleSummary>>;

/** Why a segment closes. */
export type SegmentCloseReason = 'stopped' | 'superseded' | 'session-ended';

/** Rounds of read → decide → conditional write before a converge gives up (until the next trigger). */
const MAX_CONVERGE_ROUNDS = 4;

/** Starts, stops and hands over the segments of this task's sessions. */
export class SegmentControl {
  readonly #ctx: ControlContext;

  constructor(ctx: ControlContext) {
    this.#ctx = ctx;
  }

  /** A session that may stream: open (or opening) and not refused at registration. */
  eligible(ls: LocalSession): boolean {
    return (ls.phase === 'open' || ls.phase === 'opening') && !ls.refused;
  }

  /**
   * Brings the conversation's local sessions to META's desired state. Must run inside the conversation's
   * chain. Returns the META it converged to.
   */
  async converge(conversationId: string, known?: ConversationMeta): Promise<ConversationMeta | undefined> {
    const { options: o, queue } = this.#ctx;
    let meta = known ?? (await o.conversations.getMeta(conversationId));
    const entry = queue.entry(conversationId);
    for (let round = 1; round <= MAX_CONVERGE_ROUNDS; round++) {
      const live = [...entry.sessions].filter((s) => this.eligible(s));
      if (meta?.desired !== 'on' || meta.currentSegment === undefined || !meta.streamIds || !meta.params) {
        for (const ls of live) {
          if (ls.segment) await this.stopStreaming(ls, 'stopped');
          else this.control(ls, true);
        }
        applied(entry, meta);
        return meta;
      }
      const current = meta.currentSegment;
      for (const ls of live) {
        if (ls.segment && ls.segment.number !== current) await this.stopStreaming(ls, 'superseded');
      }
      const owner = live.find((s) => s.segment?.number === current);
      if (owner || live.length === 0) {
        for (const ls of live) if (ls !== owner) this.control(ls, true);
        applied(entry, meta);
        return meta;
      }
      const claim = await this.#claim(conversationId, current, live);
      if (claim.done) {
        applied(entry, meta);
        return meta;
      }
      meta = claim.meta;
    }
    this.#ctx.log.warn(
      { conversationId, rounds: MAX_CONVERGE_ROUNDS },
      'control did not converge (concurrent changes); the next start/stop or poll retries',
    );
    return meta;
  }

  /** Tries the live sessions in order to claim segment `current`; `done: false` means re-read and retry. */
  async #claim(
    conversationId: string,
    current: number,
    live: LocalSession[],
  ): Promise<{ done: true } | { done: false; meta: ConversationMeta | undefined }> {
    const { options: o, stats } = this.#ctx;
    // A session that sends transcripts back to Genesys (Transcription Connector) streams in preference.
    const candidate = (live.find((s) => s.connector.enabled) ?? live[0]) as LocalSession;
    const holder = { taskId: o.taskId, sessionId: candidate.sessionId };
    const now = o.clock.now();
    const opened = await this.#ctx.retry(() => o.conversations.openSegment(conversationId, current, holder, now));
    if (opened.outcome === 'opened' || opened.outcome === 'already-open') {
      this.#startStreaming(candidate, opened.segment, 'claimed');
      for (const ls of live) if (ls !== candidate) this.control(ls, true);
      return { done: true };
    }
    if (opened.outcome === 'taken') {
      // Only the holder streams (no duplicate transcripts when several integrations send the same call).
      stats.count('segmentsTakenElsewhere');
      candidate.log.info(
        {
          conversationId,
          segment: current,
          holderTaskId: opened.segment.taskId,
          holderSessionId: opened.segment.sessionId,
        },
        'segment already streamed by another session of this conversation: this session stays paused',
      );
      for (const ls of live) this.control(ls, true);
      return { done: true };
    }
    if (opened.segment?.state === 'closed') {
      // The session that held it ended while transcription stayed on: renew with a fresh segment.
      const next = await this.#ctx.retry(() =>
        o.conversations.startNextSegment(conversationId, current, holder, o.clock.now()),
      );
      if (next.outcome === 'opened') {
        stats.count('segmentsRenewed');
        this.#startStreaming(candidate, next.segment, 'renewed');
        for (const ls of live) if (ls !== candidate) this.control(ls, true);
        return { done: true };
      }
      return { done: false, meta: next.meta };
    }
    return { done: false, meta: await o.conversations.getMeta(conversationId) };
  }

  #startStreaming(ls: LocalSession, seg: SegmentRecord, how: 'claimed' | 'renewed'): void {
    ls.params.set(seg.segment, seg.params);
    try {
      ls.sink.startSegment({
        segment: seg.segment,
        streamIds: seg.streamIds,
        params: {
          language: seg.params.language,
          redactionOutput: seg.params.redactionOutput,
          detailedToken: seg.params.detailedToken,
        },
        audioRecordingAllowed: seg.params.audioRecordingAllowed === true,
        followLanguageUpdates: seg.params.followLanguageUpdates === true,
      });
    } catch (err) {
      if (err instanceof TranscriptionSinkError && err.code === 'TRANSCRIPTION_SINK_ENDED') {
        // The socket went away while we claimed: the end handler closes the segment with a zero summary.
        ls.segment = { number: seg.segment, flushed: {} };
        return;
      }
      throw err;
    }
    ls.segment = { number: seg.segment, flushed: {} };
    this.control(ls, false);
    this.#ctx.stats.count('segmentsOpened');
    ls.log.info(
      {
        conversationId: seg.conversationId,
        segment: seg.segment,
        how,
        language: seg.params.language,
        redactionOutput: seg.params.redactionOutput,
        atOpen: ls.phase === 'opening' || undefined,
      },
      'transcription segment opened',
    );
  }

  /**
   * Pauses the client and detaches the segment from the sink at once; the recognizer flush and the
   * `closeSegment` with the final summary continue in the background (tracked by `ls.flushing` and
   * `idle()`), so the conversation's next step (typically a start after a hold) is not held up by them.
   */
  async stopStreaming(ls: LocalSession, why: 'stopped' | 'superseded'): Promise<void> {
    const held = ls.segment;
    if (held === undefined) return;
    // Pause first: the client stops sending, and the session drops stragglers.
    this.control(ls, true);
    // Segment closes of one session stay in order (the previous flush and closeSegment first), so a later
    // close never lands before an earlier one; the sink itself no longer needs this (each stop is its own).
    await ls.flushing;
    ls.segment = undefined;
    const conversationId = ls.conversationId as string;
    // By number: when the session's end is already flushing this segment, the stop gets that flush's summary.
    const flushed = ls.sink
      .stopSegment(held.number)
      .then((summary) => this.closeSegment(ls, held.number, summary, why));
    const settled = flushed.then(
      () => undefined,
      (err: unknown) => {
        ls.log.error({ conversationId, segment: held.number, err: describeError(err) }, 'segment flush failed');
      },
    );
    ls.flushing = settled;
    this.#ctx.queue.track(conversationId, settled);
  }

  /** Closes the segment in the store with the streamer's final summary (zeros when nothing streamed). */
  async closeSegment(
    ls: LocalSession,
    segment: number,
    summary: SegmentSummary | undefined,
    why: SegmentCloseReason,
  ): Promise<void> {
    const { options: o, stats } = this.#ctx;
    const conversationId = ls.conversationId as string;
    const totals = summaryOf(summary, ls.roles);
    let outcome: CloseSegmentOutcome | 'failed';
    try {
      outcome = await this.#ctx.retry(() =>
        o.conversations.closeSegment(conversationId, segment, o.clock.now(), totals),
      );
      stats.count('segmentsClosed');
    } catch (err) {
      outcome = 'failed';
      stats.count('closeFailures');
      ls.log.error(
        { conversationId, segment, err: describeError(err), code: 'PIPELINE_SEGMENT_CLOSE_FAILED' },
        'closing the segment failed: the stop answer reports the counters flushed so far',
      );
    }
    const roles = Object.fromEntries(
      Object.entries(totals).map(([role, s]) => [
        role,
        { audioDurationMs: s.audioDurationMs, transcripts: s.transcripts },
      ]),
    );
    ls.log.info(
      {
        conversationId,
        segment,
        why,
        outcome,
        failed: summary?.failed || undefined,
        roles,
        streamsOpened: summary?.stats.streamsOpened,
        droppedAudioMs: summary?.stats.droppedAudioMs || undefined,
        resentAudioMs: summary?.stats.resentAudioMs || undefined,
        languageSwitches: summary?.stats.languageSwitches || undefined,
        putFailures: summary?.stats.putFailures || undefined,
        recording: summary?.recording,
      },
      'transcription segment closed',
    );
  }

  /** Asks the client to pause or resume, once per change (each `pause` is a message on the wire). */
  control(ls: LocalSession, paused: boolean): void {
    if (ls.paused === paused) return;
    ls.paused = paused;
    // During the open hook the wish travels in the open decision (`startPaused`), not as a message.
    if (ls.phase !== 'open') return;
    const session = this.#ctx.session(ls.sessionId);
    if (session === undefined) return;
    if (paused) session.pause();
    else session.resume();
  }
}

function applied(entry: ConversationEntry, meta: ConversationMeta | undefined): void {
  if (meta !== undefined && meta.desiredVersion > entry.appliedVersion) entry.appliedVersion = meta.desiredVersion;
}

/** The stored summary of a segment: the streamer's final counters per role (zeros when nothing streamed). */
function summaryOf(summary: SegmentSummary | undefined, roles: readonly Role[]): Summary {
  const out: Summary = {};
  for (const role of roles.length > 0 ? roles : (['customer', 'agent'] as const)) {
    const c = summary?.roles[role];
    out[role] = c
      ? {
          totalAudioBytes: c.totalAudioBytes,
          audioDurationMs: c.audioDurationMs,
          streamingSeconds: c.streamingSeconds,
          transcripts: c.transcripts,
        }
      : { ...ZERO_SUMMARY };
  }
  return out;
}
