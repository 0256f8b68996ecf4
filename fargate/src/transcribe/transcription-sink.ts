/**
 * The session's {@link AudioSink} when transcription is wired in: it forwards audio to a
 * {@link SegmentStreamer} only while a segment is active (between the control layer's `startSegment` and
 * `stopSegment`) and drops it otherwise, so audio is never sent to Transcribe while transcription is
 * stopped (architecture.md §1.2). Utterances go to the injected {@link UtteranceSink}.
 *
 * A segment whose start allows it (`audioRecordingAllowed`) is also recorded: the same frames go to a
 * {@link SegmentRecording}, finished (and uploaded in the background) the moment the segment stops.
 *
 * Each stop concerns the segment active when it is called, or the one it names: a stop still flushing
 * segment N never answers for segment N + 1, while `stopSegment(N)` during the session end's flush of N
 * gets that flush's summary. `end()` waits for every stop in flight.
 *
 * AudioHook language updates (docs/genesys.md, "Language updates"): one the deployment does not support
 * changes nothing; a supported one switches the active segment's recognition language when its start asked
 * to follow Genesys (`followLanguageUpdates`), and is remembered so a following segment opened later starts
 * in it. A segment that does not follow keeps its start-streaming language.
 */

import { canonicalLanguage, inputExcerpt } from '../../../core/api/start-stop-rules';
import type { Role } from '../../../core/audio/roles';
import type { TimelineGap } from '../../../core/audio/timeline';
import type { AudioFrame, AudioSink, SinkStartInfo } from '../../../core/audiohook/ports';
import type { RoleSummary } from '../../../core/conversation/segment';
import { AppError } from '../../../core/errors';
import type { Logger } from '../../../core/ports';
import type { PartialSink, TranscriptionParams, UtteranceSink } from '../../../core/transcript/utterance';
import type { RecordingTarget } from '../recordings/recording-store';
import type { RecordingsPort, SegmentRecording } from '../recordings/recordings';
import type { SegmentContext } from './start-request';
import { SegmentStreamer } from './streamer';
import type { SegmentStreamerOptions } from './streamer-config';
import type { StreamerStats } from './streamer-stats';

/** What the control layer says when transcription starts. */
export interface SegmentInfo {
  /** Segment number of this start (increasing per conversation). */
  readonly segment: number;
  /** The per-role stream ids returned by start-streaming. */
  readonly streamIds: Readonly<Partial<Record<Role, string>>>;
  readonly params: TranscriptionParams;
  /**
   * The start allows keeping the segment's audio: it is recorded when the sink has
   * {@link TranscriptionSinkOptions.recordings}. @default false
   */
  readonly audioRecordingAllowed?: boolean;
  /**
   * The segment follows the session's AudioHook language updates (a `genesys`-controlled start, or an API
   * start that asked for it); otherwise its start language stays. @default false
   */
  readonly followLanguageUpdates?: boolean;
}

/** The per-participant summary of a closed segment (api-contract.md §1.2). */
export interface SegmentSummary {
  segment: number;
  /** Counters per role carried by the session (both for stereo), with that role's stream id. */
  roles: Partial<Record<Role, RoleSummary & { streamId: string | undefined }>>;
  /** The segment was given up after a Transcribe error (its utterances may be incomplete). */
  failed: boolean;
  /** Full streamer counters for logs and metrics. */
  stats: StreamerStats;
  /** Where the segment's recording is being stored (uploaded in the background), when it is recorded. */
  recording?: RecordingTarget;
}

/** Stable codes of {@link TranscriptionSinkError}. */
export type TranscriptionSinkErrorCode = 'TRANSCRIPTION_SEGMENT_ACTIVE' | 'TRANSCRIPTION_SINK_ENDED';

/** A control-layer call that does not fit the sink's state. */
export class TranscriptionSinkError extends AppError {
  override readonly name = 'TranscriptionSinkError';
  declare readonly code: TranscriptionSinkErrorCode;
  constructor(code: TranscriptionSinkErrorCode, message: string) {
    super(code, message);
  }
}

/** Options of {@link TranscriptionSink}: the streamer's dependencies, shared by all its segments. */
export interface TranscriptionSinkOptions extends Omit<SegmentStreamerOptions, 'segment' | 'utterances' | 'partials'> {
  readonly utterances: UtteranceSink;
  readonly partials?: PartialSink;
  /** Receives the summary of a segment closed because the session ended (not by `stopSegment`). */
  readonly onSegmentEnded?: (summary: SegmentSummary) => void;
  /** Builds a streamer (tests substitute one). @default - a {@link SegmentStreamer} */
  readonly createStreamer?: (opts: SegmentStreamerOptions) => SegmentStreamer;
  /** Records segments that allow it. @default - no recordings (`audioRecordingAllowed` is ignored) */
  readonly recordings?: RecordingsPort;
  /**
   * The languages a language update may switch to: the deployment's SUPPORTED_LANGUAGES (those `opened`
   * advertises), canonical spelling. @default - none: every language update is ignored
   */
  readonly supportedLanguages?: readonly string[];
}

