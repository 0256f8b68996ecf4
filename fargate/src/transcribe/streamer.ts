/**
 * One logical Amazon Transcribe stream for one active segment of one AudioHook session: the stream loop.
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
 * - ended at a followed AudioHook language update (Transcribe finalizes the speech so far) and reopened in
 *   the new language: each stream has the language in force at its first chunk ({@link LanguageTimeline});
 * - reopened with backoff after transient errors, dropped connections and throttling.
 *
 * Transcribe acknowledges no audio: the {@link ResendLedger} keeps what was sent until it is known to be
 * transcribed, re-sends unfinished speech after a lost stream and drops finals that repeat accepted
 * speech. Together: nothing spoken is lost and nothing is transcribed twice. The request itself is built
 * in start-request.ts, the tunables are in streamer-config.ts, the counters in streamer-stats.ts.
 */
import { randomUUID } from 'node:crypto';
import {
  type AudioStream,
  StartStreamTranscriptionCommand,
  type TranscriptEvent,
} from '@aws-sdk/client-transcribe-streaming';
import { SAMPLE_RATE } from '../../../core/audio/format';
import type { TimelineGap } from '../../../core/audio/timeline';
import type { AudioFrame } from '../../../core/audiohook/ports';
import { describeError } from '../../../core/errors';
import {
  type Clock,
  type Logger,
  settlesWithin,
  systemClock,
  systemTimers,
  type TimerHandle,
  type Timers,
} from '../../../core/ports';
import type { PartialSink } from '../../../core/transcript/utterance';
import { type AudioChunk, AudioQueue } from './audio-queue';
import { classifyFailure, type FailureKind, type RetryDecision, StreamRetries } from './backoff';
import { ChunkBuilder } from './chunker';
import { TranscribeAdapterError } from './errors';
import { LanguageTimeline, type SpanRef } from './language-timeline';
import { LoopSignal } from './loop-signal';
import { ResendLedger } from './resend-ledger';
import { readResultStream, SegmentResults } from './segment-results';
import {
  buildStartRequest,
  type SegmentContext,
  type TranscribeClientLike,
  type TranscribeCustomization,
} from './start-request';
import {
  type ArrivalRecorder,
  DEFAULT_STREAMER_CONFIG,
  type SegmentStreamerOptions,
  type StreamerConfig,
} from './streamer-config';
import {
  countFailure,
  logRetry,
  overflowReporter,
  type StreamerState,
  type StreamerStats,
  StreamerTally,
  type TranscribeMetrics,
} from './streamer-stats';
import {
  endInput,
  newUnderlyingStream,
  type StreamOutcome,
  type StreamRun,
  type UnderlyingStream,
} from './underlying-stream';

const SAMPLES_PER_MS = SAMPLE_RATE / 1000;

/**
 * Streams one segment's audio to Transcribe and emits its final utterances (and, without redaction,
 * partials). `write`/`gap` never block or throw; `end()` flushes and resolves within `endTimeoutMs`.
 */
export class SegmentStreamer {
  readonly #client: TranscribeClientLike;
  readonly #segment: SegmentContext;
  readonly #partials: PartialSink | undefined;
  readonly #log: Logger;
  readonly #custom: TranscribeCustomization | undefined;
  readonly #cfg: StreamerConfig;
  readonly #metrics: TranscribeMetrics | undefined;
  readonly #arrivals: ArrivalRecorder | undefined;
  readonly #clock: Clock;
  readonly #timers: Timers;
  readonly #random: () => number;
  readonly #newSessionId: () => string;

  readonly #chunker: ChunkBuilder;
  readonly #queue: AudioQueue;
  readonly #ledger: ResendLedger;
  readonly #tally: StreamerTally;
  readonly #results: SegmentResults;
  readonly #languages: LanguageTimeline;

  #state: StreamerState = 'idle';
  #loop: Promise<void> | undefined;
  #current: UnderlyingStream | undefined;
  #ending = false;
  #abandoned = false;
  /** After Transcribe closed an idle stream, wait for new audio before reopening (do not resend into silence). */
  #needFreshAudio = false;
  /** Wakes the loop on audio; its backoff is cut short only when the segment is abandoned. */
  readonly #loopSignal: LoopSignal;
  #endPromise: Promise<void> | undefined;

