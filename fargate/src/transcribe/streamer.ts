/**
 * One logical Amazon Transcribe stream for one active segment of one AudioHook session.
 *
 * Audio path: per-role PCM frames → uniform ~100 ms interleaved chunks ({@link ChunkBuilder}) → a bounded
 * {@link AudioQueue} → the `AudioStream` async iterable of the current underlying StartStreamTranscription
 * call. Results come back on the same call and are mapped (core/transcript/mapping.ts) to utterances.
 *
 * A logical stream is a succession of underlying streams, each with its own SessionId and its own
 * {@link AnchorMap}, so results land on the conversation timeline whatever happened in between:
 * - opened lazily on the first audio, and again on the first audio after an idle close;
 * - closed gracefully after `idleEndMs` without audio (a pause or hold), which flushes the last finals and
 *   avoids Transcribe's own 15 s no-audio timeout (which is still handled: reopen on the next audio);
 * - rotated before Transcribe's 4-hour limit, at an utterance boundary when possible;
 * - reopened with backoff after transient errors, dropped connections and throttling.
 *
 * Transcribe acknowledges no audio, so audio already sent is kept (bounded) until it is known to be
 * transcribed. After a lost stream, audio is re-sent from where each channel's unfinished speech began
 * (the start of its open partial result, else the end of its last final result); on each channel the
 * re-sent samples before that point are blanked, and a final is accepted only if it ends after the last
 * accepted final of its channel. Together: nothing spoken is lost and nothing is transcribed twice.
 */
import { randomUUID } from 'node:crypto';
import {
  type AudioStream,
  type LanguageCode,
  type Result,
  StartStreamTranscriptionCommand,
  type StartStreamTranscriptionCommandInput,
  type StartStreamTranscriptionCommandOutput,
  type TranscriptEvent,
  type VocabularyFilterMethod,
} from '@aws-sdk/client-transcribe-streaming';
import type { Role } from '../../../core/audio/roles';
import { AnchorMap } from '../../../core/audio/timeline';
import { SAMPLE_RATE } from '../../../core/audiohook/messages';
import type { AudioFrame, TimelineGap } from '../../../core/audiohook/ports';
import { type Clock, type Logger, systemClock, systemTimers, type TimerHandle, type Timers } from '../../../core/ports';
import { type MappingContext, mapFinalResult, mapPartialResult, placeResult } from '../../../core/transcript/mapping';
import { type ChannelId, channelIdOf } from '../../../core/transcript/recognizer-result';
import type { PartialSink, TranscriptionParams, Utterance, UtteranceSink } from '../../../core/transcript/utterance';
import { type AudioChunk, AudioQueue, type OverflowInfo } from './audio-queue';
import {
  type BackoffPolicy,
  classifyFailure,
  describeError,
  type FailureKind,
  fullJitterDelay,
  THROTTLE_BACKOFF,
  TRANSIENT_BACKOFF,
} from './backoff';
import { ChunkBuilder, silenceChannelBefore } from './chunker';
import { TranscribeAdapterError } from './errors';

/** The slice of `TranscribeStreamingClient` the streamer uses (the real client is injected). */
export interface TranscribeClientLike {
  send(
    command: StartStreamTranscriptionCommand,
    options?: { abortSignal?: AbortSignal },
  ): Promise<StartStreamTranscriptionCommandOutput>;
}

/** What the streamer transcribes: one segment of one conversation. */
export interface SegmentContext {
  readonly conversationId: string;
  /** Segment number (one per start → stop). */
  readonly segment: number;
  /** Role of each AudioHook channel, in negotiated order (1 or 2 entries). */
  readonly roles: readonly Role[];
  /** Per-role stream ids handed out at start. */
  readonly streamIds: Readonly<Partial<Record<Role, string>>>;
  readonly params: TranscriptionParams;
}

/** Per-deployment Transcribe customization (from the composition root's config). */
export interface TranscribeCustomization {
  /** Comma-separated PII types to identify (e.g. `PIN,CREDIT_DEBIT_NUMBER`). @default - all types */
  readonly piiEntityTypes?: string;
  readonly vocabularyName?: string;
  readonly vocabularyFilterName?: string;
  /** @default - Transcribe's default (`mask`) */
  readonly vocabularyFilterMethod?: VocabularyFilterMethod;
  readonly languageModelName?: string;
}

