/**
 * What a {@link SegmentStreamer} counts: the process-wide counter names it reports, the per-segment
 * snapshot (`stats()`, the stop summary of api-contract.md §1.2), the tally behind that snapshot, and how
 * overflows and lost streams are counted and logged.
 */

import { SAMPLE_RATE } from '../../../core/audio/format';
import type { Role } from '../../../core/audio/roles';
import type { RoleSummary } from '../../../core/conversation/segment';
import type { ErrorDescription } from '../../../core/errors';
import type { Clock, Logger } from '../../../core/ports';
import type { OverflowInfo } from './audio-queue';
import type { FailureKind } from './backoff';

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

/** Lifecycle of a {@link SegmentStreamer}. */
export type StreamerState = 'idle' | 'streaming' | 'backoff' | 'ending' | 'ended' | 'failed';

/** A snapshot of a streamer's state and counters. */
export interface StreamerStats {
  state: StreamerState;
  roles: Partial<Record<Role, RoleSummary>>;
  streamsOpened: number;
  throttled: number;
  transientErrors: number;
  noAudioTimeouts: number;
  rotations: number;
  idleCloses: number;
  /** AudioHook language updates the segment followed (each ends the underlying stream at that position). */
  languageSwitches: number;
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

const SAMPLES_PER_MS = SAMPLE_RATE / 1000;

/** The running tally of one segment, turned into a {@link StreamerStats} snapshot on demand. */
export class StreamerTally {
  readonly #roles: readonly Role[];
  readonly #samples: Partial<Record<Role, number>> = {};
  readonly #transcripts: Partial<Record<Role, number>> = {};
  /** Wall time of the underlying streams already closed, ms. */
  streamingMs = 0;
  readonly counters = {
    streamsOpened: 0,
    throttled: 0,
    transientErrors: 0,
    noAudioTimeouts: 0,
    rotations: 0,
    idleCloses: 0,
    languageSwitches: 0,
    failures: 0,
    droppedSamples: 0,
    duplicatesDropped: 0,
    resentSamples: 0,
    putFailures: 0,
  };

  constructor(roles: readonly Role[]) {
    this.#roles = roles;
    for (const r of roles) {
      this.#samples[r] = 0;
      this.#transcripts[r] = 0;
    }
  }

  /** `samples` per channel received for `role`. */
  addSamples(role: Role, samples: number): void {
    this.#samples[role] = (this.#samples[role] ?? 0) + samples;
  }

  /** One final utterance of `role` stored. */
  addTranscript(role: Role): void {
    this.#transcripts[role] = (this.#transcripts[role] ?? 0) + 1;
  }

  /** The snapshot, with `openMs` of the stream still open counted as streaming time. */
  snapshot(state: StreamerState, openMs: number): StreamerStats {
    const c = this.counters;
    const streamingSeconds = Math.round((this.streamingMs + openMs) / 1000);
    const roles: Partial<Record<Role, RoleSummary>> = {};
    for (const role of this.#roles) {
      const samples = this.#samples[role] ?? 0;
      roles[role] = {
        totalAudioBytes: samples * 2,
        audioDurationMs: Math.round(samples / SAMPLES_PER_MS),
        streamingSeconds,
        transcripts: this.#transcripts[role] ?? 0,
      };
    }
    return {
      state,
      roles,
      streamsOpened: c.streamsOpened,
      throttled: c.throttled,
      transientErrors: c.transientErrors,
      noAudioTimeouts: c.noAudioTimeouts,
      rotations: c.rotations,
      idleCloses: c.idleCloses,
      languageSwitches: c.languageSwitches,
      failures: c.failures,
      droppedAudioMs: Math.round(c.droppedSamples / SAMPLES_PER_MS),
      duplicatesDropped: c.duplicatesDropped,
      resentAudioMs: Math.round(c.resentSamples / SAMPLES_PER_MS),
      putFailures: c.putFailures,
    };
  }
}

/** Collaborators of {@link overflowReporter}. */
export interface OverflowReporterDeps {
  readonly tally: StreamerTally;
  readonly metrics: TranscribeMetrics | undefined;
  readonly log: Logger;
  readonly clock: Clock;
  /** The buffer's size, for the log line. */
  readonly bufferSec: number;
}

/**
 * The audio queue's overflow handler: counts the dropped audio (tally and `overflowDroppedMs`) and logs
 * it at most once per 10 s, since an outage overflows on every chunk.
 */
export function overflowReporter(d: OverflowReporterDeps): (info: OverflowInfo) => void {
  const ms = (samples: number) => Math.round(samples / (SAMPLE_RATE / 1000));
  let lastLogAt = Number.NEGATIVE_INFINITY;
  return (info) => {
    d.tally.counters.droppedSamples += info.droppedSamples;
    d.metrics?.count('overflowDroppedMs', ms(info.droppedSamples));
    const now = d.clock.monotonic();
    if (now - lastLogAt < 10_000) return;
    lastLogAt = now;
    d.log.warn(
      {
        droppedMs: ms(info.droppedSamples),
        totalDroppedMs: ms(d.tally.counters.droppedSamples),
        fromMs: ms(info.from),
        toMs: ms(info.to),
        bufferSec: d.bufferSec,
      },
      'Transcribe audio buffer full: dropping the oldest audio (no stream has taken audio for a while; the newest is kept so live transcripts do not fall behind)',
    );
  };
}

/** The counter (in the tally and the metrics alike) each kind of failure adds to. */
const FAILURE_COUNTERS = {
  'no-audio-timeout': 'noAudioTimeouts',
  throttled: 'throttled',
  transient: 'transientErrors',
  fatal: undefined,
} as const;

/** Counts one failed underlying stream under its kind (a fatal one is counted when the segment is given up). */
export function countFailure(tally: StreamerTally, metrics: TranscribeMetrics | undefined, kind: FailureKind): void {
  const counter = FAILURE_COUNTERS[kind];
  if (counter === undefined) return;
  tally.counters[counter]++;
  metrics?.count(counter);
}

/** What {@link logRetry} says about the next attempt. */
export interface RetryNote {
  readonly attempt: number;
  readonly retryInMs: number;
  /** Audio waiting in the buffer, ms. */
  readonly bufferedMs: number;
}

/** Logs a failed underlying stream that will be reopened: quietly for Transcribe's no-audio timeout. */
export function logRetry(log: Logger, kind: FailureKind, err: ErrorDescription, note: RetryNote): void {
  if (kind === 'no-audio-timeout') {
    log.info({ err }, 'Transcribe closed the stream after no audio; reopening on the next audio');
  } else if (kind === 'throttled') {
    log.warn(
      { err, ...note },
      'Transcribe concurrent stream quota reached (LimitExceededException): retrying with backoff; raise the "concurrent StartStreamTranscription" quota or reduce sessions per region',
    );
  } else {
    log.warn({ err, ...note }, 'Transcribe stream lost: reopening and re-sending unfinished audio');
  }
}