  constructor(opts: SegmentStreamerOptions) {
    this.#client = opts.client;
    this.#segment = opts.segment;
    this.#partials = opts.segment.params.redactionOutput === 'unredacted' ? opts.partials : undefined;
    this.#custom = opts.customization;
    this.#cfg = { ...DEFAULT_STREAMER_CONFIG, ...opts.config };
    this.#metrics = opts.metrics;
    this.#arrivals = opts.arrivals;
    this.#clock = opts.clock ?? systemClock;
    this.#timers = opts.timers ?? systemTimers;
    this.#random = opts.random ?? Math.random;
    this.#newSessionId = opts.newSessionId ?? randomUUID;
    this.#loopSignal = new LoopSignal(this.#timers);
    this.#log = opts.logger.child({
      component: 'transcribe',
      conversationId: opts.segment.conversationId,
      segment: opts.segment.segment,
    });

    const roles = opts.segment.roles;
    if (roles.length < 1 || roles.length > 2) {
      throw new TranscribeAdapterError('TRANSCRIBE_INVALID_CHANNELS', `1 or 2 channels expected, got ${roles.length}`);
    }
    this.#ledger = new ResendLedger(roles.length, this.#cfg);
    this.#tally = new StreamerTally(roles);
    this.#languages = new LanguageTimeline(opts.segment.params.language);
    this.#results = new SegmentResults({
      segment: opts.segment,
      utterances: opts.utterances,
      partials: this.#partials,
      ledger: this.#ledger,
      tally: this.#tally,
      metrics: this.#metrics,
      log: this.#log,
    });
    const chunkSamples = Math.max(1, Math.round(this.#cfg.chunkMs * SAMPLES_PER_MS));
    this.#queue = new AudioQueue({
      capacitySamples: Math.round(this.#cfg.bufferSec * SAMPLE_RATE),
      onOverflow: overflowReporter({
        tally: this.#tally,
        metrics: this.#metrics,
        log: this.#log,
        clock: this.#clock,
        bufferSec: this.#cfg.bufferSec,
      }),
    });
    this.#chunker = new ChunkBuilder(roles.length, chunkSamples, (chunk) => this.#enqueue(chunk));
  }

  /** Current lifecycle state. */
  get state(): StreamerState {
    return this.#state;
  }

  /** Accepts one frame of the session's audio (dropped once the segment is ending, ended or failed). */
  write(frame: AudioFrame): void {
    if (this.#ending || this.#state === 'failed') return;
    // Every role of the segment has its channel in every frame (one media, one channel order).
    for (const role of this.#segment.roles) this.#tally.addSamples(role, frame.samples);
    this.#chunker.write(frame);
    if (frame.samples > 0) this.#languages.written(frame.position + frame.samples);
  }

  /** A span of the timeline without audio: the pending chunk is cut there. */
  gap(_gap: TimelineGap): void {
    if (this.#ending || this.#state === 'failed') return;
    this.#chunker.flush();
  }

  /**
   * Recognises the audio written from now on in `language` (canonical Transcribe code): the pending chunk
   * is cut here and the stream ends once it has sent the audio before, so Transcribe finalizes what was
   * said so far; the next stream opens in `language`. The language in force splits the same way (as
   * Genesys' reference server does at every update). Ignored once ending.
   */
  switchLanguage(language: string): void {
    if (this.#ending || this.#state === 'failed') return;
    this.#chunker.flush();
    const from = this.#languages.switchTo(language);
    this.#tally.counters.languageSwitches++;
    const at = this.#languages.writtenEnd;
    const atMs = at === undefined ? undefined : Math.round(at / SAMPLES_PER_MS);
    this.#log.info({ from, to: language, atMs }, 'AudioHook language update: the segment continues in it from here');
    this.#queue.interrupt(); // a stream waiting for audio ends now, not at its idle timeout
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
    const open = this.#current ? this.#clock.monotonic() - this.#current.openedAt : 0;
    return this.#tally.snapshot(this.#state, open);
  }

  // ── audio in ────────────────────────────────────────────────────────────────────────────────────

  #enqueue(chunk: AudioChunk): void {
    // A chunk is emitted by the write that completes it (or the gap/end that cuts it): its audio is all here.
    this.#arrivals?.record(chunk.position + chunk.samples, this.#clock.monotonic());
    this.#queue.push(chunk);
    this.#needFreshAudio = false;
    this.#loop ??= this.#run().catch((err: unknown) => {
      // A bug, not a service error: never let it become an unhandled rejection in the gateway.
      this.#giveUp(describeError(err), 'internal error');
    });
    this.#loopSignal.signal();
  }

  /** The AudioStream of one underlying stream: re-sent and queued chunks until told to stop. */
  async *#audioStream(stream: UnderlyingStream): AsyncGenerator<AudioStream> {
    try {
      for (;;) {
        if (stream.dead) return;
        let chunk = this.#queue.poll();
        if (chunk === undefined) {
          // After a language switch, all audio of this stream's language is sent: end now (finalized sooner).
          if (this.#languages.latest.span !== stream.span) stream.endRequested ??= 'language';
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
        if (this.#languages.at(chunk.position).span !== stream.span) {
          // Like a rotation: Transcribe finalizes what it has, the loop opens the next stream in this language.
          this.#queue.requeue([chunk]);
          endInput(stream, 'language');
          return;
        }
        stream.anchors.append(chunk.position, chunk.samples);
        this.#ledger.remember(chunk);
        yield { AudioEvent: { AudioChunk: chunk.data } };
        if (this.#rotationDue(stream)) {
          endInput(stream, 'rotation');
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
    const atBoundary = this.#ledger.atUtteranceBoundary;
    return atBoundary || age >= this.#cfg.rotateAfterMs + this.#cfg.rotateGraceMs;
  }

  // ── the stream loop ─────────────────────────────────────────────────────────────────────────────

  #canOpen(): boolean {
    return this.#queue.length > 0 && (!this.#needFreshAudio || this.#ending);
  }

  async #run(): Promise<void> {
    const retries = new StreamRetries(this.#cfg, this.#random);
    while (!this.#abandoned && this.#state !== 'failed') {
      if (!this.#canOpen()) {
        if (this.#ending) break;
        this.#state = 'idle';
        await this.#loopSignal.wait();
        continue;
      }
      const { outcome, sawResult } = await this.#runStream();
      if (this.#abandoned) break;
      if (sawResult || outcome.kind === 'completed') retries.progressed();
      if (outcome.kind === 'completed') continue;
      const kind = classifyFailure(outcome.error);
      this.#prepareResend();
      const delay = this.#onFailure(kind, outcome.error, retries.after(kind));
      if (delay === undefined) break;
      if (delay > 0) {
        this.#state = 'backoff';
        await this.#loopSignal.sleep(delay);
      }
    }
    if (this.#state !== 'failed') this.#state = this.#ending ? 'ending' : 'idle';
  }

  /** Logs and counts a failure; returns the delay before the next attempt, or `undefined` after giving up. */
  #onFailure(kind: FailureKind, error: unknown, decision: RetryDecision): number | undefined {
    const err = describeError(error);
    countFailure(this.#tally, this.#metrics, kind);
    if (decision.action === 'give-up') {
      this.#giveUp(err, decision.why);
      return undefined;
    }
    if (kind === 'no-audio-timeout') this.#needFreshAudio = true;
    logRetry(this.#log, kind, err, {
      attempt: decision.attempt,
      retryInMs: decision.delayMs,
      bufferedMs: this.#bufferedMs(),
    });
    return decision.delayMs;
  }

  /** Drops what is queued (counted as dropped audio); returns its samples per channel. */
  #dropQueued(): number {
    const dropped = this.#queue.drain().reduce((n, c) => n + c.samples, 0);
    this.#tally.counters.droppedSamples += dropped;
    return dropped;
  }

  #giveUp(err: ReturnType<typeof describeError>, why: string): void {
    this.#tally.counters.failures++;
    this.#metrics?.count('segmentFailures');
    const dropped = this.#dropQueued();
    this.#ledger.clear();
    this.#state = 'failed';
    this.#log.error(
      { err, droppedMs: Math.round(dropped / SAMPLES_PER_MS) },
      `Transcribe stream failed (${why}): giving up transcription of this segment`,
    );
  }

  #bufferedMs(): number {
    return Math.round(this.#queue.queuedSamples / SAMPLES_PER_MS);
  }

  /** The language span of the next chunk to send (the loop opens a stream only when one is queued). */
  #nextSpan(): SpanRef {
    const head = this.#queue.poll();
    if (head === undefined) return this.#languages.latest;
    this.#queue.requeue([head]);
    return this.#languages.at(head.position);
  }

  async #runStream(): Promise<StreamRun> {
    const stream = newUnderlyingStream(this.#newSessionId(), this.#nextSpan(), this.#clock.monotonic());
    this.#current = stream;
    this.#state = 'streaming';
    this.#tally.counters.streamsOpened++;
    this.#metrics?.count('streamsOpened');
    this.#log.debug({ transcribeSessionId: stream.sessionId, language: stream.language }, 'opening Transcribe stream');
    let outcome: StreamOutcome;
    try {
      const input = buildStartRequest(
        this.#segment,
        {
          sessionId: stream.sessionId,
          language: stream.language,
          partials: this.#partials !== undefined,
          customization: this.#custom,
        },
        this.#audioStream(stream),
      );
      const response = await this.#client.send(new StartStreamTranscriptionCommand(input), {
        abortSignal: stream.abort.signal,
      });
      await readResultStream(response.TranscriptResultStream, (event) => this.#onTranscript(event, stream));
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
    this.#tally.streamingMs += this.#clock.monotonic() - stream.openedAt;
    this.#current = undefined;
    if (outcome.kind === 'completed') this.#onCompleted(stream);
    return { outcome, sawResult: stream.sawResult };
  }

  #onTranscript(event: TranscriptEvent, stream: UnderlyingStream): void {
    if (stream.dead) return;
    if (this.#results.onTranscript(event, stream)) stream.sawResult = true;
  }

  #onCompleted(stream: UnderlyingStream): void {
    // A gracefully ended stream has finalized everything it was sent: nothing to re-send.
    this.#ledger.settle();
    if (stream.endRequested === 'rotation') {
      this.#tally.counters.rotations++;
      this.#metrics?.count('rotations');
      this.#log.info({ transcribeSessionId: stream.sessionId }, 'Transcribe stream rotated');
    } else if (stream.endRequested === 'language') {
      this.#log.debug(
        { transcribeSessionId: stream.sessionId, language: stream.language },
        'Transcribe stream ended at a language switch',
      );
    } else if (stream.endRequested === 'idle') {
      this.#tally.counters.idleCloses++;
      this.#log.debug({ transcribeSessionId: stream.sessionId }, 'Transcribe stream closed while idle');
    }
  }

  // ── re-send ─────────────────────────────────────────────────────────────────────────────────────

  /** After a lost stream: put the unfinished audio back in front of the queue, blanking finished speech. */
  #prepareResend(): void {
    const resend = this.#ledger.takeResend();
    if (resend.length === 0) return;
    const samples = resend.reduce((n, c) => n + c.samples, 0);
    this.#tally.counters.resentSamples += samples;
    this.#queue.requeue(resend);
    this.#log.debug({ resendMs: Math.round(samples / SAMPLES_PER_MS) }, 'audio queued for re-sending');
  }

  // ── end ─────────────────────────────────────────────────────────────────────────────────────────

  async #finish(): Promise<void> {
    if (this.#state !== 'failed') this.#chunker.flush();
    this.#ending = true;
    if (this.#state !== 'failed') this.#state = 'ending';
    this.#loopSignal.signal();
    this.#queue.interrupt();
    const deadline = this.#clock.monotonic() + this.#cfg.endTimeoutMs;
    const inTime = await settlesWithin(this.#timers, this.#loop ?? Promise.resolve(), this.#cfg.endTimeoutMs);
    if (!inTime) this.#abandon();
    const left = Math.max(0, deadline - this.#clock.monotonic());
    if (!(await settlesWithin(this.#timers, this.#results.delivered, left))) {
      this.#log.warn({}, 'utterance sink still busy at the end of the segment');
    }
    if (this.#state !== 'failed') this.#state = 'ended';
  }

  #abandon(): void {
    this.#abandoned = true;
    const dropped = this.#dropQueued();
    this.#log.warn(
      { endTimeoutMs: this.#cfg.endTimeoutMs, droppedMs: Math.round(dropped / SAMPLES_PER_MS) },
      'Transcribe did not finish in time at the end of the segment: stream aborted, last results may be missing',
    );
    const current = this.#current;
    if (current !== undefined) {
      current.dead = true;
      current.abort.abort();
    }
    this.#loopSignal.cancelSleep();
    this.#loopSignal.signal();
    this.#queue.interrupt();
  }
}
