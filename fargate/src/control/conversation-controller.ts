/**
 * The transcription pipeline's control layer on one gateway task: it owns, per AudioHook session, a
 * {@link TranscriptionSink} (the session's audio sink) and the session hooks, and keeps every local
 * session converged to its conversation's desired state in the Conversations table (architecture.md
 * §1.2, §4; docs/data-model.md).
 *
 * - **Open** (real calls only): `registerSession` (the SES item) first, then the strongly consistent
 *   META it returns — this order is what makes the start/stop race safe (docs/data-model.md). If
 *   transcription is on, the session claims the current segment (`openSegment`, conditional) and opens
 *   unpaused; otherwise it opens paused (`startPaused`), so Genesys does not even send the audio.
 * - **Inbox**: an {@link InboxPoller} reads this task's control inbox; each item makes the conversation's
 *   local sessions converge to META as it is now (re-read, strongly consistent): on → claim + start +
 *   `resume`; off → `pause` + flush + `closeSegment` with the final summary. Converging to the current
 *   META (not to the item) makes redelivery and reordering harmless; acks carry the item's version so a
 *   newer notification is never deleted by an older apply.
 * - **One streamer per conversation**: a segment is held by exactly one session (the conditional
 *   `openSegment`). Other sessions of the same conversation (several Genesys AudioHook integrations on one
 *   call, or a reconnect overlapping the old socket) stay paused; when the holder ends while transcription
 *   is on, its segment is closed with its summary and another live session renews transcription with a
 *   fresh segment (`startNextSegment`), locally at once and on other tasks through their inboxes.
 * - **Session end while on**: the sink flushes, the segment is closed with its summary, the session is
 *   closed. A later session of the conversation that finds META on but the segment closed renews it.
 * - Every store mutation for a conversation runs through one promise chain per conversation, so an open,
 *   an inbox apply, a counter flush and an end never interleave (e.g. no counter `ADD` after the final
 *   summary).
 *
 * The parts beside this file: controller-ports.ts (store slices, options, the shared context),
 * conversation-queue.ts (per-conversation chains), local-session.ts (the session record and its sink
 * wiring), session-lifecycle.ts (open, end, hand-over), segment-control.ts (converge, claim, stop),
 * inbox-apply.ts and segment-counters.ts.
 */
import type { AudioSink, ConnectionInfo, SessionControl, SessionHooks } from '../../../core/audiohook/ports';
import type { Logger } from '../../../core/ports';
import type { ControlContext, ConversationControllerOptions } from './controller-ports';
import { ConversationQueue, retryStore } from './conversation-queue';
import { applyInboxItem } from './inbox-apply';
import { InboxPoller } from './inbox-poller';
import { createLocalSession, type LocalSession, sessionAudioSink } from './local-session';
import { PipelineStats, type PipelineStatsSnapshot } from './metrics';
import { SegmentControl } from './segment-control';
import { SegmentCounters } from './segment-counters';
import { SessionLifecycle } from './session-lifecycle';

/**
 * Builds the `hooksFactory` + `sinkFactory` pair of one gateway task and runs its control inbox.
 * Wire it as `createGateway({ hooksFactory: c.hooksFactory, sinkFactory: c.sinkFactory, … })`, then
 * `c.attach(gateway)` and `c.start()`.
 */
export class ConversationController {
  readonly #o: ConversationControllerOptions;
  readonly #log: Logger;
  readonly #stats: PipelineStats;
  readonly #ctx: ControlContext;
  readonly #queue = new ConversationQueue();
  readonly #lifecycle: SessionLifecycle;
  readonly #counters: SegmentCounters;
  readonly #poller: InboxPoller;
  /** Sessions between `hooksFactory` and `sinkFactory` (both run synchronously at connection). */
  readonly #connecting = new Map<string, LocalSession>();
  #lookup: (sessionId: string) => SessionControl | undefined = () => undefined;
  #running = false;

