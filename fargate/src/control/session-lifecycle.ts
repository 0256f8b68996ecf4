/**
 * A session's life in the control layer. **Open** (real calls only): `registerSession` (the SES item)
 * first, then the strongly consistent META it returns — this order is what makes the start/stop race safe
 * (docs/data-model.md); if transcription is on, the session claims the current segment and opens unpaused,
 * otherwise it opens paused (`startPaused`), so Genesys does not even send the audio. **End** while on:
 * the sink flushes, the segment is closed with its summary, the session is closed, and another live
 * session of the conversation (here, or on another task through its inbox) renews transcription.
 *
 * A session of a `genesys`-controlled API key (genesys-control.ts) also records the start of its
 * conversation between registration and converge, and its end records the stop unless another live
 * `genesys` session of the conversation remains. A failed start is retried with the registration in the
 * background, the session staying paused meanwhile (never transcribed twice: the start is idempotent and
 * the segment claim conditional).
 */
import type { OpenDecision, OpenInfo, SessionStats } from '../../../core/audiohook/ports';
import type { ConversationMeta } from '../../../core/conversation/conversation';
import { describeError } from '../../../core/errors';
import { notifyHoldingTasks } from '../../../store/control-service';
import type { RegisterSessionInput } from '../../../store/conversations';
import { fullJitterDelay } from '../transcribe/backoff';
import type { ControlContext } from './controller-ports';
import { GenesysControl } from './genesys-control';
import type { LocalSession } from './local-session';
import type { SegmentControl } from './segment-control';

/** The open and end hooks of this task's sessions. */
export class SessionLifecycle {
  readonly #ctx: ControlContext;
  readonly #segments: SegmentControl;
  readonly #genesys: GenesysControl;

  constructor(ctx: ControlContext, segments: SegmentControl) {
    this.#ctx = ctx;
    this.#segments = segments;
    this.#genesys = new GenesysControl(ctx);
  }

  /** The session hook `onOpen`: registers the session and decides whether it opens paused. */
  open(ls: LocalSession, info: OpenInfo): Promise<OpenDecision> {
    const { options: o, queue, stats } = this.#ctx;
    const conversationId = info.conversationId;
    ls.conversationId = conversationId;
    ls.roles = [...info.roles];
    ls.channels = [...info.media.channels];
    ls.mediaFormat = info.media.format;
    ls.phase = 'opening';
    ls.connector.open(info, ls.connection.features);
    if (ls.connection.control === 'genesys') this.#genesys.prepare(ls, info);
    ls.openedAt = o.clock.monotonic();
    queue.entry(conversationId).sessions.add(ls);
    const decided = queue.enqueue(conversationId, async (): Promise<OpenDecision> => {
      if (ls.phase === 'ended') return { startPaused: true };
      let meta: ConversationMeta | undefined;
      try {
        meta = await this.#register(ls);
      } catch (err) {
        stats.count('registrationFailures');
        ls.log.warn(
          { conversationId, err: describeError(err), code: 'PIPELINE_REGISTRATION_FAILED' },
          'session registration failed: opening paused and retrying in the background (start/stop cannot reach this session until it succeeds)',
        );
        ls.paused = true;
        this.#registerLater(ls, 1);
        return { startPaused: true };
      }
      if (ls.refused) {
        ls.paused = true;
        return { startPaused: true };
      }
      if (ls.genesys !== undefined) {
        try {
          meta = await this.#genesys.requestStart(ls);
        } catch (err) {
          stats.count('registrationFailures');
          ls.log.warn(
            { conversationId, err: describeError(err), code: 'GENESYS_START_FAILED' },
            'recording the start of a genesys-controlled session failed: opening paused and retrying in the background',
          );
          ls.paused = true;
          this.#registerLater(ls, 1);
          return { startPaused: true };
        }
      }
      await this.#segments.converge(conversationId, meta);
      ls.paused = ls.segment === undefined;
      return { startPaused: ls.paused };
    });
    return decided.finally(() => {
      if (ls.phase === 'opening') ls.phase = 'open';
      stats.observe('openDecisionMs', o.clock.monotonic() - ls.openedAt);
    });
  }