interface ActiveSegment {
  readonly info: SegmentInfo;
  readonly streamer: SegmentStreamer;
  readonly recording: SegmentRecording | undefined;
}

/** Counters of the sink itself. */
export interface TranscriptionSinkStats {
  /** Samples per channel received while no segment was active (dropped, never forwarded). */
  samplesDroppedWhileStopped: number;
  segmentsStarted: number;
  active: number | undefined;
  /** AudioHook language updates ignored because the language is not one of SUPPORTED_LANGUAGES. */
  languageUpdatesIgnored: number;
}

/** An {@link AudioSink} that transcribes the active segment and drops audio outside segments. */
export class TranscriptionSink implements AudioSink {
  readonly #opts: TranscriptionSinkOptions;
  readonly #log: Logger;
  #info: SinkStartInfo | undefined;
  /** A segment started before the session's audio began (start-streaming before `open`). */
  #pending: SegmentInfo | undefined;
  #active: ActiveSegment | undefined;
  /** Stops still flushing, by segment number. */
  readonly #stopping = new Map<number, Promise<SegmentSummary>>();
  #ended = false;
  #droppedWhileStopped = 0;
  #segmentsStarted = 0;
  #languageUpdatesIgnored = 0;
  /** The session's latest supported language update (canonical), for following segments opened later. */
  #language: string | undefined;

  constructor(opts: TranscriptionSinkOptions) {
    this.#opts = opts;
    this.#log = opts.logger.child({ component: 'transcription-sink' });
  }

  /** True while a segment is being transcribed (or waits for the session's audio to start). */
  get active(): boolean {
    return this.#active !== undefined || this.#pending !== undefined;
  }

  start(info: SinkStartInfo): void {
    this.#info = info;
    const pending = this.#pending;
    this.#pending = undefined;
    if (pending !== undefined) this.#open(pending);
  }

  write(frame: AudioFrame): void {
    const active = this.#active;
    if (active === undefined) {
      this.#droppedWhileStopped += frame.samples;
      return;
    }
    try {
      active.streamer.write(frame);
    } catch (err) {
      this.#log.error({ err }, 'transcription streamer threw on write; frame dropped');
    }
    try {
      active.recording?.write(frame);
    } catch (err) {
      this.#log.error({ err }, 'segment recording threw on write; frame left out of the recording');
    }
  }

  gap(gap: TimelineGap): void {
    this.#active?.streamer.gap(gap);
  }