  constructor(opts: ConversationControllerOptions) {
    this.#o = opts;
    this.#log = opts.logger.child({ component: 'transcription-control' });
    this.#stats = opts.stats ?? new PipelineStats();
    const random = opts.random ?? Math.random;
    const retry = { attempts: opts.storeAttempts ?? 4, timers: opts.timers, random };
    this.#ctx = {
      options: opts,
      log: this.#log,
      stats: this.#stats,
      random,
      queue: this.#queue,
      session: (sessionId) => this.#lookup(sessionId),
      retry: (fn) => retryStore(fn, retry),
    };
    const segments = new SegmentControl(this.#ctx);
    this.#lifecycle = new SessionLifecycle(this.#ctx, segments);
    this.#counters = new SegmentCounters(this.#ctx);
    this.#poller = new InboxPoller({
      taskId: opts.taskId,
      inbox: opts.inbox,
      apply: (item) => applyInboxItem(this.#ctx, segments, item),
      intervalMs: opts.pollIntervalMs ?? 200,
      timers: opts.timers,
      logger: this.#log,
      random,
      onPoll: ({ error }) => this.#stats.count(error === undefined ? 'inboxPolls' : 'inboxPollErrors'),
      onApplyError: () => this.#stats.count('inboxApplyErrors'),
    });
  }

  /** The gateway's `hooksFactory`. */
  readonly hooksFactory = (ctx: { sessionId: string; connection: ConnectionInfo }): SessionHooks => {
    const ls = createLocalSession(this.#ctx, ctx.sessionId, ctx.connection);
    this.#connecting.set(ctx.sessionId, ls);
    return {
      onOpen: (info) => this.#lifecycle.open(ls, info),
      onEnd: (summary) => this.#lifecycle.end(ls, summary),
    };
  };

  /** The gateway's `sinkFactory` (called right after `hooksFactory` for the same connection). */
  readonly sinkFactory = (ctx: { sessionId: string }): AudioSink => {
    let ls = this.#connecting.get(ctx.sessionId);
    this.#connecting.delete(ctx.sessionId);
    // Without hooks the session never opens towards us; the sink still drops everything (no segment).
    ls ??= createLocalSession(this.#ctx, ctx.sessionId, {
      sessionId: ctx.sessionId,
      organizationId: '',
      correlationId: '',
      apiKeyLabel: '',
    });
    return sessionAudioSink(ls);
  };

  /** Gives the controller the gateway's session registry (pause/resume go through it). */
  attach(gateway: { sessions(): ReadonlyMap<string, SessionControl> }): void {
    this.#lookup = (id) => gateway.sessions().get(id);
  }

  /** Starts the inbox poller and the counter flush. Idempotent. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#poller.start();
    this.#counters.start();
    this.#log.info(
      { pollIntervalMs: this.#o.pollIntervalMs ?? 200, counterFlushMs: this.#o.counterFlushMs ?? 5000 },
      'transcription control started',
    );
  }

  /**
   * Stops polling and flushing; resolves once running applies and every queued conversation operation
   * (segment closes of ended sessions) have finished. Sessions themselves are ended by the gateway's drain.
   */
  async stop(): Promise<void> {
    this.#running = false;
    this.#counters.stop();
    await this.#poller.stop();
    await this.idle();
  }

  /** Resolves when no conversation operation (including background segment flushes) is queued or running. */
  async idle(): Promise<void> {
    await this.#queue.idle();
  }

  /** Polls the inbox once now and waits for what it applied, segment flushes included (tests, local tools). */
  async pollNow(): Promise<void> {
    await this.#poller.pollOnce();
    await this.#poller.idle();
    await this.idle();
  }

  /** Flushes segment counters now (tests; the timer does it every `counterFlushMs`). */
  async flushCountersNow(): Promise<void> {
    this.#counters.flushAll();
    await this.idle();
  }

  /** Utterances held for a store that is unavailable, now (the `UtterancesHeld` gauge: no snapshot needed). */
  get utterancesHeld(): number {
    return this.#stats.utterancesHeld;
  }

  /** Counters and latencies, plus live gauges. */
  stats(): PipelineStatsSnapshot & { sessions: number; streaming: number } {
    let sessions = 0;
    let streaming = 0;
    for (const [, c] of this.#queue.entries()) {
      for (const ls of c.sessions) {
        sessions++;
        if (ls.segment) streaming++;
      }
    }
    return { ...this.#stats.snapshot(), sessions, streaming };
  }
}