  /** registerSession (SES item first, then META as of right after it), with retries on transient errors. */
  async #register(ls: LocalSession): Promise<ConversationMeta> {
    const { options: o, stats } = this.#ctx;
    const conversationId = ls.conversationId as string;
    const input: RegisterSessionInput = {
      conversationId,
      sessionId: ls.sessionId,
      taskId: o.taskId,
      ...(ls.channels !== undefined && { channels: ls.channels }),
      ...(ls.mediaFormat !== undefined && { mediaFormat: ls.mediaFormat }),
      ...(ls.connection.correlationId ? { correlationId: ls.connection.correlationId } : {}),
      ...(ls.genesys !== undefined && { control: 'genesys' as const }),
    };
    const result = await this.#ctx.retry(() => o.conversations.registerSession(input, o.clock.now()));
    if (result.outcome === 'conflict') {
      ls.refused = true;
      stats.count('registrationFailures');
      ls.log.warn(
        { conversationId, code: 'PIPELINE_SESSION_CONFLICT' },
        'session id already closed or held by another gateway task: this session is not transcribed',
      );
    } else {
      ls.registered = true;
      stats.count('sessionsRegistered');
    }
    return result.meta;
  }

  /**
   * Keeps trying to register a session whose registration (or, for a `genesys` session, whose start)
   * failed at open, until it succeeds or the session ends.
   */
  #registerLater(ls: LocalSession, attempt: number): void {
    const delay = 200 + fullJitterDelay({ baseMs: 500, capMs: 10_000 }, attempt, this.#ctx.random);
    this.#ctx.options.timers.setTimeout(() => {
      if (ls.phase === 'ended' || ls.conversationId === undefined) return;
      const conversationId = ls.conversationId;
      void this.#ctx.queue
        .enqueue(conversationId, async () => {
          if (ls.phase === 'ended') return;
          let meta: ConversationMeta | undefined;
          try {
            meta = await this.#register(ls);
            if (!ls.refused && ls.genesys !== undefined && !ls.genesys.startRequested) {
              meta = await this.#genesys.requestStart(ls);
            }
          } catch (err) {
            ls.log.debug({ err: describeError(err), attempt }, 'session registration retry failed');
            this.#registerLater(ls, attempt + 1);
            return;
          }
          ls.log.info({ conversationId, attempt }, 'session registered after an earlier failure');
          if (!ls.refused) await this.#segments.converge(conversationId, meta);
        })
        .catch((err: unknown) => {
          ls.log.warn({ err: describeError(err) }, 'converging after a late registration failed');
        });
    }, delay);
  }

  /** The session hook `onEnd`: closes its segment and its SES item, then hands transcription over. */
  end(ls: LocalSession, summary: { reason: string; stats: SessionStats }): void {
    const { options: o, queue, stats } = this.#ctx;
    const conversationId = ls.conversationId;
    ls.phase = 'ended';
    if (conversationId === undefined) return;
    void queue
      .enqueue(conversationId, async () => {
        // The session waits for the sink only within its flush budget; the segment's summary needs all of it.
        await ls.sinkEnd;
        await ls.flushing;
        ls.connector.finish();
        const held = ls.segment;
        if (held !== undefined) {
          ls.segment = undefined;
          const ended = ls.endSummary?.segment === held.number ? ls.endSummary : undefined;
          await this.#segments.closeSegment(ls, held.number, ended, 'session-ended');
        }
        if (ls.registered) {
          try {
            await this.#ctx.retry(() =>
              o.conversations.closeSession(conversationId, ls.sessionId, o.clock.now(), summary.reason),
            );
          } catch (err) {
            stats.count('closeFailures');
            ls.log.warn({ conversationId, err: describeError(err) }, 'closing the session item failed');
          }
        }
        queue.get(conversationId)?.sessions.delete(ls);
        const stopped = ls.genesys?.startRequested === true && (await this.#genesys.stopAfterEnd(ls));
        if (stopped) {
          // Other local sessions of the call (another integration's) converge to the stop now.
          if ((queue.get(conversationId)?.sessions.size ?? 0) > 0) await this.#segments.converge(conversationId);
        } else if (held !== undefined) {
          await this.#handOver(conversationId);
        }
      })
      .catch((err: unknown) => {
        ls.log.error({ conversationId, err: describeError(err) }, 'ending the session in the control layer failed');
      });
  }

  /**
   * The session that streamed a conversation ended while transcription may still be on: let another
   * session of the conversation (here or on another task) renew it.
   */
  async #handOver(conversationId: string): Promise<void> {
    const o = this.#ctx.options;
    const entry = this.#ctx.queue.get(conversationId);
    const localLeft = entry !== undefined && [...entry.sessions].some((s) => this.#segments.eligible(s));
    if (localLeft) {
      await this.#segments.converge(conversationId);
      return;
    }
    const meta = await o.conversations.getMeta(conversationId);
    if (meta?.desired !== 'on') return;
    const { tasks } = await notifyHoldingTasks(o, conversationId, meta.desiredVersion, 'on', { exceptTask: o.taskId });
    if (tasks.length === 0) return;
    this.#ctx.log.info(
      { conversationId, tasks: tasks.length },
      'streaming session ended while transcription is on: other tasks holding the conversation notified',
    );
  }
}
