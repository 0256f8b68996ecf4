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
 */
import type { Role } from '../../../core/audio/roles';
import type {
  AudioFrame,
  AudioSink,
  ConnectionInfo,
  OpenDecision,
  OpenInfo,
  SessionControl,
  SessionHooks,
  SessionStats,
  SinkStartInfo,
  TimelineGap,
} from '../../../core/audiohook/ports';
import type { Clock, Logger, TimerHandle, Timers } from '../../../core/ports';
import type { Utterance } from '../../../core/transcript/utterance';
import type { InboxItem } from '../../../store/control-inbox';
import type {
  CloseSegmentOutcome,
  ConversationMeta,
  NextSegmentResult,
  OpenSegmentResult,
  RegisterSessionInput,
  RegisterSessionResult,
  RoleSummary,
  SegmentRecord,
  SessionRecord,
  StartParams,
} from '../../../store/conversations';
import { StoreError } from '../../../store/errors';
import { TranscriptionConnector, withTranscriptionConnector } from '../connector/transcription-connector';
import type { RecordingsPort } from '../recordings/recordings';
import { describeError, fullJitterDelay } from '../transcribe/backoff';
import type {
  RoleCounters,
  SegmentStreamer,
  SegmentStreamerOptions,
  StreamerConfig,
  TranscribeClientLike,
  TranscribeCustomization,
  TranscribeMetrics,
} from '../transcribe/streamer';
import { type SegmentSummary, TranscriptionSink, TranscriptionSinkError } from '../transcribe/transcription-sink';
import { ArrivalClock } from './arrival-clock';
import { InboxPoller, type InboxPort } from './inbox-poller';
import { PipelineStats, type PipelineStatsSnapshot } from './metrics';
import { type UtterancePutPort, type UtteranceRetryPolicy, UtteranceWriter } from './utterance-writer';

/** The slice of `ConversationsRepository` the controller uses. */
export interface ConversationsPort {
  getMeta(conversationId: string, options?: { consistent?: boolean }): Promise<ConversationMeta | undefined>;
  registerSession(input: RegisterSessionInput, now: number): Promise<RegisterSessionResult>;
  closeSession(
    conversationId: string,
    sessionId: string,
    now: number,
    reason?: string,
  ): Promise<'closed' | 'already-closed' | 'not-found'>;
  listSessions(conversationId: string, options?: { openOnly?: boolean }): Promise<SessionRecord[]>;
  openSegment(
    conversationId: string,
    segment: number,
    holder: { taskId: string; sessionId: string },
    now: number,
  ): Promise<OpenSegmentResult>;
  startNextSegment(
    conversationId: string,
    fromSegment: number,
    holder: { taskId: string; sessionId: string },
    now: number,
  ): Promise<NextSegmentResult>;
  closeSegment(
    conversationId: string,
    segment: number,
    now: number,
    summary?: Partial<Record<Role, RoleSummary>>,
  ): Promise<CloseSegmentOutcome>;
  addSegmentCounters(conversationId: string, segment: number, role: Role, delta: Partial<RoleSummary>): Promise<void>;
  heartbeatSegment(conversationId: string, segment: number, now: number): Promise<'ok' | 'not-open'>;
}

/** The slice of `ControlInbox` the controller uses (reader, plus notifying peers when a holder ends). */
export interface ControlInboxPort extends InboxPort {
  notifyTasks(
    conversationId: string,
    version: number,
    taskIds: Iterable<string>,
    options?: { desired?: 'on' | 'off' },
  ): Promise<unknown>;
}