/** Tunables of {@link SegmentStreamer}; every one has a default. */
export interface StreamerConfig {
  /** Chunk length. Transcribe recommends uniform chunks of 50–200 ms. @default 100 */
  readonly chunkMs: number;
  /** Audio held while no stream can take it (reopen, backoff). @default 30 */
  readonly bufferSec: number;
  /** Audio already sent kept for re-sending after a lost stream. @default 30 */
  readonly resendWindowSec: number;
  /**
   * Audio on a channel with no speech in progress is assumed transcribed once the recognizer has reported
   * this far past it (results come with some latency). @default 2000
   */
  readonly resendMarginMs: number;
  /** Close an open stream gracefully after this long without audio; 0 disables. @default 10000 */
  readonly idleEndMs: number;
  /** Rotate an underlying stream after this long (Transcribe's hard limit is 4 h). @default 13800000 (3 h 50 min) */
  readonly rotateAfterMs: number;
  /** Rotate even mid-utterance once this much past `rotateAfterMs`. @default 300000 */
  readonly rotateGraceMs: number;
  /** How long `end()` waits for the final results. @default 10000 */
  readonly endTimeoutMs: number;
  /** Consecutive transient failures (no result in between) before the segment is given up. @default 12 */
  readonly maxConsecutiveFailures: number;
  /** @default {@link TRANSIENT_BACKOFF} */
  readonly transientBackoff: BackoffPolicy;
  /** @default {@link THROTTLE_BACKOFF} */
  readonly throttleBackoff: BackoffPolicy;
}

/** The defaults of every {@link StreamerConfig} setting. */
export const DEFAULT_STREAMER_CONFIG: StreamerConfig = {
  chunkMs: 100,
  bufferSec: 30,
  resendWindowSec: 30,
  resendMarginMs: 2_000,
  idleEndMs: 10_000,
  rotateAfterMs: (3 * 60 + 50) * 60_000,
  rotateGraceMs: 5 * 60_000,
  endTimeoutMs: 10_000,
  maxConsecutiveFailures: 12,
  transientBackoff: TRANSIENT_BACKOFF,
  throttleBackoff: THROTTLE_BACKOFF,
};

/** Counter names reported to {@link TranscribeMetrics}. */
export type TranscribeMetricName =
  | 'streamsOpened'
  | 'throttled'
  | 'transientErrors'
  | 'noAudioTimeouts'
  | 'rotations'
  | 'segmentFailures'
  | 'overflowDroppedMs'
  | 'duplicatesDropped'
  | 'utterances'
  | 'utterancePutFailures';

/** Process-wide counters (the composition root turns them into CloudWatch metrics). */
export interface TranscribeMetrics {
  count(name: TranscribeMetricName, value?: number): void;
}

/** Options of {@link SegmentStreamer}. */
export interface SegmentStreamerOptions {
  readonly client: TranscribeClientLike;
  readonly segment: SegmentContext;
  readonly utterances: UtteranceSink;
  /** Live captions; only used when nothing is redacted. */
  readonly partials?: PartialSink;
  readonly logger: Logger;
  readonly customization?: TranscribeCustomization;
  readonly config?: Partial<StreamerConfig>;
  readonly metrics?: TranscribeMetrics;
  readonly clock?: Clock;
  readonly timers?: Timers;
  /** @default Math.random */
  readonly random?: () => number;
  /** @default crypto.randomUUID */
  readonly newSessionId?: () => string;
}

/** Per-role counters of a segment (api-contract.md §1.2 `summary`). */
export interface RoleCounters {
  /** Audio received for this role, counted as 16-bit PCM bytes (samples × 2). */
  totalAudioBytes: number;
  audioDurationMs: number;
  /** Wall time a Transcribe stream was open for this segment, seconds (rounded). */
  streamingSeconds: number;
  /** Final utterances stored. */
  transcripts: number;
}

/** Lifecycle of a {@link SegmentStreamer}. */
export type StreamerState = 'idle' | 'streaming' | 'backoff' | 'ending' | 'ended' | 'failed';

/** A snapshot of a streamer's state and counters. */
export interface StreamerStats {
  state: StreamerState;
  roles: Partial<Record<Role, RoleCounters>>;
  streamsOpened: number;
  throttled: number;
  transientErrors: number;
  noAudioTimeouts: number;
  rotations: number;
  idleCloses: number;
  /** 1 when the segment was given up (fatal error or too many consecutive failures). */
  failures: number;
  /** Audio dropped because the buffer overflowed or the segment ended/failed with audio unsent, ms. */
  droppedAudioMs: number;
  /** Finals dropped because they repeated already-accepted speech. */
  duplicatesDropped: number;
  /** Audio re-sent after lost streams, ms. */
  resentAudioMs: number;
  putFailures: number;
}

