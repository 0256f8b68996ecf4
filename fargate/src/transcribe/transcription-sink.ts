/**
 * The session's {@link AudioSink} when transcription is wired in: it forwards audio to a
 * {@link SegmentStreamer} only while a segment is active (between the control layer's `startSegment` and
 * `stopSegment`) and drops it otherwise, so audio is never sent to Transcribe while transcription is
 * stopped (architecture.md §1.2). Utterances go to the injected {@link UtteranceSink}.
 */
import type { Role } from '../../../core/audio/roles';
import type { AudioFrame, AudioSink, SinkStartInfo, TimelineGap } from '../../../core/audiohook/ports';
import type { Logger } from '../../../core/ports';
import type { PartialSink, TranscriptionParams, UtteranceSink } from '../../../core/transcript/utterance';
import {
  type RoleCounters,
  type SegmentContext,
  SegmentStreamer,
  type SegmentStreamerOptions,
  type StreamerStats,
} from './streamer';

/** What the control layer says when transcription starts. */
export interface SegmentInfo {
  /** Segment number of this start (increasing per conversation). */
  readonly segment: number;
  /** The per-role stream ids returned by start-streaming. */
  readonly streamIds: Readonly<Partial<Record<Role, string>>>;
  readonly params: TranscriptionParams;
}

/** The per-participant summary of a closed segment (api-contract.md §1.2). */
export interface SegmentSummary {
  segment: number;
  /** Counters per role carried by the session (both for stereo), with that role's stream id. */
  roles: Partial<Record<Role, RoleCounters & { streamId: string | undefined }>>;
  /** The segment was given up after a Transcribe error (its utterances may be incomplete). */
  failed: boolean;
  /** Full streamer counters for logs and metrics. */
  stats: StreamerStats;
}

/** Stable codes of {@link TranscriptionSinkError}. */
export type TranscriptionSinkErrorCode = 'TRANSCRIPTION_SEGMENT_ACTIVE' | 'TRANSCRIPTION_SINK_ENDED';

/** A control-layer call that does not fit the sink's state. */
export class TranscriptionSinkError extends Error {
  override readonly name = 'TranscriptionSinkError';
  constructor(
    readonly code: TranscriptionSinkErrorCode,
    message: string,
  ) {
    super(message);
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
}

/** Counters of the sink itself. */
export interface TranscriptionSinkStats {
  /** Samples per channel received while no segment was active (dropped, never forwarded). */
  samplesDroppedWhileStopped: number;
  segmentsStarted: number;
  active: number | undefined;
}

/** An {@link AudioSink} that transcribes the active segment and drops audio outside segments. */
export class TranscriptionSink implements AudioSink {
  readonly #opts: TranscriptionSinkOptions;
  readonly #log: Logger;
  #info: SinkStartInfo | undefined;
  /** A segment started before the session's audio began (start-streaming before `open`). */
  #pending: SegmentInfo | undefined;
  #active: { info: SegmentInfo; streamer: SegmentStreamer } | undefined;
  #stopping: Promise<SegmentSummary> | undefined;
  #ended = false;
  #droppedWhileStopped = 0;
  #segmentsStarted = 0;

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
  }

  gap(gap: TimelineGap): void {
    this.#active?.streamer.gap(gap);
  }

  languageChanged(language: string): void {
    // The start-streaming language is explicit and wins; a running Transcribe stream cannot switch anyway.
    this.#log.info({ language }, 'AudioHook language update ignored for the active transcription segment');
  }

  async end(reason: 'close' | 'disconnect' | 'transport-closed'): Promise<void> {
    this.#ended = true;
    this.#pending = undefined;
    if (this.#active === undefined) {
      // A stop already in flight reports to its own caller; just let it finish.
      await this.#stopping;
      return;
    }
    const summary = await this.stopSegment();
    if (summary !== undefined) {
      this.#log.info({ reason, segment: summary.segment }, 'transcription segment closed by the end of the session');
      this.#opts.onSegmentEnded?.(summary);
    }
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
   * Stops the active segment: no more audio is forwarded from now on, the stream is flushed and the
   * segment's summary returned. `undefined` when no segment was active.
   */
  async stopSegment(): Promise<SegmentSummary | undefined> {
    if (this.#stopping !== undefined) return this.#stopping;
    const pending = this.#pending;
    if (pending !== undefined) {
      this.#pending = undefined;
      return undefined;
    }
    const active = this.#active;
    if (active === undefined) return undefined;
    this.#active = undefined;
    this.#stopping = active.streamer.end().then(() => summarize(active.info, active.streamer.stats()));
    try {
      return await this.#stopping;
    } finally {
      this.#stopping = undefined;
    }
  }

  /** A snapshot of the sink's own counters. */
  stats(): TranscriptionSinkStats {
    return {
      samplesDroppedWhileStopped: this.#droppedWhileStopped,
      segmentsStarted: this.#segmentsStarted,
      active: this.#active?.info.segment,
    };
  }

  /** The active segment's streamer counters, if any. */
  segmentStats(): StreamerStats | undefined {
    return this.#active?.streamer.stats();
  }

  #open(info: SegmentInfo): void {
    const session = this.#info as SinkStartInfo;
    const segment: SegmentContext = {
      conversationId: session.conversationId,
      segment: info.segment,
      roles: session.roles,
      streamIds: info.streamIds,
      params: info.params,
    };
    const { onSegmentEnded: _ended, createStreamer, ...deps } = this.#opts;
    const streamerOpts: SegmentStreamerOptions = { ...deps, segment };
    this.#active = {
      info,
      streamer: createStreamer ? createStreamer(streamerOpts) : new SegmentStreamer(streamerOpts),
    };
    this.#segmentsStarted++;
    this.#log.info(
      { segment: info.segment, roles: session.roles, redactionOutput: info.params.redactionOutput },
      'transcription segment started',
    );
  }
}

function summarize(info: SegmentInfo, stats: StreamerStats): SegmentSummary {
  const roles: SegmentSummary['roles'] = {};
  for (const [role, counters] of Object.entries(stats.roles) as [Role, RoleCounters][]) {
    roles[role] = { ...counters, streamId: info.streamIds[role] };
  }
  return { segment: info.segment, roles, failed: stats.state === 'failed', stats };
}