/** Options of {@link ConversationController}. */
export interface ConversationControllerOptions {
  /** This gateway task's id (ECS task id): the SES items, segment holders and inbox partition use it. */
  taskId: string;
  conversations: ConversationsPort;
  inbox: ControlInboxPort;
  utterances: UtterancePutPort;
  /** The shared Transcribe Streaming client. */
  transcribe: TranscribeClientLike;
  clock: Clock;
  timers: Timers;
  logger: Logger;
  /** @default a fresh {@link PipelineStats} */
  stats?: PipelineStats;
  /** Control inbox poll period (jittered ±20 %). @default 200 */
  pollIntervalMs?: number;
  /** Per-role counter flush period while a segment streams (jittered ±10 %). @default 5000 */
  counterFlushMs?: number;
  /** Streamer settings shared by every segment. */
  customization?: TranscribeCustomization;
  streamerConfig?: Partial<StreamerConfig>;
  transcribeMetrics?: TranscribeMetrics;
  utteranceRetry?: Partial<UtteranceRetryPolicy>;
  /** Attempts for control writes (register, close) on retryable store errors. @default 4 */
  storeAttempts?: number;
  /** Builds each segment's streamer (tests substitute one). @default - a real SegmentStreamer */
  createStreamer?: (opts: SegmentStreamerOptions) => SegmentStreamer;
  /** Records segments started with `audioRecordingAllowed`. @default - none: the flag is ignored */
  recordings?: RecordingsPort;
  /** @default Math.random */
  random?: () => number;
}

/** What the controller knows about one session of this task. */
interface LocalSession {
  readonly sessionId: string;
  readonly connection: ConnectionInfo;
  readonly sink: TranscriptionSink;
  /** When the session's audio arrived, for the end-of-speech → stored latency. */
  readonly arrivals: ArrivalClock;
  /** Sends this session's final utterances back to Genesys as `event`s when enabled at open. */
  readonly connector: TranscriptionConnector;
  readonly log: Logger;
  conversationId?: string;
  roles: Role[];
  channels?: string[];
  mediaFormat?: string;
  /** `opening`: the open hook runs; pause/resume go into the open decision, not to the client. */
  phase: 'connected' | 'opening' | 'open' | 'ended';
  registered: boolean;
  /** registerSession conflicted (session id closed or held elsewhere): never transcribed. */
  refused: boolean;
  /** The segment this session streams, with the counters already flushed with `addSegmentCounters`. */
  segment?: { number: number; flushed: Partial<Record<Role, RoleCounters>> };
  /** Start params per segment number (sender external ids of late utterances). */
  params: Map<number, StartParams>;
  /** Last pause/resume wish sent to (or decided for) the client. */
  paused: boolean;
  /** Summary of the segment the sink closed because the session ended. */
  endSummary?: SegmentSummary;
  /** The sink's `end()` as called by the session. */
  sinkEnd?: Promise<void>;
  /**
   * The flush and close of the segment stopped last, running outside the conversation chain (a restart
   * after a short hold must not wait for the recognizer's last finals). Settles, never rejects.
   */
  flushing?: Promise<void>;
  flushQueued: boolean;
  openedAt: number;
}

interface ConversationEntry {
  sessions: Set<LocalSession>;
  chain: Promise<unknown>;
  /** Operations running outside the chain (segment flushes). */
  background: Set<Promise<void>>;
  /** Chain operations plus background operations not yet settled. */
  pending: number;
  /** Highest META desiredVersion this task converged to. */
  appliedVersion: number;
}

/** Segment summary fields of a role, as stored. */
type Summary = Partial<Record<Role, RoleSummary>>;

/** Rounds of read → decide → conditional write before a converge gives up (until the next trigger). */
const MAX_CONVERGE_ROUNDS = 4;

const ZERO: RoleSummary = { totalAudioBytes: 0, audioDurationMs: 0, streamingSeconds: 0, transcripts: 0 };

/**
 * Builds the `hooksFactory` + `sinkFactory` pair of one gateway task and runs its control inbox.
 * Wire it as `createGateway({ hooksFactory: c.hooksFactory, sinkFactory: c.sinkFactory, … })`, then
 * `c.attach(gateway)` and `c.start()`.
 */