/** One underlying StartStreamTranscription call. */
interface UnderlyingStream {
  readonly sessionId: string;
  readonly anchors: AnchorMap;
  readonly abort: AbortController;
  readonly openedAt: number;
  /** Set to end the input gracefully (idle, rotation). */
  endRequested: 'idle' | 'rotation' | undefined;
  /** The input iterable finished on purpose (the SDK then sent the end-of-stream frame). */
  inputDone: boolean;
  /** The call is over (failed or completed): its input must not take more audio. */
  dead: boolean;
  sawResult: boolean;
}

type StreamOutcome = { kind: 'completed' } | { kind: 'failed'; error: unknown };

/** How an underlying stream ended, and whether it produced any result (progress resets the retry count). */
interface StreamRun {
  outcome: StreamOutcome;
  sawResult: boolean;
}

const SAMPLES_PER_MS = SAMPLE_RATE / 1000;

/** `en-us` → `en-US` (start params accept either case; Transcribe wants the canonical form). */
export function canonicalLanguage(tag: string): string {
  const [lang, region, ...rest] = tag.split('-');
  if (lang === undefined || region === undefined) return tag;
  return [lang.toLowerCase(), region.toUpperCase(), ...rest].join('-');
}

/**
 * The StartStreamTranscription request for one underlying stream. Content *identification* (not
 * redaction) so one stream yields both the redacted and the plain text (redaction is local).
 */
export function buildStartRequest(
  segment: SegmentContext,
  opts: { sessionId: string; partials: boolean; customization?: TranscribeCustomization | undefined },
  audio: AsyncIterable<AudioStream>,
): StartStreamTranscriptionCommandInput {
  const c = opts.customization ?? {};
  const input: StartStreamTranscriptionCommandInput = {
    LanguageCode: canonicalLanguage(segment.params.language) as LanguageCode,
    MediaSampleRateHertz: SAMPLE_RATE,
    MediaEncoding: 'pcm',
    SessionId: opts.sessionId,
    AudioStream: audio,
  };
  if (segment.roles.length === 2) {
    input.EnableChannelIdentification = true;
    input.NumberOfChannels = 2;
  }
  if (segment.params.redactionOutput !== 'unredacted') {
    input.ContentIdentificationType = 'PII';
    if (c.piiEntityTypes) input.PiiEntityTypes = c.piiEntityTypes;
  }
  if (c.vocabularyName) input.VocabularyName = c.vocabularyName;
  if (c.vocabularyFilterName) {
    input.VocabularyFilterName = c.vocabularyFilterName;
    if (c.vocabularyFilterMethod) input.VocabularyFilterMethod = c.vocabularyFilterMethod;
  }
  if (c.languageModelName) input.LanguageModelName = c.languageModelName;
  if (opts.partials) {
    input.EnablePartialResultsStabilization = true;
    input.PartialResultsStability = 'high';
  }
  return input;
}

/**
 * Streams one segment's audio to Transcribe and emits its final utterances (and, without redaction,
 * partials). `write`/`gap` never block or throw; `end()` flushes and resolves within `endTimeoutMs`.
 */
export class SegmentStreamer {
  readonly #client: TranscribeClientLike;
  readonly #segment: SegmentContext;
  readonly #utterances: UtteranceSink;
  readonly #partials: PartialSink | undefined;
  readonly #log: Logger;
  readonly #custom: TranscribeCustomization | undefined;
  readonly #cfg: StreamerConfig;
  readonly #metrics: TranscribeMetrics | undefined;
  readonly #clock: Clock;
  readonly #timers: Timers;
  readonly #random: () => number;
  readonly #newSessionId: () => string;

  readonly #channels: number;
  readonly #channelRoles: Partial<Record<ChannelId, Role>>;
  readonly #chunker: ChunkBuilder;
  readonly #queue: AudioQueue;
  /** Audio sent on the current and earlier streams that may still have to be re-sent. */
  #history: AudioChunk[] = [];
  #historySamples = 0;
  /** Per channel: timeline end of the last accepted final (−∞ before any). */
  readonly #lastFinalEnd: number[];
  /** Per channel: timeline start of the speech in progress (an open partial result). */
  readonly #openPartial: (number | undefined)[];
  /** Timeline position up to which the recognizer has reported (any channel, partial or final). */
  #horizon = Number.NEGATIVE_INFINITY;

  #state: StreamerState = 'idle';
  #loop: Promise<void> | undefined;
  #current: UnderlyingStream | undefined;
  #ending = false;
  #abandoned = false;
  /** After Transcribe closed an idle stream, wait for new audio before reopening (do not resend into silence). */
  #needFreshAudio = false;
  #wake: (() => void) | undefined;
  /** Cuts a backoff short (only when the segment is abandoned). */
  #cancelSleep: (() => void) | undefined;
  #puts: Promise<void> = Promise.resolve();
  #endPromise: Promise<void> | undefined;
  #lastOverflowLogAt = Number.NEGATIVE_INFINITY;