  languageChanged(language: string): void {
    const canonical = canonicalLanguage(language, this.#opts.supportedLanguages ?? []);
    if (canonical === undefined) {
      this.#languageUpdatesIgnored++;
      this.#log.info(
        { language: inputExcerpt(language) },
        'AudioHook language update ignored: not one of SUPPORTED_LANGUAGES',
      );
      return;
    }
    this.#language = canonical;
    const active = this.#active;
    if (active === undefined) return;
    if (active.info.followLanguageUpdates !== true) {
      // An API start without followLanguageUpdates: the caller's language is explicit and wins.
      this.#log.info(
        { language: canonical, segment: active.info.segment, startLanguage: active.info.params.language },
        'AudioHook language update: the start-streaming language stays for this segment (followLanguageUpdates is off)',
      );
      return;
    }
    active.streamer.switchLanguage(canonical);
  }

  async end(reason: 'close' | 'disconnect' | 'transport-closed'): Promise<void> {
    this.#ended = true;
    this.#pending = undefined;
    // Stops already in flight report to their own callers; the session's end still waits for them.
    const inFlight = [...this.#stopping.values()];
    const active = this.#active;
    if (active !== undefined) {
      const summary = await this.#stop(active);
      this.#log.info({ reason, segment: summary.segment }, 'transcription segment closed by the end of the session');
      this.#opts.onSegmentEnded?.(summary);
    }
    await Promise.allSettled(inFlight);
  }

  /**
   * Starts transcribing. Idempotent for the segment already active; starting another segment while one is
   * active is a control-layer error (stop it first).
   * @throws {@link TranscriptionSinkError}
   */
  startSegment(info: SegmentInfo): void {
    if (this.#ended) {
      throw new TranscriptionSinkError('TRANSCRIPTION_SINK_ENDED', 'the AudioHook session has ended');
    }
    const current = this.#active?.info ?? this.#pending;
    if (current !== undefined) {
      if (current.segment === info.segment) return;
      throw new TranscriptionSinkError(
        'TRANSCRIPTION_SEGMENT_ACTIVE',
        `segment ${current.segment} is still active; stop it before starting segment ${info.segment}`,
      );
    }
    if (this.#info === undefined) this.#pending = info;
    else this.#open(info);
  }

  /**
   * Stops the segment active now: no more audio is forwarded from now on, its recording (if any) is
   * finished, the stream is flushed and the segment's summary returned. `undefined` when no segment was
   * active. A stop still flushing an earlier segment is never returned for the active one.
   * @param segment - stop only this segment: the active one, or the stop already in flight for it
   *   (`undefined` when it is neither).
   */
  async stopSegment(segment?: number): Promise<SegmentSummary | undefined> {
    const wanted = (n: number) => segment === undefined || segment === n;
    const pending = this.#pending;
    if (pending !== undefined && wanted(pending.segment)) {
      this.#pending = undefined;
      return undefined;
    }
    const active = this.#active;
    if (active !== undefined && wanted(active.info.segment)) return this.#stop(active);
    return segment === undefined ? undefined : this.#stopping.get(segment);
  }

  /** A snapshot of the sink's own counters. */
  stats(): TranscriptionSinkStats {
    return {
      samplesDroppedWhileStopped: this.#droppedWhileStopped,
      segmentsStarted: this.#segmentsStarted,
      active: this.#active?.info.segment,
      languageUpdatesIgnored: this.#languageUpdatesIgnored,
    };
  }

  /** The active segment's streamer counters, if any. */
  segmentStats(): StreamerStats | undefined {
    return this.#active?.streamer.stats();
  }

  /** Detaches `active` at once; its flush runs on (tracked in `#stopping` until it settles). */
  #stop(active: ActiveSegment): Promise<SegmentSummary> {
    this.#active = undefined;
    const { info, streamer, recording } = active;
    // The recording holds exactly the audio forwarded so far: seal and upload it without waiting for the flush.
    void recording?.finish();
    const stop = streamer.end().then(() => summarize(info, streamer.stats(), recording?.target));
    this.#stopping.set(info.segment, stop);
    const forget = () => {
      if (this.#stopping.get(info.segment) === stop) this.#stopping.delete(info.segment);
    };
    void stop.then(forget, forget);
    return stop;
  }

  #open(info: SegmentInfo): void {
    const session = this.#info as SinkStartInfo;
    // A following segment starts in the session's latest language update, if any came before it opened.
    const language = info.followLanguageUpdates === true ? this.#language : undefined;
    const segment: SegmentContext = {
      conversationId: session.conversationId,
      segment: info.segment,
      roles: session.roles,
      streamIds: info.streamIds,
      params: language === undefined ? info.params : { ...info.params, language },
    };
    const { onSegmentEnded: _ended, createStreamer, recordings, supportedLanguages: _languages, ...deps } = this.#opts;
    const streamerOpts: SegmentStreamerOptions = { ...deps, segment };
    this.#active = {
      info,
      streamer: createStreamer ? createStreamer(streamerOpts) : new SegmentStreamer(streamerOpts),
      recording: info.audioRecordingAllowed === true ? this.#beginRecording(session, info, recordings) : undefined,
    };
    this.#segmentsStarted++;
    this.#log.info(
      {
        segment: info.segment,
        roles: session.roles,
        redactionOutput: info.params.redactionOutput,
        language: segment.params.language,
        followLanguageUpdates: info.followLanguageUpdates === true || undefined,
        recording: this.#active.recording?.target,
      },
      'transcription segment started',
    );
  }

  #beginRecording(
    session: SinkStartInfo,
    info: SegmentInfo,
    recordings: RecordingsPort | undefined,
  ): SegmentRecording | undefined {
    if (recordings === undefined) return undefined;
    try {
      return recordings.begin({
        conversationId: session.conversationId,
        segment: info.segment,
        roles: session.roles,
        channels: session.channels,
      });
    } catch (err) {
      this.#log.error({ err, segment: info.segment }, 'segment recording could not start: transcribing without it');
      return undefined;
    }
  }
}

function summarize(info: SegmentInfo, stats: StreamerStats, recording: RecordingTarget | undefined): SegmentSummary {
  const roles: SegmentSummary['roles'] = {};
  for (const [role, counters] of Object.entries(stats.roles) as [Role, RoleSummary][]) {
    roles[role] = { ...counters, streamId: info.streamIds[role] };
  }
  return {
    segment: info.segment,
    roles,
    failed: stats.state === 'failed',
    stats,
    ...(recording !== undefined && { recording }),
  };
}