export class ConversationController {
  readonly #o: ConversationControllerOptions;
  readonly #log: Logger;
  readonly #stats: PipelineStats;
  readonly #poller: InboxPoller;
  readonly #random: () => number;
  readonly #storeAttempts: number;
  /** Sessions between `hooksFactory` and `sinkFactory` (both run synchronously at connection). */
  readonly #connecting = new Map<string, LocalSession>();
  readonly #conversations = new Map<string, ConversationEntry>();
  #lookup: (sessionId: string) => SessionControl | undefined = () => undefined;
  #flushTimer: TimerHandle | undefined;
  #running = false;

  constructor(opts: ConversationControllerOptions) {
    this.#o = opts;
    this.#log = opts.logger.child({ component: 'transcription-control' });
    this.#stats = opts.stats ?? new PipelineStats();
    this.#random = opts.random ?? Math.random;
    this.#storeAttempts = opts.storeAttempts ?? 4;
    this.#poller = new InboxPoller({
      taskId: opts.taskId,
      inbox: opts.inbox,
      apply: (item) => this.#applyInboxItem(item),
      intervalMs: opts.pollIntervalMs ?? 200,
      timers: opts.timers,
      logger: this.#log,
      random: this.#random,
      onPoll: ({ error }) => this.#stats.count(error === undefined ? 'inboxPolls' : 'inboxPollErrors'),
      onApplyError: () => this.#stats.count('inboxApplyErrors'),
    });
  }

  /** The gateway's `hooksFactory`. */
  readonly hooksFactory = (ctx: { sessionId: string; connection: ConnectionInfo }): SessionHooks => {
    const ls = this.#newSession(ctx.sessionId, ctx.connection);
    this.#connecting.set(ctx.sessionId, ls);
    return {
      onOpen: (info) => this.#onOpen(ls, info),
      onEnd: (summary) => this.#onEnd(ls, summary),
    };
  };

  /** The gateway's `sinkFactory` (called right after `hooksFactory` for the same connection). */
  readonly sinkFactory = (ctx: { sessionId: string }): AudioSink => {
    let ls = this.#connecting.get(ctx.sessionId);
    this.#connecting.delete(ctx.sessionId);
    // Without hooks the session never opens towards us; the sink still drops everything (no segment).
    ls ??= this.#newSession(ctx.sessionId, {
      sessionId: ctx.sessionId,
      organizationId: '',
      correlationId: '',
      apiKeyLabel: '',
    });
    const sink = ls.sink;
    const session = ls;
    return {
      start: (info: SinkStartInfo) => sink.start(info),
      write: (frame: AudioFrame) => {
        session.arrivals.record(frame.position + frame.samples, this.#o.clock.monotonic());
        sink.write(frame);
      },
      gap: (gap: TimelineGap) => sink.gap(gap),
      languageChanged: (language: string) => sink.languageChanged(language),
      end: (reason) => {
        // The previous segment's close (not only its flush, which the sink awaits itself) comes first.
        session.sinkEnd = (async () => {
          await session.flushing;
          await sink.end(reason);
        })();
        return session.sinkEnd;
      },
    };
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
    this.#scheduleFlush();
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
    this.#flushTimer?.cancel();
    this.#flushTimer = undefined;
    await this.#poller.stop();
    await this.idle();
  }

  /** Resolves when no conversation operation (including background segment flushes) is queued or running. */
  async idle(): Promise<void> {
    for (;;) {
      const busy = [...this.#conversations.values()]
        .filter((c) => c.pending > 0)
        .flatMap((c) => [c.chain, ...c.background]);
      if (busy.length === 0) return;
      await Promise.allSettled(busy);
    }
  }

  /** Polls the inbox once now and waits for what it applied, segment flushes included (tests, local tools). */
  async pollNow(): Promise<void> {
    await this.#poller.pollOnce();
    await this.#poller.idle();
    await this.idle();
  }

  /** Flushes segment counters now (tests; the timer does it every `counterFlushMs`). */
  async flushCountersNow(): Promise<void> {
    this.#flushAll();
    await this.idle();
  }

  /** Counters and latencies, plus live gauges. */
  stats(): PipelineStatsSnapshot & { sessions: number; streaming: number } {
    let sessions = 0;
    let streaming = 0;
    for (const c of this.#conversations.values()) {
      for (const ls of c.sessions) {
        sessions++;
        if (ls.segment) streaming++;
      }
    }
    return { ...this.#stats.snapshot(), sessions, streaming };
  }

  // ── sessions ────────────────────────────────────────────────────────────────────────────────────

  #newSession(sessionId: string, connection: ConnectionInfo): LocalSession {
    const log = this.#log.child({ sessionId });
    // The writer and the sink call back into the session record only after it exists.
    let ls: LocalSession | undefined;
    const arrivals = new ArrivalClock();
    const writer = new UtteranceWriter({
      repository: this.#o.utterances,
      senderOf: (u: Utterance) => {
        const p = ls?.params.get(u.segment);
        return p ? (u.role === 'customer' ? p.customerId : p.agentId) || undefined : undefined;
      },
      ...(this.#o.utteranceRetry !== undefined && { retry: this.#o.utteranceRetry }),
      stats: this.#stats,
      timers: this.#o.timers,
      logger: log,
      random: this.#random,
      // Utterance times are on the AudioHook timeline: 8 samples per ms.
      spokenAt: (u: Utterance) => arrivals.arrivedAt(Math.round(u.endMs * 8)),
      monotonicNow: () => this.#o.clock.monotonic(),
    });
    const connector = new TranscriptionConnector({ sessionId, session: () => this.#lookup(sessionId), logger: log });
    const sink = new TranscriptionSink({
      client: this.#o.transcribe,
      logger: log,
      utterances: withTranscriptionConnector(writer, connector),
      onSegmentEnded: (summary) => {
        if (ls) ls.endSummary = summary;
      },
      clock: this.#o.clock,
      timers: this.#o.timers,
      random: this.#random,
      ...(this.#o.customization !== undefined && { customization: this.#o.customization }),
      ...(this.#o.streamerConfig !== undefined && { config: this.#o.streamerConfig }),
      ...(this.#o.transcribeMetrics !== undefined && { metrics: this.#o.transcribeMetrics }),
      ...(this.#o.createStreamer !== undefined && { createStreamer: this.#o.createStreamer }),
      ...(this.#o.recordings !== undefined && { recordings: this.#o.recordings }),
    });
    ls = {
      sessionId,
      connection,
      sink,
      connector,
      log,
      roles: [],
      phase: 'connected',
      registered: false,
      refused: false,
      params: new Map(),
      paused: true,
      flushQueued: false,
      arrivals,
      openedAt: 0,
    };
    return ls;
  }

  #onOpen(ls: LocalSession, info: OpenInfo): Promise<OpenDecision> {
    const conversationId = info.conversationId;
    ls.conversationId = conversationId;
    ls.roles = [...info.roles];
    ls.channels = [...info.media.channels];
    ls.mediaFormat = info.media.format;
    ls.phase = 'opening';
    ls.connector.open(info, ls.connection.features);
    ls.openedAt = this.#o.clock.monotonic();
    this.#entry(conversationId).sessions.add(ls);
    const decided = this.#enqueue(conversationId, async (): Promise<OpenDecision> => {
      if (ls.phase === 'ended') return { startPaused: true };
      let meta: ConversationMeta | undefined;
      try {
        meta = await this.#register(ls);
      } catch (err) {
        this.#stats.count('registrationFailures');
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
      await this.#converge(conversationId, meta);
      ls.paused = ls.segment === undefined;
      return { startPaused: ls.paused };
    });
    return decided.finally(() => {
      if (ls.phase === 'opening') ls.phase = 'open';
      this.#stats.observe('openDecisionMs', this.#o.clock.monotonic() - ls.openedAt);
    });
  }

  /** registerSession (SES item first, then META as of right after it), with retries on transient errors. */
  async #register(ls: LocalSession): Promise<ConversationMeta> {
    const conversationId = ls.conversationId as string;
    const input: RegisterSessionInput = {
      conversationId,
      sessionId: ls.sessionId,
      taskId: this.#o.taskId,
      ...(ls.channels !== undefined && { channels: ls.channels }),
      ...(ls.mediaFormat !== undefined && { mediaFormat: ls.mediaFormat }),
      ...(ls.connection.correlationId ? { correlationId: ls.connection.correlationId } : {}),
    };
    const result = await this.#retry(() => this.#o.conversations.registerSession(input, this.#o.clock.now()));
    if (result.outcome === 'conflict') {
      ls.refused = true;
      this.#stats.count('registrationFailures');
      ls.log.warn(
        { conversationId, code: 'PIPELINE_SESSION_CONFLICT' },
        'session id already closed or held by another gateway task: this session is not transcribed',
      );
    } else {
      ls.registered = true;
      this.#stats.count('sessionsRegistered');
    }
    return result.meta;
  }

  /** Keeps trying to register a session whose registration failed at open, until it ends. */
  #registerLater(ls: LocalSession, attempt: number): void {
    const delay = 200 + fullJitterDelay({ baseMs: 500, capMs: 10_000 }, attempt, this.#random);
    this.#o.timers.setTimeout(() => {
      if (ls.phase === 'ended' || ls.conversationId === undefined) return;
      const conversationId = ls.conversationId;
      void this.#enqueue(conversationId, async () => {
        if (ls.phase === 'ended') return;
        let meta: ConversationMeta;
        try {
          meta = await this.#register(ls);
        } catch (err) {
          ls.log.debug({ err: describeError(err), attempt }, 'session registration retry failed');
          this.#registerLater(ls, attempt + 1);
          return;
        }
        ls.log.info({ conversationId, attempt }, 'session registered after an earlier failure');
        if (!ls.refused) await this.#converge(conversationId, meta);
      }).catch((err: unknown) => {
        ls.log.warn({ err: describeError(err) }, 'converging after a late registration failed');
      });
    }, delay);
  }

  #onEnd(ls: LocalSession, summary: { reason: string; stats: SessionStats }): void {
    const conversationId = ls.conversationId;
    ls.phase = 'ended';
    if (conversationId === undefined) return;
    void this.#enqueue(conversationId, async () => {
      // The session waits for the sink only within its flush budget; the segment's summary needs all of it.
      await ls.sinkEnd;
      await ls.flushing;
      ls.connector.finish();
      const held = ls.segment;
      if (held !== undefined) {
        ls.segment = undefined;
        const ended = ls.endSummary?.segment === held.number ? ls.endSummary : undefined;
        await this.#closeSegment(ls, held.number, ended, 'session-ended');
      }
      if (ls.registered) {
        try {
          await this.#retry(() =>
            this.#o.conversations.closeSession(conversationId, ls.sessionId, this.#o.clock.now(), summary.reason),
          );
        } catch (err) {
          this.#stats.count('closeFailures');
          ls.log.warn({ conversationId, err: describeError(err) }, 'closing the session item failed');
        }
      }
      const entry = this.#conversations.get(conversationId);
      entry?.sessions.delete(ls);
      if (held !== undefined) await this.#handOver(conversationId);
    }).catch((err: unknown) => {
      ls.log.error({ conversationId, err: describeError(err) }, 'ending the session in the control layer failed');
    });
  }

  /**
   * The session that streamed a conversation ended while transcription may still be on: let another
   * session of the conversation (here or on another task) renew it.
   */
  async #handOver(conversationId: string): Promise<void> {
    const entry = this.#conversations.get(conversationId);
    const localLeft = entry !== undefined && [...entry.sessions].some((s) => this.#eligible(s));
    if (localLeft) {
      await this.#converge(conversationId);
      return;
    }
    const meta = await this.#o.conversations.getMeta(conversationId);
    if (meta?.desired !== 'on') return;
    const others = (await this.#o.conversations.listSessions(conversationId, { openOnly: true }))
      .map((s) => s.taskId)
      .filter((t) => t !== this.#o.taskId);
    if (others.length === 0) return;
    await this.#o.inbox.notifyTasks(conversationId, meta.desiredVersion, others, { desired: 'on' });
    this.#log.info(
      { conversationId, tasks: others.length },
      'streaming session ended while transcription is on: other tasks holding the conversation notified',
    );
  }

  // ── inbox ───────────────────────────────────────────────────────────────────────────────────────

  async #applyInboxItem(item: InboxItem): Promise<void> {
    const entry = this.#conversations.get(item.conversationId);
    const local = entry !== undefined && entry.sessions.size > 0;
    const created = Date.parse(item.createdAt);
    let lagMs: number | undefined;
    // Lag = written → acted upon (the converge starts), not → finished: a stop's flush takes its own time.
    const pickedUp = () => {
      lagMs = Number.isFinite(created) ? Math.max(0, this.#o.clock.now() - created) : undefined;
      if (lagMs !== undefined) this.#stats.observe('inboxLagMs', lagMs);
    };
    let meta: ConversationMeta | undefined;
    if (local) {
      meta = await this.#enqueue(item.conversationId, () => {
        pickedUp();
        return this.#converge(item.conversationId);
      });
    } else {
      pickedUp();
    }
    this.#stats.count('inboxItemsApplied');
    this.#log.info(
      {
        conversationId: item.conversationId,
        version: item.version,
        desired: meta?.desired ?? item.desired,
        metaVersion: meta?.desiredVersion,
        localSessions: entry?.sessions.size ?? 0,
        lagMs,
      },
      local ? 'control applied' : 'control item for a conversation without local sessions acknowledged',
    );
  }

  // ── converge ────────────────────────────────────────────────────────────────────────────────────

  #eligible(ls: LocalSession): boolean {
    return (ls.phase === 'open' || ls.phase === 'opening') && !ls.refused;
  }

  /**
   * Brings the conversation's local sessions to META's desired state. Must run inside the conversation's
   * chain. Returns the META it converged to.
   */
  async #converge(conversationId: string, known?: ConversationMeta): Promise<ConversationMeta | undefined> {
    let meta = known ?? (await this.#o.conversations.getMeta(conversationId));
    const entry = this.#entry(conversationId);
    for (let round = 1; round <= MAX_CONVERGE_ROUNDS; round++) {
      const live = [...entry.sessions].filter((s) => this.#eligible(s));
      if (meta?.desired !== 'on' || meta.currentSegment === undefined || !meta.streamIds || !meta.params) {
        for (const ls of live) {
          if (ls.segment) await this.#stopStreaming(ls, 'stopped');
          else this.#control(ls, true);
        }
        this.#applied(entry, meta);
        return meta;
      }
      const current = meta.currentSegment;
      for (const ls of live) {
        if (ls.segment && ls.segment.number !== current) await this.#stopStreaming(ls, 'superseded');
      }
      const owner = live.find((s) => s.segment?.number === current);
      if (owner || live.length === 0) {
        for (const ls of live) if (ls !== owner) this.#control(ls, true);
        this.#applied(entry, meta);
        return meta;
      }
      const claim = await this.#claim(conversationId, current, live);
      if (claim.done) {
        this.#applied(entry, meta);
        return meta;
      }
      meta = claim.meta;
    }
    this.#log.warn(
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
    // A session that sends transcripts back to Genesys (Transcription Connector) streams in preference.
    const candidate = (live.find((s) => s.connector.enabled) ?? live[0]) as LocalSession;
    const holder = { taskId: this.#o.taskId, sessionId: candidate.sessionId };
    const now = this.#o.clock.now();
    const opened = await this.#retry(() => this.#o.conversations.openSegment(conversationId, current, holder, now));
    if (opened.outcome === 'opened' || opened.outcome === 'already-open') {
      this.#startStreaming(candidate, opened.segment, 'claimed');
      for (const ls of live) if (ls !== candidate) this.#control(ls, true);
      return { done: true };
    }
    if (opened.outcome === 'taken') {
      // Only the holder streams (no duplicate transcripts when several integrations send the same call).
      this.#stats.count('segmentsTakenElsewhere');
      candidate.log.info(
        {
          conversationId,
          segment: current,
          holderTaskId: opened.segment.taskId,
          holderSessionId: opened.segment.sessionId,
        },
        'segment already streamed by another session of this conversation: this session stays paused',
      );
      for (const ls of live) this.#control(ls, true);
      return { done: true };
    }
    if (opened.segment?.state === 'closed') {
      // The session that held it ended while transcription stayed on: renew with a fresh segment.
      const next = await this.#retry(() =>
        this.#o.conversations.startNextSegment(conversationId, current, holder, this.#o.clock.now()),
      );
      if (next.outcome === 'opened') {
        this.#stats.count('segmentsRenewed');
        this.#startStreaming(candidate, next.segment, 'renewed');
        for (const ls of live) if (ls !== candidate) this.#control(ls, true);
        return { done: true };
      }
      return { done: false, meta: next.meta };
    }
    return { done: false, meta: await this.#o.conversations.getMeta(conversationId) };
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
    this.#control(ls, false);
    this.#stats.count('segmentsOpened');
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
  async #stopStreaming(ls: LocalSession, why: 'stopped' | 'superseded'): Promise<void> {
    const held = ls.segment;
    if (held === undefined) return;
    // Pause first: the client stops sending, and the session drops stragglers.
    this.#control(ls, true);
    // Segment closes of one session stay in order (the previous flush and closeSegment first), so a later
    // close never lands before an earlier one; the sink itself no longer needs this (each stop is its own).
    await ls.flushing;
    ls.segment = undefined;
    const conversationId = ls.conversationId as string;
    // By number: when the session's end is already flushing this segment, the stop gets that flush's summary.
    const flushed = ls.sink
      .stopSegment(held.number)
      .then((summary) => this.#closeSegment(ls, held.number, summary, why));
    const settled = flushed.then(
      () => undefined,
      (err: unknown) => {
        ls.log.error({ conversationId, segment: held.number, err: describeError(err) }, 'segment flush failed');
      },
    );
    ls.flushing = settled;
    this.#track(conversationId, settled);
  }

  async #closeSegment(
    ls: LocalSession,
    segment: number,
    summary: SegmentSummary | undefined,
    why: 'stopped' | 'superseded' | 'session-ended',
  ): Promise<void> {
    const conversationId = ls.conversationId as string;
    const totals = summaryOf(summary, ls.roles);
    let outcome: CloseSegmentOutcome | 'failed';
    try {
      outcome = await this.#retry(() =>
        this.#o.conversations.closeSegment(conversationId, segment, this.#o.clock.now(), totals),
      );
      this.#stats.count('segmentsClosed');
    } catch (err) {
      outcome = 'failed';
      this.#stats.count('closeFailures');
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
        putFailures: summary?.stats.putFailures || undefined,
        recording: summary?.recording,
      },
      'transcription segment closed',
    );
  }

  /** Asks the client to pause or resume, once per change (each `pause` is a message on the wire). */
  #control(ls: LocalSession, paused: boolean): void {
    if (ls.paused === paused) return;
    ls.paused = paused;
    // During the open hook the wish travels in the open decision (`startPaused`), not as a message.
    if (ls.phase !== 'open') return;
    const session = this.#lookup(ls.sessionId);
    if (session === undefined) return;
    if (paused) session.pause();
    else session.resume();
  }

  #applied(entry: ConversationEntry, meta: ConversationMeta | undefined): void {
    if (meta !== undefined && meta.desiredVersion > entry.appliedVersion) entry.appliedVersion = meta.desiredVersion;
  }

  // ── counters ────────────────────────────────────────────────────────────────────────────────────

  #scheduleFlush(): void {
    if (!this.#running) return;
    const period = this.#o.counterFlushMs ?? 5000;
    const ms = Math.max(1, Math.round(period * (0.9 + 0.2 * this.#random())));
    this.#flushTimer = this.#o.timers.setTimeout(() => {
      this.#flushAll();
      this.#scheduleFlush();
    }, ms);
  }

  #flushAll(): void {
    for (const [conversationId, entry] of this.#conversations) {
      for (const ls of entry.sessions) {
        if (ls.segment === undefined || ls.flushQueued) continue;
        ls.flushQueued = true;
        void this.#enqueue(conversationId, () => this.#flush(ls))
          .catch((err: unknown) => {
            this.#stats.count('counterFlushErrors');
            ls.log.warn({ conversationId, err: describeError(err) }, 'segment counter flush failed');
          })
          .finally(() => {
            ls.flushQueued = false;
          });
      }
    }
  }

  /**
   * Adds what each role counted since the last flush (`ADD`, so it is safe next to other writers), then
   * heartbeats the segment so a stop can tell this live task from a dead one (SEGMENT_HOLDER_SILENT_MS).
   */
  async #flush(ls: LocalSession): Promise<void> {
    const held = ls.segment;
    const stats = ls.sink.segmentStats();
    if (held === undefined || stats === undefined) return;
    const conversationId = ls.conversationId as string;
    let flushed = false;
    for (const [role, now] of Object.entries(stats.roles) as [Role, RoleCounters][]) {
      const before = held.flushed[role] ?? ZERO;
      const delta: Partial<RoleSummary> = {};
      let any = false;
      for (const field of ['totalAudioBytes', 'audioDurationMs', 'streamingSeconds', 'transcripts'] as const) {
        const d = now[field] - before[field];
        if (d > 0) {
          delta[field] = d;
          any = true;
        }
      }
      if (!any) continue;
      await this.#o.conversations.addSegmentCounters(conversationId, held.number, role, delta);
      held.flushed[role] = { ...now };
      flushed = true;
    }
    if (flushed) this.#stats.count('counterFlushes');
    const beat = await this.#o.conversations.heartbeatSegment(conversationId, held.number, this.#o.clock.now());
    if (beat === 'not-open') {
      // A stop closed it as holder-lost while this task was unreachable; the inbox stops the stream.
      ls.log.warn(
        { conversationId, segment: held.number, code: 'PIPELINE_SEGMENT_CLOSED_ELSEWHERE' },
        'segment was closed by another party while streaming',
      );
    }
  }

  // ── plumbing ────────────────────────────────────────────────────────────────────────────────────

  #entry(conversationId: string): ConversationEntry {
    let entry = this.#conversations.get(conversationId);
    if (entry === undefined) {
      entry = { sessions: new Set(), chain: Promise.resolve(), background: new Set(), pending: 0, appliedVersion: 0 };
      this.#conversations.set(conversationId, entry);
    }
    return entry;
  }

  /** Keeps the conversation entry (and `idle()`) busy until a background operation settles. */
  #track(conversationId: string, work: Promise<void>): void {
    const entry = this.#entry(conversationId);
    entry.pending++;
    entry.background.add(work);
    void work.then(() => {
      entry.background.delete(work);
      this.#release(conversationId, entry);
    });
  }

  #release(conversationId: string, entry: ConversationEntry): void {
    entry.pending--;
    if (entry.pending === 0 && entry.sessions.size === 0 && this.#conversations.get(conversationId) === entry) {
      this.#conversations.delete(conversationId);
    }
  }

  /** Runs `fn` after every earlier operation of the conversation (whatever their outcome). */
  #enqueue<T>(conversationId: string, fn: () => Promise<T>): Promise<T> {
    const entry = this.#entry(conversationId);
    entry.pending++;
    const run = entry.chain.then(fn, fn);
    entry.chain = run.then(
      () => undefined,
      () => undefined,
    );
    void run.then(
      () => this.#release(conversationId, entry),
      () => this.#release(conversationId, entry),
    );
    return run;
  }

  /** Retries `fn` on retryable store errors (throttling, network), a few times with full jitter. */
  async #retry<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (!(err instanceof StoreError && err.retryable) || attempt >= this.#storeAttempts) throw err;
        await new Promise<void>((resolve) =>
          this.#o.timers.setTimeout(resolve, fullJitterDelay({ baseMs: 50, capMs: 1_000 }, attempt - 1, this.#random)),
        );
      }
    }
  }
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
      : { ...ZERO };
  }
  return out;
}