  readonly #samples: Partial<Record<Role, number>> = {};
  readonly #transcripts: Partial<Record<Role, number>> = {};
  #streamingMs = 0;
  readonly #counters = {
    streamsOpened: 0,
    throttled: 0,
    transientErrors: 0,
    noAudioTimeouts: 0,
    rotations: 0,
    idleCloses: 0,
    failures: 0,
    droppedSamples: 0,
    duplicatesDropped: 0,
    resentSamples: 0,
    putFailures: 0,
  };

  constructor(opts: SegmentStreamerOptions) {
    this.#client = opts.client;
    this.#segment = opts.segment;
    this.#utterances = opts.utterances;
    this.#partials = opts.segment.params.redactionOutput === 'unredacted' ? opts.partials : undefined;
    this.#custom = opts.customization;
    this.#cfg = { ...DEFAULT_STREAMER_CONFIG, ...opts.config };
    this.#metrics = opts.metrics;
    this.#clock = opts.clock ?? systemClock;
    this.#timers = opts.timers ?? systemTimers;
    this.#random = opts.random ?? Math.random;
    this.#newSessionId = opts.newSessionId ?? randomUUID;
    this.#log = opts.logger.child({
      component: 'transcribe',
      conversationId: opts.segment.conversationId,
      segment: opts.segment.segment,
    });

    const roles = opts.segment.roles;
    if (roles.length < 1 || roles.length > 2) {
      throw new TranscribeAdapterError('TRANSCRIBE_INVALID_CHANNELS', `1 or 2 channels expected, got ${roles.length}`);
    }
    this.#channels = roles.length;
    this.#channelRoles = Object.fromEntries(roles.map((r, i) => [channelIdOf(i), r]));
    this.#lastFinalEnd = roles.map(() => Number.NEGATIVE_INFINITY);
    this.#openPartial = roles.map(() => undefined);
    for (const r of roles) {
      this.#samples[r] = 0;
      this.#transcripts[r] = 0;
    }
    const chunkSamples = Math.max(1, Math.round(this.#cfg.chunkMs * SAMPLES_PER_MS));
    this.#queue = new AudioQueue({
      capacitySamples: Math.round(this.#cfg.bufferSec * SAMPLE_RATE),
      onOverflow: (info) => this.#onOverflow(info),
    });
    this.#chunker = new ChunkBuilder(roles, chunkSamples, (chunk) => this.#enqueue(chunk));
  }

  /** Current lifecycle state. */
  get state(): StreamerState {
    return this.#state;
  }

  /** Accepts one frame of the session's audio (dropped once the segment is ending, ended or failed). */
  write(frame: AudioFrame): void {
    if (this.#ending || this.#state === 'failed') return;
    for (const role of this.#segment.roles) {
      if (frame.pcm[role] !== undefined) this.#samples[role] = (this.#samples[role] ?? 0) + frame.samples;
    }
    this.#chunker.write(frame);
  }

  /** A span of the timeline without audio: the pending chunk is cut there. */
  gap(_gap: TimelineGap): void {
    if (this.#ending || this.#state === 'failed') return;
    this.#chunker.flush();
  }

  /**
   * Ends the segment: sends what is buffered, ends the stream (Transcribe then finalizes the speech in
   * progress), awaits the final results and their delivery to the utterance sink, within `endTimeoutMs`.
   * Idempotent; never rejects.
   */
  end(): Promise<void> {
    this.#endPromise ??= this.#finish();
    return this.#endPromise;
  }

  /** A snapshot of the counters. */
  stats(): StreamerStats {
    const c = this.#counters;
    const open = this.#current ? this.#clock.monotonic() - this.#current.openedAt : 0;
    const streamingSeconds = Math.round((this.#streamingMs + open) / 1000);
    const roles: Partial<Record<Role, RoleCounters>> = {};
    for (const role of this.#segment.roles) {
      const samples = this.#samples[role] ?? 0;
      roles[role] = {
        totalAudioBytes: samples * 2,
        audioDurationMs: Math.round(samples / SAMPLES_PER_MS),
        streamingSeconds,
        transcripts: this.#transcripts[role] ?? 0,
      };
    }
    return {
      state: this.#state,
      roles,
      streamsOpened: c.streamsOpened,
      throttled: c.throttled,
      transientErrors: c.transientErrors,
      noAudioTimeouts: c.noAudioTimeouts,
      rotations: c.rotations,
      idleCloses: c.idleCloses,
      failures: c.failures,
      droppedAudioMs: Math.round(c.droppedSamples / SAMPLES_PER_MS),
      duplicatesDropped: c.duplicatesDropped,
      resentAudioMs: Math.round(c.resentSamples / SAMPLES_PER_MS),
      putFailures: c.putFailures,
    };
  }

  // ── audio in ────────────────────────────────────────────────────────────────────────────────────

  #enqueue(chunk: AudioChunk): void {
    this.#queue.push(chunk);
    this.#needFreshAudio = false;
    this.#loop ??= this.#run().catch((err: unknown) => {
      // A bug, not a service error: never let it become an unhandled rejection in the gateway.
      this.#giveUp(describeError(err), 'internal error');
    });
    this.#signal();
  }

  #onOverflow(info: OverflowInfo): void {
    this.#counters.droppedSamples += info.droppedSamples;
    this.#metrics?.count('overflowDroppedMs', Math.round(info.droppedSamples / SAMPLES_PER_MS));
    // One line per 10 s at most: an outage overflows on every chunk.
    const now = this.#clock.monotonic();
    if (now - this.#lastOverflowLogAt < 10_000) return;
    this.#lastOverflowLogAt = now;
    this.#log.warn(
      {
        droppedMs: Math.round(info.droppedSamples / SAMPLES_PER_MS),
        totalDroppedMs: Math.round(this.#counters.droppedSamples / SAMPLES_PER_MS),
        fromMs: Math.round(info.from / SAMPLES_PER_MS),
        toMs: Math.round(info.to / SAMPLES_PER_MS),
        bufferSec: this.#cfg.bufferSec,
      },
      'Transcribe audio buffer full: dropping the oldest audio (no stream has taken audio for a while; the newest is kept so live transcripts do not fall behind)',
    );
  }

  /** The AudioStream of one underlying stream: re-sent and queued chunks until told to stop. */
  async *#audioStream(stream: UnderlyingStream): AsyncGenerator<AudioStream> {
    try {
      for (;;) {
        if (stream.dead) return;
        let chunk = this.#queue.poll();
        if (chunk === undefined) {
          if (this.#ending || stream.endRequested !== undefined) {
            stream.inputDone = true;
            return;
          }
          chunk = await this.#takeOrIdle(stream);
          if (chunk === undefined) continue;
        }
        if (stream.dead) {
          this.#queue.requeue([chunk]);
          return;
        }
        stream.anchors.append(chunk.position, chunk.samples);
        this.#remember(chunk);
        yield { AudioEvent: { AudioChunk: chunk.data } };
        if (this.#rotationDue(stream)) {
          stream.endRequested = 'rotation';
          stream.inputDone = true;
          return;
        }
      }
    } finally {
      if (!stream.inputDone) stream.dead = true;
    }
  }

  async #takeOrIdle(stream: UnderlyingStream): Promise<AudioChunk | undefined> {
    let timer: TimerHandle | undefined;
    if (this.#cfg.idleEndMs > 0) {
      timer = this.#timers.setTimeout(() => {
        stream.endRequested ??= 'idle';
        this.#queue.interrupt();
      }, this.#cfg.idleEndMs);
    }
    try {
      return await this.#queue.take();
    } finally {
      timer?.cancel();
    }
  }

  #rotationDue(stream: UnderlyingStream): boolean {
    const age = this.#clock.monotonic() - stream.openedAt;
    if (age < this.#cfg.rotateAfterMs) return false;
    const atBoundary = this.#openPartial.every((p) => p === undefined);
    return atBoundary || age >= this.#cfg.rotateAfterMs + this.#cfg.rotateGraceMs;
  }

  // ── the stream loop ─────────────────────────────────────────────────────────────────────────────

  #signal(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  #waitForSignal(): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve;
    });
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = this.#timers.setTimeout(() => {
        this.#cancelSleep = undefined;
        resolve();
      }, ms);
      this.#cancelSleep = () => {
        t.cancel();
        resolve();
      };
    });
  }

  #canOpen(): boolean {
    return this.#queue.length > 0 && (!this.#needFreshAudio || this.#ending);
  }

  async #run(): Promise<void> {
    let consecutiveFailures = 0;
    let throttleAttempt = 0;
    while (!this.#abandoned && this.#state !== 'failed') {
      if (!this.#canOpen()) {
        if (this.#ending) break;
        this.#state = 'idle';
        await this.#waitForSignal();
        continue;
      }
      const { outcome, sawResult } = await this.#runStream();
      if (this.#abandoned) break;
      if (sawResult || outcome.kind === 'completed') {
        consecutiveFailures = 0;
        throttleAttempt = 0;
      }
      if (outcome.kind === 'completed') continue;
      const kind = classifyFailure(outcome.error);
      this.#prepareResend();
      const delay = this.#onFailure(kind, outcome.error, consecutiveFailures, throttleAttempt);
      if (delay === undefined) break;
      if (kind === 'throttled') throttleAttempt++;
      else if (kind === 'transient') consecutiveFailures++;
      if (delay > 0) {
        this.#state = 'backoff';
        await this.#sleep(delay);
      }
    }
    if (this.#state !== 'failed') this.#state = this.#ending ? 'ending' : 'idle';
  }

  /** Logs and counts a failure; returns the delay before the next attempt, or `undefined` to give up. */
  #onFailure(kind: FailureKind, error: unknown, consecutive: number, throttleAttempt: number): number | undefined {
    const err = describeError(error);
    switch (kind) {
      case 'no-audio-timeout':
        this.#counters.noAudioTimeouts++;
        this.#metrics?.count('noAudioTimeouts');
        this.#needFreshAudio = true;
        this.#log.info({ err }, 'Transcribe closed the stream after no audio; reopening on the next audio');
        return 0;
      case 'throttled': {
        this.#counters.throttled++;
        this.#metrics?.count('throttled');
        const delay = fullJitterDelay(this.#cfg.throttleBackoff, throttleAttempt, this.#random);
        this.#log.warn(
          { err, attempt: throttleAttempt + 1, retryInMs: delay, bufferedMs: this.#bufferedMs() },
          'Transcribe concurrent stream quota reached (LimitExceededException): retrying with backoff; raise the "concurrent StartStreamTranscription" quota or reduce sessions per region',
        );
        return delay;
      }
      case 'transient': {
        this.#counters.transientErrors++;
        this.#metrics?.count('transientErrors');
        if (consecutive + 1 >= this.#cfg.maxConsecutiveFailures) {
          this.#giveUp(err, `${consecutive + 1} consecutive stream failures`);
          return undefined;
        }
        const delay = fullJitterDelay(this.#cfg.transientBackoff, consecutive, this.#random);
        this.#log.warn(
          { err, attempt: consecutive + 1, retryInMs: delay, bufferedMs: this.#bufferedMs() },
          'Transcribe stream lost: reopening and re-sending unfinished audio',
        );
        return delay;
      }
      case 'fatal':
        this.#giveUp(err, 'the request was rejected');
        return undefined;
    }
  }

  #giveUp(err: ReturnType<typeof describeError>, why: string): void {
    this.#counters.failures++;
    this.#metrics?.count('segmentFailures');
    const dropped = this.#queue.drain().reduce((n, c) => n + c.samples, 0);
    this.#counters.droppedSamples += dropped;
    this.#clearHistory();
    this.#state = 'failed';
    this.#log.error(
      { err, droppedMs: Math.round(dropped / SAMPLES_PER_MS) },
      `Transcribe stream failed (${why}): giving up transcription of this segment`,
    );
  }

  #bufferedMs(): number {
    return Math.round(this.#queue.queuedSamples / SAMPLES_PER_MS);
  }

  async #runStream(): Promise<StreamRun> {
    const stream: UnderlyingStream = {
      sessionId: this.#newSessionId(),
      anchors: new AnchorMap(),
      abort: new AbortController(),
      openedAt: this.#clock.monotonic(),
      endRequested: undefined,
      inputDone: false,
      dead: false,
      sawResult: false,
    };
    this.#current = stream;
    this.#state = 'streaming';
    this.#counters.streamsOpened++;
    this.#metrics?.count('streamsOpened');
    this.#log.debug({ transcribeSessionId: stream.sessionId }, 'opening Transcribe stream');
    let outcome: StreamOutcome;
    try {
      const input = buildStartRequest(
        this.#segment,
        { sessionId: stream.sessionId, partials: this.#partials !== undefined, customization: this.#custom },
        this.#audioStream(stream),
      );
      const response = await this.#client.send(new StartStreamTranscriptionCommand(input), {
        abortSignal: stream.abort.signal,
      });
      const results = response.TranscriptResultStream;
      if (results === undefined) {
        throw new TranscribeAdapterError('TRANSCRIBE_NO_RESULT_STREAM', 'Transcribe answered without a result stream');
      }
      for await (const event of results) {
        if (event.TranscriptEvent !== undefined) this.#onTranscript(event.TranscriptEvent, stream);
        else {
          // The SDK throws modeled exception events itself; an unknown member is surfaced as is.
          const thrown =
            event.BadRequestException ??
            event.LimitExceededException ??
            event.InternalFailureException ??
            event.ConflictException ??
            event.ServiceUnavailableException;
          if (thrown !== undefined) throw thrown;
        }
      }
      outcome = stream.inputDone
        ? { kind: 'completed' }
        : {
            kind: 'failed',
            error: new TranscribeAdapterError(
              'TRANSCRIBE_STREAM_ENDED_EARLY',
              'the result stream ended before the audio',
            ),
          };
    } catch (error) {
      outcome = { kind: 'failed', error };
    }
    stream.dead = true;
    this.#queue.interrupt();
    if (outcome.kind === 'failed') stream.abort.abort();
    this.#streamingMs += this.#clock.monotonic() - stream.openedAt;
    this.#current = undefined;
    if (outcome.kind === 'completed') this.#onCompleted(stream);
    return { outcome, sawResult: stream.sawResult };
  }

  #onCompleted(stream: UnderlyingStream): void {
    // A gracefully ended stream has finalized everything it was sent: nothing to re-send.
    this.#clearHistory();
    this.#openPartial.fill(undefined);
    if (stream.endRequested === 'rotation') {
      this.#counters.rotations++;
      this.#metrics?.count('rotations');
      this.#log.info({ transcribeSessionId: stream.sessionId }, 'Transcribe stream rotated');
    } else if (stream.endRequested === 'idle') {
      this.#counters.idleCloses++;
      this.#log.debug({ transcribeSessionId: stream.sessionId }, 'Transcribe stream closed while idle');
    }
  }

  // ── results out ─────────────────────────────────────────────────────────────────────────────────

  #context(anchors: AnchorMap): MappingContext {
    return {
      conversationId: this.#segment.conversationId,
      segment: this.#segment.segment,
      channelRoles: this.#channelRoles,
      streamIds: this.#segment.streamIds,
      anchors,
      params: this.#segment.params,
    };
  }

  #onTranscript(event: TranscriptEvent, stream: UnderlyingStream): void {
    if (stream.dead) return;
    const ctx = this.#context(stream.anchors);
    for (const result of event.Transcript?.Results ?? []) {
      try {
        this.#onResult(result, ctx, stream);
      } catch (err) {
        // One malformed result must not cost the stream (and a retry would re-send audio for nothing).
        this.#log.error(
          { err: describeError(err), resultId: result.ResultId },
          'Transcribe result could not be mapped',
        );
      }
    }
    this.#trimHistory();
  }

  #onResult(result: Result, ctx: MappingContext, stream: UnderlyingStream): void {
    const placed = placeResult(result, ctx);
    if (!placed.ok) {
      this.#log.debug({ reason: placed.reason, channelId: result.ChannelId }, 'Transcribe result skipped');
      return;
    }
    stream.sawResult = true;
    const { channelId, startSamples, endSamples } = placed.value;
    const ch = channelId === 'ch_1' ? 1 : 0;
    const lastEnd = this.#lastFinalEnd[ch] ?? Number.NEGATIVE_INFINITY;
    this.#horizon = Math.max(this.#horizon, endSamples);
    if (result.IsPartial === true) {
      if (endSamples <= lastEnd) return;
      this.#openPartial[ch] = Math.max(startSamples, Number.isFinite(lastEnd) ? lastEnd : startSamples);
      const partial = this.#partials ? mapPartialResult(result, ctx) : undefined;
      if (partial?.ok) this.#emitPartial(partial.value);
      return;
    }
    this.#openPartial[ch] = undefined;
    if (endSamples <= lastEnd) {
      this.#counters.duplicatesDropped++;
      this.#metrics?.count('duplicatesDropped');
      this.#log.debug({ resultId: result.ResultId, channelId }, 'Transcribe final repeats accepted speech: dropped');
      return;
    }
    this.#lastFinalEnd[ch] = endSamples;
    const mapped = mapFinalResult(result, ctx);
    if (mapped.ok) this.#emit(mapped.value);
  }

  #emitPartial(partial: Parameters<PartialSink['partial']>[0]): void {
    try {
      this.#partials?.partial(partial);
    } catch (err) {
      this.#log.warn({ err: describeError(err) }, 'partial sink threw; partial dropped');
    }
  }

  #emit(utterance: Utterance): void {
    this.#puts = this.#puts.then(async () => {
      try {
        await this.#utterances.put(utterance);
        this.#transcripts[utterance.role] = (this.#transcripts[utterance.role] ?? 0) + 1;
        this.#metrics?.count('utterances');
      } catch (err) {
        this.#counters.putFailures++;
        this.#metrics?.count('utterancePutFailures');
        this.#log.error(
          { err: describeError(err), utteranceId: utterance.utteranceId, role: utterance.role },
          'storing an utterance failed',
        );
      }
    });
  }

  // ── re-send bookkeeping ─────────────────────────────────────────────────────────────────────────

  /** Per channel, the timeline position from which its audio may still need transcribing. */
  #resumePoints(): number[] {
    const margin = this.#cfg.resendMarginMs * SAMPLES_PER_MS;
    return this.#openPartial.map((open, ch) => {
      if (open !== undefined) return open;
      const lastEnd = this.#lastFinalEnd[ch] ?? Number.NEGATIVE_INFINITY;
      return Math.max(lastEnd, this.#horizon - margin);
    });
  }

  /** Keeps a sent chunk for re-sending, within `resendWindowSec` (so a long silence cannot grow it). */
  #remember(chunk: AudioChunk): void {
    this.#history.push(chunk);
    this.#historySamples += chunk.samples;
    const limit = this.#cfg.resendWindowSec * SAMPLE_RATE;
    let drop = 0;
    while (this.#historySamples > limit && drop < this.#history.length) {
      this.#historySamples -= (this.#history[drop] as AudioChunk).samples;
      drop++;
    }
    if (drop > 0) this.#history.splice(0, drop);
  }

  #clearHistory(): void {
    this.#history = [];
    this.#historySamples = 0;
  }

  /** Forgets sent audio that is known to be transcribed. */
  #trimHistory(): void {
    const from = Math.min(...this.#resumePoints());
    let drop = 0;
    while (drop < this.#history.length) {
      const c = this.#history[drop] as AudioChunk;
      if (c.position + c.samples > from) break;
      this.#historySamples -= c.samples;
      drop++;
    }
    if (drop > 0) this.#history.splice(0, drop);
  }

  /** After a lost stream: put the unfinished audio back in front of the queue, blanking finished speech. */
  #prepareResend(): void {
    const points = this.#resumePoints();
    const from = Math.min(...points);
    const resend: AudioChunk[] = [];
    for (const chunk of this.#history) {
      if (chunk.position + chunk.samples <= from) continue;
      let out = chunk;
      points.forEach((p, ch) => {
        out = silenceChannelBefore(out, this.#channels, ch, p);
      });
      resend.push(out);
    }
    this.#clearHistory();
    this.#openPartial.fill(undefined);
    if (resend.length === 0) return;
    const samples = resend.reduce((n, c) => n + c.samples, 0);
    this.#counters.resentSamples += samples;
    this.#queue.requeue(resend);
    this.#log.debug({ resendMs: Math.round(samples / SAMPLES_PER_MS) }, 'audio queued for re-sending');
  }

  // ── end ─────────────────────────────────────────────────────────────────────────────────────────

  async #finish(): Promise<void> {
    if (this.#state !== 'failed') this.#chunker.flush();
    this.#ending = true;
    if (this.#state !== 'failed') this.#state = 'ending';
    this.#signal();
    this.#queue.interrupt();
    const deadline = this.#clock.monotonic() + this.#cfg.endTimeoutMs;
    const inTime = await this.#within(this.#loop ?? Promise.resolve(), this.#cfg.endTimeoutMs);
    if (!inTime) this.#abandon();
    const left = Math.max(0, deadline - this.#clock.monotonic());
    if (!(await this.#within(this.#puts, left))) {
      this.#log.warn({}, 'utterance sink still busy at the end of the segment');
    }
    if (this.#state !== 'failed') this.#state = 'ended';
  }

  #abandon(): void {
    this.#abandoned = true;
    const dropped = this.#queue.drain().reduce((n, c) => n + c.samples, 0);
    this.#counters.droppedSamples += dropped;
    this.#log.warn(
      { endTimeoutMs: this.#cfg.endTimeoutMs, droppedMs: Math.round(dropped / SAMPLES_PER_MS) },
      'Transcribe did not finish in time at the end of the segment: stream aborted, last results may be missing',
    );
    const current = this.#current;
    if (current !== undefined) {
      current.dead = true;
      current.abort.abort();
    }
    this.#cancelSleep?.();
    this.#signal();
    this.#queue.interrupt();
  }

  #within(p: Promise<unknown>, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const t = this.#timers.setTimeout(() => resolve(false), ms);
      p.then(
        () => {
          t.cancel();
          resolve(true);
        },
        () => {
          t.cancel();
          resolve(true);
        },
      );
    });
  }
}
