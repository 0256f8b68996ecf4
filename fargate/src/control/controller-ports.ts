/**
 * What the conversation controller depends on (the store slices, its options) and the context its parts
 * share. The parts live beside it: the per-conversation queue, the session record and its sink wiring,
 * the session lifecycle, segment control, the inbox apply and the counter flush.
 */
import type { StartPolicy } from '../../../core/api/start-stop-rules';
import type { Role } from '../../../core/audio/roles';
import type { SessionControl } from '../../../core/audiohook/ports';
import type { ConversationMeta, StartParams } from '../../../core/conversation/conversation';
import type { RoleSummary } from '../../../core/conversation/segment';
import type { SessionRecord } from '../../../core/conversation/session';
import type { Clock, Logger, Timers } from '../../../core/ports';
import type { PartialSink } from '../../../core/transcript/utterance';
import type { RegisterSessionInput, RegisterSessionResult } from '../../../store/conversations';
import type { CloseSegmentOutcome, NextSegmentResult, OpenSegmentResult } from '../../../store/segment-writes';
import type { RequestClock, StartResult, StopResult } from '../../../store/start-stop-writes';
import type { RecordingsPort } from '../recordings/recordings';
import type { TranscribeClientLike, TranscribeCustomization } from '../transcribe/start-request';
import type { SegmentStreamer } from '../transcribe/streamer';
import type { SegmentStreamerOptions, StreamerConfig } from '../transcribe/streamer-config';
import type { TranscribeMetrics } from '../transcribe/streamer-stats';
import type { ConversationQueue } from './conversation-queue';
import type { InboxPort } from './inbox-poller';
import type { PipelineStats } from './metrics';
import type { UtterancePutPort, UtteranceRetryPolicy } from './utterance-writer';

/** The slice of `ConversationsRepository` the controller uses. */
export interface ConversationsPort {
  getMeta(conversationId: string, options?: { consistent?: boolean }): Promise<ConversationMeta | undefined>;
  /** The start Lambda's write, used by `genesys`-controlled sessions at open. */
  requestStart(conversationId: string, params: StartParams, now: RequestClock): Promise<StartResult>;
  /** The stop Lambda's write, used when the last `genesys`-controlled session of a conversation ends. */
  requestStop(conversationId: string, now: RequestClock): Promise<StopResult>;
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
  flushSegment(
    conversationId: string,
    segment: number,
    deltas: Partial<Record<Role, Partial<RoleSummary>>>,
    now: number,
  ): Promise<'ok' | 'not-open'>;
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

/** Options of the `ConversationController`. */
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
  /**
   * Languages, default language and redaction availability applied to `genesys`-controlled sessions' starts.
   * @default DEFAULT_GENESYS_START_POLICY - the start Lambda's defaults
   */
  genesysPolicy?: StartPolicy;
  /**
   * Receives live partial results of unredacted segments (WebSocket subscribers). @default - partials are
   * not requested from Transcribe
   */
  partials?: PartialSink;
}

/** What the controller's parts share: its options, logger, stats and per-conversation queue. */
export interface ControlContext {
  readonly options: ConversationControllerOptions;
  /** The control layer's logger (`component: transcription-control`). */
  readonly log: Logger;
  readonly stats: PipelineStats;
  readonly random: () => number;
  readonly queue: ConversationQueue;
  /** The gateway's live session (pause/resume go through it); undefined before `attach` or once gone. */
  session(sessionId: string): SessionControl | undefined;
  /** Retries `fn` on retryable store errors (throttling, network), a few times with full jitter. */
  retry<T>(fn: () => Promise<T>): Promise<T>;
}
